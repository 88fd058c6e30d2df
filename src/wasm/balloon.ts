// Balloon moves by the list (assembly/balloon.ts): the driver's clock sweep
// and the page-state moves of a balloon (handover, deflate onto a handed-over
// frame, release) over u32 lists, one kernel call per list. Lists go through
// a scratch lease; results are the kernel's own: counts, or -status with the
// index of the entry refused.
import type { HvExports } from "./abi.js";
import type { Heap } from "./heap.js";
import type { ScratchStack } from "./scratch.js";

/** Bit 31 of a sweep's victim: the page holds data the guest must save first. */
export const BALLOON_DATA_BIT = 0x8000_0000;
/** `exclude` of sweep() when no page is excluded. */
export const BALLOON_NO_PFN = 0xffff_ffff;

/** A kernel's refusal: its -status and the index of the list entry refused (the entries before it were applied). */
export interface BalloonRefusal { readonly status: number; readonly index: number }

export class BalloonKernels {
  readonly #e: HvExports;
  readonly #heap: Heap;
  readonly #scratch: ScratchStack;

  constructor(exports: HvExports, heap: Heap, scratch: ScratchStack) {
    this.#e = exports;
    this.#heap = heap;
    this.#scratch = scratch;
  }

  /**
   * Clock sweep of VM `slot` from page `from`: up to `want` victims (pfn,
   * BALLOON_DATA_BIT when it holds data), each set in the ballooned bitmap.
   * Returns them and where the hand stopped.
   */
  sweep(slot: number, from: number, want: number, exclude: number, referencedPtr: number, balloonedPtr: number): { victims: Uint32Array; hand: number } {
    return this.#scratch.with(want * 4, "balloon sweep", (out) => {
      const n = this.#e.balloonSweep(slot, from, want, exclude, referencedPtr, balloonedPtr, out) >>> 0;
      return { victims: this.#heap.u32.slice(out >>> 2, (out >>> 2) + n), hand: this.#e.getBalloonHand() >>> 0 };
    });
  }

  /** BALLOON_HANDOVER of every page of `pfns` (bit 31 ignored), set in the ballooned bitmap: the frames they had, or the refusal. */
  take(slot: number, pfns: Uint32Array, balloonedPtr: number): Uint32Array | BalloonRefusal {
    return this.#scratch.with(pfns.length * 8, "balloon take", (ptr) => {
      const framesPtr = ptr + pfns.length * 4;
      this.#heap.u32.set(pfns, ptr >>> 2);
      const r = this.#e.balloonTake(slot, ptr, pfns.length, balloonedPtr, framesPtr);
      if (r < 0) return { status: r, index: this.#e.getBalloonFailedAt() >>> 0 };
      return this.#heap.u32.slice(framesPtr >>> 2, (framesPtr >>> 2) + r);
    });
  }

  /** Gives `pfns` back: page i onto frames[i] (zeroed) while there is one, the rest unpopulated; each leaves the ballooned bitmap. */
  give(slot: number, pfns: Uint32Array, frames: Uint32Array, balloonedPtr: number): BalloonRefusal | null {
    const frameCount = Math.min(frames.length, pfns.length);
    return this.#scratch.with((pfns.length + frameCount) * 4, "balloon give", (ptr) => {
      const framesPtr = ptr + pfns.length * 4;
      this.#heap.u32.set(pfns, ptr >>> 2);
      this.#heap.u32.set(frames.subarray(0, frameCount), framesPtr >>> 2);
      const r = this.#e.balloonGive(slot, ptr, pfns.length, framesPtr, frameCount, balloonedPtr);
      return r < 0 ? { status: r, index: this.#e.getBalloonFailedAt() >>> 0 } : null;
    });
  }

  /** Handed-over `frames` back to the host's free list (through VM `slot`). */
  release(slot: number, frames: Uint32Array): BalloonRefusal | null {
    return this.#scratch.with(frames.length * 4, "balloon release", (ptr) => {
      this.#heap.u32.set(frames, ptr >>> 2);
      const r = this.#e.balloonRelease(slot, ptr, frames.length);
      return r < 0 ? { status: r, index: this.#e.getBalloonFailedAt() >>> 0 } : null;
    });
  }

  /** The first `max` pages of VM `slot` in the free-list bitmap that the balloon can take (no page state), ascending. */
  firstFree(slot: number, bitmapPtr: number, words: number, max: number): Uint32Array {
    return this.#scratch.with(max * 4, "balloon first free", (out) => {
      const n = this.#e.balloonFreeFirst(slot, bitmapPtr, words, max, out) >>> 0;
      return this.#heap.u32.slice(out >>> 2, (out >>> 2) + n);
    });
  }

  /** The first `max` set bits of a `words`-word bitmap, ascending. */
  first(bitmapPtr: number, words: number, max: number): Uint32Array {
    return this.#scratch.with(max * 4, "balloon first", (out) => {
      const n = this.#e.bitmapFirst(bitmapPtr, words, max, out) >>> 0;
      return this.#heap.u32.slice(out >>> 2, (out >>> 2) + n);
    });
  }
}
