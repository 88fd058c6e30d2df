// Balloon kernels (overcommit, issue 15): a balloon's pages moved by the
// run, one call per list of pages instead of one page-state call per page
// from TypeScript. Every move still goes through pageSetState (the one
// place that changes page states), with the existing operations:
// BALLOON_HANDOVER, DEFLATE_ONTO (which zeroes the frame), DEFLATE and
// RELEASE_HANDOVER.
//
// Lists are u32 arrays in linear memory:
//
//   victims (balloonSweep out):  u32 pfn | DATA_BIT  │ ...      (want at most)
//                                bit 31 set: the page is present and holds
//                                data the guest must save before it goes
//   pfns    (balloonTake/Give):  u32 pfn[0] │ u32 pfn[1] │ ...  (DATA_BIT ignored)
//   frames  (out of Take, into Give and Release):
//                                u32 hfn[0] │ u32 hfn[1] │ ...  handed-over frames
//
//   ballooned bitmap: bit g % 64 of u64 word g / 64, set while page g is in
//   the balloon (or chosen by a sweep, about to be)
//   referenced bitmap: the driver's accessed-log reader, pages touched since
//   the clock hand last passed
//
// On failure a kernel returns -status and getBalloonFailedAt() gives the
// index of the list entry refused; the entries before it were applied.
import { pageSetState, OP_BALLOON_HANDOVER, OP_DEFLATE, OP_DEFLATE_ONTO, OP_RELEASE_HANDOVER } from "./page-state";
import { leafEntry, pteFrame, vmDesc, VM_GUEST_PAGES } from "./npt";
import { PTE_COW, PTE_R, PTE_STATE_BITS } from "./pte";

/** Bit 31 of a victim entry: the page holds data (present, not referenced since the hand passed). */
// @ts-ignore: decorator
@inline export const DATA_BIT: u32 = 0x8000_0000;
/** `exclude` value of balloonSweep meaning no page is excluded. */
// @ts-ignore: decorator
@inline export const NO_PFN: u32 = 0xffff_ffff;

let failedAt: u32 = 0;
let hand: u32 = 0;

/** Index of the list entry the last failing kernel refused. */
export function getBalloonFailedAt(): u32 { return failedAt; }
/** The clock hand after the last balloonSweep. */
export function getBalloonHand(): u32 { return hand; }

// @ts-ignore: decorator
@inline function bitTest(bitmapPtr: usize, i: u32): bool {
  return (load<u64>(bitmapPtr + ((<usize>i >> 6) << 3)) & ((<u64>1) << (<u64>(i & 63)))) != 0;
}
// @ts-ignore: decorator
@inline function bitSet(bitmapPtr: usize, i: u32): void {
  const w = bitmapPtr + ((<usize>i >> 6) << 3);
  store<u64>(w, load<u64>(w) | ((<u64>1) << (<u64>(i & 63))));
}
// @ts-ignore: decorator
@inline function bitClear(bitmapPtr: usize, i: u32): void {
  const w = bitmapPtr + ((<usize>i >> 6) << 3);
  store<u64>(w, load<u64>(w) & ~((<u64>1) << (<u64>(i & 63))));
}

/**
 * The balloon driver's clock sweep over VM `slot`, from page `from`: up to
 * `want` victims to outPtr (see the header), each also set in the ballooned
 * bitmap so no sweep picks it twice. A page that is unpopulated or mapped
 * to the zero frame is a victim without data; a present page is a victim
 * with data unless it is in the referenced bitmap, where its bit is cleared
 * instead (its second chance); pages in any other state, ballooned pages
 * and `exclude` are passed over. Stops when 2 × guest pages have been
 * passed since the last victim. Returns the victims found; the hand is
 * getBalloonHand().
 * INVARIANT: both bitmaps cover the guest's pages; outPtr holds `want` u32.
 */
export function balloonSweep(slot: u32, from: u32, want: u32, exclude: u32, referencedPtr: usize, balloonedPtr: usize, outPtr: usize): u32 {
  const d = vmDesc(slot);
  const pages = <u32>load<u64>(d, VM_GUEST_PAGES);
  let at = from < pages ? from : 0;
  let found: u32 = 0;
  let since: u64 = 0;
  const limit = <u64>pages << 1;
  while (found < want && since < limit) {
    const pfn = at;
    at = at + 1 == pages ? 0 : at + 1;
    since++;
    if (pfn == exclude || bitTest(balloonedPtr, pfn)) continue;
    const p = leafEntry(d, <u64>pfn, false);
    const e = p <= 0 ? <u64>0 : load<u64>(<usize>p);
    if ((e & PTE_STATE_BITS) != 0) continue;
    let entry = pfn;
    if ((e & PTE_R) != 0 && (e & PTE_COW) == 0 && pteFrame(e) != 0) {
      if (bitTest(referencedPtr, pfn)) {
        bitClear(referencedPtr, pfn);
        continue;
      }
      entry |= DATA_BIT;
    }
    bitSet(balloonedPtr, pfn);
    store<u32>(outPtr + (<usize>found << 2), entry);
    found++;
    since = 0;
  }
  hand = at;
  return found;
}

