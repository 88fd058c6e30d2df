// Swapped pages brought back in one call (assembly/swap-in.ts): the fast
// path of PageStates.bringBackVerified. Results are the kernel's own: the
// count, the index of the first page that got no frame, or -status.
import type { HvExports } from "./abi.js";

export class SwapInKernels {
  readonly #e: HvExports;

  constructor(exports: HvExports) { this.#e = exports; }

  /**
   * Brings back the swapped pages of VM `slot` listed at pfnPtr (`count`
   * u32) from the bytes at srcPtr (4 KiB each), each only when its XXH3-64
   * equals the u64 at hashPtr; one ok byte per page at okPtr. Returns
   * count, or the index of the first page that got no frame, or -status.
   */
  bringBackVerified(slot: number, pfnPtr: number, hashPtr: number, srcPtr: number, count: number, okPtr: number): number {
    return this.#e.swapInVerified(slot, pfnPtr, hashPtr, srcPtr, count, okPtr);
  }
}
