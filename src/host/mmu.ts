// The MMU dispatch loop: runs a batch of access records in wasm, and at each
// fault hands the access to the VM's fault chain, then resumes (retry) or
// drops the access (skip). Re-entrant: all its state is local, batches live
// in scratch leases (a handler's own batch lands above the outer one), and
// the fault is read from the kernel before any handler runs. A handler that
// leaves the same access faulting for the same reason is a typed error, not
// a hang.
import { ErrorCode, HypermemError } from "../errors.js";
import { PAGE_SHIFT } from "../wasm/codes.js";
import { FAULT_NAMES, FaultReason } from "./faults.js";
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
  const mmu = vm.host.kernels.mmu;
  let i = 0;
  let lastIndex = -1;
  let lastReason = 0;
  let skipped = 0;
  let writes = 0;
  while (i < count) {
    const before = mmu.writeCount;
    const stop = mmu.run(vm.slot, batchPtr, i, count);
    writes += mmu.writeCount - before;
    if (stop >= count) break;
    const reason = mmu.faultReason;
    const gpa = mmu.faultGpa;
    const record = mmu.recordAt(batchPtr, stop);
    if (reason === FaultReason.BadAccess) {
      throw new HypermemError(
        ErrorCode.BadAccess,
        `vm ${vm.id}: access ${stop} (gpa 0x${gpa.toString(16)}, length ${record.length}) is outside the ${vm.pages}-page guest or crosses a page`,
        { index: stop, gpa, length: record.length },
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
    const action = vm.dispatchFault({ reason, vm, gpa, pfn: Math.floor(gpa / 2 ** PAGE_SHIFT), write: record.write, by: "guest", index: stop });
    if (action === "skip") skipped++;
    i = action === "skip" ? stop + 1 : stop;
    lastIndex = stop;
    lastReason = reason;
  }
  counters.accesses += count - skipped;
  counters.skipped += skipped;
  counters.writes += writes;
}
