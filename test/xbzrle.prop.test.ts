// XBZRLE properties (fast-check): the wasm-backed API against the
// byte-at-a-time oracle on random page pairs and limits, round trips, random
// and mutated streams, and the argument checks.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/errors.js";
import { xbzrleDecode, xbzrleEncode } from "../src/pages/xbzrle.js";
import { Kernels } from "../src/wasm/kernels.js";
import { refXbzrleDecode, refXbzrleEncode } from "./reference/xbzrle.js";
import { mulberry32 } from "../src/sim/prng.js";
import { thrownCode } from "./helpers.js";

/** A described change pattern, applied to a seeded random old page. */
type Changes =
  | { mode: "density"; p: number; seed: number }
  | { mode: "runs"; runs: Array<[gap: number, len: number]> }
  | { mode: "boundary"; runs: Array<[block: number, shift: number, len: number]> };

/** Uniform floats in [0, 1) from mulberry32. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 2 ** 32;
}

/** Flips (XOR with a non-zero byte) new[at..at+len) inside the page. */
function flip(page: Uint8Array, at: number, len: number, next: () => number): void {
  for (let i = Math.max(at, 0); i < Math.min(at + len, page.length); i++) page[i] ^= 1 + Math.floor(next() * 255);
}

/** Builds [old, new] of `len` bytes from a seed and a change pattern. */
function makePages(len: number, seed: number, changes: Changes): [Uint8Array, Uint8Array] {
  const next = rng(seed);
  const oldPage = Uint8Array.from({ length: len }, () => Math.floor(next() * 256));
  const newPage = oldPage.slice();
  if (changes.mode === "density") {
    for (let i = 0; i < len; i++) if (next() < changes.p) flip(newPage, i, 1, next);
  } else if (changes.mode === "runs") {
    let at = 0;
    for (const [gap, run] of changes.runs) {
      flip(newPage, at + gap, run, next);
      at += gap + run;
    }
  } else {
    for (const [block, shift, run] of changes.runs) flip(newPage, block * 16 + shift, run, next);
  }
  return [oldPage, newPage];
}

const pageLength = fc.oneof(
  fc.constantFrom(8, 16, 24, 64, 128, 4096, 8192),
  fc.integer({ min: 1, max: 1024 }).map((n) => 8 * n),
);
const smallLength = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 300 }));
const changes: fc.Arbitrary<Changes> = fc.oneof(
  fc.record({ mode: fc.constant("density" as const), p: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0.01, 0.2, 0.5, 0.95)), seed: fc.nat() }),
  fc.record({ mode: fc.constant("runs" as const), runs: fc.array(fc.tuple(smallLength, smallLength.map((n) => n + 1)), { maxLength: 60 }) }),
  fc.record({
    mode: fc.constant("boundary" as const),
    runs: fc.array(fc.tuple(fc.nat(520), fc.integer({ min: -2, max: 2 }), fc.constantFrom(1, 2, 15, 16, 17, 63, 64, 65, 130)), { maxLength: 12 }),
  }),
);
const pagePair = fc.tuple(pageLength, fc.nat(), changes).map(([len, seed, c]) => makePages(len, seed, c));
/** A limit for a page of `len` bytes, or undefined for the default. */
const limitFor = (len: number): fc.Arbitrary<number | undefined> =>
  fc.oneof(fc.constantFrom(undefined, 0, 1, 2, 3, len - 1, len, len + 1, 2 * len + 100), fc.nat(2 * len + 20));

/** The oracle's answer for encode: bytes, or null for -1. */
function refEncode(oldPage: Uint8Array, newPage: Uint8Array, limit: number): Uint8Array | null {
  const dst = new Uint8Array(Math.min(limit, 2 * newPage.length + 16));
  const ret = refXbzrleEncode(oldPage, newPage, newPage.length, dst, limit);
  return ret < 0 ? null : dst.slice(0, ret);
}

/** The oracle's answer for decode: the new page, or null for -1. */
function refDecode(encoded: Uint8Array, base: Uint8Array): Uint8Array | null {
  const dst = base.slice();
  return refXbzrleDecode(encoded, encoded.length, dst, dst.length) < 0 ? null : dst;
}

/** Checks the API's decode against the oracle, and that `base` is untouched. */
function checkDecode(encoded: Uint8Array, base: Uint8Array): void {
  const before = base.slice();
  const expected = refDecode(encoded, base);
  if (expected === null) {
    expect(thrownCode(() => xbzrleDecode(encoded, base))).toBe(ErrorCode.XbzrleCorrupt);
  } else {
    expect(Buffer.compare(xbzrleDecode(encoded, base), expected)).toBe(0);
  }
  expect(Buffer.compare(base, before)).toBe(0);
}

