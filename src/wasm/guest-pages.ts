// Whole guest pages between a VM and linear memory, many per call
// (assembly/guest-pages.ts): the fast path of Vm.readPages and
// Vm.writePages. Results are the kernels' own: a count or index >= 0, or
// -status.
import type { HvExports } from "./abi.js";

export class GuestPageKernels {
  readonly #e: HvExports;

  constructor(exports: HvExports) { this.#e = exports; }

  /** Copies pages [first, first + count) of VM `slot` to outPtr: returns count, or the index of the first page not in memory, or -status. */
  read(slot: number, first: number, count: number, outPtr: number): number { return this.#e.guestPagesRead(slot, first, count, outPtr); }

  /** The frames writing pages [first, first + count) takes, or -status; on -ERR_PAGE_STATE, refusedIndex is the page's index. */
  check(slot: number, first: number, count: number): number { return this.#e.guestPagesCheck(slot, first, count); }

  /** The index of the page the last check refused. */
  get refusedIndex(): number { return this.#e.getGuestPagesRefused() >>> 0; }

  /**
   * Writes `count` pages from srcPtr into pages [first, first + count) of VM
   * `slot`, and their fingerprints (u64 each) to hashPtr unless it is 0:
   * returns count, or -status (nothing written).
   */
  write(slot: number, first: number, count: number, srcPtr: number, hashPtr = 0): number { return this.#e.guestPagesWrite(slot, first, count, srcPtr, hashPtr); }
}
