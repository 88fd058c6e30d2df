// The byte layout of a remote-memory region, version 2: one SharedArrayBuffer
// the memory host allocates and the compute and failover hosts read and
// write without its CPU (one-sided). Little endian; every offset fixed at
// allocation. Page checksums are XXH3-64 (seed 0; src/pages xxh3Pages, one
// kernel call per run of pages); the list trailer stays a crc32 of the list.
//
//  0 ────────── header, 64 bytes
//   +0  u32 magic "HMRG"           +20 u32 baselineEpoch     (last epoch the baseline holds)
//   +4  u32 pages                  +24 u32 listCount         (published lists since the baseline)
//   +8  u32 stagingPages           +28 u32 listLogUsedBytes  (where the next list goes)
//   +12 u32 listLogBytes           +32 u32 lastPublishedEpoch
//   +16 u32 baselineGeneration     +36 u32 layoutVersion (2; version 1 left it 0) · +40 .. 63 reserved (0)
//  64 ───────── page metadata: pages × 16 bytes, one per home page
//   +0 u32 version (0 = never written; +1 per write-back) · +4 u32 reserved (0)
//   +8 u32 xxh3 low · +12 u32 xxh3 high (XXH3-64 of the home page)
//  listLogBase ─ the dirty-list log: published lists back to back (listLogBytes)
//   list:  +0 u32 "DLST" · +4 u32 layoutVersion (2) · +8 u32 epoch · +12 u32 generation · +16 u32 count
//          +20 count × 24-byte entries: u32 pfn · u32 version · u32 stagingSlot · u32 reserved (0)
//                                       · u32 xxh3 low · u32 xxh3 high
//          then u32 crc32 of the list's bytes before it
//  homeBase (4 KiB aligned) ── home pages: pages × 4096
//  stagingBase ─ staging: stagingPages × 4096, the pages of the list being published
//
// Version 1 (8-byte metadata and 16-byte entries with a crc32 per page, a
// 16-byte list header without a version) is refused with ERR_FORMAT_VERSION.
//
// A list is published when listCount and listLogUsedBytes move past it (one
// store each, after its bytes are in): a reader never sees half a list.
// The staging area is a double-write buffer (InnoDB's doublewrite, a redo
// journal): an epoch's pages go to staging, then its list is published, then
// the pages are copied home. A failure before the publish leaves home at the
// last published list; one during the copy home leaves the staged copies.
import { ErrorCode, HypermemError } from "../errors.js";

export const PAGE_BYTES = 4096;
export const REGION_MAGIC = 0x4752_4d48; // "HMRG" read as a little-endian u32
export const LIST_MAGIC = 0x5453_4c44; // "DLST"
/** The layout version this build writes and reads. */
export const REGION_LAYOUT_VERSION = 2;
export const REGION_HEADER_BYTES = 64;
export const META_BYTES = 16;
/** u32 words of one page's metadata, and where each field is. */
export const META_WORDS = 4;
export const M = Object.freeze({ version: 0, hashLow: 2, hashHigh: 3 });
export const LIST_HEADER_BYTES = 20;
export const LIST_ENTRY_BYTES = 24;
/** u32 words of one dirty-list entry, and where each field is. */
export const LIST_ENTRY_WORDS = 6;
export const E = Object.freeze({ pfn: 0, version: 1, stagingSlot: 2, hashLow: 4, hashHigh: 5 });
export const LIST_CRC_BYTES = 4;
/** A region's largest page count (2^28 pages = 1 TiB). */
export const MAX_REGION_PAGES = 2 ** 28;

/** Header word indices (u32). */
export const H = Object.freeze({
  magic: 0, pages: 1, stagingPages: 2, listLogBytes: 3, baselineGeneration: 4, baselineEpoch: 5,
  listCount: 6, listLogUsedBytes: 7, lastPublishedEpoch: 8, layoutVersion: 9,
});

export interface RegionGeometry {
  readonly pages: number;
  readonly stagingPages: number;
  readonly listLogBytes: number;
  readonly metaBase: number;
  readonly listLogBase: number;
  readonly homeBase: number;
  readonly stagingBase: number;
  readonly totalBytes: number;
}

/** Bytes of one published list of `count` entries. */
export function listBytes(count: number): number {
  return LIST_HEADER_BYTES + count * LIST_ENTRY_BYTES + LIST_CRC_BYTES;
}

/** The offsets of a region of `pages` home pages, `stagingPages` staging pages and a list log of `listLogBytes`. */
export function regionGeometry(pages: number, stagingPages: number, listLogBytes: number): RegionGeometry {
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > MAX_REGION_PAGES) {
    throw new HypermemError(ErrorCode.BadOption, `a region has 1 to ${MAX_REGION_PAGES} pages, got ${String(pages)}`, { option: "pages", value: pages });
  }
  if (!Number.isSafeInteger(stagingPages) || stagingPages < 1 || stagingPages > pages) {
    throw new HypermemError(ErrorCode.BadOption, `stagingPages must be from 1 to the region's ${pages} pages, got ${String(stagingPages)}`, { option: "stagingPages", value: stagingPages });
  }
  if (!Number.isSafeInteger(listLogBytes) || listLogBytes < listBytes(1) || listLogBytes % 4 !== 0) {
    throw new HypermemError(ErrorCode.BadOption, `listLogBytes must be a multiple of 4 holding at least one list (${listBytes(1)} bytes), got ${String(listLogBytes)}`, { option: "listLogBytes", value: listLogBytes });
  }
  const metaBase = REGION_HEADER_BYTES;
  const listLogBase = metaBase + pages * META_BYTES;
  const homeBase = Math.ceil((listLogBase + listLogBytes) / PAGE_BYTES) * PAGE_BYTES;
  const stagingBase = homeBase + pages * PAGE_BYTES;
  const totalBytes = stagingBase + stagingPages * PAGE_BYTES;
  return Object.freeze({ pages, stagingPages, listLogBytes, metaBase, listLogBase, homeBase, stagingBase, totalBytes });
}
