// Bitmap kernels (scan, count, OR, AND-NOT) on raw pointers against the
// oracles of test/reference/pages.ts, with guard words around every region
// so a kernel that writes past its end fails.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PageBitmap } from "../src/host/bitmap.js";
import { Kernels } from "../src/wasm/kernels.js";
import { bitmapAndNotRef, bitmapCountRef, bitmapOrRef, bitmapScanRef } from "./reference/pages.js";

const WORD_COUNTS = [1, 2, 3, 63, 64, 65, 200];
const GUARD = 0xdeadbeefcafef00dn;
/** Guard after the source bitmap: all ones, so OR-ing or AND-NOT-ing it into the dst guard changes that. */
const SRC_GUARD = 0xffffffffffffffffn;

const kernels = new Kernels(1 << 20, 16);
const base = kernels.layout.scratchBase;
/** Region addresses in the scratch (each fits 200 words or 12,800 u32 indices plus guards). */
const MAP = base;
const SRC = base + 4096;
const OUT = base + 8192;

/** A bitmap of `words` words where each bit is set with probability `density` (seeded). */
function randomBitmap(words: number, density: number, seed: number): BigUint64Array {
  const map = new BigUint64Array(words);
  let x = seed >>> 0;
  for (let i = 0; i < words * 64; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    if (x / 2 ** 32 < density) map[i >>> 6] |= 1n << BigInt(i & 63);
  }
  return map;
}

/** Writes `words` at `ptr` followed by one guard word. */
function place(ptr: number, words: BigUint64Array, guard = GUARD): void {
  const u64 = kernels.heap.u64;
  u64.set(words, ptr / 8);
  u64[ptr / 8 + words.length] = guard;
}

function read(ptr: number, words: number): BigUint64Array {
  return kernels.heap.u64.slice(ptr / 8, ptr / 8 + words);
}

const bitmapArb = fc.record({
  words: fc.constantFrom(...WORD_COUNTS),
  density: fc.constantFrom(0, 0.01, 0.05, 0.3, 0.7, 0.99, 1),
  seed: fc.integer(),
});

describe("bitmapScan", () => {
  it("lists every set bit in ascending order and writes nothing past the last index", () => {
    fc.assert(
      fc.property(bitmapArb, ({ words, density, seed }) => {
        const map = randomBitmap(words, density, seed);
        const want = bitmapScanRef(map);
        place(MAP, map);
        const u32 = kernels.heap.u32;
        u32.fill(0x5a5a5a5a, OUT / 4, OUT / 4 + want.length + 8);
        const n = kernels.pages.bitmapScan(MAP, words, OUT);
        expect(n).toBe(want.length);
        expect(Array.from(kernels.heap.u32.subarray(OUT / 4, OUT / 4 + n))).toEqual(want);
        expect(Array.from(kernels.heap.u32.subarray(OUT / 4 + n, OUT / 4 + n + 8)).every((v) => v === 0x5a5a5a5a)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("handles bits at word edges and words with more than 4 set bits near the end", () => {
    for (const words of WORD_COUNTS) {
      for (const bits of [[0], [63], [64 * words - 1], [0, 1, 2, 3, 4, 5, 6], Array.from({ length: 64 }, (_, i) => 64 * (words - 1) + i)]) {
        const map = new BigUint64Array(words);
        for (const b of bits) if (b < 64 * words) map[b >>> 6] |= 1n << BigInt(b & 63);
        const want = bitmapScanRef(map);
        place(MAP, map);
        kernels.heap.u32.fill(0x77777777, OUT / 4, OUT / 4 + want.length + 8);
        expect(kernels.pages.bitmapScan(MAP, words, OUT)).toBe(want.length);
        expect(Array.from(kernels.heap.u32.subarray(OUT / 4, OUT / 4 + want.length))).toEqual(want);
        expect(kernels.heap.u32[OUT / 4 + want.length]).toBe(0x77777777);
      }
    }
  });
});

describe("bitmapCount", () => {
  it("counts the set bits", () => {
    fc.assert(
      fc.property(bitmapArb, ({ words, density, seed }) => {
        const map = randomBitmap(words, density, seed);
        place(MAP, map);
        expect(kernels.pages.bitmapCount(MAP, words)).toBe(bitmapCountRef(map));
      }),
      { numRuns: 200 },
    );
  });
});

describe("bitmapOr and bitmapAndNot", () => {
  it("combine word by word and leave the word past `words` untouched", () => {
    fc.assert(
      fc.property(bitmapArb, fc.integer(), fc.boolean(), ({ words, density, seed }, seed2, andNot) => {
        const dst = randomBitmap(words, density, seed);
        const src = randomBitmap(words, 0.5, seed2);
        place(MAP, dst);
        place(SRC, src, SRC_GUARD);
        if (andNot) kernels.pages.bitmapAndNot(MAP, SRC, words);
        else kernels.pages.bitmapOr(MAP, SRC, words);
        const want = andNot ? bitmapAndNotRef(dst, src) : bitmapOrRef(dst, src);
        expect(read(MAP, words)).toEqual(want);
        expect(kernels.heap.u64[MAP / 8 + words]).toBe(GUARD);
        expect(read(SRC, words)).toEqual(src);
      }),
      { numRuns: 200 },
    );
  });
});

// PageBitmap (src/host/bitmap.ts), the JS-side copy of a page set: behaviour a mutation run found untested.
describe("PageBitmap", () => {
  const thrown = (fn: () => unknown): unknown => {
    try { fn(); } catch (err) { const e = err as { code: string; message: string; details: unknown }; return { code: e.code, message: e.message, details: e.details }; }
    return "none";
  };

  it("has/set/count/toArray agree with a Set of pfns; bit g is bit g % 8 of byte g / 8", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 200 }).chain((pages) => fc.tuple(fc.constant(pages), fc.array(fc.integer({ min: 0, max: pages - 1 })))), ([pages, pfns]) => {
      const b = PageBitmap.of(pages, pfns);
      const set = new Set(pfns);
      for (let pfn = 0; pfn < pages; pfn++) expect(b.has(pfn)).toBe(set.has(pfn));
      expect(b.count()).toBe(set.size);
      expect(b.toArray()).toEqual([...set].sort((x, y) => x - y));
    }));
    const b = PageBitmap.of(70, [0, 9, 69]);
    expect([...b.bytes]).toEqual([1, 2, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("pfns outside the bitmap and bytes of the wrong length are typed errors naming them", () => {
    const b = new PageBitmap(70);
    for (const pfn of [-1, 70, 2.5, Number.NaN]) {
      const want = { code: "ERR_GPA_RANGE", message: `pfn ${pfn} is outside a 70-page bitmap`, details: { pfn } };
      expect(thrown(() => b.has(pfn))).toEqual(want);
      expect(thrown(() => b.set(pfn))).toEqual(want);
    }
    expect(b.count()).toBe(0);
    expect(b.has(69)).toBe(false);
    expect(thrown(() => new PageBitmap(70, new Uint8Array(8)))).toEqual({
      code: "ERR_LENGTH", message: "a bitmap of 70 pages has 16 bytes, got 8", details: { pages: 70, length: 8 },
    });
    const bytes = new Uint8Array(16);
    bytes[8] = 0x20;
    expect(new PageBitmap(70, bytes).toArray()).toEqual([69]);
  });
});
