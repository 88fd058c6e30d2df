// The MMU dispatch loop: runs a batch of access records in wasm, and at each
// fault hands the access to the host's handler for that reason, then resumes
// (retry) or drops the access (skip). A handler that leaves the same access
// faulting for the same reason is a typed error, not a hang.
import { ErrorCode, HypermemError } from "../errors.js";
import { ACCESS_BYTES, PAGE_SHIFT } from "../wasm/kernels.js";
import { FAULT_NAMES, FaultReason } from "./fault.js";
import type { Vm } from "./vm.js";

/** Per-VM MMU counters. */
export interface MmuCounters {
  accesses: number;
  writes: number;
  skipped: number;
  faults: Record<string, number>;
}

export function newCounters(): MmuCounters {
  return { accesses: 0, writes: 0, skipped: 0, faults: Object.fromEntries(Object.values(FAULT_NAMES).map((n) => [n, 0])) };
}

/** Runs the `count` access records at `batchPtr` on `vm`, dispatching faults. */
export function runAccessBatch(vm: Vm, batchPtr: number, count: number, counters: MmuCounters): void {
  const k = vm.host.kernels;
  const writesBefore = k.writeCount;
  let i = 0;
  let lastIndex = -1;
  let lastReason = 0;
  let skipped = 0;
  while (i < count) {
    const stop = k.mmuRun(vm.slot, batchPtr, i, count);
    if (stop >= count) break;
    const reason = k.faultReason as FaultReason;
    const gpa = k.faultGpa;
    const rec = batchPtr + stop * ACCESS_BYTES;
    if (reason === FaultReason.BadAccess) {
      const length = k.heap.view.getUint16(rec + 12, true);
      throw new HypermemError(
        ErrorCode.BadAccess,
        `vm ${vm.id}: access ${stop} (gpa 0x${gpa.toString(16)}, length ${length}) is outside the ${vm.pages}-page guest or crosses a page`,
        { index: stop, gpa, length },
      );
    }
    if (stop === lastIndex && reason === lastReason) {
      throw new HypermemError(
        ErrorCode.FaultLoop,
        `vm ${vm.id}: the ${FAULT_NAMES[reason]} handler returned "retry" but access ${stop} at gpa 0x${gpa.toString(16)} faults again`,
        { index: stop, gpa, reason: FAULT_NAMES[reason] },
      );
    }
    counters.faults[FAULT_NAMES[reason]]++;
    const write = k.heap.u8[rec + 14] === 1;
    const action = vm.host.dispatch({ reason, vm, gpa, pfn: Math.floor(gpa / 2 ** PAGE_SHIFT), write, index: stop });
    if (action === "skip") skipped++;
    i = action === "skip" ? stop + 1 : stop;
    lastIndex = stop;
    lastReason = reason;
  }
  counters.accesses += count - skipped;
  counters.skipped += skipped;
  counters.writes += k.writeCount - writesBefore;
}
