// XXH3-64 of pages in bulk (src/pages/page-window.ts, assembly/page-hashes.ts):
// the kernel against the BigInt reference, through the window and through
// xxh3Pages' 64-page steps, and bad input refused with typed errors.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_WINDOW_PAGES, withPageWindow, xxh3Hash64, xxh3Pages } from "../src/index.js";
import { thrownError } from "./helpers.js";
import { xxh3PagesRef } from "./reference/page-hashes.js";

/** The u64 of a (low, high) pair. */
const hashOf = (low: number, high: number): bigint => (BigInt(low) | (BigInt(high) << 32n));

describe("xxh3Pages: one kernel call per window of pages", () => {
  it("equals the reference for any pages", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.integer(), fc.array(fc.tuple(fc.nat(3 * 4096), fc.nat(255)), { maxLength: 40 }), (pages, seed, pokes) => {
        const bytes = new Uint8Array(pages * 4096);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.imul(i + seed, 0x9e3779b1) >>> 24) & 0xff;
        for (const [at, value] of pokes) if (at < bytes.length) bytes[at] = value;
        expect(Array.from(xxh3Pages(bytes))).toEqual(Array.from(xxh3PagesRef(bytes)));
      }),
      { numRuns: 25 },
    );
  });

  it("past one 64-page step, each page's hash is its own (one changed byte changes one hash)", () => {
    const bytes = new Uint8Array(70 * 4096);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i / 4096;
    const before = xxh3Pages(bytes);
    expect(hashOf(before[66 * 2], before[66 * 2 + 1])).toBe(xxh3Hash64(bytes.subarray(66 * 4096, 67 * 4096)));
    bytes[66 * 4096 + 4095] ^= 1;
    const after = xxh3Pages(bytes);
    const changed = Array.from({ length: 70 }, (_, p) => p).filter((p) => after[p * 2] !== before[p * 2] || after[p * 2 + 1] !== before[p * 2 + 1]);
    expect(changed).toEqual([66]);
  });

  it("a window hashes the pages put in it, and only the count asked for", () => {
    const page = new Uint8Array(4096).fill(9);
    withPageWindow(4, (window) => {
      window.bytes.fill(0);
      window.bytes.set(page, 2 * 4096);
      const h = window.hashPages(3);
      expect(h.length).toBe(6);
      expect(hashOf(h[4], h[5])).toBe(xxh3Hash64(page));
      expect(hashOf(h[0], h[1])).toBe(xxh3Hash64(new Uint8Array(4096)));
    });
  });

  it("refuses a bad window size, a count past the window, a partial page and a short output, naming the value", () => {
    expect(thrownError(() => withPageWindow(0, () => 0))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 0 } });
    expect(thrownError(() => withPageWindow(MAX_WINDOW_PAGES + 1, () => 0))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: MAX_WINDOW_PAGES + 1 } });
    expect(thrownError(() => withPageWindow(2, (w) => w.hashPages(3)))).toMatchObject({ code: "ERR_LENGTH", details: { count: 3, pages: 2 } });
    expect(thrownError(() => xxh3Pages(new Uint8Array(4095)))).toMatchObject({ code: "ERR_PAGE_SIZE", details: { length: 4095 } });
    expect(thrownError(() => xxh3Pages(new Uint8Array(8192), new Uint32Array(3)))).toMatchObject({ code: "ERR_LENGTH", details: { length: 3 } });
  });
});