/**
 * BALLOON_HANDOVER of each of the `count` pages listed at pfnPtr (DATA_BIT
 * ignored), each set in the ballooned bitmap; the frames the pages had go
 * to framesOutPtr in list order (pages without a frame give none). Returns
 * the frames written, or -status (getBalloonFailedAt()).
 * INVARIANT: framesOutPtr holds `count` u32.
 */
export function balloonTake(slot: u32, pfnPtr: usize, count: u32, balloonedPtr: usize, framesOutPtr: usize): i32 {
  let frames: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const pfn = load<u32>(pfnPtr + (<usize>i << 2)) & ~DATA_BIT;
    const r = pageSetState(slot, pfn, OP_BALLOON_HANDOVER, 0, 0);
    if (r < 0) {
      failedAt = i;
      return r;
    }
    bitSet(balloonedPtr, pfn);
    if (r > 0) {
      store<u32>(framesOutPtr + (<usize>frames << 2), <u32>r);
      frames++;
    }
  }
  return <i32>frames;
}

/**
 * Gives the `count` ballooned pages listed at pfnPtr back to VM `slot`:
 * page i onto handed-over frame i of framesPtr (zeroed by DEFLATE_ONTO)
 * while i < frameCount, the rest unpopulated (DEFLATE); each leaves the
 * ballooned bitmap. Returns 0 or -status (getBalloonFailedAt()).
 */
export function balloonGive(slot: u32, pfnPtr: usize, count: u32, framesPtr: usize, frameCount: u32, balloonedPtr: usize): i32 {
  for (let i: u32 = 0; i < count; i++) {
    const pfn = load<u32>(pfnPtr + (<usize>i << 2)) & ~DATA_BIT;
    const r = i < frameCount
      ? pageSetState(slot, pfn, OP_DEFLATE_ONTO, <u64>load<u32>(framesPtr + (<usize>i << 2)), 0)
      : pageSetState(slot, pfn, OP_DEFLATE, 0, 0);
    if (r < 0) {
      failedAt = i;
      return r;
    }
    bitClear(balloonedPtr, pfn);
  }
  return 0;
}

/** Returns the `count` handed-over frames listed at framesPtr to the free list (through VM `slot`). Returns 0 or -status (getBalloonFailedAt()). */
export function balloonRelease(slot: u32, framesPtr: usize, count: u32): i32 {
  for (let i: u32 = 0; i < count; i++) {
    const r = pageSetState(slot, 0, OP_RELEASE_HANDOVER, <u64>load<u32>(framesPtr + (<usize>i << 2)), 0);
    if (r < 0) {
      failedAt = i;
      return r;
    }
  }
  return 0;
}

/**
 * The first `max` pages of VM `slot` set in the guest's free-list bitmap at
 * `bitmapPtr` (`words` u64) that the balloon can take, ascending, as u32 to
 * outPtr: pages in any state (swapped or elsewhere by the hypervisor,
 * poisoned, traced, already ballooned) are passed over and stay free in
 * the guest, as the clock sweep passes over them. Returns how many.
 */
export function balloonFreeFirst(slot: u32, bitmapPtr: usize, words: u32, max: u32, outPtr: usize): u32 {
  const d = vmDesc(slot);
  let n: u32 = 0;
  for (let w: u32 = 0; w < words && n < max; w++) {
    let v = load<u64>(bitmapPtr + (<usize>w << 3));
    while (v != 0 && n < max) {
      const pfn = (w << 6) | <u32>ctz<u64>(v);
      v &= v - 1;
      const p = leafEntry(d, <u64>pfn, false);
      if (p > 0 && (load<u64>(<usize>p) & PTE_STATE_BITS) != 0) continue;
      store<u32>(outPtr + (<usize>n << 2), pfn);
      n++;
    }
  }
  return n;
}

/** The first `max` set bits of a `words`-word bitmap, ascending, as u32 to outPtr. Returns how many. */
export function bitmapFirst(bitmapPtr: usize, words: u32, max: u32, outPtr: usize): u32 {
  let n: u32 = 0;
  for (let w: u32 = 0; w < words && n < max; w++) {
    let v = load<u64>(bitmapPtr + (<usize>w << 3));
    while (v != 0 && n < max) {
      store<u32>(outPtr + (<usize>n << 2), (w << 6) | <u32>ctz<u64>(v));
      v &= v - 1;
      n++;
    }
  }
  return n;
}
