// Page kernels (XOR parity, rebuild, zero test, first difference, copy) against
// the byte-loop oracles of test/reference/pages.ts, through the public helpers
// and through the raw kernels (for lengths and placements the helpers never use).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { isZeroPage, pageCompare, rebuildPage, xorParity } from "../src/pages/pages.js";
import { Kernels } from "../src/wasm/kernels.js";
import { copyRef, firstDiffRef, isZeroRef, rebuildRef, xorParityRef } from "./reference/pages.js";

/** Offsets where the kernels change strategy: vector lanes, 64-byte steps, 256-byte chunks. */
const BOUNDARY_OFFSETS = [0, 1, 15, 16, 63, 64, 65, 255, 256, 511, 512, 513, 4095];
const PAGE_LENGTHS = [16, 32, 48, 256, 272, 4096, 8192];

/** Deterministic bytes (a 32-bit LCG), so failures replay from the seed alone. */
function randomPage(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const pageLength = fc.constantFrom(...PAGE_LENGTHS);

describe("xorParity", () => {
  it("equals the byte-wise XOR oracle for k = 1..16 and page lengths 16..8192", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), pageLength, fc.integer(), (k, len, seed) => {
        const pages = Array.from({ length: k }, (_, i) => randomPage(len, seed + i));
        const got = xorParity(pages);
        const want = xorParityRef(pages);
        expect(got.length).toBe(len);
        expect(firstDiffRef(got, want)).toBe(-1);
      }),
      { numRuns: 150 },
    );
  });

  it("with k = 8 puts a single set byte of any page at the same offset of the parity", () => {
    for (const len of [4096, 8192]) {
      for (const off of BOUNDARY_OFFSETS) {
        for (const which of [0, 3, 7]) {
          const pages = Array.from({ length: 8 }, () => new Uint8Array(len));
          pages[which][off] = 0x5a;
          const got = xorParity(pages);
          expect(firstDiffRef(got, new Uint8Array(len))).toBe(off);
          expect(got[off]).toBe(0x5a);
          expect(isZeroRef(got.subarray(off + 1))).toBe(true);
        }
      }
    }
  });

  it("of a page listed twice cancels it", () => {
    const a = randomPage(4096, 1);
    const b = randomPage(4096, 2);
    expect(same(xorParity([a, b, a]), b)).toBe(true);
    expect(isZeroRef(xorParity([a, a]))).toBe(true);
  });

  it("raw kernel: writes exactly len bytes of dst for len % 32 == 16 and any k, and k = 0 zero-fills", () => {
    const kernels = new Kernels(1 << 20, 16);
    const base = kernels.layout.scratchBase;
    for (const k of [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17]) {
      for (const len of [16, 48, 4080, 4112]) {
        const dst = base;
        const list = base + 8192;
        const src = base + 16384;
        const pages = Array.from({ length: k }, (_, i) => randomPage(len, 100 * k + i));
        const heap = kernels.heap;
        heap.u8.fill(0xee, dst, dst + len + 64);
        pages.forEach((p, i) => heap.copyIn(src + i * 8192, p));
        const u32 = heap.u32;
        for (let i = 0; i < k; i++) u32[(list >>> 2) + i] = src + i * 8192;
        kernels.pages.xorParity(dst, list, k, len);
        const want = k === 0 ? new Uint8Array(len) : xorParityRef(pages);
        expect(firstDiffRef(heap.copyOut(dst, len), want)).toBe(-1);
        expect(heap.copyOut(dst + len, 64).every((v) => v === 0xee)).toBe(true);
      }
    }
  });
});

describe("rebuildPage", () => {
  it("recovers any lost page of a stripe of k = 1..16 pages", () => {
    for (let k = 1; k <= 16; k++) {
      const pages = Array.from({ length: k }, (_, i) => randomPage(4096, 31 * k + i));
      const parity = xorParity(pages);
      for (const lost of new Set([0, k >> 1, k - 1])) {
        const survivors = pages.filter((_, i) => i !== lost);
        const rebuilt = rebuildPage(parity, survivors);
        expect(firstDiffRef(rebuilt, pages[lost])).toBe(-1);
        expect(firstDiffRef(rebuilt, rebuildRef(parity, survivors))).toBe(-1);
      }
    }
  });

  it("matches the oracle on random stripes and lengths", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), pageLength, fc.integer(), fc.nat(), (k, len, seed, pick) => {
        const pages = Array.from({ length: k }, (_, i) => randomPage(len, seed ^ (i * 7919)));
        const lost = pick % k;
        const rebuilt = rebuildPage(xorParityRef(pages), pages.filter((_, i) => i !== lost));
        expect(firstDiffRef(rebuilt, pages[lost])).toBe(-1);
      }),
      { numRuns: 60 },
    );
  });
});

