// The identity of a disk image, as both ends of a transfer see it: its name
// (the file name it gets at the destination), its size, and a generation id
// that changes when the source file changes (a hash of its device, inode,
// size and its modification and change times in ns), plus the block
// hashing both ends share (XXH3-64 of each block, zero pages included: it
// finds a damaged fragment or a changed source, at several GB/s; the whole
// file's SHA-256, checked by both ends at the end, is what proves the copy)
// and the test for a zero page.
import { createHash } from "node:crypto";
import { fstatSync, statSync, type BigIntStats } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { xxh3Hash64 } from "../pages/pages.js";

/** Bytes of a generation id. */
export const GENERATION_BYTES = 16;
/** Bytes of a SHA-256 digest (the file's, and the digest of a list of block hashes). */
export const HASH_BYTES = 32;
/** Bytes of a block hash (XXH3-64, little endian). */
export const BLOCK_HASH_BYTES = 8;
/** The unit of zero detection: a page of this many bytes that is all zeros is not sent. */
export const PAGE_BYTES = 4096;
/** Longest image name, bytes of UTF-8. */
export const MAX_NAME_BYTES = 255;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;
const ZERO_PAGE = new Uint8Array(PAGE_BYTES);

/** Checks that `name` can be a file name in the destination folder; ERR_BAD_OPTION naming it. */
export function checkImageName(name: string, errorCode: ErrorCode = ErrorCode.BadOption): string {
  if (typeof name !== "string" || !NAME.test(name) || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new HypermemError(errorCode, `image name ${JSON.stringify(name)} is not a plain file name (letters, digits, . _ + -, not starting with a dot, at most ${MAX_NAME_BYTES} bytes)`, { name });
  }
  return name;
}

/** The generation id of a file from its stat: changes when it is rewritten, replaced, resized or touched. */
export function generationOf(st: BigIntStats): Uint8Array {
  const text = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  return new Uint8Array(createHash("sha256").update(text).digest().subarray(0, GENERATION_BYTES));
}

/** Stat of an open file or a path, in ns. */
export function statBig(target: number | string): BigIntStats {
  return typeof target === "number" ? fstatSync(target, { bigint: true }) : statSync(target, { bigint: true });
}

/** True when the page is all zeros. */
export function isZeroPage(page: Uint8Array): boolean {
  return page.length === PAGE_BYTES ? Buffer.compare(page, ZERO_PAGE) === 0 : Buffer.compare(page, ZERO_PAGE.subarray(0, page.length)) === 0;
}

/** XXH3-64 of a block, 8 bytes little endian. */
export function blockHash(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK_HASH_BYTES);
  new DataView(out.buffer).setBigUint64(0, xxh3Hash64(block), true);
  return out;
}

/** The digest over a list of block hashes (what the destination offers for a resume, and the source checks). */
export function prefixDigest(hashes: readonly Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const x of hashes) h.update(x);
  return new Uint8Array(h.digest());
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;
