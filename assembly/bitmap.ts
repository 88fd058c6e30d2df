// Bitmap kernels over u64 words (bit i is bit i % 64 of word i / 64):
// scan set bits into a u32 index list, count, OR, AND-NOT.

/**
 * Writes the index of every set bit of `words` words at `bitmapPtr`, ascending,
 * as u32 to `outPtr`. Returns how many were written. Zero word pairs are
 * skipped with one vector test.
 */
export function bitmapScan(bitmapPtr: usize, words: u32, outPtr: usize): u32 {
  let n: usize = 0;
  let w: u32 = 0;
  for (; w + 2 <= words; w += 2) {
    const p = bitmapPtr + (<usize>w << 3);
    if (!v128.any_true(v128.load(p))) continue;
    let v = load<u64>(p);
    const b0 = w << 6;
    while (v != 0) {
      store<u32>(outPtr + (n << 2), b0 + <u32>ctz<u64>(v));
      n++;
      v &= v - 1;
    }
    v = load<u64>(p, 8);
    const b1 = b0 + 64;
    while (v != 0) {
      store<u32>(outPtr + (n << 2), b1 + <u32>ctz<u64>(v));
      n++;
      v &= v - 1;
    }
  }
  if (w < words) {
    let v = load<u64>(bitmapPtr + (<usize>w << 3));
    while (v != 0) {
      store<u32>(outPtr + (n << 2), (w << 6) + <u32>ctz<u64>(v));
      n++;
      v &= v - 1;
    }
  }
  return <u32>n;
}

/** Number of set bits in `words` words at `bitmapPtr`. */
export function bitmapCount(bitmapPtr: usize, words: u32): u32 {
  let n: u64 = 0;
  for (let w: usize = 0; w < <usize>words; w++) n += popcnt<u64>(load<u64>(bitmapPtr + (w << 3)));
  return <u32>n;
}

/** dst |= src over `words` words. */
export function bitmapOr(dstPtr: usize, srcPtr: usize, words: u32): void {
  const bytes = <usize>words << 3;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dstPtr + o, v128.or(v128.load(dstPtr + o), v128.load(srcPtr + o)));
  if (o < bytes) store<u64>(dstPtr + o, load<u64>(dstPtr + o) | load<u64>(srcPtr + o));
}

/** dst &= ~src over `words` words. */
export function bitmapAndNot(dstPtr: usize, srcPtr: usize, words: u32): void {
  const bytes = <usize>words << 3;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dstPtr + o, v128.andnot(v128.load(dstPtr + o), v128.load(srcPtr + o)));
  if (o < bytes) store<u64>(dstPtr + o, load<u64>(dstPtr + o) & ~load<u64>(srcPtr + o));
}
