// XBZRLE page deltas on plain Uint8Arrays: QEMU's live-migration delta format
// (docs: test/fixtures/xbzrle.README.md), byte-compatible with QEMU's
// xbzrle_encode_buffer / xbzrle_decode_buffer, run by the wasm kernels in
// assembly/xbzrle.ts on the process-wide shared instance.
//
// Scratch lease of one call (every region 16-byte aligned):
//   encode: old page | new page | output (cap bytes) | 64 bytes slack
//   decode: stream   | page     | 64 bytes slack
import { ErrorCode, HypermemError } from "../errors.js";
import { withSharedScratch } from "../wasm/shared.js";

/** Smallest and largest page the encoder takes (QEMU: a multiple of 8; lengths are 14-bit). */
const MIN_PAGE_BYTES = 8;
const MAX_PAGE_BYTES = 16376;
/** Largest destination page the decoder takes (vectors use up to 16384). */
const MAX_DECODE_PAGE_BYTES = 1 << 16;
/** Bytes kept free after each buffer (the kernels need none; cheap insurance). */
const SLACK = 64;

const align16 = (n: number): number => (n + 15) & ~15;

/** Throws ErrorCode.PageSize unless both pages have one allowed length. */
function checkPages(oldPage: Uint8Array, newPage: Uint8Array): void {
  const len = oldPage.length;
  if (len !== newPage.length || len % 8 !== 0 || len < MIN_PAGE_BYTES || len > MAX_PAGE_BYTES) {
    throw new HypermemError(
      ErrorCode.PageSize,
      `xbzrleEncode: pages must have the same length, a multiple of 8 from ${MIN_PAGE_BYTES} to ${MAX_PAGE_BYTES} bytes; got ${len} and ${newPage.length}`,
      { oldLength: len, newLength: newPage.length },
    );
  }
}

/**
 * Largest encoding of a `len`-byte page plus 2: QEMU's -1 tests can never
 * fire with at least this capacity, so clamping dlen to it changes nothing.
 * (An encoding is at most 3 bytes per 2 page bytes plus 3.)
 */
const encodeCap = (len: number): number => 2 * len + 16;

/**
 * XBZRLE-encodes `newPage` against `oldPage`, exactly as QEMU's
 * xbzrle_encode_buffer with dlen = `limit` (default: the page length, as
 * QEMU's migration code uses). Returns the encoded bytes, an empty array when
 * the pages are identical, or null when QEMU returns -1 (the encoding does
 * not fit `limit`; note QEMU's quirk that it needs 2 spare bytes at every
 * pair start). Pages: same length, a multiple of 8, 8 to 16376 bytes.
 */
export function xbzrleEncode(oldPage: Uint8Array, newPage: Uint8Array, limit: number = oldPage.length): Uint8Array | null {
  checkPages(oldPage, newPage);
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new HypermemError(ErrorCode.BadOption, `xbzrleEncode: limit must be a non-negative safe integer, got ${String(limit)}`, { limit });
  }
  const len = newPage.length;
  const cap = encodeCap(len);
  return withSharedScratch(2 * align16(len) + cap + SLACK, "xbzrleEncode", (k, oldPtr) => {
    const newPtr = oldPtr + align16(len);
    const dstPtr = newPtr + align16(len);
    k.heap.copyIn(oldPtr, oldPage);
    k.heap.copyIn(newPtr, newPage);
    const ret = k.pages.xbzrleEncode(oldPtr, newPtr, len, dstPtr, Math.min(limit, cap));
    return ret < 0 ? null : k.heap.copyOut(dstPtr, ret);
  });
}

/** The corrupt-stream error for `encoded` against a `pageLength`-byte page. */
function corrupt(encodedLength: number, pageLength: number, why: string): HypermemError {
  return new HypermemError(
    ErrorCode.XbzrleCorrupt,
    `xbzrleDecode: invalid XBZRLE stream of ${encodedLength} bytes for a ${pageLength}-byte page (${why})`,
    { encodedLength, pageLength },
  );
}

/**
 * Applies the XBZRLE stream `encoded` to a copy of `base` (the receiver's old
 * page) and returns the new page, `base.length` bytes; `base` is never
 * modified. Throws ErrorCode.XbzrleCorrupt wherever QEMU's
 * xbzrle_decode_buffer returns -1 (truncated or malformed lengths, a zero run
 * after the first, a run past the page or the stream). `base` may have any
 * length from 0 to 65536 bytes.
 */
export function xbzrleDecode(encoded: Uint8Array, base: Uint8Array): Uint8Array {
  const len = base.length;
  if (len > MAX_DECODE_PAGE_BYTES) {
    throw new HypermemError(ErrorCode.PageSize, `xbzrleDecode: page of ${len} bytes exceeds ${MAX_DECODE_PAGE_BYTES}`, { pageLength: len });
  }
  // Every pair moves the page position by >= 1 and costs <= 4 + literal bytes.
  if (encoded.length > 5 * len) throw corrupt(encoded.length, len, "longer than any valid stream");
  const slen = encoded.length;
  return withSharedScratch(align16(slen) + len + SLACK, "xbzrleDecode", (k, srcPtr) => {
    const dstPtr = srcPtr + align16(slen);
    k.heap.copyIn(srcPtr, encoded);
    k.heap.copyIn(dstPtr, base);
    if (k.pages.xbzrleDecode(srcPtr, slen, dstPtr, len) < 0) throw corrupt(slen, len, "rejected by the decoder");
    return k.heap.copyOut(dstPtr, len);
  });
}
