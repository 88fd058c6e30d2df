// Page fingerprints: the one page-hash walk over a VM's memory, used for
// verification (two guests compared page by page) and for the memory digest
// at the end of a stream (docs/migration-stream.md). A page's fingerprint is
// XXH3-64 (seed 0) of its 4096 bytes; an unpopulated, zero-mapped or
// ballooned page fingerprints as a zero page without being read; a poisoned
// page (PSN, LAT, or a frame flagged poisoned) as POISON_MARK, its bytes
// never read. A page that is not resident (swapped, elsewhere) stops the
// walk: the caller brings it back through the VM's page hook and resumes.
//
// Digest: acc = P5 ^ guestPages; per page, in pfn order,
// acc = rotl(acc ^ round0(fingerprint), 27) × P1 + P4 (XXH64's 8-byte tail
// step with its round); then XXH64's avalanche.
import { FRAME_POISONED, FRAME_ZERO, PAGE_SIZE, frameAddr, metaAddr } from "./layout";
import { findLeaf, pteFrame, vmDesc, walkLeaf } from "./npt";
import { PTE_ELSEWHERE, PTE_LATENT, PTE_POISONED, PTE_R, PTE_SWAPPED, PTE_TRACED } from "./pte";
import { xxh3 } from "./xxh3";

/** The fingerprint of a poisoned page ("PSN_MARK" in ASCII). */
// @ts-ignore: decorator
@inline export const POISON_MARK: u64 = 0x50534E5F4D41524B;

// XXH64 primes (hash.ts), for the digest fold.
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

/** Poisoned pages met by the last pageFingerprints call. */
let poisonedSeen: u32 = 0;

let zeroHashCached: u64 = 0;
let zeroHashReady = false;

/** XXH3-64 of a 4 KiB page of zeros (the read-only zero frame), computed once. */
export function zeroPageHash(): u64 {
  if (!zeroHashReady) {
    zeroHashCached = xxh3(frameAddr(0), PAGE_SIZE);
    zeroHashReady = true;
  }
  return zeroHashCached;
}

/**
 * Fingerprint of the page the resident entry `e` maps. `fromTable` skips
 * reading the page (the caller takes its hash from a table) but still
 * counts poisoned pages.
 */
function fingerprintOf(e: u64, zeroHash: u64, fromTable: bool): u64 {
  if ((e & (PTE_POISONED | PTE_LATENT)) != 0) {
    poisonedSeen++;
    return POISON_MARK;
  }
  const hfn = pteFrame(e);
  if ((e & (PTE_R | PTE_TRACED)) == 0 || hfn == 0) return zeroHash;
  const flags = load<u16>(metaAddr(hfn), 6);
  if ((flags & FRAME_POISONED) != 0) {
    poisonedSeen++;
    return POISON_MARK;
  }
  if ((flags & FRAME_ZERO) != 0 || fromTable) return zeroHash;
  return xxh3(frameAddr(hfn), PAGE_SIZE);
}

/**
 * Writes the fingerprints of guest pages [firstPfn, firstPfn + count) of VM
 * `slot` as u64 at `outPtr`. With a table (`tablePtr` != 0: 8 bytes per
 * guest page, kept by streamUnpack) a page's fingerprint is read from it
 * instead of hashing the page; the entries are still walked, for the
 * poisoned count and the residency check. Returns the pages done: `count`,
 * or fewer when page firstPfn + done is not resident (swapped, elsewhere).
 * Unpopulated subtrees are filled without reading anything.
 * INVARIANT: the range lies inside the guest; outPtr has room for count u64.
 */
export function pageFingerprints(slot: u32, firstPfn: u32, count: u32, outPtr: usize, tablePtr: usize): u32 {
  poisonedSeen = 0;
  const d = vmDesc(slot);
  const zeroHash = zeroPageHash();
  const end = <u64>firstPfn + <u64>count;
  let g = <u64>firstPfn;
  while (g < end) {
    const span = findLeaf(d, g);
    const blockEnd = (g & ~((span != 0 ? span : 512) - 1)) + (span != 0 ? span : 512);
    const stop = blockEnd < end ? blockEnd : end;
    for (; g < stop; g++) {
      const o = outPtr + (<usize>(g - firstPfn) << 3);
      if (span != 0) {
        store<u64>(o, zeroHash);
        continue;
      }
      const e = load<u64>(walkLeaf + ((<usize>g & 511) << 3));
      if ((e & (PTE_SWAPPED | PTE_ELSEWHERE)) != 0) return <u32>(g - firstPfn);
      const h = fingerprintOf(e, zeroHash, tablePtr != 0);
      store<u64>(o, tablePtr != 0 ? load<u64>(tablePtr + (<usize>g << 3)) : h);
    }
  }
  return count;
}

/** Poisoned pages met by the last pageFingerprints call. */
export function getFingerprintPoisoned(): u32 { return poisonedSeen; }

/** XXH64's round(0, h). */
// @ts-ignore: decorator
@inline function round0(h: u64): u64 {
  return rotl<u64>(h * P2, 31) * P1;
}

/** The digest's starting accumulator for a guest of `guestPages` pages. */
export function digestStart(guestPages: u64): u64 {
  return P5 ^ guestPages;
}

/** Folds `count` fingerprints at `ptr` into the digest accumulator `acc`; returns the new accumulator. */
export function digestFold(acc: u64, ptr: usize, count: u32): u64 {
  for (let i: usize = 0; i < <usize>count; i++) acc = rotl<u64>(acc ^ round0(load<u64>(ptr + (i << 3))), 27) * P1 + P4;
  return acc;
}

/** XXH64's avalanche: the digest of accumulator `acc`. */
export function digestFinish(acc: u64): u64 {
  acc ^= acc >> 33;
  acc *= P2;
  acc ^= acc >> 29;
  acc *= P3;
  acc ^= acc >> 32;
  return acc;
}

/** Sets every entry of a fingerprint table for `pages` pages to the zero page's (nothing received yet). */
export function fingerprintTableInit(tablePtr: usize, pages: u32): void {
  const zeroHash = zeroPageHash();
  for (let g: usize = 0; g < <usize>pages; g++) store<u64>(tablePtr + (g << 3), zeroHash);
}
