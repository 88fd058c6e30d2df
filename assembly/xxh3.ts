// XXH3-64 (seed 0, the default 192-byte secret) of a byte range: the
// migration stream's chunk checksum and the hash of each page in its memory
// digest. From the XXH3 specification (github.com/Cyan4973/xxHash,
// doc/xxhash_spec.md, "XXH3"), every length class: 0, 1-3, 4-8, 9-16,
// 17-128, 129-240, and above 240 the striped loop. That loop keeps the eight
// 64-bit accumulators in four v128 and does the 32x32->64 multiplies with
// i64x2.extmul_low_i32x4_u: about twice the speed of scalar XXH64 in wasm,
// which cannot vectorise its serial 64-bit multiplies. Loads are little
// endian and may be unaligned. Checked against test/reference/xxh3.ts and
// the independent hash-wasm implementation (test/hash.test.ts).

// @ts-ignore: decorator
@inline const PRIME32_1: u64 = 0x9E3779B1;
// @ts-ignore: decorator
@inline const PRIME32_2: u64 = 0x85EBCA77;
// @ts-ignore: decorator
@inline const PRIME32_3: u64 = 0xC2B2AE3D;
// @ts-ignore: decorator
@inline const PRIME64_1: u64 = 0x9E3779B185EBCA87;
// @ts-ignore: decorator
@inline const PRIME64_2: u64 = 0xC2B2AE3D27D4EB4F;
// @ts-ignore: decorator
@inline const PRIME64_3: u64 = 0x165667B19E3779F9;
// @ts-ignore: decorator
@inline const PRIME64_4: u64 = 0x85EBCA77C2B2AE63;
// @ts-ignore: decorator
@inline const PRIME64_5: u64 = 0x27D4EB2F165667C5;
// @ts-ignore: decorator
@inline const PRIME_MX1: u64 = 0x165667919E3779F9;
// @ts-ignore: decorator
@inline const PRIME_MX2: u64 = 0x9FB21C651E98DF25;

/** kSecret, the default secret (192 bytes). */
const SECRET = memory.data<u8>([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);
// @ts-ignore: decorator
@inline const SECRET_BYTES: usize = 192;
/** Stripes of 64 bytes per block (the secret advances 8 bytes per stripe). */
// @ts-ignore: decorator
@inline const STRIPES_PER_BLOCK: usize = (SECRET_BYTES - 64) / 8;

/** The low and high 64 bits of the 128-bit product a × b, XOR-folded. */
function mul128Fold64(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff;
  const aHi = a >> 32;
  const bLo = b & 0xffffffff;
  const bHi = b >> 32;
  const ll = aLo * bLo;
  const hl = aHi * bLo;
  const cross = (ll >> 32) + (hl & 0xffffffff) + aLo * bHi;
  const upper = (hl >> 32) + (cross >> 32) + aHi * bHi;
  return ((cross << 32) | (ll & 0xffffffff)) ^ upper;
}

// @ts-ignore: decorator
@inline function xxh64Avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= PRIME64_2;
  h ^= h >> 29;
  h *= PRIME64_3;
  return h ^ (h >> 32);
}

// @ts-ignore: decorator
@inline function avalanche(h: u64): u64 {
  h ^= h >> 37;
  h *= PRIME_MX1;
  return h ^ (h >> 32);
}

// @ts-ignore: decorator
@inline function mix16(p: usize, s: usize): u64 {
  return mul128Fold64(load<u64>(p) ^ load<u64>(s), load<u64>(p, 8) ^ load<u64>(s, 8));
}

function hash1to16(p: usize, len: usize): u64 {
  if (len > 8) {
    const lo = load<u64>(p) ^ (load<u64>(SECRET, 24) ^ load<u64>(SECRET, 32));
    const hi = load<u64>(p + len - 8) ^ (load<u64>(SECRET, 40) ^ load<u64>(SECRET, 48));
    return avalanche(<u64>len + bswap<u64>(lo) + hi + mul128Fold64(lo, hi));
  }
  if (len >= 4) {
    const in64 = <u64>load<u32>(p + len - 4) + (<u64>load<u32>(p) << 32);
    let h = in64 ^ (load<u64>(SECRET, 8) ^ load<u64>(SECRET, 16));
    h ^= rotl<u64>(h, 49) ^ rotl<u64>(h, 24);
    h *= PRIME_MX2;
    h ^= (h >> 35) + <u64>len;
    h *= PRIME_MX2;
    return h ^ (h >> 28);
  }
  const combined = (<u32>load<u8>(p) << 16) | (<u32>load<u8>(p + (len >> 1)) << 24) | <u32>load<u8>(p + len - 1) | (<u32>len << 8);
  return xxh64Avalanche(<u64>combined ^ <u64>(load<u32>(SECRET) ^ load<u32>(SECRET, 4)));
}