/** A 14-bit ULEB128 length, minimal or (when `long`) the 2-byte form. */
const uleb = (v: number, long: boolean): number[] => (v >= 0x80 || long ? [(v & 0x7f) | 0x80, v >> 7] : [v]);

/** A stream that follows the grammar, possibly with non-minimal lengths and zero runs. */
const grammarStream = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof(fc.nat(20), fc.nat(200)), fc.boolean(), fc.nat(20), fc.boolean()), { maxLength: 8 }),
    fc.oneof(fc.constant([]), fc.array(fc.nat(255), { maxLength: 24 })), // trailing junk
  )
  .map(([pairs, tail]) =>
    Uint8Array.from([...pairs.flatMap(([z, zl, n, nl]) => [...uleb(z, zl), ...uleb(n, nl), ...new Array<number>(n).fill(0x5a)]), ...tail]),
  );

describe("xbzrle properties", () => {
  it("wasm encode equals the oracle for any pages and limit", () => {
    const arb = pagePair.chain(([o, n]) => fc.tuple(fc.constant(o), fc.constant(n), limitFor(n.length)));
    fc.assert(
      fc.property(arb, ([oldPage, newPage, limit]) => {
        const got = xbzrleEncode(oldPage, newPage, limit);
        const want = refEncode(oldPage, newPage, limit ?? newPage.length);
        if (want === null) expect(got).toBeNull();
        else expect(got !== null && Buffer.compare(got, want) === 0).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("decode(encode(old, new), old) gives new, and leaves old alone", () => {
    fc.assert(
      fc.property(pagePair, ([oldPage, newPage]) => {
        const before = oldPage.slice();
        const encoded = xbzrleEncode(oldPage, newPage, 3 * newPage.length);
        expect(encoded).not.toBeNull();
        expect(Buffer.compare(xbzrleDecode(encoded as Uint8Array, oldPage), newPage)).toBe(0);
        expect(Buffer.compare(oldPage, before)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it("decode agrees with the oracle on random streams", () => {
    const base = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(64, 4096)).map((n) => new Uint8Array(n).fill(7));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 48 }), base, (s, b) => checkDecode(s, b)), { numRuns: 400 });
    fc.assert(fc.property(grammarStream, base, (s, b) => checkDecode(s, b)), { numRuns: 400 });
  });

  it("decode agrees with the oracle on mutated encodings", () => {
    const mutation = fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom("set", "xor80", "truncate", "append"));
    fc.assert(
      fc.property(pagePair, mutation, ([oldPage, newPage], [at, value, kind]) => {
        const encoded = xbzrleEncode(oldPage, newPage, 3 * newPage.length) as Uint8Array;
        let s = encoded.slice();
        const i = s.length === 0 ? 0 : at % s.length;
        if (kind === "set" && s.length > 0) s[i] = value;
        else if (kind === "xor80" && s.length > 0) s[i] ^= 0x80;
        else if (kind === "truncate") s = s.slice(0, i);
        else s = Uint8Array.from([...s, value, ...(value & 1 ? [value] : [])]);
        checkDecode(s, oldPage);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects pages of the wrong size with ErrorCode.PageSize", () => {
    const bad = fc.oneof(
      fc.integer({ min: 0, max: 20000 }).filter((n) => n % 8 !== 0 || n < 8 || n > 16376).map((n) => [n, n] as const),
      fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 })).map(([a, b]) => [8 * a, 8 * a + 8 * b] as const),
    );
    fc.assert(
      fc.property(bad, ([a, b]) => {
        expect(thrownCode(() => xbzrleEncode(new Uint8Array(a), new Uint8Array(b)))).toBe(ErrorCode.PageSize);
      }),
      { numRuns: 100 },
    );
    expect(thrownCode(() => xbzrleDecode(new Uint8Array(0), new Uint8Array(65537)))).toBe(ErrorCode.PageSize);
  });

  it("rejects a bad limit with ErrorCode.BadOption", () => {
    const page = new Uint8Array(64);
    for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(thrownCode(() => xbzrleEncode(page, page, limit))).toBe(ErrorCode.BadOption);
    }
  });

  it("throws ErrorCode.XbzrleCorrupt for malformed streams", () => {
    const page = new Uint8Array(4096);
    const cases = [
      [0x05], // lone byte
      [0x01, 0x01, 0x09, 0x00, 0x01, 0x09], // zero run after the first pair
      [0x81, 0x80, 0x01, 0x01], // 3-byte length
      [0x00, 0x00, 0x00], // zero-length changed run
      [0xff, 0x7f, 0x01, 0x01], // run past the page
      [0x00, 0x05, 1, 2, 3], // literal past the input
    ];
    for (const s of cases) expect(thrownCode(() => xbzrleDecode(Uint8Array.from(s), page))).toBe(ErrorCode.XbzrleCorrupt);
    expect(thrownCode(() => xbzrleDecode(new Uint8Array(41), new Uint8Array(8)))).toBe(ErrorCode.XbzrleCorrupt);
    // Accepted: a non-minimal empty first run, and the empty stream.
    expect(xbzrleDecode(Uint8Array.from([0x80, 0x00, 0x01, 0x09]), page)[0]).toBe(9);
    expect(xbzrleDecode(new Uint8Array(0), new Uint8Array(0)).length).toBe(0);
  });

  it("raw kernels touch nothing past their buffers (each placed flush with the end of memory)", () => {
    const k = new Kernels(1 << 16, 16);
    const bytes = 15 * 4096;
    const low = k.frames.allocBuffer(bytes);
    const top = low + bytes;
    expect(top).toBe(k.heap.byteLength); // an access past `top` traps
    const arb = pagePair.chain(([o, n]) => fc.tuple(fc.constant(o), fc.constant(n), fc.nat(2 * n.length + 16), fc.nat(2)));
    fc.assert(
      fc.property(arb, ([oldPage, newPage, dlen, flush]) => {
        const len = newPage.length;
        const ptrs = [top - len, top - 2 * len, top - 2 * len - dlen]; // old, new, dst
        if (flush === 1) [ptrs[0], ptrs[1]] = [ptrs[1], ptrs[0]];
        if (flush === 2) [ptrs[0], ptrs[1], ptrs[2]] = [top - dlen - 2 * len, top - dlen - len, top - dlen];
        k.heap.copyIn(ptrs[0], oldPage);
        k.heap.copyIn(ptrs[1], newPage);
        const ret = k.pages.xbzrleEncode(ptrs[0], ptrs[1], len, ptrs[2], dlen);
        const want = refEncode(oldPage, newPage, dlen);
        expect(ret).toBe(want === null ? -1 : want.length);
        if (want !== null) expect(Buffer.compare(k.heap.copyOut(ptrs[2], ret), want)).toBe(0);
      }),
      { numRuns: 300 },
    );
    const streams = fc.oneof(grammarStream, fc.uint8Array({ maxLength: 48 }));
    const bases = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(64, 4096)).map((n) => new Uint8Array(n).fill(3));
    // One short literal ending `extra` bytes before the page end, then junk.
    const nearEnd = fc
      .tuple(fc.nat(40), fc.integer({ min: 1, max: 15 }), fc.nat(20), fc.uint8Array({ maxLength: 30 }))
      .map(([z, run, extra, tail]) => [Uint8Array.from([z, run, ...new Array<number>(run).fill(9), ...tail]), new Uint8Array(z + run + extra)] as const);
    const cases = fc.oneof(fc.tuple(streams, bases), nearEnd);
    fc.assert(
      fc.property(cases, fc.boolean(), ([src, base], srcAtTop) => {
        const srcPtr = srcAtTop ? top - src.length : top - src.length - base.length;
        const dstPtr = srcAtTop ? srcPtr - base.length : top - base.length;
        k.heap.copyIn(srcPtr, src);
        k.heap.copyIn(dstPtr, base);
        const want = base.slice();
        expect(k.pages.xbzrleDecode(srcPtr, src.length, dstPtr, base.length)).toBe(refXbzrleDecode(src, src.length, want, want.length));
        expect(Buffer.compare(k.heap.copyOut(dstPtr, base.length), want)).toBe(0);
      }),
      { numRuns: 300 },
    );
    // Negative capacities and lengths behave as in QEMU (C ints): -1, or 0 for empty input.
    const scratch = new Uint8Array(16);
    expect(k.pages.xbzrleEncode(low, low + 64, 64, low + 128, -1)).toBe(refXbzrleEncode(scratch, scratch, 64, scratch, -1));
    expect(k.pages.xbzrleEncode(low, low + 64, 0, low + 128, -1)).toBe(0);
    k.heap.copyIn(low, Uint8Array.from([0, 1, 7]));
    for (const dlen of [-1, -5, -(2 ** 31)]) {
      expect(k.pages.xbzrleDecode(low, 3, low + 64, dlen)).toBe(refXbzrleDecode(Uint8Array.from([0, 1, 7]), 3, scratch, dlen));
    }
    expect(k.pages.xbzrleDecode(low, 0, low + 64, -1)).toBe(0);
    expect(k.pages.xbzrleDecode(low, -5, low + 64, 16)).toBe(0);
  });

  it("returns an empty array for identical pages", () => {
    const page = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
    expect(xbzrleEncode(page, page.slice())?.length).toBe(0);
    expect(xbzrleEncode(page, page.slice(), 1)).toBeNull(); // QEMU's d + 2 > dlen quirk
  });
});
