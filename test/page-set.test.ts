// PageSet and PfnList (src/host/page-set.ts), the bitmaps and pfn lists in
// the host's memory that every log, scan and page-state kernel works on:
// each operation checked against a plain JS Set of pfns (the oracle) on set
// sizes that are and are not multiples of 64, window by window; the typed
// errors (pfn out of range, sets that cannot be combined, a list too small,
// use after free) with their codes and details; and free() giving the
// frames back once.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { thrownError as thrown } from "./helpers.js";
import { createHost, PageBitmap, PageSet, PfnList, type Host } from "../src/index.js";

const sorted = (s: Iterable<number>): number[] => [...s].sort((a, b) => a - b);

/** A set holding `pfns`, built bit by bit. */
function setOf(host: Host, pages: number, pfns: Iterable<number>): PageSet {
  const s = new PageSet(host.kernels, pages);
  for (const pfn of pfns) s.add(pfn);
  return s;
}

/** Every pfn of `s`, read through has(). */
function members(s: PageSet): number[] {
  const out: number[] = [];
  for (let pfn = 0; pfn < s.pages; pfn++) if (s.has(pfn)) out.push(pfn);
  return out;
}

describe("PageSet against a Set of pfns", () => {
  const host = createHost({ memoryMiB: 16 });

  it("add, delete, has, count, snapshot, union and difference agree with the oracle", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 300 }).chain((pages) => fc.tuple(
        fc.constant(pages),
        fc.array(fc.integer({ min: 0, max: pages - 1 }), { maxLength: 80 }),
        fc.array(fc.integer({ min: 0, max: pages - 1 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: pages - 1 }), { maxLength: 80 }),
      )),
      ([pages, added, deleted, other]) => {
        const a = setOf(host, pages, added);
        for (const pfn of deleted) a.delete(pfn);
        const oracle = new Set(added);
        for (const pfn of deleted) oracle.delete(pfn);
        expect(members(a)).toEqual(sorted(oracle));
        expect(a.count()).toBe(oracle.size);
        expect(a.snapshot().toArray()).toEqual(sorted(oracle));

        const b = setOf(host, pages, other);
        const union = new PageSet(host.kernels, pages);
        union.addAll(a);
        union.addAll(b);
        expect(members(union)).toEqual(sorted(new Set([...oracle, ...other])));
        a.deleteAll(b);
        expect(members(a)).toEqual(sorted([...oracle].filter((pfn) => !other.includes(pfn))));
        for (const s of [a, b, union]) s.free();
      },
    ), { numRuns: 60 });
  });

  it("fill() adds exactly the guest's pages (none past the end of the last word), clear() empties", () => {
    for (const pages of [1, 63, 64, 65, 130]) {
      const s = new PageSet(host.kernels, pages);
      expect([s.words, s.count()]).toEqual([Math.ceil(pages / 64), 0]);
      s.fill();
      expect(s.count()).toBe(pages);
      expect(s.snapshot().bytes.length).toBe(Math.ceil(pages / 64) * 8);
      expect(members(s)).toEqual(Array.from({ length: pages }, (_, i) => i));
      s.clear();
      expect(s.count()).toBe(0);
      s.free();
    }
  });

  it("load() replaces the contents with a bitmap's", () => {
    const s = setOf(host, 100, [1, 2, 3]);
    s.load(PageBitmap.of(100, [0, 64, 99]));
    expect(members(s)).toEqual([0, 64, 99]);
    s.free();
  });

  it("takeWindow moves the pages of the words asked for into the list, ascending, and removes them from the set", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 400 }).chain((pages) => fc.tuple(
        fc.constant(pages),
        fc.array(fc.integer({ min: 0, max: pages - 1 }), { maxLength: 120 }),
        fc.integer({ min: 0, max: Math.ceil(pages / 64) + 1 }),
        fc.integer({ min: 0, max: 8 }),
      )),
      ([pages, pfns, fromWord, maxWords]) => {
        const s = setOf(host, pages, pfns);
        const list = new PfnList(host.kernels, 8 * 64);
        list.set([7, 7, 7]);
        const n = s.takeWindow(fromWord, maxWords, list);
        const inWindow = (pfn: number): boolean => pfn >= fromWord * 64 && pfn < (fromWord + maxWords) * 64;
        const expected = sorted(new Set(pfns.filter(inWindow)));
        expect([n, list.length]).toEqual([expected.length, expected.length]);
        expect(list.toArray()).toEqual(expected);
        expect(list.toUint32Array()).toEqual(Uint32Array.from(expected));
        expect(members(s)).toEqual(sorted(new Set(pfns.filter((pfn) => !inWindow(pfn)))));
        s.free();
        list.free();
      },
    ), { numRuns: 80 });
  });

  it("takeWindow refuses a list smaller than the window: ERR_LENGTH naming the words, nothing taken", () => {
    const s = setOf(host, 256, [0, 100, 200]);
    const list = new PfnList(host.kernels, 127);
    expect(thrown(() => s.takeWindow(0, 2, list))).toEqual({
      code: "ERR_LENGTH", message: "a window of 2 words needs a list of 128 pfns, this one holds 127", details: { words: 2 },
    });
    expect(members(s)).toEqual([0, 100, 200]);
    // A window clipped at the end of the set needs only the words that exist.
    const small = new PfnList(host.kernels, 64);
    expect(s.takeWindow(3, 2, small)).toBe(1);
    expect([small.toArray(), members(s)]).toEqual([[200], [0, 100]]);
    for (const x of [s, list, small]) x.free();
  });

  it("addList puts back list[from, to) (default: the whole list)", () => {
    const s = new PageSet(host.kernels, 200);
    const list = new PfnList(host.kernels, 10);
    list.set([5, 70, 130, 199]);
    s.addList(list, 1, 3);
    expect(members(s)).toEqual([70, 130]);
    s.addList(list);
    expect(members(s)).toEqual([5, 70, 130, 199]);
    s.free();
    list.free();
  });
});

