// Plain TypeScript oracles for the page, parity, hash and bitmap kernels
// (assembly/page.ts, parity.ts, hash.ts, bitmap.ts): byte loops and BigInt,
// written for obviousness, not speed. Tests and bench verification compare
// the wasm results with these.

/** A copy of `src`. */
export function copyRef(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i];
  return out;
}

/** True when every byte of `page` is 0. */
export function isZeroRef(page: Uint8Array): boolean {
  for (let i = 0; i < page.length; i++) if (page[i] !== 0) return false;
  return true;
}

/** Offset of the first byte where `a` and `b` differ, or -1. Lengths must match. */
export function firstDiffRef(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Byte-wise XOR of `pages` (all the same length, at least one). */
export function xorParityRef(pages: readonly Uint8Array[]): Uint8Array {
  if (pages.length === 0) throw new RangeError("no pages");
  const out = new Uint8Array(pages[0].length);
  for (const page of pages) {
    if (page.length !== out.length) throw new RangeError(`page length ${page.length} != ${out.length}`);
    for (let i = 0; i < out.length; i++) out[i] ^= page[i];
  }
  return out;
}

/** The lost page of a stripe: parity XOR every surviving page. */
export function rebuildRef(parity: Uint8Array, survivors: readonly Uint8Array[]): Uint8Array {
  return xorParityRef([parity, ...survivors]);
}

// XXH64, from the specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md).
const MASK64 = (1n << 64n) - 1n;
export const PRIME64_1 = 0x9E3779B185EBCA87n;
export const PRIME64_2 = 0xC2B2AE3D27D4EB4Fn;
export const PRIME64_3 = 0x165667B19E3779F9n;
export const PRIME64_4 = 0x85EBCA77C2B2AE63n;
export const PRIME64_5 = 0x27D4EB2F165667C5n;

function rotl64(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK64;
}

/** Little-endian unsigned integer of `n` bytes at `off`. */
function readLE(bytes: Uint8Array, off: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i]);
  return v;
}

function round64(acc: bigint, lane: bigint): bigint {
  acc = (acc + lane * PRIME64_2) & MASK64;
  acc = rotl64(acc, 31n);
  return (acc * PRIME64_1) & MASK64;
}

function mergeAccumulator(acc: bigint, accN: bigint): bigint {
  acc ^= round64(0n, accN);
  return (acc * PRIME64_1 + PRIME64_4) & MASK64;
}

/** XXH64 of `bytes` with `seed` (a u64). */
export function xxh64Ref(bytes: Uint8Array, seed = 0n): bigint {
  seed &= MASK64;
  const len = bytes.length;
  let off = 0;
  let acc: bigint;
  if (len >= 32) {
    let acc1 = (seed + PRIME64_1 + PRIME64_2) & MASK64;
    let acc2 = (seed + PRIME64_2) & MASK64;
    let acc3 = seed;
    let acc4 = (seed - PRIME64_1) & MASK64;
    for (; off + 32 <= len; off += 32) {
      acc1 = round64(acc1, readLE(bytes, off, 8));
      acc2 = round64(acc2, readLE(bytes, off + 8, 8));
      acc3 = round64(acc3, readLE(bytes, off + 16, 8));
      acc4 = round64(acc4, readLE(bytes, off + 24, 8));
    }
    acc = (rotl64(acc1, 1n) + rotl64(acc2, 7n) + rotl64(acc3, 12n) + rotl64(acc4, 18n)) & MASK64;
    acc = mergeAccumulator(acc, acc1);
    acc = mergeAccumulator(acc, acc2);
    acc = mergeAccumulator(acc, acc3);
    acc = mergeAccumulator(acc, acc4);
  } else {
    acc = (seed + PRIME64_5) & MASK64;
  }
  acc = (acc + BigInt(len)) & MASK64;
  for (; off + 8 <= len; off += 8) {
    acc ^= round64(0n, readLE(bytes, off, 8));
    acc = (rotl64(acc, 27n) * PRIME64_1 + PRIME64_4) & MASK64;
  }
  if (off + 4 <= len) {
    acc ^= (readLE(bytes, off, 4) * PRIME64_1) & MASK64;
    acc = (rotl64(acc, 23n) * PRIME64_2 + PRIME64_3) & MASK64;
    off += 4;
  }
  for (; off < len; off++) {
    acc ^= (BigInt(bytes[off]) * PRIME64_5) & MASK64;
    acc = (rotl64(acc, 11n) * PRIME64_1) & MASK64;
  }
  acc ^= acc >> 33n;
  acc = (acc * PRIME64_2) & MASK64;
  acc ^= acc >> 29n;
  acc = (acc * PRIME64_3) & MASK64;
  acc ^= acc >> 32n;
  return acc;
}

// Bitmaps: u64 words, bit i is bit i % 64 of word i / 64 (little endian, so
// byte i / 8, bit i % 8 of the byte array).

/** Indices of the set bits of `words`, ascending. */
export function bitmapScanRef(words: BigUint64Array): number[] {
  const out: number[] = [];
  for (let w = 0; w < words.length; w++) {
    const lo = Number(words[w] & 0xffffffffn);
    const hi = Number(words[w] >> 32n);
    for (let b = 0; b < 32; b++) if ((lo >>> b) & 1) out.push(w * 64 + b);
    for (let b = 0; b < 32; b++) if ((hi >>> b) & 1) out.push(w * 64 + 32 + b);
  }
  return out;
}

/** Number of set bits of `words`. */
export function bitmapCountRef(words: BigUint64Array): number {
  return bitmapScanRef(words).length;
}

/** A new bitmap: dst | src, word by word. */
export function bitmapOrRef(dst: BigUint64Array, src: BigUint64Array): BigUint64Array {
  return dst.map((w, i) => w | src[i]);
}

/** A new bitmap: dst & ~src, word by word. */
export function bitmapAndNotRef(dst: BigUint64Array, src: BigUint64Array): BigUint64Array {
  return dst.map((w, i) => w & ~src[i] & MASK64);
}
