// The save's page bitmap (src/snapshot/bits.ts) against a plain Set of pages:
// anyIn (which lets a diff's writer skip a window with nothing written since
// its base), count, runs and addBitmap, over random pages and ranges that
// start and end inside and on 32-page words.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PageBits } from "../src/snapshot/bits.js";

/** Guest sizes, pages set, and ranges of that guest. */
const pagesAndRanges = fc.integer({ min: 1, max: 300 }).chain((pages) => fc.record({
  pages: fc.constant(pages),
  set: fc.uniqueArray(fc.integer({ min: 0, max: pages - 1 }), { maxLength: 12 }),
  ranges: fc.array(fc.tuple(fc.integer({ min: 0, max: pages - 1 }), fc.integer({ min: 1, max: pages })).map(([first, count]) => [first, Math.min(count, pages - first)] as const), { minLength: 1, maxLength: 20 }),
}));

function bitsOf(pages: number, set: readonly number[]): PageBits {
  const bits = new PageBits(pages);
  for (const pfn of set) bits.add(pfn);
  return bits;
}

describe("PageBits against a Set of pages", () => {
  it("anyIn is true exactly when a page of the range is set", () => {
    fc.assert(fc.property(pagesAndRanges, ({ pages, set, ranges }) => {
      const bits = bitsOf(pages, set);
      for (const [first, count] of ranges) {
        expect(bits.anyIn(first, count), `[${first}, +${count}) of ${set}`).toBe(set.some((pfn) => pfn >= first && pfn < first + count));
      }
    }), { numRuns: 500 });
  });

  it("a page set in the middle of a whole word, or at a word's last bit, is found; a range just before or after it is empty", () => {
    const bits = bitsOf(128, [45, 95]);
    expect([bits.anyIn(32, 32), bits.anyIn(0, 46), bits.anyIn(0, 45), bits.anyIn(46, 49), bits.anyIn(64, 32), bits.anyIn(96, 32)]).toEqual([true, true, false, false, true, false]);
  });

  it("count, runs and addBitmap give the Set's pages", () => {
    fc.assert(fc.property(pagesAndRanges, ({ pages, set }) => {
      const bits = bitsOf(pages, set);
      const sorted = [...set].sort((a, b) => a - b);
      expect(bits.count()).toBe(set.length);
      expect(bits.runs().flatMap(([first, count]) => Array.from({ length: count }, (_, i) => first + i))).toEqual(sorted);
      const bytes = new Uint8Array(Math.ceil(pages / 8));
      for (const pfn of set) bytes[pfn >>> 3] |= 1 << (pfn & 7);
      const fromBitmap = new PageBits(pages);
      fromBitmap.addBitmap(bytes);
      expect(Array.from({ length: pages }, (_, pfn) => fromBitmap.has(pfn))).toEqual(Array.from({ length: pages }, (_, pfn) => set.includes(pfn)));
    }), { numRuns: 300 });
  });
});