function hash17to128(p: usize, len: usize): u64 {
  let acc = <u64>len * PRIME64_1;
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        acc += mix16(p + 48, SECRET + 96);
        acc += mix16(p + len - 64, SECRET + 112);
      }
      acc += mix16(p + 32, SECRET + 64);
      acc += mix16(p + len - 48, SECRET + 80);
    }
    acc += mix16(p + 16, SECRET + 32);
    acc += mix16(p + len - 32, SECRET + 48);
  }
  acc += mix16(p, SECRET);
  acc += mix16(p + len - 16, SECRET + 16);
  return avalanche(acc);
}

function hash129to240(p: usize, len: usize): u64 {
  let acc = <u64>len * PRIME64_1;
  for (let i: usize = 0; i < 8; i++) acc += mix16(p + 16 * i, SECRET + 16 * i);
  acc = avalanche(acc);
  const rounds = len / 16;
  for (let i: usize = 8; i < rounds; i++) acc += mix16(p + 16 * i, SECRET + 16 * (i - 8) + 3);
  acc += mix16(p + len - 16, SECRET + 136 - 17);
  return avalanche(acc);
}

/** One 16-byte quarter of a stripe: acc[i] += lo32(d ^ k) × hi32(d ^ k); acc[i ^ 1] += d[i]. */
// @ts-ignore: decorator
@inline function accumulate16(acc: v128, p: usize, key: usize): v128 {
  const data = v128.load(p);
  const dk = v128.xor(data, v128.load(key));
  const product = i64x2.extmul_low_i32x4_u(i32x4.shuffle(dk, dk, 0, 2, 0, 2), i32x4.shuffle(dk, dk, 1, 3, 1, 3));
  return i64x2.add(acc, i64x2.add(product, i64x2.shuffle(data, data, 1, 0)));
}

/** acc ^= acc >> 47; acc ^= key; acc *= PRIME32_1 (as lo32 × P + (hi32 × P) << 32). */
// @ts-ignore: decorator
@inline function scramble16(acc: v128, key: usize): v128 {
  const a = v128.xor(v128.xor(acc, i64x2.shr_u(acc, 47)), v128.load(key));
  const prime = i32x4.splat(<i32>PRIME32_1);
  const lo = i64x2.extmul_low_i32x4_u(i32x4.shuffle(a, a, 0, 2, 0, 2), prime);
  const hi = i64x2.extmul_low_i32x4_u(i32x4.shuffle(a, a, 1, 3, 1, 3), prime);
  return i64x2.add(lo, i64x2.shl(hi, 32));
}

/** The 64-bit result of the long hash from its eight accumulators (mergeAccs, then avalanche). */
// @ts-ignore: decorator
@inline function mergeAccumulators(a0: v128, a1: v128, a2: v128, a3: v128, len: usize): u64 {
  const m = SECRET + 11;
  let r = <u64>len * PRIME64_1;
  r += mul128Fold64(i64x2.extract_lane(a0, 0) ^ load<u64>(m), i64x2.extract_lane(a0, 1) ^ load<u64>(m, 8));
  r += mul128Fold64(i64x2.extract_lane(a1, 0) ^ load<u64>(m, 16), i64x2.extract_lane(a1, 1) ^ load<u64>(m, 24));
  r += mul128Fold64(i64x2.extract_lane(a2, 0) ^ load<u64>(m, 32), i64x2.extract_lane(a2, 1) ^ load<u64>(m, 40));
  r += mul128Fold64(i64x2.extract_lane(a3, 0) ^ load<u64>(m, 48), i64x2.extract_lane(a3, 1) ^ load<u64>(m, 56));
  return avalanche(r);
}

