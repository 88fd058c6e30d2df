// A balloon's page-state moves by the list for one VM (assembly/balloon.ts
// through src/wasm/balloon.ts): the clock sweep that picks the pages to
// give up, BALLOON_HANDOVER of a list, DEFLATE_ONTO / DEFLATE of a list and
// RELEASE_HANDOVER of frames, one kernel call per list of at most
// LIST_PAGES. A kernel's refusal becomes a HypermemError naming the page or
// frame refused and its state; the entries before it stay applied.
import { ErrorCode, HypermemError, KernelStatus } from "../errors.js";
import type { PageSet } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { BALLOON_DATA_BIT, BALLOON_NO_PFN, type BalloonRefusal } from "../wasm/balloon.js";

export { BALLOON_DATA_BIT };

/** Pages per kernel call (256 KiB of scratch for a take: pfns and frames). */
export const LIST_PAGES = 32_768;

export class BalloonPages {
  readonly vm: Vm;

  constructor(vm: Vm) { this.vm = vm; }

  get #k() { return this.vm.host.kernels.balloon; }

  #fail(r: BalloonRefusal, what: string, value: number): never {
    const code = -r.status === KernelStatus.PageState ? ErrorCode.PageState : -r.status === KernelStatus.OutOfFrames ? ErrorCode.OutOfFrames : ErrorCode.WasmAbort;
    throw new HypermemError(code, `vm ${this.vm.id}: cannot ${what} ${value}: ${code === ErrorCode.PageState ? `it is ${what.endsWith("frame") ? "not a handed-over frame" : this.vm.states.of(value).kind}` : code}`, { vm: this.vm.id, value, status: r.status });
  }

  /**
   * The clock sweep from page `hand`: up to `want` pages to give up (pfn |
   * BALLOON_DATA_BIT when it holds data), each added to `ballooned` at once.
   * `exclude`: a page never chosen (-1: none). Returns them and the new hand.
   */
  sweep(hand: number, want: number, exclude: number, referenced: PageSet, ballooned: PageSet): { victims: Uint32Array; hand: number } {
    return this.#k.sweep(this.vm.slot, hand, Math.min(want, LIST_PAGES), exclude < 0 ? BALLOON_NO_PFN : exclude, referenced.ptr, ballooned.ptr);
  }

  /** Balloons every page of `pfns` (BALLOON_HANDOVER, added to `ballooned`): the frames they had, in list order. */
  take(pfns: Uint32Array, ballooned: PageSet): Uint32Array {
    const out: Uint32Array[] = [];
    for (let at = 0; at < pfns.length; at += LIST_PAGES) {
      const part = pfns.subarray(at, at + LIST_PAGES);
      const r = this.#k.take(this.vm.slot, part, ballooned.ptr);
      if (r instanceof Uint32Array) {
        out.push(r);
        continue;
      }
      for (const entry of pfns.subarray(at + r.index)) ballooned.delete(entry & ~BALLOON_DATA_BIT);
      this.#fail(r, "balloon guest page", part[r.index] & ~BALLOON_DATA_BIT);
    }
    return out.length === 1 ? out[0] : concat(out);
  }

  /** Gives ballooned `pfns` back: page i onto frames[i] (zeroed) while there is one, the rest unpopulated; each leaves `ballooned`. */
  give(pfns: Uint32Array, frames: Uint32Array, ballooned: PageSet): void {
    for (let at = 0; at < pfns.length; at += LIST_PAGES) {
      const part = pfns.subarray(at, at + LIST_PAGES);
      const r = this.#k.give(this.vm.slot, part, frames.subarray(Math.min(at, frames.length), Math.min(at + LIST_PAGES, frames.length)), ballooned.ptr);
      if (r !== null) this.#fail(r, "deflate guest page", part[r.index]);
    }
  }

  /** Handed-over `frames` back to the host's free list. */
  release(frames: Uint32Array): void {
    for (let at = 0; at < frames.length; at += LIST_PAGES) {
      const part = frames.subarray(at, at + LIST_PAGES);
      const r = this.#k.release(this.vm.slot, part);
      if (r !== null) this.#fail(r, "release handed-over frame", part[r.index]);
    }
  }

  /** The first `max` pages of the guest's free list `free` that the balloon can take (pages the hypervisor moved out stay free), ascending. */
  firstFree(free: PageSet, max: number): Uint32Array {
    return this.vm.host.kernels.balloon.firstFree(this.vm.slot, free.ptr, free.words, Math.min(max, LIST_PAGES));
  }

  /** The first `max` pages of `set`, ascending. */
  first(set: PageSet, max: number): Uint32Array {
    return this.vm.host.kernels.balloon.first(set.ptr, set.words, Math.min(max, LIST_PAGES));
  }
}

function concat(parts: readonly Uint32Array[]): Uint32Array {
  const all = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}
