// Host frames: the allocator (assembly/frames.ts) and frame metadata, for
// src/host. Frames back guest pages, page tables, and host buffers (bitmaps,
// stream buffers) that live longer than one call (the scratch is for those
// that do not).
import { check } from "../errors.js";
import type { HvExports } from "./abi.js";
import { FRAME_FLAGS, FRAME_META_BYTES, FrameMeta, PAGE_SIZE, type FrameFlag } from "./codes.js";
import type { Heap } from "./heap.js";

export interface FrameInfo {
  readonly hfn: number;
  /** VM id, OWNER_FREE or OWNER_HOST. */
  readonly owner: number;
  /** Guest frame number the frame backs (for VM frames). */
  readonly gfn: number;
  readonly flags: readonly FrameFlag[];
}

export class FrameKernels {
  readonly #e: HvExports;
  readonly #heap: Heap;
  readonly #metaBase: number;
  readonly #frameBase: number;

  constructor(exports: HvExports, heap: Heap, metaBase: number, frameBase: number) {
    this.#e = exports;
    this.#heap = heap;
    this.#metaBase = metaBase;
    this.#frameBase = frameBase;
  }

  /** Byte address of host frame `hfn`. */
  addr(hfn: number): number { return this.#frameBase + hfn * PAGE_SIZE; }

  /** `count` contiguous zeroed frames for a host buffer of `bytes`; returns the byte address. */
  allocBuffer(bytes: number): number {
    const count = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    return this.addr(check(this.#e.allocContiguous(count), "allocContiguous", { frames: count }));
  }

  /** Returns the frames of a buffer from allocBuffer to the free list. */
  freeBuffer(ptr: number, bytes: number): void {
    const first = (ptr - this.#frameBase) / PAGE_SIZE;
    const count = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    for (let i = 0; i < count; i++) this.#e.freeFrame(first + i);
  }

  get used(): number { return this.#e.getUsedFrames() >>> 0; }
  get peakUsed(): number { return this.#e.getPeakUsedFrames() >>> 0; }
  get free(): number { return this.#e.getFreeFrames() >>> 0; }

  /**
   * Retires frame `hfn` before first use (a frame remembered bad across a
   * reboot). Returns 1 when retired now, 0 when it was already; ERR_PAGE_STATE
   * when the frame is in use, ERR_GPA_RANGE for frame 0 or past the last.
   */
  reserve(hfn: number): number { return check(this.#e.reserveFrame(hfn), "reserveFrame", { hfn }); }

  /** Retires host-owned frame `hfn` for good (a host buffer found bad: it is never freed or reused). */
  retire(hfn: number): void { this.#e.retireFrame(hfn); }

  /** Sets the flags `set` and clears the flags `clear` of frame `hfn` (FRAME_FLAGS bits). */
  updateFlags(hfn: number, set: number, clear: number): void { this.#e.frameUpdateFlags(hfn, set, clear); }

  /** The owner field of frame `hfn` (VM id, OWNER_FREE or OWNER_HOST): info() without building the flag list. */
  owner(hfn: number): number { return this.#heap.view.getUint16(this.#metaBase + hfn * FRAME_META_BYTES + FrameMeta.owner, true); }

  /** Metadata of host frame `hfn`. */
  info(hfn: number): FrameInfo {
    const at = this.#metaBase + hfn * FRAME_META_BYTES;
    const view = this.#heap.view;
    const bits = view.getUint16(at + FrameMeta.flags, true);
    const flags = (Object.keys(FRAME_FLAGS) as FrameFlag[]).filter((f) => (bits & FRAME_FLAGS[f]) !== 0);
    return { hfn, owner: view.getUint16(at + FrameMeta.owner, true), gfn: view.getUint32(at + FrameMeta.gfn, true), flags };
  }
}