function hashLong(ptr: usize, len: usize): u64 {
  let a0 = i64x2.replace_lane(i64x2.splat(PRIME32_3), 1, PRIME64_1);
  let a1 = i64x2.replace_lane(i64x2.splat(PRIME64_2), 1, PRIME64_3);
  let a2 = i64x2.replace_lane(i64x2.splat(PRIME64_4), 1, PRIME32_2);
  let a3 = i64x2.replace_lane(i64x2.splat(PRIME64_5), 1, PRIME32_1);
  // Every whole stripe before the last 64 bytes; the key advances 8 bytes a
  // stripe and, after a block of STRIPES_PER_BLOCK, the accumulators are
  // scrambled and the key starts over.
  const end = ptr + ((len - 1) & ~(<usize>63));
  const blockKeyEnd = SECRET + STRIPES_PER_BLOCK * 8;
  let key = SECRET;
  for (let p = ptr; p < end; p += 64) {
    a0 = accumulate16(a0, p, key);
    a1 = accumulate16(a1, p + 16, key + 16);
    a2 = accumulate16(a2, p + 32, key + 32);
    a3 = accumulate16(a3, p + 48, key + 48);
    key += 8;
    if (key == blockKeyEnd) {
      const sk = SECRET + SECRET_BYTES - 64;
      a0 = scramble16(a0, sk);
      a1 = scramble16(a1, sk + 16);
      a2 = scramble16(a2, sk + 32);
      a3 = scramble16(a3, sk + 48);
      key = SECRET;
    }
  }
  return lastStripeAndMerge(a0, a1, a2, a3, ptr + len - 64, len);
}

/** The end of a long hash: the last 64 bytes (at `last`) accumulated with the end of the secret, then the merge. */
// @ts-ignore: decorator
@inline function lastStripeAndMerge(a0: v128, a1: v128, a2: v128, a3: v128, last: usize, len: usize): u64 {
  const lk = SECRET + SECRET_BYTES - 64 - 7;
  return mergeAccumulators(
    accumulate16(a0, last, lk), accumulate16(a1, last + 16, lk + 16),
    accumulate16(a2, last + 32, lk + 32), accumulate16(a3, last + 48, lk + 48), len,
  );
}

/** XXH3-64 (seed 0) of `len` bytes at `ptr`. INVARIANT: ptr + len <= memory size. */
export function xxh3(ptr: usize, len: usize): u64 {
  if (len > 240) return hashLong(ptr, len);
  if (len > 128) return hash129to240(ptr, len);
  if (len > 16) return hash17to128(ptr, len);
  if (len > 0) return hash1to16(ptr, len);
  return xxh64Avalanche(load<u64>(SECRET, 56) ^ load<u64>(SECRET, 64));
}

// ─── One 4096-byte page, copied and hashed in one pass ────────────────────
// For len = 4096 the striped loop above is three whole blocks of 16 stripes
// (each followed by a scramble), 15 stripes of the fourth, then the last
// stripe at len - 64; written out with the key offsets as constants, and
// every 16 bytes loaded for the hash stored to `dst` as well, so a page
// written somewhere (the stream's destination frame) is hashed while its
// bytes are in registers instead of read again.

/** accumulate16, also storing the 16 bytes loaded at `p` to `q`. */
// @ts-ignore: decorator
@inline function copyAccumulate16(acc: v128, p: usize, q: usize, key: usize): v128 {
  const data = v128.load(p);
  v128.store(q, data);
  const dk = v128.xor(data, v128.load(key));
  const product = i64x2.extmul_low_i32x4_u(i32x4.shuffle(dk, dk, 0, 2, 0, 2), i32x4.shuffle(dk, dk, 1, 3, 1, 3));
  return i64x2.add(acc, i64x2.add(product, i64x2.shuffle(data, data, 1, 0)));
}

/** Bytes of the page kernels. */
// @ts-ignore: decorator
@inline const PAGE_BYTES: usize = 4096;

/**
 * Copies the 4096-byte page at `src` to `dst` and returns its XXH3-64
 * (seed 0): equal to xxh3(src, 4096), in one pass over the bytes.
 * INVARIANT: both pages are inside memory and do not overlap.
 */
