// Migration stream kernels (docs/migration-stream.md): the page-record packer
// of the source, the validating unpacker of the destination, the guest-memory
// digest both sides compute, and the list of a guest's poisoned pages.
//
// Record (little endian), REC_HEADER_BYTES = 8, then `len` payload bytes:
//
//   0      1      2             4                       8
//  ┌──────┬──────┬─────────────┬───────────────────────┬──────────────┐
//  │ type │flags │ u16 len     │ u32 pfn (or round)    │ payload ...  │
//  └──────┴──────┴─────────────┴───────────────────────┴──────────────┘
//   PAGE 1 (4096 bytes) · ZERO 2 (0) · XBZRLE 3 (1..4095) · POISON 4 (0)
//   END_ROUND 5 (0, pfn = round) · END_STREAM 6 (16: u64 digest, u32 pages, u32 poisoned)
//   COMMIT 7 (0, pfn = epoch): a staged receiver applies an epoch's records only here
//
// The packer never reads the bytes of a frame flagged poisoned: the leaf
// entry and the frame metadata are checked first (an exception-safe read, as
// Linux's copy_mc), and a latent error found so is made known in place.
//
// XBZRLE cache (source only, QEMU page_cache.c semantics): N slots, N a power
// of two, slot = pfn & (N - 1); the page copies (N × 4096 bytes) and the slot
// metadata (N × 8 bytes: u32 pfn + 1, 0 = empty; u32 age = dirty-sync
// generation of the last insert or hit) live in two caller-given areas.
//
// Results and failures are reported in two static blocks the TypeScript
// adapter reads (getPackStatsPtr, getStreamInfoPtr), so kernels return plain
// counts or offsets and -1 on failure with the reason in the info block.
import { FRAME_POISONED, FRAME_POISON_KNOWN, FRAME_ZERO, PAGE_SIZE, frameAddr, metaAddr } from "./layout";
import { POISON_MARK, zeroPageHash } from "./fingerprint";
import { VM_GUEST_PAGES, findLeaf, leafEntry, nptBreakCow, nptPopulate, nptPopulateForOverwrite, pteFrame, vmDesc, walkLeaf } from "./npt";
import { OP_POISON, OP_POISON_LATENT, OP_POISON_NO_FRAME, OP_REPORT_LATENT, transition } from "./page-state";
import { PTE_BALLOONED, PTE_COW, PTE_ELSEWHERE, PTE_LATENT, PTE_POISONED, PTE_R, PTE_SWAPPED, PTE_TRACED } from "./pte";
import { ERR_PAGE_STATE } from "./status";
import { isZeroPage } from "./page";
import { xxh3, xxh3CopyPage, xxh3StreamCopyPage } from "./xxh3";
import { xbzrleDecode, xbzrleEncode } from "./xbzrle";

// @ts-ignore: decorator
@inline export const REC_HEADER_BYTES: u32 = 8;
// @ts-ignore: decorator
@inline export const REC_PAGE: u32 = 1;
// @ts-ignore: decorator
@inline export const REC_ZERO: u32 = 2;
// @ts-ignore: decorator
@inline export const REC_XBZRLE: u32 = 3;
// @ts-ignore: decorator
@inline export const REC_POISON: u32 = 4;
// @ts-ignore: decorator
@inline export const REC_END_ROUND: u32 = 5;
// @ts-ignore: decorator
@inline export const REC_END_STREAM: u32 = 6;
// @ts-ignore: decorator
@inline export const REC_COMMIT: u32 = 7;
/** Payload bytes of END_STREAM: u64 digest, u32 guest pages, u32 poisoned pages. */
// @ts-ignore: decorator
@inline export const END_STREAM_BYTES: u32 = 16;
/** Largest XBZRLE payload: an encoding must be smaller than a page to pay off. */
// @ts-ignore: decorator
@inline export const XBZRLE_MAX_BYTES: u32 = PAGE_SIZE - 1;
/** Largest record (a PAGE): the packer stops when less room than this is left. */
// @ts-ignore: decorator
@inline export const MAX_RECORD_BYTES: u32 = REC_HEADER_BYTES + PAGE_SIZE;

