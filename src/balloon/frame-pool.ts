// Frames in passage between VMs (the seed of T11): a page a balloon takes
// from VM A gives its host frame to this pool (page state "ballooned", the
// frame host-owned and flagged `handover`, never on the free list); a page
// VM B's balloon gives back is mapped onto a frame from the pool, which the
// page-state kernel zeroes first (assembly/page-state.ts DEFLATE_ONTO). What
// no VM takes in the same poll goes back to the host's free list.
import type { Vm } from "../host/vm.js";

export class FramePool {
  readonly #frames: number[] = [];
  /** Frames handed from one VM to another since the pool was made. */
  movedFrames = 0;
  /** Frames released to the host's free list since the pool was made. */
  releasedFrames = 0;

  /** Frames waiting in the pool. */
  get size(): number { return this.#frames.length; }

  /** A frame taken from a ballooned page (balloonHandover's result; 0 is no frame and is ignored). */
  put(hfn: number): void {
    if (hfn > 0) this.#frames.push(hfn);
  }

  /**
   * Gives ballooned page `pfn` of `vm` back to its guest: onto a pooled frame
   * (zeroed by the kernel) when there is one, else unpopulated (the first
   * touch takes a free frame). `countMove`: count it as a frame moved
   * between VMs. Returns the frame used, or 0.
   */
  deflate(vm: Vm, pfn: number, countMove = true): number {
    const hfn = this.#frames.pop();
    if (hfn === undefined) {
      vm.states.deflate(pfn);
      return 0;
    }
    vm.states.deflateOnto(pfn, hfn);
    if (countMove) this.movedFrames++;
    return hfn;
  }

  /** Returns every pooled frame to the host's free list (through any VM of the host, `vm`). */
  releaseAll(vm: Vm): void {
    for (const hfn of this.#frames) vm.states.releaseHandover(0, hfn);
    this.releasedFrames += this.#frames.length;
    this.#frames.length = 0;
  }
}