export function xxh3CopyPage(dst: usize, src: usize): u64 {
  let a0 = i64x2.replace_lane(i64x2.splat(PRIME32_3), 1, PRIME64_1);
  let a1 = i64x2.replace_lane(i64x2.splat(PRIME64_2), 1, PRIME64_3);
  let a2 = i64x2.replace_lane(i64x2.splat(PRIME64_4), 1, PRIME32_2);
  let a3 = i64x2.replace_lane(i64x2.splat(PRIME64_5), 1, PRIME32_1);
  const sk = SECRET + SECRET_BYTES - 64;
  let p = src;
  let q = dst;
  for (let block = 0; block < 4; block++) {
    const stripes: usize = block < 3 ? STRIPES_PER_BLOCK : STRIPES_PER_BLOCK - 1;
    for (let s: usize = 0; s < stripes; s++) {
      const key = SECRET + s * 8;
      a0 = copyAccumulate16(a0, p, q, key);
      a1 = copyAccumulate16(a1, p + 16, q + 16, key + 16);
      a2 = copyAccumulate16(a2, p + 32, q + 32, key + 32);
      a3 = copyAccumulate16(a3, p + 48, q + 48, key + 48);
      p += 64;
      q += 64;
    }
    if (block < 3) {
      a0 = scramble16(a0, sk);
      a1 = scramble16(a1, sk + 16);
      a2 = scramble16(a2, sk + 32);
      a3 = scramble16(a3, sk + 48);
    }
  }
  const lk = SECRET + SECRET_BYTES - 64 - 7;
  a0 = copyAccumulate16(a0, p, q, lk);
  a1 = copyAccumulate16(a1, p + 16, q + 16, lk + 16);
  a2 = copyAccumulate16(a2, p + 32, q + 32, lk + 32);
  a3 = copyAccumulate16(a3, p + 48, q + 48, lk + 48);
  return mergeAccumulators(a0, a1, a2, a3, PAGE_BYTES);
}

// ─── A buffer hashed while it is written ──────────────────────────────────
// XXH3-64 of a buffer filled front to back (the stream packer's chunk
// payload): pages copied into it with xxh3StreamCopyPage are accumulated
// while their bytes are in registers, whatever their offset in the buffer;
// other bytes written in between are read back, and xxh3StreamFinish gives
// what xxh3(base, len) would. The state lives in a caller-given area:
//
//   0                                      64          68          72
//  ┌──────────────────────────────────────┬───────────┬───────────┐
//  │ 4 × v128 accumulators (acc[0..7])    │ u32 base  │ u32 done  │  done = stripes accumulated
//  └──────────────────────────────────────┴───────────┴───────────┘
//
// A stripe is accumulated only once a byte after it is written (the long
// hash keeps the stripe that holds the last byte for its last-stripe step),
// so the bytes written at any moment are a valid prefix of any length.

/** Bytes of a streaming state area. */
// @ts-ignore: decorator
@inline export const XXH3_STREAM_STATE_BYTES: u32 = 72;
// @ts-ignore: decorator
@inline const ST_BASE: usize = 64;
// @ts-ignore: decorator
@inline const ST_DONE: usize = 68;

/** Starts hashing the buffer at `base` with the state at `st`. */
export function xxh3StreamBegin(st: usize, base: usize): void {
  v128.store(st, i64x2.replace_lane(i64x2.splat(PRIME32_3), 1, PRIME64_1));
  v128.store(st, i64x2.replace_lane(i64x2.splat(PRIME64_2), 1, PRIME64_3), 16);
  v128.store(st, i64x2.replace_lane(i64x2.splat(PRIME64_4), 1, PRIME32_2), 32);
  v128.store(st, i64x2.replace_lane(i64x2.splat(PRIME64_5), 1, PRIME32_1), 48);
  store<u32>(st, <u32>base, ST_BASE);
  store<u32>(st, 0, ST_DONE);
}

/**
 * Accumulates stripes of the buffer (read back from it) from the state's
 * next one while they end at or before `upTo` (a buffer offset). Returns
 * the offset of the first stripe not accumulated.
 */