// Stages of the packer (QEMU: bulk stage, iterations, last stage).
// @ts-ignore: decorator
@inline export const STAGE_BULK: u32 = 0;
// @ts-ignore: decorator
@inline export const STAGE_ITERATE: u32 = 1;
// @ts-ignore: decorator
@inline export const STAGE_FINAL: u32 = 2;
/** OR-ed into the stage: send zero pages whole (QEMU zero-page-detection=none). */
// @ts-ignore: decorator
@inline export const STAGE_NO_ZERO_DETECTION: u32 = 0x100;
/** QEMU's CACHED_PAGE_LIFETIME: a slot filled this recently is not evicted by another page. */
// @ts-ignore: decorator
@inline const CACHED_PAGE_LIFETIME: u64 = 2;

// Failure reasons (info block +0). 0 = none.
// @ts-ignore: decorator
@inline export const REASON_RECORD_HEADER: u32 = 1;
// @ts-ignore: decorator
@inline export const REASON_TYPE: u32 = 2;
// @ts-ignore: decorator
@inline export const REASON_FLAGS: u32 = 3;
// @ts-ignore: decorator
@inline export const REASON_LENGTH: u32 = 4;
// @ts-ignore: decorator
@inline export const REASON_OVERRUN: u32 = 5;
// @ts-ignore: decorator
@inline export const REASON_PFN_RANGE: u32 = 6;
// @ts-ignore: decorator
@inline export const REASON_XBZRLE_INVALID: u32 = 7;
// @ts-ignore: decorator
@inline export const REASON_XBZRLE_DISABLED: u32 = 8;
// @ts-ignore: decorator
@inline export const REASON_PAGE_STATE: u32 = 9;
// @ts-ignore: decorator
@inline export const REASON_OUT_OF_FRAMES: u32 = 10;
// @ts-ignore: decorator
@inline export const REASON_FIELD: u32 = 11;
/** The page is swapped or elsewhere: the caller brings it back (the VM's page hook) and resumes. */
// @ts-ignore: decorator
@inline export const REASON_NOT_RESIDENT: u32 = 12;

// Flags of streamUnpack.
/** XBZRLE records are allowed (the stream header enables them). */
// @ts-ignore: decorator
@inline export const UNPACK_XBZRLE: u32 = 1;
/** Check every record as for applying it, write nothing (a staged receiver, before the commit). */
// @ts-ignore: decorator
@inline export const UNPACK_VALIDATE_ONLY: u32 = 2;

// Info block (INFO_BYTES), written by every kernel of this file:
//  +0  u32 reason      REASON_*, 0 when the call succeeded
//  +4  u32 offset      record offset in the payload (unpack), list index (pack)
//  +8  u32 pfn         record pfn / round, or the offending page
//  +12 u32 type        record type (unpack: also the control record it stopped at)
//  +16 u32 length      record payload length
//  +20 i32 status      underlying kernel status (frame allocation), 0 if none
//  +24 u32 nextPfn     streamPoisonList: first pfn not scanned yet
//  +28 u32 framesNeeded streamUnpack with UNPACK_VALIDATE_ONLY: frames applying the
//                      validated records could take at most (pages without a
//                      private frame, and the page tables they lack)
// @ts-ignore: decorator
@inline export const INFO_BYTES: u32 = 64;
const INFO = memory.data(64, 16);

