// XXH64 (seed given) of a byte range, and of many pages at once.

/** XXH64 of `len` bytes at `ptr`. */
export function hash64(ptr: usize, len: usize, seed: u64): u64 {
  return 0;
}

/** XXH64 (seed 0) of `count` pages of `pageBytes` each, from `srcPtr`, to the u64 array at `outPtr`. */
export function hashPages(srcPtr: usize, pageBytes: usize, count: u32, outPtr: usize): void {
  for (let i: usize = 0; i < <usize>count; i++) store<u64>(outPtr + (i << 3), hash64(srcPtr + i * pageBytes, pageBytes, 0));
}
