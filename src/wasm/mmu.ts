// Page tables and the MMU (assembly/npt.ts, mmu.ts, harvest.ts,
// page-state.ts) for src/host: VM descriptors and their counts, leaf entries,
// first touch and copy-on-write, page-state moves, access batches and the
// fault the MMU stopped at, A/D harvests.
import { check } from "../errors.js";
import type { HvExports } from "./abi.js";
import { ACCESS_BYTES, Access, OP_WRITE, VM_DESC_BYTES, VmDesc, type FaultReason, type PageOp } from "./codes.js";
import type { Heap } from "./heap.js";

/** One guest access, as Vm.run() takes it. */
export interface AccessSpec {
  readonly op: "read" | "write";
  readonly gpa: number;
  /** Bytes, 1 to 4096; must not cross a 4 KiB page. @default 8 */
  readonly length?: number;
  /** Value seed: word j written is ~(gpa + 8j) ^ (seed × 0x9e3779b97f4a7c15). @default 0 */
  readonly seed?: number;
}

/** The per-state page counts a VM descriptor keeps. */
export interface VmCounts {
  readonly tableFrames: number;
  readonly privateFrames: number;
  readonly swappedPages: number;
  readonly balloonedPages: number;
  readonly poisonedPages: number;
  readonly tracedPages: number;
  readonly elsewherePages: number;
}

export class MmuKernels {
  readonly #e: HvExports;
  readonly #heap: Heap;
  readonly #ctrlBase: number;

  constructor(exports: HvExports, heap: Heap, ctrlBase: number) {
    this.#e = exports;
    this.#heap = heap;
    this.#ctrlBase = ctrlBase;
  }

  vmInit(slot: number, vmId: number, guestPages: number): void {
    check(this.#e.vmInit(slot, vmId, BigInt(guestPages)), "vmInit", { vmId, guestPages });
  }
  /** Frees the VM's frames and tables; returns frames freed. */
  vmDestroy(slot: number): number { return this.#e.vmDestroy(slot) >>> 0; }

  /** The counts in VM slot `slot`'s descriptor. */
  vmCounts(slot: number): VmCounts {
    const at = this.#ctrlBase + slot * VM_DESC_BYTES;
    const v = this.#heap.view;
    const u32 = (field: number): number => v.getUint32(at + field, true);
    return {
      tableFrames: u32(VmDesc.tableFrames), privateFrames: u32(VmDesc.privateFrames), swappedPages: u32(VmDesc.swappedPages),
      balloonedPages: u32(VmDesc.balloonedPages), poisonedPages: u32(VmDesc.poisonedPages), tracedPages: u32(VmDesc.tracedPages),
      elsewherePages: u32(VmDesc.elsewherePages),
    };
  }

  /** Host frame of VM slot `slot`'s root table (for oracles that walk the table). */
  rootFrame(slot: number): number { return this.#heap.view.getUint32(this.#ctrlBase + slot * VM_DESC_BYTES + VmDesc.root, true); }

  lookup(slot: number, gfn: number): bigint { return this.#e.nptLookup(slot, gfn); }
  set(slot: number, gfn: number, pte: bigint): void { check(this.#e.nptSet(slot, gfn, pte), "nptSet", { gfn }); }
  populate(slot: number, gfn: number, write: boolean): number {
    return check(this.#e.nptPopulate(slot, gfn, write ? 1 : 0), "populate", { gfn });
  }
  breakCow(slot: number, gfn: number): number { return check(this.#e.nptBreakCow(slot, gfn), "breakCow", { gfn }); }
  /** Page-table frames that populating pages [first, first + count) would add. */
  tablesNeeded(slot: number, first: number, count: number): number { return this.#e.nptTablesNeeded(slot, first, count) >>> 0; }

  /** Moves page `gfn` by `op` (assembly/page-state.ts); returns the kernel status unchecked (>= 0 ok, else -status). */
  setState(slot: number, gfn: number, op: PageOp, arg = 0, srcPtr = 0): number {
    return this.#e.pageSetState(slot, gfn, op, BigInt(arg), srcPtr);
  }
  /** Applies TRACE/UNTRACE/WRITE_PROTECT/UNPROTECT to the pages set in the bitmap at `bitmapPtr`; returns entries changed. */
  updateMany(slot: number, bitmapPtr: number, op: PageOp): number { return this.#e.ptesUpdate(slot, bitmapPtr, op) >>> 0; }

  /** Fetch-and-clear of bit `bit` (A or D) of every leaf, OR-ed into the bitmap; returns bits set in it. */
  harvest(slot: number, bitmapPtr: number, bit: number): number { return this.#e.harvestBit(slot, bitmapPtr, bit) >>> 0; }

  /** Runs accesses [start, end) of the batch at `batchPtr`; returns where it stopped (end: all done). */
  run(slot: number, batchPtr: number, start: number, end: number): number { return this.#e.mmuRun(slot, batchPtr, start, end) >>> 0; }
  /** Why the last run stopped short. */
  get faultReason(): FaultReason { return this.#e.getFaultReason() as FaultReason; }
  get faultGpa(): number { return Number(this.#e.getFaultGpa()); }
  /** XOR of every word guests read (so reads are observable). */
  get readChecksum(): bigint { return this.#e.getReadChecksum(); }
  /** Writes completed by the MMU since the host started. */
  get writeCount(): number { return Number(this.#e.getWriteCount()); }

  /** Writes `accesses` as records at `batchPtr` (room for accesses.length × ACCESS_BYTES). */
  writeBatch(batchPtr: number, accesses: readonly AccessSpec[]): void {
    const view = this.#heap.view;
    accesses.forEach((a, i) => {
      const rec = batchPtr + i * ACCESS_BYTES;
      view.setBigUint64(rec + Access.gpa, BigInt(a.gpa), true);
      view.setUint32(rec + Access.seed, (a.seed ?? 0) >>> 0, true);
      view.setUint16(rec + Access.length, a.length ?? 8, true);
      view.setUint8(rec + Access.op, a.op === "write" ? OP_WRITE : 0);
      view.setUint8(rec + Access.rsvd, 0);
    });
  }

  /** Length and direction of record `index` of the batch at `batchPtr`. */
  recordAt(batchPtr: number, index: number): { length: number; write: boolean } {
    const rec = batchPtr + index * ACCESS_BYTES;
    const view = this.#heap.view;
    return { length: view.getUint16(rec + Access.length, true), write: view.getUint8(rec + Access.op) === OP_WRITE };
  }
}