// Pack statistics block (u32 each, PACK_STATS_WORDS), reset by every streamPack:
//  0 consumed  1 records  2 zeroPages  3 normalPages  4 xbzrlePages  5 xbzrleBytes
//  6 xbzrleCacheMiss  7 xbzrleOverflow  8 xbzrleUnchanged  9 poisonedPages
//  10 latentFound  11 payloadBytes
// @ts-ignore: decorator
@inline export const PACK_STATS_WORDS: u32 = 12;
const STATS = memory.data(64, 16);
// @ts-ignore: decorator
@inline const S_CONSUMED: usize = 0;
// @ts-ignore: decorator
@inline const S_RECORDS: usize = 4;
// @ts-ignore: decorator
@inline const S_ZERO: usize = 8;
// @ts-ignore: decorator
@inline const S_NORMAL: usize = 12;
// @ts-ignore: decorator
@inline const S_XBZRLE: usize = 16;
// @ts-ignore: decorator
@inline const S_XBZRLE_BYTES: usize = 20;
// @ts-ignore: decorator
@inline const S_MISS: usize = 24;
// @ts-ignore: decorator
@inline const S_OVERFLOW: usize = 28;
// @ts-ignore: decorator
@inline const S_UNCHANGED: usize = 32;
// @ts-ignore: decorator
@inline const S_POISONED: usize = 36;
// @ts-ignore: decorator
@inline const S_LATENT: usize = 40;
// @ts-ignore: decorator
@inline const S_PAYLOAD: usize = 44;

/** Address of the info block. */
export function getStreamInfoPtr(): usize { return INFO; }
/** Address of the pack statistics block. */
export function getPackStatsPtr(): usize { return STATS; }

// @ts-ignore: decorator
@inline function bump(field: usize, by: u32 = 1): void {
  store<u32>(STATS + field, load<u32>(STATS + field) + by);
}

/** Records a failure in the info block; returns -1. */
function fail(reason: u32, offset: u32, pfn: u32, type: u32, length: u32, status: i32): i32 {
  store<u32>(INFO, reason);
  store<u32>(INFO, offset, 4);
  store<u32>(INFO, pfn, 8);
  store<u32>(INFO, type, 12);
  store<u32>(INFO, length, 16);
  store<i32>(INFO, status, 20);
  return -1;
}

/** Writes a record header at `p`. */
// @ts-ignore: decorator
@inline function putHeader(p: usize, type: u32, len: u32, pfn: u32): void {
  store<u64>(p, <u64>type | (<u64>len << 16) | (<u64>pfn << 32));
}

// ─── Packer ───────────────────────────────────────────────────────────────

/**
 * Makes a latent error found by the packer's exception-safe read known, as
 * a guest access would (page-state REPORT_LATENT: LAT turns PSN, the frame
 * is flagged known).
 */
function reportLatent(d: usize, p: usize, e: u64, pfn: u32): void {
  transition(d, p, e, pfn, OP_REPORT_LATENT, 0, 0);
  bump(S_LATENT);
}

/** A POISON record for `pfn` at `rec`. Returns its size. */
// @ts-ignore: decorator
@inline function putPoison(rec: usize, pfn: u32): i32 {
  putHeader(rec, REC_POISON, 0, pfn);
  bump(S_POISONED);
  return <i32>REC_HEADER_BYTES;
}

/** The streaming XXH3 state of the chunk being packed (assembly/xxh3.ts), or 0: set by each streamPack call. */
let packHashState: usize = 0;

/**
 * A PAGE record for `pfn` holding the page at `src`. Returns its size. With
 * a hash state, the page is accumulated into the chunk's checksum as it is
 * copied (the header before it is read back with the stripe it begins in).
 */
// @ts-ignore: decorator
@inline function putPage(rec: usize, pfn: u32, src: usize): i32 {
  putHeader(rec, REC_PAGE, PAGE_SIZE, pfn);
  if (packHashState != 0) xxh3StreamCopyPage(packHashState, rec + REC_HEADER_BYTES, src);
  else memory.copy(rec + REC_HEADER_BYTES, src, PAGE_SIZE);
  bump(S_NORMAL);
  return <i32>MAX_RECORD_BYTES;
}

/**
 * QEMU cache_insert: fills the slot (metadata `m`, page `cached`) with the
 * page at `src` (0 = a zero page) unless it holds another page that is still
 * fresh (age + CACHED_PAGE_LIFETIME > generation).
 */
function cacheInsert(m: usize, cached: usize, pfn: u32, src: usize, generation: u32): void {
  const tag = load<u32>(m);
  if (tag != 0 && tag != pfn + 1 && <u64>load<u32>(m, 4) + CACHED_PAGE_LIFETIME > <u64>generation) return;
  if (src == 0) memory.fill(cached, 0, PAGE_SIZE);
  else memory.copy(cached, src, PAGE_SIZE);
  store<u32>(m, pfn + 1);
  store<u32>(m, generation, 4);
}

