// Whole guest pages copied between a VM and a buffer in linear memory, many
// at a time: what a snapshot's background writer reads and what a restore
// writes (src/host/vm.ts readPages / writePages). One call walks the page
// table once per page in wasm instead of once per page from TypeScript.
//
// guestPagesRead   [first, first + count) -> outPtr, 4 KiB per page:
//   unpopulated, zero-mapped (or a traced zero-mapped page)  zeros
//   present, traced                                          the frame's bytes
//   swapped, elsewhere, ballooned, poisoned                  stop: returns the
//     index of that page, the pages before it copied (the caller brings it
//     back through the VM's page hook and goes on)
// guestPagesCheck  the states a write needs (every page untouched or in
//   memory) and the frames it would take (pages and page tables)
// guestPagesWrite  srcPtr -> [first, first + count), after a check: each
//   untouched page gets a frame (not cleared: all of it is written), a
//   zero-mapped one a private copy (a traced one stays traced), then its
//   4 KiB; every page is marked accessed and dirty, as vm.write does. With
//   hashPtr != 0 it also writes each page's fingerprint (XXH3-64, as
//   fingerprint.ts gives it) there, hashed from the source while it is in
//   cache: a restore checks its pages without another pass over memory.
import { frameAddr, maxFrames, PAGE_SIZE } from "./layout";
import { usedFrames } from "./frames";
import { leafEntry, nptBreakCow, nptPopulateForOverwrite, nptTablesNeeded, pteFrame, vmDesc, VM_GUEST_PAGES } from "./npt";
import { PTE_A, PTE_BALLOONED, PTE_COW, PTE_D, PTE_ELSEWHERE, PTE_LATENT, PTE_POISONED, PTE_R, PTE_SWAPPED, PTE_TRACED } from "./pte";
import { ERR_GFN_RANGE, ERR_OUT_OF_FRAMES, ERR_PAGE_STATE } from "./status";
import { xxh3CopyPage } from "./xxh3";

/** Entry bits of a page that is not in memory: neither read nor written here. */
// @ts-ignore: decorator
@inline const NOT_HERE: u64 = PTE_SWAPPED | PTE_ELSEWHERE | PTE_BALLOONED | PTE_POISONED | PTE_LATENT;

/** The page guestPagesCheck refused (its index in the range). */
let refusedIndex: u32 = 0;
/** Frames the last successful guestPagesCheck found a write needs. */
let framesNeeded: u32 = 0;

/** -ERR_GFN_RANGE unless [first, first + count) lies inside VM `slot`'s guest. */
function checkRange(slot: u32, first: u32, count: u32): i32 {
  return <u64>first + <u64>count > load<u64>(vmDesc(slot), VM_GUEST_PAGES) ? -ERR_GFN_RANGE : 0;
}

/** The leaf entry of `gfn`, 0 when its table is missing. */
// @ts-ignore: decorator
@inline function entryOf(d: usize, gfn: u32): u64 {
  const p = leafEntry(d, <u64>gfn, false);
  return p <= 0 ? 0 : load<u64>(<usize>p);
}

/**
 * Copies pages [first, first + count) of VM `slot` to `outPtr`. Returns
 * `count`, or the index of the first page that is not in memory (the pages
 * before it are copied), or -ERR_GFN_RANGE.
 * INVARIANT: outPtr has room for count × 4 KiB.
 */
export function guestPagesRead(slot: u32, first: u32, count: u32, outPtr: usize): i32 {
  const range = checkRange(slot, first, count);
  if (range < 0) return range;
  const d = vmDesc(slot);
  for (let i: u32 = 0; i < count; i++) {
    const e = entryOf(d, first + i);
    const out = outPtr + (<usize>i << 12);
    if ((e & NOT_HERE) != 0) return <i32>i;
    const hfn = pteFrame(e);
    if ((e & (PTE_R | PTE_TRACED)) == 0 || hfn == 0) memory.fill(out, 0, PAGE_SIZE);
    else memory.copy(out, frameAddr(hfn), PAGE_SIZE);
  }
  return <i32>count;
}

/**
 * Checks that pages [first, first + count) of VM `slot` can be written by
 * guestPagesWrite: returns the frames the write takes (new pages and page
 * tables), or -ERR_PAGE_STATE (getGuestPagesRefused() is the page's index)
 * or -ERR_GFN_RANGE. Changes nothing.
 */
export function guestPagesCheck(slot: u32, first: u32, count: u32): i32 {
  const range = checkRange(slot, first, count);
  if (range < 0) return range;
  const d = vmDesc(slot);
  let frames: u32 = nptTablesNeeded(slot, first, count);
  for (let i: u32 = 0; i < count; i++) {
    const e = entryOf(d, first + i);
    if ((e & NOT_HERE) != 0) {
      refusedIndex = i;
      return -ERR_PAGE_STATE;
    }
    if ((e & (PTE_R | PTE_TRACED)) == 0 || (e & PTE_COW) != 0 || pteFrame(e) == 0) frames++;
  }
  framesNeeded = frames;
  return <i32>frames;
}

/** The index guestPagesCheck refused. */
export function getGuestPagesRefused(): u32 { return refusedIndex; }

/**
 * Writes `count` pages from `srcPtr` into pages [first, first + count) of
 * VM `slot` (see the header), and their fingerprints to `hashPtr` unless it
 * is 0. Checks first and changes nothing when the check fails or the host
 * lacks the frames: returns `count`, or -ERR_PAGE_STATE,
 * -ERR_OUT_OF_FRAMES, -ERR_GFN_RANGE.
 * INVARIANT: srcPtr holds count × 4 KiB that no page of the range overlaps;
 * hashPtr, when not 0, has room for count u64.
 */
export function guestPagesWrite(slot: u32, first: u32, count: u32, srcPtr: usize, hashPtr: usize): i32 {
  const checked = guestPagesCheck(slot, first, count);
  if (checked < 0) return checked;
  if (<u64>usedFrames + <u64>framesNeeded > <u64>maxFrames) return -ERR_OUT_OF_FRAMES;
  const d = vmDesc(slot);
  for (let i: u32 = 0; i < count; i++) {
    const gfn = first + i;
    const e = entryOf(d, gfn);
    if ((e & (PTE_R | PTE_TRACED)) == 0) {
      const st = nptPopulateForOverwrite(slot, gfn);
      if (st < 0) return st;
    } else if ((e & PTE_COW) != 0 || pteFrame(e) == 0) {
      const st = nptBreakCow(slot, gfn);
      if (st < 0) return st;
    }
    const p = <usize>leafEntry(d, <u64>gfn, false);
    const now = load<u64>(p);
    const src = srcPtr + (<usize>i << 12);
    const dst = frameAddr(pteFrame(now));
    if (hashPtr != 0) store<u64>(hashPtr + (<usize>i << 3), xxh3CopyPage(dst, src)); // one pass: copy and fingerprint
    else memory.copy(dst, src, PAGE_SIZE);
    store<u64>(p, now | PTE_A | PTE_D);
  }
  return <i32>count;
}
