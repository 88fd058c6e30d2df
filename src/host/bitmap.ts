// PageBitmap: a copy of a guest-page bitmap (1 bit per page, bit g % 64 of
// u64 word g / 64, little endian), as returned by a dirty or accessed harvest.
import { ErrorCode, HypermemError } from "../errors.js";

export class PageBitmap {
  /** Number of guest pages covered. */
  readonly pages: number;
  /** The bitmap bytes: ceil(pages / 64) u64 words. */
  readonly bytes: Uint8Array;

  constructor(pages: number, bytes?: Uint8Array) {
    const len = bitmapBytes(pages);
    if (bytes && bytes.length !== len) {
      throw new HypermemError(ErrorCode.Length, `a bitmap of ${pages} pages has ${len} bytes, got ${bytes.length}`, { pages, length: bytes.length });
    }
    this.pages = pages;
    this.bytes = bytes ?? new Uint8Array(len);
  }

  /** A bitmap with exactly `pfns` set. */
  static of(pages: number, pfns: Iterable<number>): PageBitmap {
    const b = new PageBitmap(pages);
    for (const pfn of pfns) b.set(pfn);
    return b;
  }

  #check(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.pages) {
      throw new HypermemError(ErrorCode.GpaRange, `pfn ${pfn} is outside a ${this.pages}-page bitmap`, { pfn });
    }
  }

  has(pfn: number): boolean {
    this.#check(pfn);
    return (this.bytes[pfn >>> 3] & (1 << (pfn & 7))) !== 0;
  }

  set(pfn: number): void {
    this.#check(pfn);
    this.bytes[pfn >>> 3] |= 1 << (pfn & 7);
  }

  /** Number of set bits. */
  count(): number {
    let n = 0;
    for (const byte of this.bytes) n += POPCOUNT8[byte];
    return n;
  }

  /** The set pfns, ascending. */
  toArray(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.bytes.length; i++) {
      let v = this.bytes[i];
      while (v !== 0) {
        const bit = 31 - Math.clz32(v & -v);
        out.push(i * 8 + bit);
        v &= v - 1;
      }
    }
    return out;
  }
}

/** Bytes of a bitmap for `pages` guest pages (whole u64 words). */
export function bitmapBytes(pages: number): number {
  return Math.ceil(pages / 64) * 8;
}

const POPCOUNT8 = Uint8Array.from({ length: 256 }, (_, v) => {
  let n = 0;
  for (let x = v; x !== 0; x &= x - 1) n++;
  return n;
});