/** A ZERO record; with the cache on, a zero page goes into the page's slot (QEMU xbzrle_cache_zero_page). */
function putZero(rec: usize, pfn: u32, cacheMeta: usize, cachePages: usize, slotMask: u32, useCache: bool, generation: u32): i32 {
  putHeader(rec, REC_ZERO, 0, pfn);
  bump(S_ZERO);
  if (useCache) {
    const s = pfn & slotMask;
    cacheInsert(cacheMeta + (<usize>s << 3), cachePages + (<usize>s << 12), pfn, 0, generation);
  }
  return <i32>REC_HEADER_BYTES;
}

/**
 * The XBZRLE path of a non-zero page at `src` (QEMU save_xbzrle_page). Miss:
 * insert unless `last`, send a PAGE. Hit: encode against the cached copy;
 * unchanged -> nothing (returns 0); overflow -> update the cache unless
 * `last`, send a PAGE; else update the cache unless `last`, send XBZRLE.
 */
function packXbzrle(rec: usize, pfn: u32, src: usize, cacheMeta: usize, cachePages: usize, slotMask: u32, last: bool, generation: u32): i32 {
  const s = pfn & slotMask;
  const m = cacheMeta + (<usize>s << 3);
  const cached = cachePages + (<usize>s << 12);
  if (load<u32>(m) != pfn + 1) {
    bump(S_MISS);
    if (!last) cacheInsert(m, cached, pfn, src, generation);
    return putPage(rec, pfn, src);
  }
  store<u32>(m, generation, 4); // a hit refreshes the age
  const n = xbzrleEncode(cached, src, <i32>PAGE_SIZE, rec + REC_HEADER_BYTES, <i32>XBZRLE_MAX_BYTES);
  if (n == 0) {
    bump(S_UNCHANGED);
    return 0;
  }
  if (!last) memory.copy(cached, src, PAGE_SIZE);
  if (n < 0) {
    bump(S_OVERFLOW);
    return putPage(rec, pfn, src);
  }
  putHeader(rec, REC_XBZRLE, <u32>n, pfn);
  bump(S_XBZRLE);
  bump(S_XBZRLE_BYTES, <u32>n);
  return <i32>REC_HEADER_BYTES + n;
}

/**
 * Packs guest page `pfn` of the VM at descriptor `d` into `rec`. Returns the
 * record size, 0 when nothing is sent (XBZRLE: unchanged), or -1 for a page
 * that is not resident (swapped, elsewhere; REASON_NOT_RESIDENT, the info
 * block says which): the caller brings it back and packs from there again.
 */
function packOne(d: usize, pfn: u32, rec: usize, cacheMeta: usize, cachePages: usize, slotMask: u32, useCache: bool, last: bool, generation: u32, zeroDetect: bool): i32 {
  const p = leafEntry(d, <u64>pfn, false);
  const e: u64 = p > 0 ? load<u64>(<usize>p) : 0;
  if ((e & PTE_POISONED) != 0) return putPoison(rec, pfn);
  const hfn = pteFrame(e);
  if ((e & PTE_LATENT) != 0) {
    reportLatent(d, <usize>p, e, pfn);
    return putPoison(rec, pfn);
  }
  if ((e & (PTE_SWAPPED | PTE_ELSEWHERE)) != 0) return fail(REASON_NOT_RESIDENT, 0, pfn, 0, 0, -ERR_PAGE_STATE);
  // Unpopulated, ballooned or zero-mapped: nothing to read (the zero frame, when zero pages go whole).
  if ((e & (PTE_R | PTE_TRACED)) == 0 || hfn == 0) {
    return zeroDetect ? putZero(rec, pfn, cacheMeta, cachePages, slotMask, useCache, generation) : putPage(rec, pfn, frameAddr(0));
  }
  const flags = load<u16>(metaAddr(hfn), 6);
  if ((flags & FRAME_POISONED) != 0) { // the exception-safe read meets an error: never read the bytes
    const known = (flags & FRAME_POISON_KNOWN) != 0;
    transition(d, <usize>p, e, pfn, known ? OP_POISON : OP_POISON_LATENT, 0, 0);
    if (!known) reportLatent(d, <usize>p, load<u64>(<usize>p), pfn);
    return putPoison(rec, pfn);
  }
  const src = frameAddr(hfn);
  if (zeroDetect && ((flags & FRAME_ZERO) != 0 || isZeroPage(src, PAGE_SIZE))) {
    return putZero(rec, pfn, cacheMeta, cachePages, slotMask, useCache, generation);
  }
  if (!useCache) return putPage(rec, pfn, src);
  return packXbzrle(rec, pfn, src, cacheMeta, cachePages, slotMask, last, generation);
}

