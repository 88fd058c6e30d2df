// Page kernels: copy, zero test, first difference.
//
// The zero test and the compare read the page in 256-byte chunks: the
// chunk's v128 loads are ORed together without a branch, then one early-exit
// test per chunk, as the native kernels do; the compare then finds the offset
// with i8x16.bitmask + ctz. Bytes past the last whole chunk are read 16 at a
// time, then one at a time, so any length works; pages (a multiple of 256)
// never reach the byte loop.

// @ts-ignore: decorator
@inline const CHUNK: usize = 256;

/** Copies `len` bytes from `srcPtr` to `dstPtr` (bulk memory; overlap is allowed). */
export function pageCopy(dstPtr: usize, srcPtr: usize, len: usize): void {
  memory.copy(dstPtr, srcPtr, len);
}

/** OR of the 16 vectors of the 256-byte chunk at `p`. */
// @ts-ignore: decorator
@inline function orChunk(p: usize): v128 {
  let a = v128.or(v128.load(p), v128.load(p, 16));
  let b = v128.or(v128.load(p, 32), v128.load(p, 48));
  let c = v128.or(v128.load(p, 64), v128.load(p, 80));
  let d = v128.or(v128.load(p, 96), v128.load(p, 112));
  a = v128.or(a, v128.or(v128.load(p, 128), v128.load(p, 144)));
  b = v128.or(b, v128.or(v128.load(p, 160), v128.load(p, 176)));
  c = v128.or(c, v128.or(v128.load(p, 192), v128.load(p, 208)));
  d = v128.or(d, v128.or(v128.load(p, 224), v128.load(p, 240)));
  return v128.or(v128.or(a, b), v128.or(c, d));
}

/** 1 if the `len` bytes at `ptr` are all zero, else 0. Any `len`; fastest when len % 256 == 0. */
export function isZeroPage(ptr: usize, len: usize): i32 {
  let o: usize = 0;
  for (; o + CHUNK <= len; o += CHUNK) {
    if (v128.any_true(orChunk(ptr + o))) return 0;
  }
  for (; o + 16 <= len; o += 16) {
    if (v128.any_true(v128.load(ptr + o))) return 0;
  }
  for (; o < len; o++) {
    if (load<u8>(ptr + o) != 0) return 0;
  }
  return 1;
}

/**
 * 1 if the 256-byte chunks at `a` and `b` differ. Four 64-byte steps OR
 * a ^ b into one accumulator: a loop, not one straight block, because
 * TurboFan hoists every load of a block to its start, and 32 live v128 loads
 * spill (measured: the flat form ran at about 65% of this speed).
 */
// @ts-ignore: decorator
@inline function chunkDiffers(a: usize, b: usize): bool {
  let acc = i64x2.splat(0);
  let steps = CHUNK >> 6; // a counter, not `a < a + CHUNK`, which wraps at the top of memory
  do {
    const x = v128.or(v128.xor(v128.load(a), v128.load(b)), v128.xor(v128.load(a, 16), v128.load(b, 16)));
    const y = v128.or(v128.xor(v128.load(a, 32), v128.load(b, 32)), v128.xor(v128.load(a, 48), v128.load(b, 48)));
    acc = v128.or(acc, v128.or(x, y));
    a += 64;
    b += 64;
  } while (--steps);
  return v128.any_true(acc);
}

/**
 * Offset of the first differing byte in the 16-byte-aligned range [o, end)
 * of a and b, or -1. Lane i of the ne mask is bit i of the bitmask.
 */
function firstDiff16(aPtr: usize, bPtr: usize, o: usize, end: usize): i32 {
  for (; o < end; o += 16) {
    const ne = i8x16.bitmask(i8x16.ne(v128.load(aPtr + o), v128.load(bPtr + o)));
    if (ne != 0) return <i32>(o + <usize>ctz<i32>(ne));
  }
  return -1;
}

/**
 * Offset of the first byte that differs between `aPtr` and `bPtr` over `len`
 * bytes, or -1. Any `len` below 2^31; fastest when len % 256 == 0.
 */
export function pageCompare(aPtr: usize, bPtr: usize, len: usize): i32 {
  let o: usize = 0;
  for (; o + CHUNK <= len; o += CHUNK) {
    if (chunkDiffers(aPtr + o, bPtr + o)) return firstDiff16(aPtr, bPtr, o, o + CHUNK);
  }
  const end16 = o + ((len - o) & ~<usize>15);
  const at = firstDiff16(aPtr, bPtr, o, end16);
  if (at >= 0) return at;
  for (o = end16; o < len; o++) {
    if (load<u8>(aPtr + o) != load<u8>(bPtr + o)) return <i32>o;
  }
  return -1;
}