function streamReadBack(st: usize, upTo: usize): usize {
  const base = <usize>load<u32>(st, ST_BASE);
  let done = <usize>load<u32>(st, ST_DONE);
  let a0 = v128.load(st);
  let a1 = v128.load(st, 16);
  let a2 = v128.load(st, 32);
  let a3 = v128.load(st, 48);
  const sk = SECRET + SECRET_BYTES - 64;
  for (; (done + 1) << 6 <= upTo; done++) {
    const p = base + (done << 6);
    const key = SECRET + ((done & (STRIPES_PER_BLOCK - 1)) << 3);
    a0 = accumulate16(a0, p, key);
    a1 = accumulate16(a1, p + 16, key + 16);
    a2 = accumulate16(a2, p + 32, key + 32);
    a3 = accumulate16(a3, p + 48, key + 48);
    if ((done & (STRIPES_PER_BLOCK - 1)) == STRIPES_PER_BLOCK - 1) {
      a0 = scramble16(a0, sk);
      a1 = scramble16(a1, sk + 16);
      a2 = scramble16(a2, sk + 32);
      a3 = scramble16(a3, sk + 48);
    }
  }
  v128.store(st, a0);
  v128.store(st, a1, 16);
  v128.store(st, a2, 32);
  v128.store(st, a3, 48);
  store<u32>(st, <u32>done, ST_DONE);
  return done << 6;
}

/**
 * Copies the 4096-byte page at `src` to `dst`, the next bytes of the
 * buffer (everything before dst is written), and accumulates every stripe
 * it completes except one ending at its last byte: the stripes inside it
 * from the loaded registers, the one it begins in (if any) read back.
 * INVARIANT: dst is in the buffer at or after every byte written so far.
 */
export function xxh3StreamCopyPage(st: usize, dst: usize, src: usize): void {
  const base = <usize>load<u32>(st, ST_BASE);
  const o = dst - base;
  const end = o + PAGE_BYTES;
  let at = streamReadBack(st, o); // every stripe wholly before the page
  if (at < o) { // the stripe the page begins in: its head from the page, then read back
    memory.copy(dst, src, at + 64 - o);
    at = streamReadBack(st, at + 64);
  }
  let done = <usize>load<u32>(st, ST_DONE);
  let a0 = v128.load(st);
  let a1 = v128.load(st, 16);
  let a2 = v128.load(st, 32);
  let a3 = v128.load(st, 48);
  const sk = SECRET + SECRET_BYTES - 64;
  for (; at + 64 < end; at += 64) {
    const p = src + (at - o);
    const q = base + at;
    const key = SECRET + ((done & (STRIPES_PER_BLOCK - 1)) << 3);
    a0 = copyAccumulate16(a0, p, q, key);
    a1 = copyAccumulate16(a1, p + 16, q + 16, key + 16);
    a2 = copyAccumulate16(a2, p + 32, q + 32, key + 32);
    a3 = copyAccumulate16(a3, p + 48, q + 48, key + 48);
    if ((done & (STRIPES_PER_BLOCK - 1)) == STRIPES_PER_BLOCK - 1) {
      a0 = scramble16(a0, sk);
      a1 = scramble16(a1, sk + 16);
      a2 = scramble16(a2, sk + 32);
      a3 = scramble16(a3, sk + 48);
    }
    done++;
  }
  memory.copy(base + at, src + (at - o), end - at); // the tail (1..64 bytes), accumulated later
  v128.store(st, a0);
  v128.store(st, a1, 16);
  v128.store(st, a2, 32);
  v128.store(st, a3, 48);
  store<u32>(st, <u32>done, ST_DONE);
}

/**
 * XXH3-64 (seed 0) of the `len` bytes of the buffer begun at `base` with
 * the state at `st`: equal to xxh3(base, len). A state begun for another
 * buffer, or one that has accumulated past len, is ignored (the buffer is
 * hashed from scratch).
 */
export function xxh3StreamFinish(st: usize, base: usize, len: usize): u64 {
  if (len <= 240 || <usize>load<u32>(st, ST_BASE) != base || (<usize>load<u32>(st, ST_DONE) << 6) > ((len - 1) & ~(<usize>63))) return xxh3(base, len);
  streamReadBack(st, (len - 1) & ~(<usize>63));
  return lastStripeAndMerge(v128.load(st), v128.load(st, 16), v128.load(st, 32), v128.load(st, 48), base + len - 64, len);
}
