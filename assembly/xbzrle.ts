// XBZRLE page-delta encode and decode, byte-compatible with QEMU's
// migration/xbzrle.c, including every -1 rule (test/fixtures/xbzrle.README.md;
// the byte-at-a-time oracle is test/reference/xbzrle.ts).
//
// Stream: pairs of 14-bit ULEB128 unchanged-run length, changed-run length,
// then the changed run's new bytes. The trailing unchanged run is omitted.
//
// Encoder: the page is walked in 64-byte blocks at page offsets 0, 64, ...
// A block's "equal" mask is one u64 built from four i8x16.eq bitmasks (bit k
// set when old[k] == new[k]), built once per block. An unchanged run ends at
// the next 0 bit and a changed run at the next 1 bit, both found with ctz, so
// a short run costs a few instructions. When an unchanged run covers a whole
// block, the following wholly equal blocks are skipped 128 bytes per test. A
// tail block shorter than 64 bytes has its missing bits clear: unchanged runs
// stop at `slen` (the end), changed runs run off it and are clamped to `slen`.
//
// Decoder: QEMU's loop, one pair at a time; its bound checks fold into one
// unsigned compare per length. Byte loads with branches on the length's high
// bit beat branch-free variants here (measured), like the native decoder.
//
// Literals: the decoder moves a 1-byte run as one byte; up to 15 bytes move
// with one v128 load and store where the buffers have 16 bytes (the encoder's extra bytes land where it writes next; the
// decoder blends with the destination, so no byte past the run changes), 16
// or more as v128 chunks plus one chunk ending exactly at the run's end, and
// the rest byte by byte. Nothing is read outside old/new/src[0, slen) and
// nothing is written outside dst[0, dlen): callers need no slack.

// @ts-ignore: decorator
@inline const ALL: u64 = 0xffff_ffff_ffff_ffff;
// @ts-ignore: decorator
@inline const BLOCK: usize = 64;

/** Bitmask (bit k = byte k) of the equal bytes of two 16-byte chunks. */
// @ts-ignore: decorator
@inline function eq16(o: usize, n: usize, at: usize): u64 {
  return <u64><u32>i8x16.bitmask(i8x16.eq(v128.load(o + at), v128.load(n + at)));
}

/** Equal mask of the 64 bytes at `o`/`n`. INVARIANT: both have 64 readable bytes. */
// @ts-ignore: decorator
@inline function eqMask64(o: usize, n: usize): u64 {
  return eq16(o, n, 0) | (eq16(o, n, 16) << 16) | (eq16(o, n, 32) << 32) | (eq16(o, n, 48) << 48);
}

/** Equal mask of the first `r` (< 64) bytes at `o`/`n`; bits r..63 are clear. */
function tailEqMask(o: usize, n: usize, r: usize): u64 {
  let m: u64 = 0;
  for (let k: usize = 0; k < r; k++) {
    if (load<u8>(o + k) == load<u8>(n + k)) m |= (<u64>1) << <u64>k;
  }
  return m;
}

/** Equal mask of the block at page offset `base` (< end). */
// @ts-ignore: decorator
@inline function blockEqMask(oldPtr: usize, newPtr: usize, base: usize, end: usize): u64 {
  if (base + BLOCK <= end) return eqMask64(oldPtr + base, newPtr + base);
  return tailEqMask(oldPtr + base, newPtr + base, end - base);
}

/** OR of old ^ new over the 64 bytes at `o`/`n`: zero when they are equal. */
// @ts-ignore: decorator
@inline function xorOr64(o: usize, n: usize): v128 {
  const a = v128.or(v128.xor(v128.load(o), v128.load(n)), v128.xor(v128.load(o, 16), v128.load(n, 16)));
  const b = v128.or(v128.xor(v128.load(o, 32), v128.load(n, 32)), v128.xor(v128.load(o, 48), v128.load(n, 48)));
  return v128.or(a, b);
}

/**
 * Page offset of the first block at or after `base` that holds a difference
 * or is shorter than 64 bytes; `end` or more when there is none. Tests 128
 * bytes per step, then 64.
 */
function skipEqualBlocks(oldPtr: usize, newPtr: usize, base: usize, end: usize): usize {
  while (base + 2 * BLOCK <= end) {
    const o = oldPtr + base, n = newPtr + base;
    if (v128.any_true(v128.or(xorOr64(o, n), xorOr64(o + BLOCK, n + BLOCK)))) break;
    base += 2 * BLOCK;
  }
  while (base + BLOCK <= end) {
    if (v128.any_true(xorOr64(oldPtr + base, newPtr + base))) return base;
    base += BLOCK;
  }
  return base;
}

/** Writes `v` (< 2^14) as ULEB128 at `p`; returns 1 or 2. INVARIANT: p has 2 writable bytes. */
// @ts-ignore: decorator
@inline function putUleb(p: usize, v: u32): i32 {
  const two = v >= 0x80;
  store<u16>(p, select<u32>((v & 0x7f) | 0x80 | ((v >> 7) << 8), v, two));
  return 1 + <i32>two;
}

/** Copies `run` >= 16 bytes with v128 moves that stay inside [0, run). */
function copyChunks(dst: usize, src: usize, run: usize): void {
  for (let k: usize = 0; k + 16 < run; k += 16) v128.store(dst + k, v128.load(src + k));
  v128.store(dst + run - 16, v128.load(src + run - 16));
}

/**
 * Encoder literal copy. `room` = writable bytes at dst, `avail` = readable
 * bytes at src; both >= run. A short run may write up to 15 bytes past itself.
 */