describe("PageSet errors", () => {
  const host = createHost({ memoryMiB: 16 });

  it.each([-1, 100, 100.5, Number.NaN])("pfn %s of a 100-page set is ERR_GPA_RANGE naming it, for has, add and delete", (pfn) => {
    const s = new PageSet(host.kernels, 100);
    const want = { code: "ERR_GPA_RANGE", message: `pfn ${pfn} is outside a 100-page set`, details: { pfn } };
    expect(thrown(() => s.has(pfn))).toEqual(want);
    expect(thrown(() => s.add(pfn))).toEqual(want);
    expect(thrown(() => s.delete(pfn))).toEqual(want);
    expect(s.count()).toBe(0);
    expect([s.has(0), s.has(99)]).toEqual([false, false]);
    s.free();
  });

  it("sets of other sizes, or of another host, cannot be combined: ERR_LENGTH, nothing changed", () => {
    const a = setOf(host, 100, [1]);
    const b = setOf(host, 101, [2]);
    const other = createHost({ memoryMiB: 16 });
    const c = setOf(other, 100, [3]);
    const sizes = { code: "ERR_LENGTH", message: "page sets of 100 and 101 pages (or of two hosts) cannot be combined", details: { pages: 101 } };
    expect(thrown(() => a.addAll(b))).toEqual(sizes);
    expect(thrown(() => a.deleteAll(b))).toEqual(sizes);
    const hosts = { code: "ERR_LENGTH", message: "page sets of 100 and 100 pages (or of two hosts) cannot be combined", details: { pages: 100 } };
    expect(thrown(() => a.addAll(c))).toEqual(hosts);
    expect(thrown(() => a.deleteAll(c))).toEqual(hosts);
    expect(members(a)).toEqual([1]);
    expect(thrown(() => a.load(new PageBitmap(99)))).toEqual({
      code: "ERR_LENGTH", message: "a bitmap of 99 pages does not fit a 100-page set", details: { pages: 99 },
    });
    expect(members(a)).toEqual([1]);
  });

  it("free() returns the bitmap's frames once; a freed set is ERR_DESTROYED", () => {
    const before = host.stats().usedFrames;
    // 40,000 pages: 625 words, 5000 bytes, two frames.
    const s = new PageSet(host.kernels, 40_000);
    expect(host.stats().usedFrames - before).toBe(2);
    s.free();
    expect(host.stats().usedFrames).toBe(before);
    s.free();
    expect(host.stats().usedFrames).toBe(before);
    expect(thrown(() => s.ptr)).toEqual({ code: "ERR_DESTROYED", message: "the page set was freed", details: {} });
    expect(thrown(() => s.count())).toMatchObject({ code: "ERR_DESTROYED" });
  });
});

describe("PfnList", () => {
  const host = createHost({ memoryMiB: 16 });

  it("set, get and toArray hold the pfns; more than the capacity is ERR_LENGTH naming the count, contents kept", () => {
    const list = new PfnList(host.kernels, 3);
    list.set([9, 0xffff_fffe, 4]);
    expect([list.length, list.get(0), list.get(1), list.get(2), list.toArray()]).toEqual([3, 9, 0xffff_fffe, 4, [9, 0xffff_fffe, 4]]);
    expect(thrown(() => list.set([1, 2, 3, 4]))).toEqual({ code: "ERR_LENGTH", message: "4 pfns do not fit a list of 3", details: { count: 4 } });
    expect(list.toArray()).toEqual([9, 0xffff_fffe, 4]);
    list.set([]);
    expect(list.toArray()).toEqual([]);
    list.free();
  });

  it("dropIn removes, from index `from` on, the entries in the set and keeps the order of the rest", () => {
    const set = setOf(host, 100, [3, 50, 99]);
    const list = new PfnList(host.kernels, 8);
    list.set([3, 10, 50, 3, 20, 99, 50]);
    expect(list.dropIn(set, 2)).toBe(3);
    expect(list.toArray()).toEqual([3, 10, 20]);
    list.set([3, 10, 50]);
    expect(list.dropIn(set)).toBe(1);
    expect(list.toArray()).toEqual([10]);
    set.free();
    list.free();
  });

  it("free() returns its frames once; a freed list is ERR_DESTROYED; an empty list still works", () => {
    const before = host.stats().usedFrames;
    // 1025 pfns of 4 bytes: two frames.
    const list = new PfnList(host.kernels, 1025);
    expect(host.stats().usedFrames - before).toBe(2);
    list.free();
    list.free();
    expect(host.stats().usedFrames).toBe(before);
    expect(thrown(() => list.ptr)).toEqual({ code: "ERR_DESTROYED", message: "the pfn list was freed", details: {} });
    const empty = new PfnList(host.kernels, 0);
    expect([empty.capacity, empty.toArray()]).toEqual([0, []]);
    empty.free();
    expect(host.stats().usedFrames).toBe(before);
  });
});
