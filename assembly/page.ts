// Page kernels: copy, zero test, first difference.

/** Copies `len` bytes from `srcPtr` to `dstPtr`. */
export function pageCopy(dstPtr: usize, srcPtr: usize, len: usize): void {
  memory.copy(dstPtr, srcPtr, len);
}

/** 1 if the `len` bytes at `ptr` are all zero, else 0. `len` is a multiple of 8. */
export function isZeroPage(ptr: usize, len: usize): i32 {
  for (let o: usize = 0; o < len; o += 8) if (load<u64>(ptr + o) != 0) return 0;
  return 1;
}

/** Offset of the first byte that differs between `aPtr` and `bPtr` over `len` bytes, or -1. */
export function pageCompare(aPtr: usize, bPtr: usize, len: usize): i32 {
  for (let o: usize = 0; o < len; o++) if (load<u8>(aPtr + o) != load<u8>(bPtr + o)) return <i32>o;
  return -1;
}