// @ts-ignore: decorator
@inline function putLiteral(dst: usize, src: usize, run: usize, room: usize, avail: usize): void {
  if (run < 16 && room >= 16 && avail >= 16) {
    v128.store(dst, v128.load(src));
  } else if (run >= 16) {
    copyChunks(dst, src, run);
  } else {
    for (let k: usize = 0; k < run; k++) store<u8>(dst + k, load<u8>(src + k));
  }
}

/**
 * Encodes `newPtr` against `oldPtr` (`slen` bytes) into `dstPtr` (capacity
 * `dlen`), as QEMU's xbzrle_encode_buffer: returns the encoded length, 0 for
 * identical pages, or -1 when the encoding does not fit (QEMU's d + 2 > dlen
 * test at each pair start and after the unchanged-run length, d + run > dlen
 * after the changed-run length). Caller keeps slen <= 16383.
 * INVARIANT: old/new hold slen readable bytes and dst dlen writable bytes.
 */
export function xbzrleEncode(oldPtr: usize, newPtr: usize, slen: i32, dstPtr: usize, dlen: i32): i32 {
  const end = <usize>max(slen, 0);
  let i: usize = 0, base: usize = 0, d: i32 = 0;
  let m = blockEqMask(oldPtr, newPtr, 0, end);
  while (i < end) {
    if (d + 2 > dlen) return -1;
    const zStart = i;
    let t = ~m & (ALL << <u64>(i - base));
    while (t == 0) { // the run continues: try the next block, then skip whole equal ones
      base += BLOCK;
      if (base >= end) return d;
      m = blockEqMask(oldPtr, newPtr, base, end);
      t = ~m;
      if (t == 0) base = skipEqualBlocks(oldPtr, newPtr, base + BLOCK, end) - BLOCK;
    }
    i = base + <usize>ctz(t);
    if (i >= end) return d;
    d += putUleb(dstPtr + d, <u32>(i - zStart));
    if (d + 2 > dlen) return -1;
    const nStart = i;
    t = m & (ALL << <u64>(i - base));
    while (t == 0) {
      base += BLOCK;
      if (base >= end) break;
      m = blockEqMask(oldPtr, newPtr, base, end);
      t = m;
    }
    i = min(base + <usize>ctz(t), end);
    const run = i - nStart;
    d += putUleb(dstPtr + d, <u32>run);
    if (d + <i32>run > dlen) return -1;
    putLiteral(dstPtr + d, newPtr + nStart, run, <usize>(dlen - d), end - nStart);
    d += <i32>run;
  }
  return d;
}

// 16 bytes of 0xff then 16 of 0x00: the 16 bytes at LANE_MASKS + 16 - n have lanes 0..n-1 set.
const LANE_MASKS = memory.data<u8>([
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/**
 * Decoder literal copy: exactly `run` bytes change at dst. `room` = bytes of
 * dst that may be read and rewritten, `avail` = readable bytes at src.
 */
// @ts-ignore: decorator
@inline function applyLiteral(dst: usize, src: usize, run: i32, room: i32, avail: i32): void {
  if (run == 1) {
    store<u8>(dst, load<u8>(src));
  } else if (run < 16 && room >= 16 && avail >= 16) {
    const keep = v128.load(LANE_MASKS + 16 - <usize>run);
    v128.store(dst, v128.bitselect(v128.load(src), v128.load(dst), keep));
  } else if (run >= 16) {
    copyChunks(dst, src, <usize>run);
  } else {
    for (let k = 0; k < run; k++) store<u8>(dst + k, load<u8>(src + k));
  }
}

/**
 * Applies the `slen`-byte stream at `srcPtr` to the `dlen`-byte page at
 * `dstPtr`, as QEMU's xbzrle_decode_buffer: returns the offset just past the
 * last literal, or -1 for an invalid stream (pairs before the error stay
 * applied). INVARIANT: src holds slen readable bytes, dst dlen writable bytes.
 */
export function xbzrleDecode(srcPtr: usize, slen: i32, dstPtr: usize, dlen: i32): i32 {
  if (dlen < 0) return slen > 0 ? -1 : 0;
  let i = 0, d = 0, zmin = 0; // zmin: the smallest valid unchanged run (0 only for the first pair)
  while (true) {
    const rem = slen - i;
    if (rem < 2) return rem <= 0 ? d : -1;
    let zrun = <i32>load<u8>(srcPtr + i);
    if (zrun & 0x80) {
      const hi = <i32>load<u8>(srcPtr + i + 1);
      if (hi & 0x80) return -1;
      zrun = (zrun & 0x7f) | (hi << 7);
      i += 2;
    } else i += 1;
    // zrun < zmin, or d + zrun > dlen (unsigned wrap folds both into one test).
    if (<u32>(zrun - zmin) >= <u32>(dlen - d - zmin + 1)) return -1;
    d += zrun;
    zmin = 1;
    if (slen - i < 2) return -1;
    let run = <i32>load<u8>(srcPtr + i);
    if (run & 0x80) {
      const hi = <i32>load<u8>(srcPtr + i + 1);
      if (hi & 0x80) return -1;
      run = (run & 0x7f) | (hi << 7);
      i += 2;
    } else i += 1;
    // run == 0, or past the page or the input.
    if (<u32>(run - 1) >= <u32>min(dlen - d, slen - i)) return -1;
    applyLiteral(dstPtr + d, srcPtr + i, run, dlen - d, slen - i);
    d += run;
    i += run;
  }
}
