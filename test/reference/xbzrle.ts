// XBZRLE oracle: QEMU's xbzrle_encode_buffer / xbzrle_decode_buffer rules
// (test/fixtures/xbzrle.README.md), one byte at a time in plain TypeScript.
// Same arguments and return values as the wasm kernels, on Uint8Arrays: the
// tests and the benchmark compare the kernels against it.

/** Writes `v` (< 2^14) as 14-bit ULEB128 at dst[d]; returns the bytes written. */
function putUleb(dst: Uint8Array, d: number, v: number): number {
  if (v < 0x80) {
    dst[d] = v;
    return 1;
  }
  dst[d] = (v & 0x7f) | 0x80;
  dst[d + 1] = v >> 7;
  return 2;
}

/** Reads a 14-bit ULEB128 at src[i]: [value, bytes read], or null when a third byte would follow. */
function getUleb(src: Uint8Array, i: number): [number, number] | null {
  const b0 = src[i];
  if ((b0 & 0x80) === 0) return [b0, 1];
  const b1 = src[i + 1];
  if ((b1 & 0x80) !== 0) return null;
  return [(b0 & 0x7f) | (b1 << 7), 2];
}

/**
 * Encodes `newPage` against `oldPage` (first `slen` bytes) into `dst`, with
 * capacity `dlen` (dst must hold at least min(dlen, 2 * slen + 4) bytes).
 * Returns the encoded length, 0 for identical pages, or -1 (QEMU's overflow).
 */
export function refXbzrleEncode(oldPage: Uint8Array, newPage: Uint8Array, slen: number, dst: Uint8Array, dlen: number): number {
  let i = 0;
  let d = 0;
  while (i < slen) {
    if (d + 2 > dlen) return -1;
    const zStart = i;
    while (i < slen && oldPage[i] === newPage[i]) i++;
    if (i === slen) return d;
    d += putUleb(dst, d, i - zStart);
    if (d + 2 > dlen) return -1;
    const nStart = i;
    while (i < slen && oldPage[i] !== newPage[i]) i++;
    const run = i - nStart;
    d += putUleb(dst, d, run);
    if (d + run > dlen) return -1;
    for (let k = 0; k < run; k++) dst[d + k] = newPage[nStart + k];
    d += run;
  }
  return d;
}

/**
 * Applies the first `slen` bytes of `src` to `dst` (first `dlen` bytes), in
 * place. Returns the offset just past the last literal written, or -1 for an
 * invalid stream (pairs applied before the error stay applied, as in QEMU).
 */
export function refXbzrleDecode(src: Uint8Array, slen: number, dst: Uint8Array, dlen: number): number {
  let i = 0;
  let d = 0;
  while (i < slen) {
    if (slen - i < 2) return -1;
    const zrun = getUleb(src, i);
    if (zrun === null || (zrun[0] === 0 && i !== 0)) return -1;
    i += zrun[1];
    d += zrun[0];
    if (d > dlen) return -1;
    if (slen - i < 2) return -1;
    const nzrun = getUleb(src, i);
    if (nzrun === null || nzrun[0] === 0) return -1;
    i += nzrun[1];
    const run = nzrun[0];
    if (d + run > dlen || i + run > slen) return -1;
    for (let k = 0; k < run; k++) dst[d + k] = src[i + k];
    d += run;
    i += run;
  }
  return d;
}
