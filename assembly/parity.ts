// XOR parity: dst = XOR of k pages. The rebuild of one lost page is the same
// operation over the parity page and the k - 1 survivors.
//
// The page list is k u32 byte addresses at listPtr. With k >= 8 the first 8
// pages take one pass that loads 8 streams and stores dst once, like the
// native k = 8 kernel (k = 8 is exactly that pass); with k < 8 the first pass
// XORs 5 pages (or copies 1). The remaining pages are XORed into dst 3, 2 or
// 1 at a time. Any tail below 128 bytes is done 16 bytes at a time.
//
// V8 notes (TurboFan, Node 20), from reading --print-wasm-code: it hoists
// every load of a basic block to the block's top, and has about 12 free
// general registers. 8 stream pointers plus dst, the counter, the memory base
// and the stack-check pointer do not fit, so the stream pointers live on the
// stack and are reloaded at the top of each loop iteration. The 8-stream loop
// therefore does 128 bytes per iteration, in four 32-byte blocks separated by
// branches that are always taken (no block holds more than 16 live v128),
// and counts a negative offset up to zero (no length register). That is ~10%
// faster in cache than 32 bytes per iteration. A 5 + 3 split into two passes
// is as fast in cache but ~15% slower on out-of-cache stripes (the second
// pass starts its page streams cold).

// @ts-ignore: decorator
@inline function src(listPtr: usize, i: u32): usize {
  return <usize>load<u32>(listPtr + (<usize>i << 2));
}

/**
 * dst = s0 ^ ... ^ s7, the 8 pages listed at `listPtr`: 128 bytes per
 * iteration in four 32-byte blocks (see the file header). Addresses are
 * p + len + o with o counting from -len up to 0 (u32 wrap-around gives the
 * right address). INVARIANT: len % 128 == 0 and len > 0.
 */
function xor8(dstPtr: usize, listPtr: usize, len: usize): void {
  const p0 = src(listPtr, 0) + len, p1 = src(listPtr, 1) + len, p2 = src(listPtr, 2) + len;
  const p3 = src(listPtr, 3) + len, p4 = src(listPtr, 4) + len, p5 = src(listPtr, 5) + len;
  const p6 = src(listPtr, 6) + len, p7 = src(listPtr, 7) + len;
  const d = dstPtr + len;
  let o: usize = -len;
  do {
    {
      let a = v128.xor(v128.load(p0 + o), v128.load(p1 + o));
      let b = v128.xor(v128.load(p0 + o, 16), v128.load(p1 + o, 16));
      a = v128.xor(a, v128.xor(v128.load(p2 + o), v128.load(p3 + o)));
      b = v128.xor(b, v128.xor(v128.load(p2 + o, 16), v128.load(p3 + o, 16)));
      a = v128.xor(a, v128.xor(v128.load(p4 + o), v128.load(p5 + o)));
      b = v128.xor(b, v128.xor(v128.load(p4 + o, 16), v128.load(p5 + o, 16)));
      a = v128.xor(a, v128.xor(v128.load(p6 + o), v128.load(p7 + o)));
      b = v128.xor(b, v128.xor(v128.load(p6 + o, 16), v128.load(p7 + o, 16)));
      v128.store(d + o, a);
      v128.store(d + o, b, 16);
    }
    // o is a multiple of 128, so these tests always pass: each only starts a new block.
    if (o != 1) {
      let a = v128.xor(v128.load(p0 + o, 32), v128.load(p1 + o, 32));
      let b = v128.xor(v128.load(p0 + o, 48), v128.load(p1 + o, 48));
      a = v128.xor(a, v128.xor(v128.load(p2 + o, 32), v128.load(p3 + o, 32)));
      b = v128.xor(b, v128.xor(v128.load(p2 + o, 48), v128.load(p3 + o, 48)));
      a = v128.xor(a, v128.xor(v128.load(p4 + o, 32), v128.load(p5 + o, 32)));
      b = v128.xor(b, v128.xor(v128.load(p4 + o, 48), v128.load(p5 + o, 48)));
      a = v128.xor(a, v128.xor(v128.load(p6 + o, 32), v128.load(p7 + o, 32)));
      b = v128.xor(b, v128.xor(v128.load(p6 + o, 48), v128.load(p7 + o, 48)));
      v128.store(d + o, a, 32);
      v128.store(d + o, b, 48);
    }
    if (o != 3) {
      let a = v128.xor(v128.load(p0 + o, 64), v128.load(p1 + o, 64));
      let b = v128.xor(v128.load(p0 + o, 80), v128.load(p1 + o, 80));
      a = v128.xor(a, v128.xor(v128.load(p2 + o, 64), v128.load(p3 + o, 64)));
      b = v128.xor(b, v128.xor(v128.load(p2 + o, 80), v128.load(p3 + o, 80)));
      a = v128.xor(a, v128.xor(v128.load(p4 + o, 64), v128.load(p5 + o, 64)));
      b = v128.xor(b, v128.xor(v128.load(p4 + o, 80), v128.load(p5 + o, 80)));
      a = v128.xor(a, v128.xor(v128.load(p6 + o, 64), v128.load(p7 + o, 64)));
      b = v128.xor(b, v128.xor(v128.load(p6 + o, 80), v128.load(p7 + o, 80)));
      v128.store(d + o, a, 64);
      v128.store(d + o, b, 80);
    }
    if (o != 5) {
      let a = v128.xor(v128.load(p0 + o, 96), v128.load(p1 + o, 96));
      let b = v128.xor(v128.load(p0 + o, 112), v128.load(p1 + o, 112));
      a = v128.xor(a, v128.xor(v128.load(p2 + o, 96), v128.load(p3 + o, 96)));
      b = v128.xor(b, v128.xor(v128.load(p2 + o, 112), v128.load(p3 + o, 112)));
      a = v128.xor(a, v128.xor(v128.load(p4 + o, 96), v128.load(p5 + o, 96)));
      b = v128.xor(b, v128.xor(v128.load(p4 + o, 112), v128.load(p5 + o, 112)));
      a = v128.xor(a, v128.xor(v128.load(p6 + o, 96), v128.load(p7 + o, 96)));
      b = v128.xor(b, v128.xor(v128.load(p6 + o, 112), v128.load(p7 + o, 112)));
      v128.store(d + o, a, 96);
      v128.store(d + o, b, 112);
    }
    o += 128;
  } while (o != 0);
}