/**
 * Packs the pages listed at `listPtr` (`count` u32 pfns) of VM `slot` into
 * records at `outPtr` until the list ends or fewer than MAX_RECORD_BYTES of
 * `capacity` are left. `cacheSlots` = 0 turns XBZRLE off; it is also off in
 * the bulk stage. `stage` may carry STAGE_NO_ZERO_DETECTION. Returns the
 * number of pfns consumed (statistics in the stats block), or -1 (info
 * block: reason, list index, pfn; the stats block counts the records
 * written before that entry, so after REASON_NOT_RESIDENT the caller can
 * bring the page back and resume at it). `hashState`, when not 0, is the
 * streaming XXH3 state of the payload the records extend (xxh3StreamBegin
 * at its start, xxh3StreamFinish for the checksum): PAGE records are hashed
 * as they are copied.
 * INVARIANT: the list, the output, both cache areas and the hash state are
 * inside memory; with a hash state, outPtr is the end of what the payload
 * holds so far.
 */
export function streamPack(
  slot: u32, listPtr: usize, count: u32, outPtr: usize, capacity: u32,
  cacheMetaPtr: usize, cachePagesPtr: usize, cacheSlots: u32, stage: u32, generation: u32, hashState: usize,
): i32 {
  memory.fill(STATS, 0, PACK_STATS_WORDS << 2);
  store<u32>(INFO, 0);
  packHashState = hashState;
  const d = vmDesc(slot);
  const pages = load<u64>(d, VM_GUEST_PAGES);
  const zeroDetect = (stage & STAGE_NO_ZERO_DETECTION) == 0;
  const phase = stage & 0xff;
  const useCache = cacheSlots != 0 && phase != STAGE_BULK;
  const last = phase == STAGE_FINAL;
  const slotMask = cacheSlots - 1;
  let out: u32 = 0;
  let i: u32 = 0;
  for (; i < count; i++) {
    if (<u64>out + MAX_RECORD_BYTES > <u64>capacity) break;
    const pfn = load<u32>(listPtr + (<usize>i << 2));
    if (<u64>pfn >= pages) return fail(REASON_PFN_RANGE, i, pfn, 0, 0, 0);
    const n = packOne(d, pfn, outPtr + out, cacheMetaPtr, cachePagesPtr, slotMask, useCache, last, generation, zeroDetect);
    if (n < 0) { // the records before entry i are written and counted: the caller may resume at i
      store<u32>(INFO, i, 4);
      store<u32>(STATS + S_CONSUMED, i);
      store<u32>(STATS + S_PAYLOAD, out);
      return -1;
    }
    if (n > 0) bump(S_RECORDS);
    out += <u32>n;
  }
  store<u32>(STATS + S_CONSUMED, i);
  store<u32>(STATS + S_PAYLOAD, out);
  return <i32>i;
}

// ─── Unpacker ─────────────────────────────────────────────────────────────

/**
 * True when `slen` bytes at `src` are a valid XBZRLE stream for a `dlen`-byte
 * page: the checks of xbzrleDecode (QEMU xbzrle_decode_buffer), without
 * writing anything, so a record is validated before it touches the guest.
 */