describe("isZeroPage", () => {
  const lengths = [1, 15, 16, 17, 255, 256, 257, 4095, 4096, 8192];

  it("is true for all-zero pages and false for one non-zero byte at every boundary offset", () => {
    for (const len of lengths) {
      expect(isZeroPage(new Uint8Array(len))).toBe(true);
      for (const off of [...BOUNDARY_OFFSETS, len - 1]) {
        if (off >= len) continue;
        const page = new Uint8Array(len);
        page[off] = 0x80;
        expect(isZeroPage(page), `len ${len}, byte ${off}`).toBe(false);
      }
    }
    expect(isZeroPage(new Uint8Array(0))).toBe(true);
  });

  it("agrees with the oracle on sparse random pages", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...lengths),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (len, writes) => {
          const page = new Uint8Array(len);
          for (const [at, value] of writes) page[at % len] = value;
          expect(isZeroPage(page)).toBe(isZeroRef(page));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("pageCompare", () => {
  it("is -1 for equal pages and the first differing offset at every boundary", () => {
    for (const len of [16, 64, 256, 4096, 8192]) {
      const a = randomPage(len, len);
      expect(pageCompare(a, a.slice())).toBe(-1);
      for (const first of BOUNDARY_OFFSETS) {
        if (first >= len) continue;
        const b = a.slice();
        b[first] ^= 0x01;
        if (first + 40 < len) b[first + 40] ^= 0xff; // a later difference must not win
        expect(pageCompare(a, b), `len ${len}, first ${first}`).toBe(first);
      }
    }
  });

  it("agrees with the oracle on random pairs of any length", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9000 }), fc.integer(), fc.array(fc.nat(), { maxLength: 3 }), (len, seed, diffs) => {
        const a = randomPage(len, seed);
        const b = a.slice();
        for (const d of diffs) b[d % len] ^= 1 + (d % 255);
        expect(pageCompare(a, b)).toBe(firstDiffRef(a, b));
      }),
      { numRuns: 200 },
    );
  });
});

describe("pageCopy (raw kernel)", () => {
  it("copies exactly len bytes", () => {
    const kernels = new Kernels(1 << 20, 16);
    const base = kernels.layout.scratchBase;
    for (const len of [1, 16, 4095, 4096, 8192]) {
      const src = randomPage(len, len);
      kernels.heap.copyIn(base, src);
      kernels.heap.u8.fill(0xcc, base + 65536, base + 65536 + len + 16);
      kernels.pages.copy(base + 65536, base, len);
      expect(firstDiffRef(kernels.heap.copyOut(base + 65536, len), copyRef(src))).toBe(-1);
      expect(kernels.heap.copyOut(base + 65536 + len, 16).every((v) => v === 0xcc)).toBe(true);
    }
  });
});

describe("bad input", () => {
  function thrown(f: () => unknown): HypermemError {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(HypermemError);
      return err as HypermemError;
    }
    throw new Error("expected a HypermemError");
  }

  it("a mismatched page raises PageSize naming its index and both lengths; inputs are unchanged", () => {
    const pages = [randomPage(4096, 1), randomPage(4096, 2), randomPage(4000, 3)];
    const before = pages.map((p) => p.slice());
    const err = thrown(() => xorParity(pages));
    expect(err.code).toBe(ErrorCode.PageSize);
    expect(err.message).toContain("page 2");
    expect(err.message).toContain("4000");
    expect(err.message).toContain("4096");
    pages.forEach((p, i) => expect(same(p, before[i])).toBe(true));
  });

  it("a length that is not a positive multiple of 16 raises PageSize with the length", () => {
    for (const len of [0, 1, 15, 4095, 4100]) {
      const err = thrown(() => xorParity([new Uint8Array(len), new Uint8Array(len)]));
      expect(err.code).toBe(ErrorCode.PageSize);
      expect(err.message).toContain(`${len} bytes`);
    }
  });

  it("rebuildPage with a survivor of another length raises PageSize; an empty stripe raises BadOption", () => {
    const parity = randomPage(4096, 9);
    const survivors = [randomPage(4096, 10), randomPage(8192, 11)];
    const err = thrown(() => rebuildPage(parity, survivors));
    expect(err.code).toBe(ErrorCode.PageSize);
    expect(err.message).toContain("8192");
    expect(same(parity, randomPage(4096, 9))).toBe(true);
    expect(thrown(() => xorParity([])).code).toBe(ErrorCode.BadOption);
  });

  it("pageCompare of different lengths raises PageSize with both lengths", () => {
    const err = thrown(() => pageCompare(new Uint8Array(4096), new Uint8Array(4080)));
    expect(err.code).toBe(ErrorCode.PageSize);
    expect(err.message).toContain("4096");
    expect(err.message).toContain("4080");
  });
});
