// FramePages: pages a technique keeps in host frames of its own (a parity
// page, a copy), and the XOR of frames, through the parity kernel
// (assembly/parity.ts). Frames are named by number: a guest page's frame is
// vm.states.of(pfn).hfn. Each XOR leases its page list (and, for an
// in-place update, its result) from the kernel scratch.
//
// Scratch lease of one call (k source frames):
//
//  ptr   ┌──────────────────────┐
//        │ result page          │ 4096 (xorInto, xorOf)
//        ├──────────────────────┤
//        │ frame addresses      │ 4k (u32 each), rounded up to 16
//        └──────────────────────┘
import { ErrorCode, HypermemError } from "../errors.js";
import { requireInt } from "../options.js";
import { OWNER_FREE, PAGE_SIZE } from "../wasm/codes.js";
import type { Kernels } from "../wasm/kernels.js";

export class FramePages {
  readonly #k: Kernels;

  constructor(kernels: Kernels) { this.#k = kernels; }

  #frame(hfn: number, what: string): number {
    requireInt(what, hfn, 1, this.#k.layout.maxFrames - 1);
    if (this.#k.frames.owner(hfn) === OWNER_FREE) {
      throw new HypermemError(ErrorCode.PageState, `host frame ${hfn} (${what}) is free: it holds no page`, { hfn });
    }
    return this.#k.frames.addr(hfn);
  }

  /** A zeroed host-owned frame for a page of the caller's; returns its number. */
  alloc(): number {
    return (this.#k.frames.allocBuffer(PAGE_SIZE) - this.#k.layout.frameBase) / PAGE_SIZE;
  }

  /** Returns a frame from alloc() to the host. */
  free(hfn: number): void { this.#k.frames.freeBuffer(this.#frame(hfn, "hfn"), PAGE_SIZE); }

  /** Takes a frame from alloc() out of use for good (it was found bad): never freed, never handed out again. */
  retire(hfn: number): void {
    this.#frame(hfn, "hfn");
    this.#k.frames.retire(hfn);
  }

  /** A copy of frame `hfn`'s 4096 bytes. */
  read(hfn: number): Uint8Array { return this.#k.heap.copyOut(this.#frame(hfn, "hfn"), PAGE_SIZE); }

  /** Overwrites frame `hfn` with `bytes` (4096). */
  write(hfn: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array) || bytes.length !== PAGE_SIZE) {
      throw new HypermemError(ErrorCode.PageSize, `a frame holds ${PAGE_SIZE} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`, { hfn });
    }
    this.#k.heap.copyIn(this.#frame(hfn, "hfn"), bytes);
  }

  /** Frame `dst` = XOR of frames `srcs` (dst not among them; none: zeros). */
  xor(dst: number, srcs: readonly number[]): void {
    const dstPtr = this.#frame(dst, "dst");
    if (srcs.includes(dst)) throw new HypermemError(ErrorCode.BadOption, `xor: the destination frame ${dst} is also a source`, { hfn: dst });
    this.#withList(srcs, 0, (listPtr) => this.#k.pages.xorParity(dstPtr, listPtr, srcs.length, PAGE_SIZE));
  }

  /** Frame `dst` ^= frame `src` (an update of a parity page). */
  xorInto(dst: number, src: number): void {
    const dstPtr = this.#frame(dst, "dst");
    this.#withList([dst, src], PAGE_SIZE, (listPtr, outPtr) => {
      this.#k.pages.xorParity(outPtr, listPtr, 2, PAGE_SIZE);
      this.#k.pages.copy(dstPtr, outPtr, PAGE_SIZE);
    });
  }

  /** The XOR of frames `srcs`, as a new array (a rebuilt page). */
  xorOf(srcs: readonly number[]): Uint8Array {
    return this.#withList(srcs, PAGE_SIZE, (listPtr, outPtr) => {
      this.#k.pages.xorParity(outPtr, listPtr, srcs.length, PAGE_SIZE);
      return this.#k.heap.copyOut(outPtr, PAGE_SIZE);
    });
  }

  /** Leases `resultBytes` and the address list of `srcs` (checked), and runs `fn` on them. */
  #withList<T>(srcs: readonly number[], resultBytes: number, fn: (listPtr: number, outPtr: number) => T): T {
    const addrs = srcs.map((h, i) => this.#frame(h, `srcs[${i}]`));
    const listBytes = Math.ceil((4 * Math.max(1, addrs.length)) / 16) * 16;
    return this.#k.scratch.with(resultBytes + listBytes, "frame xor", (ptr) => {
      this.#k.pages.listWrite(ptr + resultBytes, addrs);
      return fn(ptr + resultBytes, ptr);
    });
  }
}