/** dst = s0 ^ s1 ^ s2 ^ s3 ^ s4 (the first 5 of the list). INVARIANT: len % 32 == 0. */
function xor5(dstPtr: usize, listPtr: usize, len: usize): void {
  const p0 = src(listPtr, 0), p1 = src(listPtr, 1), p2 = src(listPtr, 2);
  const p3 = src(listPtr, 3), p4 = src(listPtr, 4);
  for (let o: usize = 0; o < len; o += 32) {
    const a = v128.xor(v128.xor(v128.load(p0 + o), v128.load(p1 + o)), v128.xor(v128.load(p2 + o), v128.load(p3 + o)));
    const b = v128.xor(v128.xor(v128.load(p0 + o, 16), v128.load(p1 + o, 16)), v128.xor(v128.load(p2 + o, 16), v128.load(p3 + o, 16)));
    v128.store(dstPtr + o, v128.xor(a, v128.load(p4 + o)));
    v128.store(dstPtr + o, v128.xor(b, v128.load(p4 + o, 16)), 16);
  }
}

/** dst ^= s0 ^ s1 ^ s2. INVARIANT: len % 32 == 0. */
function xor3Into(dstPtr: usize, listPtr: usize, len: usize): void {
  const p0 = src(listPtr, 0), p1 = src(listPtr, 1), p2 = src(listPtr, 2);
  for (let o: usize = 0; o < len; o += 32) {
    const a = v128.xor(v128.xor(v128.load(p0 + o), v128.load(p1 + o)), v128.xor(v128.load(p2 + o), v128.load(dstPtr + o)));
    const b = v128.xor(v128.xor(v128.load(p0 + o, 16), v128.load(p1 + o, 16)), v128.xor(v128.load(p2 + o, 16), v128.load(dstPtr + o, 16)));
    v128.store(dstPtr + o, a);
    v128.store(dstPtr + o, b, 16);
  }
}

/** dst ^= s0 ^ s1. INVARIANT: len % 32 == 0. */
function xor2Into(dstPtr: usize, listPtr: usize, len: usize): void {
  const p0 = src(listPtr, 0), p1 = src(listPtr, 1);
  for (let o: usize = 0; o < len; o += 32) {
    const a = v128.xor(v128.xor(v128.load(p0 + o), v128.load(p1 + o)), v128.load(dstPtr + o));
    const b = v128.xor(v128.xor(v128.load(p0 + o, 16), v128.load(p1 + o, 16)), v128.load(dstPtr + o, 16));
    v128.store(dstPtr + o, a);
    v128.store(dstPtr + o, b, 16);
  }
}

/** dst ^= s0. INVARIANT: len % 32 == 0. */
function xor1Into(dstPtr: usize, listPtr: usize, len: usize): void {
  const p0 = src(listPtr, 0);
  for (let o: usize = 0; o < len; o += 32) {
    v128.store(dstPtr + o, v128.xor(v128.load(p0 + o), v128.load(dstPtr + o)));
    v128.store(dstPtr + o, v128.xor(v128.load(p0 + o, 16), v128.load(dstPtr + o, 16)), 16);
  }
}

/** The 16 bytes at offset `o` of dst = XOR of all k pages at `o` (the < 128-byte tail). */
function xorTail16(dstPtr: usize, listPtr: usize, k: u32, o: usize): void {
  let acc = i64x2.splat(0);
  for (let i: u32 = 0; i < k; i++) acc = v128.xor(acc, v128.load(src(listPtr, i) + o));
  v128.store(dstPtr + o, acc);
}

/**
 * dst = XOR of the `k` pages whose addresses are the u32 list at `listPtr`
 * (k = 0 zero-fills dst).
 * INVARIANT: len % 16 == 0 (the kernel never touches a byte past len); every
 * page and dst hold `len` bytes; dst overlaps no source page and not the list
 * (the same source may appear more than once: it cancels, as XOR does).
 */
export function xorParity(dstPtr: usize, listPtr: usize, k: u32, len: usize): void {
  if (k == 0) {
    memory.fill(dstPtr, 0, len);
    return;
  }
  const body = len & ~<usize>127;
  if (body != 0) {
    let i: u32 = 0;
    if (k >= 8) {
      xor8(dstPtr, listPtr, body);
      i = 8;
    } else {
      i = k >= 5 ? 5 : 1;
      if (i == 5) xor5(dstPtr, listPtr, body);
      else memory.copy(dstPtr, src(listPtr, 0), body);
    }
    for (; k - i >= 3; i += 3) xor3Into(dstPtr, listPtr + (<usize>i << 2), body);
    if (k - i == 2) xor2Into(dstPtr, listPtr + (<usize>i << 2), body);
    else if (k - i == 1) xor1Into(dstPtr, listPtr + (<usize>i << 2), body);
  }
  for (let o = body; o < len; o += 16) xorTail16(dstPtr, listPtr, k, o);
}
