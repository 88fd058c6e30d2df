// Frames in passage between VMs (the seed of T11): a page a balloon takes
// from VM A gives its host frame to this pool (page state "ballooned", the
// frame host-owned and flagged `handover`, never on the free list); a page
// VM B's balloon gives back is mapped onto a frame from the pool, which the
// page-state kernel zeroes first (assembly/page-state.ts DEFLATE_ONTO). What
// no VM takes in the same poll goes back to the host's free list.
//
// The frames are a stack of u32 frame numbers in one growing Uint32Array:
// balloons put and take them by the list (assembly/balloon.ts), never one
// JS object per frame.
import type { Vm } from "../host/vm.js";
import { BalloonPages } from "./balloon-pages.js";

export class FramePool {
  #frames = new Uint32Array(1024);
  #size = 0;
  /** Frames handed from one VM to another since the pool was made. */
  movedFrames = 0;
  /** Frames released to the host's free list since the pool was made. */
  releasedFrames = 0;

  /** Frames waiting in the pool. */
  get size(): number { return this.#size; }

  /** A frame taken from a ballooned page (balloonHandover's result; 0 is no frame and is ignored). */
  put(hfn: number): void {
    if (hfn > 0) this.putAll(Uint32Array.of(hfn));
  }

  /** Frames taken from ballooned pages (balloonTake's result). */
  putAll(frames: Uint32Array): void {
    if (this.#size + frames.length > this.#frames.length) {
      const grown = new Uint32Array(Math.max(2 * this.#frames.length, this.#size + frames.length));
      grown.set(this.#frames.subarray(0, this.#size));
      this.#frames = grown;
    }
    this.#frames.set(frames, this.#size);
    this.#size += frames.length;
  }

  /** Takes up to `count` frames, the last put first. `countMove`: count them as frames moved between VMs. */
  take(count: number, countMove: boolean): Uint32Array {
    const n = Math.max(0, Math.min(count, this.#size));
    const frames = this.#frames.slice(this.#size - n, this.#size).reverse();
    this.#size -= n;
    if (countMove) this.movedFrames += n;
    return frames;
  }

  /**
   * Gives ballooned page `pfn` of `vm` back to its guest: onto a pooled frame
   * (zeroed by the kernel) when there is one, else unpopulated (the first
   * touch takes a free frame). `countMove`: count it as a frame moved
   * between VMs. Returns the frame used, or 0.
   */
  deflate(vm: Vm, pfn: number, countMove = true): number {
    const frames = this.take(1, countMove);
    if (frames.length === 0) {
      vm.states.deflate(pfn);
      return 0;
    }
    return vm.states.deflateOnto(pfn, frames[0]);
  }

  /** Returns every pooled frame to the host's free list (through any VM of the host, `vm`). */
  releaseAll(vm: Vm): void {
    if (this.#size === 0) return;
    const frames = this.take(this.#size, false);
    new BalloonPages(vm).release(frames);
    this.releasedFrames += frames.length;
  }
}
