// Bitmap kernels over u64 words (bit i is bit i % 64 of word i / 64):
// scan set bits into a u32 index list, count, OR, AND-NOT.

/**
 * Writes the indices of the set bits of word `v` (bit 0 = `base`) at `o`,
 * 4 at a time without a branch: slots past the word's `count` get junk that
 * the next word overwrites. INVARIANT: the out array has room for 4 more
 * entries (see bitmapScan). Returns the next free slot address.
 */
// @ts-ignore: decorator
@inline function scanWord4(v: u64, base: u32, o: usize): usize {
  const count = <usize>popcnt<u64>(v);
  store<u32>(o, base + <u32>ctz<u64>(v));
  v &= v - 1;
  store<u32>(o, base + <u32>ctz<u64>(v), 4);
  v &= v - 1;
  store<u32>(o, base + <u32>ctz<u64>(v), 8);
  v &= v - 1;
  store<u32>(o, base + <u32>ctz<u64>(v), 12);
  if (count > 4) {
    v &= v - 1;
    let q = o + 16;
    while (v != 0) {
      store<u32>(q, base + <u32>ctz<u64>(v));
      q += 4;
      v &= v - 1;
    }
  }
  return o + (count << 2);
}

/** Writes the indices of the set bits of word `v` (bit 0 = `base`) at `o`, exactly. */
// @ts-ignore: decorator
@inline function scanWordExact(v: u64, base: u32, o: usize): usize {
  while (v != 0) {
    store<u32>(o, base + <u32>ctz<u64>(v));
    o += 4;
    v &= v - 1;
  }
  return o;
}

/**
 * Writes the index of every set bit of `words` words at `bitmapPtr`, ascending,
 * as u32 to `outPtr`, bit 0 of the first word being index `firstIndex` (a
 * window of a larger bitmap). Returns how many were written.
 * INVARIANT: the out array has room for every set bit; nothing past the last
 * index is written.
 *
 * The native loop (`while (v)` per word) mispredicts on random words. Here a
 * word costs no data-dependent branch: its first 4 indices are stored
 * unconditionally and the cursor moves by popcount (more than 4 bits is a
 * rare, separate loop). That writes up to 3 junk slots past the word's last
 * index, so it runs only while the words still to come hold >= 4 set bits;
 * the last few words take the exact loop. Finding them is a popcount pass
 * backwards from the end: a few words normally, the whole bitmap when it
 * holds fewer than 4 bits.
 */
export function bitmapScan(bitmapPtr: usize, words: u32, outPtr: usize, firstIndex: u32): u32 {
  let fastEnd: u32 = words;
  let tailBits: u64 = 0;
  while (fastEnd > 0 && tailBits < 4) {
    fastEnd--;
    tailBits += popcnt<u64>(load<u64>(bitmapPtr + (<usize>fastEnd << 3)));
  }
  if (tailBits >= 4) fastEnd++;
  // INVARIANT: for every w < fastEnd, words w..words-1 hold >= 4 set bits.
  let o = outPtr;
  let w: u32 = 0;
  for (; w < fastEnd; w++) o = scanWord4(load<u64>(bitmapPtr + (<usize>w << 3)), firstIndex + (w << 6), o);
  for (; w < words; w++) o = scanWordExact(load<u64>(bitmapPtr + (<usize>w << 3)), firstIndex + (w << 6), o);
  return <u32>((o - outPtr) >> 2);
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
