// PageSet: a set of guest pages as a bitmap in the host's memory (1 bit per
// page, bit g % 64 of u64 word g / 64), where the kernels can use it in
// place: harvests OR into it, scans turn windows of it into pfn lists, the
// page-state kernel applies operations to its pages. PfnList: a u32 list of
// pfns in the host's memory, what the stream packer reads. Every bit and
// list operation on wasm memory outside src/wasm goes through these two.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Kernels } from "../wasm/kernels.js";
import { PageBitmap, bitmapBytes } from "./bitmap.js";

export class PageSet {
  /** Guest pages covered. */
  readonly pages: number;
  /** u64 words of the bitmap. */
  readonly words: number;
  readonly #k: Kernels;
  #ptr: number;

  /** An empty set for a guest of `pages` pages, in `kernels`' host memory. */
  constructor(kernels: Kernels, pages: number) {
    this.#k = kernels;
    this.pages = pages;
    this.words = Math.ceil(pages / 64);
    this.#ptr = kernels.frames.allocBuffer(this.words * 8);
  }

  /** Byte address of the bitmap, for kernels (valid until free()). */
  get ptr(): number {
    if (this.#ptr < 0) throw new HypermemError(ErrorCode.Destroyed, "the page set was freed", {});
    return this.#ptr;
  }

  #check(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.pages) {
      throw new HypermemError(ErrorCode.GpaRange, `pfn ${pfn} is outside a ${this.pages}-page set`, { pfn });
    }
  }

  has(pfn: number): boolean {
    this.#check(pfn);
    return this.#k.pages.bitTest(this.ptr, pfn);
  }
  add(pfn: number): void {
    this.#check(pfn);
    this.#k.pages.bitSet(this.ptr, pfn);
  }
  delete(pfn: number): void {
    this.#check(pfn);
    this.#k.pages.bitClear(this.ptr, pfn);
  }
  /** Number of pages in the set. */
  count(): number { return this.#k.pages.bitmapCount(this.ptr, this.words); }
  clear(): void { this.#k.heap.fill(this.ptr, this.words * 8, 0); }
  /** Adds every page of the guest. */
  fill(): void { this.#k.pages.bitmapFillFirst(this.ptr, this.words, this.pages); }
  /** this |= other. */
  addAll(other: PageSet): void {
    this.#same(other);
    this.#k.pages.bitmapOr(this.ptr, other.ptr, this.words);
  }
  /** this &= ~other. */
  deleteAll(other: PageSet): void {
    this.#same(other);
    this.#k.pages.bitmapAndNot(this.ptr, other.ptr, this.words);
  }
  #same(other: PageSet): void {
    if (other.pages !== this.pages || other.#k !== this.#k) {
      throw new HypermemError(ErrorCode.Length, `page sets of ${this.pages} and ${other.pages} pages (or of two hosts) cannot be combined`, { pages: other.pages });
    }
  }

  /**
   * Moves the pages of words [fromWord, fromWord + maxWords) into `list`
   * (replacing its contents, ascending) and removes them from the set.
   * Returns how many.
   */
  takeWindow(fromWord: number, maxWords: number, list: PfnList): number {
    const words = Math.max(0, Math.min(maxWords, this.words - fromWord));
    if (words * 64 > list.capacity) {
      throw new HypermemError(ErrorCode.Length, `a window of ${words} words needs a list of ${words * 64} pfns, this one holds ${list.capacity}`, { words });
    }
    const src = this.ptr + fromWord * 8;
    const n = this.#k.pages.bitmapScan(src, words, list.ptr, fromWord * 64);
    this.#k.heap.fill(src, words * 8, 0);
    list.length = n;
    return n;
  }

  /** Adds the pfns list[from, to) back (what could not be sent). */
  addList(list: PfnList, from = 0, to = list.length): void {
    this.#k.pages.bitmapSetList(this.ptr, list.ptr, from, to);
  }

  /** A copy, as a PageBitmap in JS memory. */
  snapshot(): PageBitmap { return new PageBitmap(this.pages, this.#k.heap.copyOut(this.ptr, bitmapBytes(this.pages))); }
  /** Replaces the contents with `bitmap`'s. */
  load(bitmap: PageBitmap): void {
    if (bitmap.pages !== this.pages) {
      throw new HypermemError(ErrorCode.Length, `a bitmap of ${bitmap.pages} pages does not fit a ${this.pages}-page set`, { pages: bitmap.pages });
    }
    this.#k.heap.copyIn(this.ptr, bitmap.bytes);
  }

  /** Returns the bitmap's frames to the host. Idempotent. */
  free(): void {
    if (this.#ptr < 0) return;
    this.#k.frames.freeBuffer(this.#ptr, this.words * 8);
    this.#ptr = -1;
  }
}

/** A list of up to `capacity` pfns (u32) in the host's memory. */
export class PfnList {
  readonly capacity: number;
  /** Entries in use. */
  length = 0;
  readonly #k: Kernels;
  #ptr: number;

  constructor(kernels: Kernels, capacity: number) {
    this.#k = kernels;
    this.capacity = capacity;
    this.#ptr = kernels.frames.allocBuffer(Math.max(1, capacity) * 4);
  }

  /** Byte address of entry 0, for kernels (valid until free()). */
  get ptr(): number {
    if (this.#ptr < 0) throw new HypermemError(ErrorCode.Destroyed, "the pfn list was freed", {});
    return this.#ptr;
  }

  get(i: number): number { return this.#k.pages.listGet(this.ptr, i); }

  /** Replaces the contents with `pfns`. */
  set(pfns: ArrayLike<number>): void {
    if (pfns.length > this.capacity) {
      throw new HypermemError(ErrorCode.Length, `${pfns.length} pfns do not fit a list of ${this.capacity}`, { count: pfns.length });
    }
    this.#k.pages.listWrite(this.ptr, pfns);
    this.length = pfns.length;
  }

  /** A copy of entries [0, length). */
  toArray(): number[] { return Array.from(this.toUint32Array()); }

  /** A copy of entries [0, length) as a Uint32Array (one memory copy, no per-entry work). */
  toUint32Array(): Uint32Array { return this.#k.pages.listRead(this.ptr, this.length); }

  /** Drops, in place, the entries [from, length) that are in `set`; returns the new length. */
  dropIn(set: PageSet, from = 0): number {
    this.length = this.#k.pages.listKeepClear(this.ptr, from, this.length, set.ptr);
    return this.length;
  }

  free(): void {
    if (this.#ptr < 0) return;
    this.#k.frames.freeBuffer(this.#ptr, Math.max(1, this.capacity) * 4);
    this.#ptr = -1;
  }
}
