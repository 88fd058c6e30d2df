// Guest pages gathered by a pfn list into one buffer (assembly/gather.ts):
// the fast path of Vm.gatherPages. Results are the kernel's own: a count or
// index >= 0, or -status.
import type { HvExports } from "./abi.js";

export class GatherKernels {
  readonly #e: HvExports;

  constructor(exports: HvExports) { this.#e = exports; }

  /**
   * Copies the pages of VM `slot` listed at pfnPtr (`count` u32) to outPtr,
   * 4 KiB each, and their zero flags (u8 each) to zeroPtr unless it is 0:
   * returns count, or the index of the first page not in memory, or -status.
   */
  gather(slot: number, pfnPtr: number, count: number, outPtr: number, zeroPtr: number): number {
    return this.#e.gatherPages(slot, pfnPtr, count, outPtr, zeroPtr);
  }
}
