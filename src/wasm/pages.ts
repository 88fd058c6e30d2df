// Page and bitmap kernels (assembly/page.ts, parity.ts, hash.ts, xxh3.ts,
// xbzrle.ts, bitmap.ts, fingerprint.ts) over byte addresses in one host's
// memory, plus the few bit and list operations on wasm memory that src/host's
// PageSet and PfnList need (done here, so nothing outside src/wasm indexes
// the heap).
import type { HvExports } from "./abi.js";
import type { Heap } from "./heap.js";

export class PageKernels {
  readonly #e: HvExports;
  readonly #heap: Heap;

  constructor(exports: HvExports, heap: Heap) {
    this.#e = exports;
    this.#heap = heap;
  }

  copy(dstPtr: number, srcPtr: number, len: number): void { this.#e.pageCopy(dstPtr, srcPtr, len); }
  isZero(ptr: number, len: number): boolean { return this.#e.isZeroPage(ptr, len) !== 0; }
  /** Offset of the first differing byte, or -1. */
  compare(aPtr: number, bPtr: number, len: number): number { return this.#e.pageCompare(aPtr, bPtr, len); }
  /** dst = XOR of the k pages whose addresses are the u32 list at listPtr. */
  xorParity(dstPtr: number, listPtr: number, k: number, len: number): void { this.#e.xorParity(dstPtr, listPtr, k, len); }
  hash64(ptr: number, len: number, seed = 0n): bigint { return BigInt.asUintN(64, this.#e.hash64(ptr, len, seed)); }
  hashPages(srcPtr: number, pageBytes: number, count: number, outPtr: number): void { this.#e.hashPages(srcPtr, pageBytes, count, outPtr); }
  /** XXH3-64 (seed 0): the stream's chunk checksum and the page fingerprint. */
  xxh3(ptr: number, len: number): bigint { return BigInt.asUintN(64, this.#e.xxh3(ptr, len)); }
  xbzrleEncode(oldPtr: number, newPtr: number, slen: number, dstPtr: number, dlen: number): number {
    return this.#e.xbzrleEncode(oldPtr, newPtr, slen, dstPtr, dlen);
  }
  xbzrleDecode(srcPtr: number, slen: number, dstPtr: number, dlen: number): number {
    return this.#e.xbzrleDecode(srcPtr, slen, dstPtr, dlen);
  }

  /**
   * Fingerprints of guest pages [firstPfn, firstPfn + count) of VM `slot` as
   * u64 at outPtr (from a fingerprint table when `tablePtr` != 0). Returns
   * the pages done and the poisoned pages met; done < count when page
   * firstPfn + done is not resident.
   */
  fingerprints(slot: number, firstPfn: number, count: number, outPtr: number, tablePtr = 0): { done: number; poisoned: number } {
    const done = this.#e.pageFingerprints(slot, firstPfn, count, outPtr, tablePtr) >>> 0;
    return { done, poisoned: this.#e.getFingerprintPoisoned() >>> 0 };
  }
  digestStart(guestPages: number): bigint { return BigInt.asUintN(64, this.#e.digestStart(BigInt(guestPages))); }
  digestFold(acc: bigint, ptr: number, count: number): bigint { return BigInt.asUintN(64, this.#e.digestFold(acc, ptr, count)); }
  digestFinish(acc: bigint): bigint { return BigInt.asUintN(64, this.#e.digestFinish(acc)); }
  /** Fills a fingerprint table (8 bytes per page) with the zero page's fingerprint. */
  fingerprintTableInit(tablePtr: number, pages: number): void { this.#e.fingerprintTableInit(tablePtr, pages); }

  // Bitmaps: bit i is bit i % 64 of u64 word i / 64, little endian.

  /** Indices of the set bits of `words` words at bitmapPtr, ascending, as u32 at outPtr (bit 0 = firstIndex); returns how many. */
  bitmapScan(bitmapPtr: number, words: number, outPtr: number, firstIndex = 0): number {
    return this.#e.bitmapScan(bitmapPtr, words, outPtr, firstIndex) >>> 0;
  }
  bitmapCount(bitmapPtr: number, words: number): number { return this.#e.bitmapCount(bitmapPtr, words) >>> 0; }
  bitmapOr(dstPtr: number, srcPtr: number, words: number): void { this.#e.bitmapOr(dstPtr, srcPtr, words); }
  bitmapAndNot(dstPtr: number, srcPtr: number, words: number): void { this.#e.bitmapAndNot(dstPtr, srcPtr, words); }
  bitTest(bitmapPtr: number, i: number): boolean { return (this.#heap.u8[bitmapPtr + (i >>> 3)] & (1 << (i & 7))) !== 0; }
  bitSet(bitmapPtr: number, i: number): void { this.#heap.u8[bitmapPtr + (i >>> 3)] |= 1 << (i & 7); }
  bitClear(bitmapPtr: number, i: number): void { this.#heap.u8[bitmapPtr + (i >>> 3)] &= ~(1 << (i & 7)); }
  /** Sets bits [0, count) of a bitmap of `words` words and clears the rest. */
  bitmapFillFirst(bitmapPtr: number, words: number, count: number): void {
    const u8 = this.#heap.u8;
    u8.fill(0, bitmapPtr, bitmapPtr + words * 8);
    u8.fill(0xff, bitmapPtr, bitmapPtr + (count >>> 3));
    for (let b = count & ~7; b < count; b++) u8[bitmapPtr + (b >>> 3)] |= 1 << (b & 7);
  }
  /** Sets the bit of every index in the u32 list [from, to) at listPtr. */
  bitmapSetList(bitmapPtr: number, listPtr: number, from: number, to: number): void {
    const u32 = this.#heap.u32;
    const u8 = this.#heap.u8;
    const at = listPtr >>> 2;
    for (let i = from; i < to; i++) {
      const pfn = u32[at + i];
      u8[bitmapPtr + (pfn >>> 3)] |= 1 << (pfn & 7);
    }
  }
  /** Keeps, in order, the entries of the u32 list [from, to) whose bit is clear in the bitmap; returns the new end. */
  listKeepClear(listPtr: number, from: number, to: number, bitmapPtr: number): number {
    const u32 = this.#heap.u32;
    const u8 = this.#heap.u8;
    const at = listPtr >>> 2;
    let kept = from;
    for (let i = from; i < to; i++) {
      const pfn = u32[at + i];
      if ((u8[bitmapPtr + (pfn >>> 3)] & (1 << (pfn & 7))) === 0) u32[at + kept++] = pfn;
    }
    return kept;
  }
  /** Entry `i` of the u32 list at listPtr. */
  listGet(listPtr: number, i: number): number { return this.#heap.u32[(listPtr >>> 2) + i]; }
  /** Writes `values` as u32 at listPtr. */
  listWrite(listPtr: number, values: ArrayLike<number>): void { this.#heap.u32.set(values, listPtr >>> 2); }
  /** A copy of `count` u32 at listPtr. */
  listRead(listPtr: number, count: number): Uint32Array { return this.#heap.u32.slice(listPtr >>> 2, (listPtr >>> 2) + count); }
}
