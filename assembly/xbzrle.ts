// XBZRLE page-delta encode and decode, byte-compatible with QEMU's
// migration/xbzrle.c (see test/fixtures/xbzrle.README.md for the rules).

/** Encodes `newPtr` against `oldPtr` (`slen` bytes) into `dstPtr` (capacity `dlen`). Returns length, 0, or -1. */
export function xbzrleEncode(oldPtr: usize, newPtr: usize, slen: i32, dstPtr: usize, dlen: i32): i32 {
  return -1;
}

/** Applies the `slen`-byte stream at `srcPtr` to the `dlen`-byte page at `dstPtr`. Returns the offset past the last literal, or -1. */
export function xbzrleDecode(srcPtr: usize, slen: i32, dstPtr: usize, dlen: i32): i32 {
  return -1;
}
