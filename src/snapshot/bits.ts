// Plain JavaScript bookkeeping of a save: a bit per guest page (which pages
// are saved, which are active) and growable u32 columns for the index
// entries, none of it in the host's memory (the guest's pages are there).
import type { ActiveRuns } from "./format.js";

/** One bit per guest page. */
export class PageBits {
  readonly pages: number;
  readonly #words: Uint32Array;

  constructor(pages: number) {
    this.pages = pages;
    this.#words = new Uint32Array(Math.ceil(pages / 32));
  }

  has(pfn: number): boolean { return (this.#words[pfn >>> 5] & (1 << (pfn & 31))) !== 0; }
  add(pfn: number): void { this.#words[pfn >>> 5] |= 1 << (pfn & 31); }

  /** True when a page of [first, first + count) is set. */
  anyIn(first: number, count: number): boolean {
    for (let pfn = first; pfn < first + count;) {
      if ((pfn & 31) === 0 && pfn + 32 <= first + count) {
        if (this.#words[pfn >>> 5] !== 0) return true;
        pfn += 32;
      } else {
        if (this.has(pfn)) return true;
        pfn++;
      }
    }
    return false;
  }

  /** Sets every bit of a little-endian bitmap (bit g % 8 of byte g / 8), as PageBitmap.bytes holds. */
  addBitmap(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0) this.#words[i >>> 2] |= bytes[i] << ((i & 3) * 8);
    }
  }

  /** Number of pages set. */
  count(): number {
    let n = 0;
    for (let w of this.#words) {
      w -= (w >>> 1) & 0x55555555;
      w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
      n += Math.imul((w + (w >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
    }
    return n;
  }

  /** The pages set, as maximal runs [first, count], ascending. */
  runs(): ActiveRuns {
    const runs: Array<readonly [number, number]> = [];
    let start = -1;
    for (let w = 0; w < this.#words.length; w++) {
      const word = this.#words[w];
      if ((word === 0 && start < 0) || (word === 0xffffffff && start >= 0)) continue;
      for (let b = 0; b < 32; b++) {
        const pfn = w * 32 + b;
        const set = pfn < this.pages && (word & (1 << b)) !== 0;
        if (set && start < 0) start = pfn;
        else if (!set && start >= 0) {
          runs.push([start, pfn - start]);
          start = -1;
        }
      }
    }
    if (start >= 0) runs.push([start, this.pages - start]);
    return runs;
  }
}

/** A growable column of u32 values. */
export class U32Column {
  #values = new Uint32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.#values.length) {
      const bigger = new Uint32Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.length++] = value;
  }

  get(i: number): number { return this.#values[i]; }

  /** A copy of the values in use. */
  toArray(): Uint32Array { return this.#values.slice(0, this.length); }
}
