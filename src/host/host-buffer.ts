// HostBuffer: a buffer a technique keeps in host frames (one contiguous run
// in the host's linear memory) instead of the JS heap, so that a kernel can
// copy guest pages straight into it: the checkpoint's staging area takes one
// copy per dirty page at the pause (frame to staging) instead of two (frame
// to scratch, scratch to a JS array). Its frames are host memory in use, as
// a hypervisor's staging buffers are.
//
// A host lends frames for buffers only when every guest could still be fully
// backed afterwards: tryAlloc refuses (returns null) rather than take a frame
// a guest may need later, and the caller falls back to JS memory.
//
// Views from view() are valid until linear memory next grows (a frame
// allocated past its current size detaches them): take one, use it, drop it.
import { ErrorCode, HypermemError } from "../errors.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import type { Host } from "./host.js";

export class HostBuffer {
  readonly #host: Host;
  /** Byte address of the buffer in linear memory. */
  readonly ptr: number;
  readonly byteLength: number;
  #freed = false;

  private constructor(host: Host, ptr: number, byteLength: number) {
    this.#host = host;
    this.ptr = ptr;
    this.byteLength = byteLength;
  }

  /**
   * A zeroed buffer of `byteLength` bytes in host frames, or null when the
   * host cannot lend them: fewer free frames than the buffer plus every
   * page its guests have not backed yet (with room for their page tables),
   * or no contiguous run that long.
   */
  static tryAlloc(host: Host, byteLength: number): HostBuffer | null {
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0) {
      throw new HypermemError(ErrorCode.Length, `a host buffer of ${String(byteLength)} bytes`, { bytes: byteLength });
    }
    const frames = Math.ceil(byteLength / PAGE_SIZE);
    const k = host.kernels;
    if (k.layout.maxFrames - k.frames.used < frames + unbackedFrames(host)) return null;
    try {
      return new HostBuffer(host, k.frames.allocBuffer(byteLength), byteLength);
    } catch (e) {
      if (e instanceof HypermemError && e.code === ErrorCode.OutOfFrames) return null;
      throw e;
    }
  }

  /** Bytes [offset, offset + length) of the buffer, as a view valid until linear memory grows. */
  view(offset: number, length: number): Uint8Array {
    this.#alive();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new HypermemError(ErrorCode.Length, `bytes ${String(offset)} + ${String(length)} are outside the ${this.byteLength}-byte host buffer`, { offset, length });
    }
    return this.#host.kernels.heap.borrow(this.ptr + offset, length);
  }

  /** Returns the frames to the host; the buffer is unusable afterwards. */
  free(): void {
    this.#alive();
    this.#freed = true;
    this.#host.kernels.frames.freeBuffer(this.ptr, this.byteLength);
  }

  get freed(): boolean { return this.#freed; }

  #alive(): void {
    if (this.#freed) throw new HypermemError(ErrorCode.PageState, `the host buffer at ${this.ptr} was freed`, { ptr: this.ptr });
  }
}

/** Frames the host's guests may still take: every page without a frame of its own, and a table frame per 256 pages. */
function unbackedFrames(host: Host): number {
  let frames = 0;
  for (const vm of host.vms) frames += vm.pages - vm.states.counts().privateFrames + Math.ceil(vm.pages / 256);
  return frames;
}
