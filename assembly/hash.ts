// XXH64 (seed given) of a byte range, and of many pages at once.
//
// From the XXH64 specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md):
// 4 lanes over 32-byte stripes, merged; then the length, the tail in 8-byte,
// 4-byte and 1-byte steps, and the avalanche. Scalar: the lanes are serial
// 64-bit multiplies, which SIMD cannot do faster in wasm. Wasm loads are
// little endian and may be unaligned, so any `ptr` and `len` work.

// @ts-ignore: decorator
@inline const P1: u64 = 0x9E3779B185EBCA87;
// @ts-ignore: decorator
@inline const P2: u64 = 0xC2B2AE3D27D4EB4F;
// @ts-ignore: decorator
@inline const P3: u64 = 0x165667B19E3779F9;
// @ts-ignore: decorator
@inline const P4: u64 = 0x85EBCA77C2B2AE63;
// @ts-ignore: decorator
@inline const P5: u64 = 0x27D4EB2F165667C5;

// @ts-ignore: decorator
@inline function round(acc: u64, lane: u64): u64 {
  return rotl<u64>(acc + lane * P2, 31) * P1;
}

// @ts-ignore: decorator
@inline function merge(h: u64, acc: u64): u64 {
  return (h ^ round(0, acc)) * P1 + P4;
}

/** XXH64 of `len` bytes at `ptr` with `seed`. */
// @ts-ignore: decorator
@inline function xxh64(ptr: usize, len: usize, seed: u64): u64 {
  // Counts down `left` rather than comparing against ptr + len, which wraps
  // for a range that ends at the 4 GiB top of memory.
  let p = ptr;
  let left = len;
  let h: u64;
  if (left >= 32) {
    let v1 = seed + P1 + P2;
    let v2 = seed + P2;
    let v3 = seed;
    let v4 = seed - P1;
    do {
      v1 = round(v1, load<u64>(p));
      v2 = round(v2, load<u64>(p, 8));
      v3 = round(v3, load<u64>(p, 16));
      v4 = round(v4, load<u64>(p, 24));
      p += 32;
      left -= 32;
    } while (left >= 32);
    h = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
    h = merge(h, v1);
    h = merge(h, v2);
    h = merge(h, v3);
    h = merge(h, v4);
  } else {
    h = seed + P5;
  }
  h += <u64>len;
  for (; left >= 8; left -= 8, p += 8) h = rotl<u64>(h ^ round(0, load<u64>(p)), 27) * P1 + P4;
  if (left >= 4) {
    h = rotl<u64>(h ^ (<u64>load<u32>(p) * P1), 23) * P2 + P3;
    p += 4;
    left -= 4;
  }
  for (; left > 0; left--, p++) h = rotl<u64>(h ^ (<u64>load<u8>(p) * P5), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/** XXH64 of `len` bytes at `ptr` with `seed`. INVARIANT: ptr + len <= memory size. */
export function hash64(ptr: usize, len: usize, seed: u64): u64 {
  return xxh64(ptr, len, seed);
}

/** XXH64 (seed 0) of `count` pages of `pageBytes` each, from `srcPtr`, to the u64 array at `outPtr`. */
export function hashPages(srcPtr: usize, pageBytes: usize, count: u32, outPtr: usize): void {
  for (let i: usize = 0; i < <usize>count; i++) {
    store<u64>(outPtr + (i << 3), xxh64(srcPtr + i * pageBytes, pageBytes, 0));
  }
}