export function xbzrleValid(src: usize, slen: u32, dlen: u32): bool {
  let i: u32 = 0, d: u32 = 0;
  while (i < slen) {
    if (slen - i < 2) return false;
    const first = i == 0;
    let zrun = <u32>load<u8>(src + i);
    if (zrun & 0x80) {
      const hi = <u32>load<u8>(src + i + 1);
      if (hi & 0x80) return false;
      zrun = (zrun & 0x7f) | (hi << 7);
      i += 2;
    } else i += 1;
    if (zrun == 0 && !first) return false;
    d += zrun;
    if (d > dlen || slen - i < 2) return false;
    let run = <u32>load<u8>(src + i);
    if (run & 0x80) {
      const hi = <u32>load<u8>(src + i + 1);
      if (hi & 0x80) return false;
      run = (run & 0x7f) | (hi << 7);
      i += 2;
    } else i += 1;
    if (run == 0 || run > dlen - d || run > slen - i) return false;
    d += run;
    i += run;
  }
  return true;
}

/** States in which a page refuses PAGE, ZERO and XBZRLE records. */
// @ts-ignore: decorator
@inline const REFUSES_DATA: u64 = PTE_POISONED | PTE_LATENT | PTE_BALLOONED | PTE_TRACED;
/** States in which a page refuses a POISON record (PSN already: nothing to do). */
// @ts-ignore: decorator
@inline const REFUSES_POISON: u64 = PTE_LATENT | PTE_BALLOONED | PTE_TRACED;

/** The last leaf block (pfn >> 9), PD slot (pfn >> 18) and PML4 slot (pfn >> 27) counted by framesFor. */
let countedBlock: i64 = -1;
let countedPd: i64 = -1;
let countedPdpt: i64 = -1;

/**
 * Frames a PAGE or XBZRLE record for `pfn` could take when applied: 1 when
 * the page has no private frame yet, plus the page tables missing on its
 * path (each counted once per run of records in the same table).
 */
function framesFor(d: usize, pfn: u32): u32 {
  const p = leafEntry(d, <u64>pfn, false);
  if (p > 0) {
    const e = load<u64>(<usize>p);
    return (e & PTE_R) == 0 || (e & PTE_COW) != 0 ? 1 : 0;
  }
  let n: u32 = 1;
  const block = <i64>(pfn >> 9);
  if (block != countedBlock) {
    countedBlock = block;
    n += 1;
    if ((block >> 9) != countedPd) { countedPd = block >> 9; n += 1; }
    if ((block >> 18) != countedPdpt) { countedPdpt = block >> 18; n += 1; }
  }
  return n;
}

/**
 * Whether a `type` record may apply to destination page `pfn` now: 0, or
 * REASON_NOT_RESIDENT (swapped, elsewhere: the caller brings it back and
 * resumes) or REASON_PAGE_STATE (a state no record may overwrite).
 */
function checkTarget(d: usize, pfn: u32, type: u32): u32 {
  const p = leafEntry(d, <u64>pfn, false);
  const e: u64 = p > 0 ? load<u64>(<usize>p) : 0;
  if ((e & (PTE_SWAPPED | PTE_ELSEWHERE)) != 0) return REASON_NOT_RESIDENT;
  if ((e & (type == REC_POISON ? REFUSES_POISON : REFUSES_DATA)) != 0) return REASON_PAGE_STATE;
  return 0;
}

/**
 * The private frame of destination page `pfn` (checked by checkTarget),
 * created (zeroed, unless the caller will `overwrite` all of it) or
 * unshared as needed. Returns the frame number or a negative kernel status.
 */
function privateFrame(slot: u32, d: usize, pfn: u32, overwrite: bool): i32 {
  const p = leafEntry(d, <u64>pfn, false);
  const e: u64 = p > 0 ? load<u64>(<usize>p) : 0;
  if ((e & PTE_R) == 0) return overwrite ? nptPopulateForOverwrite(slot, pfn) : nptPopulate(slot, pfn, true);
  if ((e & PTE_COW) != 0) return nptBreakCow(slot, pfn);
  return <i32>pteFrame(e);
}

/** Destination side of POISON: the page becomes PSN with no frame (page-state POISON_NO_FRAME). */
function applyPoison(d: usize, pfn: u32): i32 {
  const p = leafEntry(d, <u64>pfn, true);
  if (p < 0) return <i32>p;
  return transition(d, <usize>p, load<u64>(<usize>p), pfn, OP_POISON_NO_FRAME, 0, 0);
}

/** Destination side of ZERO: a private frame is cleared; an unpopulated or zero-mapped page stays as it is. */
function applyZero(d: usize, pfn: u32): i32 {
  const p = leafEntry(d, <u64>pfn, false);
  if (p <= 0) return 0;
  const e = load<u64>(<usize>p);
  const hfn = pteFrame(e);
  if ((e & PTE_R) != 0 && (e & PTE_COW) == 0 && hfn != 0) memory.fill(frameAddr(hfn), 0, PAGE_SIZE);
  return 0;
}

/** Payload length check for `type`: true when `len` is allowed. */
// @ts-ignore: decorator
@inline function lengthOk(type: u32, len: u32): bool {
  if (type == REC_PAGE) return len == PAGE_SIZE;
  if (type == REC_XBZRLE) return len >= 1 && len <= XBZRLE_MAX_BYTES;
  if (type == REC_END_STREAM) return len == END_STREAM_BYTES;
  return len == 0; // ZERO, POISON, END_ROUND, COMMIT
}

/**
 * Applies one validated data record and, when `tablePtr` is not 0, sets the
 * page's fingerprint-table entry to what pageFingerprints would give for it
 * now, so END_STREAM need not read the guest again: a PAGE is copied into
 * its frame and hashed in the same pass (xxh3CopyPage), an XBZRLE page is
 * hashed right after its decode (still in cache). Returns 0 or a negative
 * kernel status (nothing written to the table then).
 */
function applyRecord(slot: u32, d: usize, type: u32, pfn: u32, src: usize, len: u32, tablePtr: usize): i32 {
  let hash: u64;
  if (type == REC_ZERO || type == REC_POISON) {
    const st = type == REC_ZERO ? applyZero(d, pfn) : applyPoison(d, pfn);
    if (st < 0) return st;
    hash = type == REC_ZERO ? zeroPageHash() : POISON_MARK;
  } else {
    const hfn = privateFrame(slot, d, pfn, type == REC_PAGE);
    if (hfn < 0) return hfn;
    const frame = frameAddr(<u32>hfn);
    if (type == REC_PAGE) {
      if (tablePtr == 0) {
        memory.copy(frame, src, PAGE_SIZE);
        return 0;
      }
      hash = xxh3CopyPage(frame, src);
    } else {
      xbzrleDecode(src, <i32>len, frame, <i32>PAGE_SIZE);
      if (tablePtr == 0) return 0;
      hash = xxh3(frame, PAGE_SIZE);
    }
  }
  if (tablePtr != 0) store<u64>(tablePtr + (<usize>pfn << 3), hash);
  return 0;
}

/**
 * Validates and applies the records of the `len`-byte chunk payload at
 * `ptr` to VM `slot`, from payload offset `offset`. Each record is checked
 * in full (header inside the payload, type, flags 0, exact payload length,
 * payload inside the chunk, pfn < guest pages, XBZRLE allowed and well
 * formed, page state) before it writes anything; with UNPACK_VALIDATE_ONLY
 * in `flags` nothing is written at all. Stops at END_ROUND, COMMIT or
 * END_STREAM, returning its offset (info: type, pfn = round or epoch);
 * returns `len` when every record was applied (info type 0), or -1 (info:
 * reason, offset, type, pfn, length, status). A page that is not resident
 * fails with REASON_NOT_RESIDENT: bring it back and call again from the
 * info offset. Never traps; out of frames is a reason.
 * INVARIANT: [ptr, ptr + len) is inside memory.
 */
export function streamUnpack(slot: u32, ptr: usize, len: u32, offset: u32, flags: u32, tablePtr: usize): i32 {
  store<u32>(INFO, 0);
  store<u32>(INFO, 0, 12);
  store<u32>(INFO, 0, 28);
  countedBlock = -1;
  countedPd = -1;
  countedPdpt = -1;
  const d = vmDesc(slot);
  const pages = load<u64>(d, VM_GUEST_PAGES);
  let off = offset;
  while (off < len) {
    if (len - off < REC_HEADER_BYTES) return fail(REASON_RECORD_HEADER, off, 0, 0, len - off, 0);
    const h = load<u64>(ptr + off);
    const type = <u32>h & 0xff;
    const recFlags = <u32>(h >> 8) & 0xff;
    const plen = <u32>(h >> 16) & 0xffff;
    const pfn = <u32>(h >> 32);
    if (type < REC_PAGE || type > REC_COMMIT) return fail(REASON_TYPE, off, pfn, type, plen, 0);
    if (recFlags != 0) return fail(REASON_FLAGS, off, pfn, type, recFlags, 0);
    if (!lengthOk(type, plen)) return fail(REASON_LENGTH, off, pfn, type, plen, 0);
    if (plen > len - off - REC_HEADER_BYTES) return fail(REASON_OVERRUN, off, pfn, type, plen, 0);
    if (type >= REC_END_ROUND) {
      if (type == REC_END_STREAM && pfn != 0) return fail(REASON_FIELD, off, pfn, type, plen, 0);
      store<u32>(INFO, off, 4);
      store<u32>(INFO, pfn, 8);
      store<u32>(INFO, type, 12);
      store<u32>(INFO, plen, 16);
      return <i32>off;
    }
    if (<u64>pfn >= pages) return fail(REASON_PFN_RANGE, off, pfn, type, plen, 0);
    const src = ptr + off + REC_HEADER_BYTES;
    if (type == REC_XBZRLE) {
      if ((flags & UNPACK_XBZRLE) == 0) return fail(REASON_XBZRLE_DISABLED, off, pfn, type, plen, 0);
      if (!xbzrleValid(src, plen, PAGE_SIZE)) return fail(REASON_XBZRLE_INVALID, off, pfn, type, plen, 0);
    }
    const why = checkTarget(d, pfn, type);
    if (why != 0) return fail(why, off, pfn, type, plen, why == REASON_PAGE_STATE ? -ERR_PAGE_STATE : 0);
    if ((flags & UNPACK_VALIDATE_ONLY) == 0) {
      const st = applyRecord(slot, d, type, pfn, src, plen, tablePtr);
      if (st < 0) return fail(REASON_OUT_OF_FRAMES, off, pfn, type, plen, st);
    } else if (type == REC_PAGE || type == REC_XBZRLE) {
      store<u32>(INFO, load<u32>(INFO, 28) + framesFor(d, pfn), 28);
    }
    off += REC_HEADER_BYTES + plen;
  }
  return <i32>off;
}

// ─── Walk: poisoned pages ──────────────────────────────────────────────────

/**
 * Lists the poisoned pages (entry PSN or LAT) of VM `slot` from `fromPfn` on,
 * as u32 pfns at `outPtr`, at most `max`. Returns how many; the info block's
 * nextPfn (+24) is where to continue (guest pages when the walk is done).
 */
export function streamPoisonList(slot: u32, outPtr: usize, max: u32, fromPfn: u32): u32 {
  memory.fill(INFO, 0, INFO_BYTES);
  const d = vmDesc(slot);
  const pages = load<u64>(d, VM_GUEST_PAGES);
  let count: u32 = 0;
  let base: u64 = <u64>fromPfn & ~(<u64>511);
  let next: u64 = <u64>fromPfn;
  while (base < pages) {
    const span = findLeaf(d, base);
    if (span != 0) {
      base = (base & ~(span - 1)) + span;
      next = base;
      continue;
    }
    const end = pages - base < 512 ? pages : base + 512;
    for (let g = next > base ? next : base; g < end; g++) {
      const e = load<u64>(walkLeaf + ((<usize>g & 511) << 3));
      if ((e & (PTE_POISONED | PTE_LATENT)) == 0) continue;
      if (count == max) {
        store<u32>(INFO, <u32>g, 24);
        return count;
      }
      store<u32>(outPtr + (<usize>count << 2), <u32>g);
      count++;
    }
    base += 512;
    next = base;
  }
  store<u32>(INFO, <u32>(pages < <u64>0xffffffff ? pages : <u64>0xffffffff), 24);
  return count;
}
