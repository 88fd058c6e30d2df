// Page states: the one place that moves a guest page between present,
// traced, poisoned, swapped, ballooned and elsewhere (assembly/pte.ts says
// what the frame field holds in each), freeing or allocating its frame and
// keeping the VM descriptor's counts right. The MMU, the stream kernels and
// the TypeScript side (src/host/page-states.ts) all go through transition().
//
// Operations (pageSetState's `op`), from -> to, and what happens to frames:
//
//  SWAP_OUT       present (private)  -> swapped, frame field = arg (slot)   frame freed
//  MOVE_ELSEWHERE present (private)  -> elsewhere, frame field = arg        frame freed
//  BRING_BACK     swapped|elsewhere  -> present, a new frame filled from     frame allocated
//                                       srcPtr (0: zeros); returns the frame
//  BALLOON        unpopulated|zero-mapped|present -> ballooned               private frame freed
//  DEFLATE        ballooned          -> unpopulated (reads zero again)
//  POISON         present (private)  -> poisoned (PSN), frame kept, flagged poisoned + known
//  POISON_LATENT  present (private)  -> LAT, frame kept, flagged poisoned (not known yet)
//  REPORT_LATENT  LAT                -> PSN, frame flagged known
//  POISON_NO_FRAME any but swapped, ballooned, traced, elsewhere, LAT
//                                    -> PSN with no frame (a page received poisoned)
//  TRACE          present|zero-mapped -> traced (R and W cleared, frame kept)
//  UNTRACE        traced             -> present (W back unless COW or WP)
//  WRITE_PROTECT  populated (entry not 0) -> W cleared, WP set
//  UNPROTECT      populated (entry not 0) -> WP cleared, W back when present and not COW or traced
//  REPAIR         poisoned (PSN or LAT) with a frame -> present on a new frame  frame allocated,
//                                       filled from srcPtr (required: the page  bad frame retired
//                                       as refilled or rebuilt); returns it
//  MIGRATE        present (private)  -> present on a new frame holding a copy   frame allocated,
//                                       of the old one (soft offline); returns  old frame retired
//                                       the new frame
//  PLACE_ELSEWHERE unpopulated|zero-mapped -> elsewhere, frame field = arg   no frame involved
//                                    (contents that live elsewhere from the start: a snapshot
//                                    restored lazily)
//  RELOCATE_ELSEWHERE elsewhere      -> elsewhere, frame field = arg        no frame involved
//                                    (the contents moved to another location: an NVM block
//                                    purged to storage, its mapping rewritten)
//  BALLOON_HANDOVER (overcommit) as BALLOON, but a private frame is handed   frame kept, host-owned,
//                                    to the host instead of freed; returns  flagged HANDOVER
//                                    it (0 when the page had none)
//  DEFLATE_ONTO   ballooned          -> present on handed-over frame `arg`, frame zeroed, then owned
//                                       which is zeroed before the guest    by this VM
//                                       can read it; returns the frame
//  RELEASE_HANDOVER (no page)        handed-over frame `arg` -> free list   frame freed
//
// REPAIR and MIGRATE keep WP (a write-protected page stays protected on its
// new frame) and leave the VM's private-frame count as it was: the new frame
// replaces the old one, which stays out of use for good (frames.ts retireFrame).
// A and D are kept by every operation, so a dirty-log sync still finds a
// page written before it left memory; BALLOON and DEFLATE also set D (what
// the guest reads there changed, so a migration or checkpoint resends it). An operation on a page in a state it
// does not apply to returns -ERR_PAGE_STATE and changes nothing.
import { FRAME_HANDOVER, FRAME_POISONED, FRAME_POISON_KNOWN, OWNER_HOST, PAGE_SIZE, frameAddr, maxFrames, metaAddr } from "./layout";
import { allocFrameUncleared, freeFrame, retireFrame } from "./frames";
import {
  VM_BALLOONED_PAGES, VM_ELSEWHERE_PAGES, VM_GUEST_PAGES, VM_ID, VM_POISONED_PAGES, VM_PRIVATE_FRAMES,
  VM_SWAPPED_PAGES, VM_TRACED_PAGES, bumpCount, leafEntry, pteFrame, vmDesc,
} from "./npt";
import {
  FRAME_FIELD_MAX, PTE_A, PTE_BALLOONED, PTE_COW, PTE_D, PTE_ELSEWHERE, PTE_LATENT,
  PTE_LEAF_RW, PTE_POISONED, PTE_R, PTE_STATE_BITS, PTE_SWAPPED, PTE_TRACED, PTE_W, PTE_WP,
} from "./pte";
import { ERR_GFN_RANGE, ERR_PAGE_STATE } from "./status";

// @ts-ignore: decorator
@inline export const OP_SWAP_OUT: u32 = 1;
// @ts-ignore: decorator
@inline export const OP_MOVE_ELSEWHERE: u32 = 2;
// @ts-ignore: decorator
@inline export const OP_BRING_BACK: u32 = 3;
// @ts-ignore: decorator
@inline export const OP_BALLOON: u32 = 4;
// @ts-ignore: decorator
@inline export const OP_DEFLATE: u32 = 5;
// @ts-ignore: decorator
@inline export const OP_POISON: u32 = 6;
// @ts-ignore: decorator
@inline export const OP_POISON_LATENT: u32 = 7;
// @ts-ignore: decorator
@inline export const OP_REPORT_LATENT: u32 = 8;
// @ts-ignore: decorator
@inline export const OP_POISON_NO_FRAME: u32 = 9;
// @ts-ignore: decorator
@inline export const OP_TRACE: u32 = 10;
// @ts-ignore: decorator
@inline export const OP_UNTRACE: u32 = 11;
// @ts-ignore: decorator
@inline export const OP_WRITE_PROTECT: u32 = 12;
// @ts-ignore: decorator
@inline export const OP_UNPROTECT: u32 = 13;
// @ts-ignore: decorator
@inline export const OP_REPAIR: u32 = 14;
// @ts-ignore: decorator
@inline export const OP_MIGRATE: u32 = 15;
@inline export const OP_PLACE_ELSEWHERE: u32 = 16;
// @ts-ignore: decorator
@inline export const OP_RELOCATE_ELSEWHERE: u32 = 26;
// overcommit (issue 15): frames moved from one VM's balloon to another VM.
// @ts-ignore: decorator
@inline export const OP_BALLOON_HANDOVER: u32 = 20;
// @ts-ignore: decorator
@inline export const OP_DEFLATE_ONTO: u32 = 21;
// @ts-ignore: decorator
@inline export const OP_RELEASE_HANDOVER: u32 = 22;

/** True when `e` maps a private frame for the guest (present, not the shared zero frame). */
// @ts-ignore: decorator
@inline function presentPrivate(e: u64): bool {
  return (e & PTE_R) != 0 && (e & PTE_COW) == 0 && pteFrame(e) != 0;
}

/** A and D of `e`, carried over by every transition. */
// @ts-ignore: decorator
@inline function keepAD(e: u64): u64 {
  return e & (PTE_A | PTE_D);
}

/** Frees the private frame of `e` (a present page leaving memory). */
function dropFrame(d: usize, e: u64): void {
  freeFrame(pteFrame(e));
  bumpCount(d, VM_PRIVATE_FRAMES, -1);
}

/**
 * Applies `op` to the leaf entry at `p` (whose value is `e`) of the VM at
 * descriptor `d`, page `gfn`. Returns 0 (BRING_BACK: the new frame number)
 * or a negative status, in which case nothing changed.
 */
export function transition(d: usize, p: usize, e: u64, gfn: u32, op: u32, arg: u64, srcPtr: usize): i32 {
  if (op == OP_SWAP_OUT || op == OP_MOVE_ELSEWHERE) {
    if (!presentPrivate(e) || arg > FRAME_FIELD_MAX) return -ERR_PAGE_STATE;
    dropFrame(d, e);
    const swap = op == OP_SWAP_OUT;
    store<u64>(p, (swap ? PTE_SWAPPED : PTE_ELSEWHERE) | (arg << 12) | keepAD(e) | (e & PTE_WP));
    bumpCount(d, swap ? VM_SWAPPED_PAGES : VM_ELSEWHERE_PAGES, 1);
    return 0;
  }
  if (op == OP_BRING_BACK) {
    const from = e & (PTE_SWAPPED | PTE_ELSEWHERE);
    if (from == 0 || (e & (PTE_STATE_BITS & ~from)) != 0) return -ERR_PAGE_STATE;
    const hfn = allocFrameUncleared(<u16>load<u32>(d, VM_ID), gfn, 0);
    if (hfn < 0) return hfn;
    if (srcPtr == 0) memory.fill(frameAddr(<u32>hfn), 0, PAGE_SIZE);
    else memory.copy(frameAddr(<u32>hfn), srcPtr, PAGE_SIZE);
    const wp = e & PTE_WP;
    store<u64>(p, (<u64>hfn << 12) | (PTE_LEAF_RW & ~(wp != 0 ? PTE_W : 0)) | wp | keepAD(e));
    bumpCount(d, from == PTE_SWAPPED ? VM_SWAPPED_PAGES : VM_ELSEWHERE_PAGES, -1);
    bumpCount(d, VM_PRIVATE_FRAMES, 1);
    return hfn;
  }
  if (op == OP_BALLOON) {
    if ((e & PTE_STATE_BITS) != 0) return -ERR_PAGE_STATE;
    if (presentPrivate(e)) dropFrame(d, e);
    store<u64>(p, PTE_BALLOONED | keepAD(e) | PTE_D); // the guest's view of the page changed
    bumpCount(d, VM_BALLOONED_PAGES, 1);
    return 0;
  }
  if (op == OP_DEFLATE) {
    if ((e & PTE_STATE_BITS) != PTE_BALLOONED) return -ERR_PAGE_STATE;
    store<u64>(p, keepAD(e) | PTE_D);
    bumpCount(d, VM_BALLOONED_PAGES, -1);
    return 0;
  }
  if (op == OP_POISON || op == OP_POISON_LATENT) {
    if (!presentPrivate(e) || (e & PTE_STATE_BITS) != 0) return -ERR_PAGE_STATE;
    const known = op == OP_POISON;
    const m = metaAddr(pteFrame(e));
    store<u16>(m, load<u16>(m, 6) | FRAME_POISONED | (known ? FRAME_POISON_KNOWN : 0), 6);
    store<u64>(p, (e & ~(PTE_R | PTE_W)) | (known ? PTE_POISONED : PTE_LATENT));
    bumpCount(d, VM_POISONED_PAGES, 1);
    return 0;
  }
  if (op == OP_REPORT_LATENT) {
    if ((e & PTE_LATENT) == 0) return -ERR_PAGE_STATE;
    const hfn = pteFrame(e);
    if (hfn != 0) {
      const m = metaAddr(hfn);
      store<u16>(m, load<u16>(m, 6) | FRAME_POISONED | FRAME_POISON_KNOWN, 6);
    }
    store<u64>(p, (e & ~(PTE_LATENT | PTE_R | PTE_W)) | PTE_POISONED);
    return 0;
  }
  if (op == OP_PLACE_ELSEWHERE) {
    if ((e & PTE_STATE_BITS) != 0 || presentPrivate(e) || arg > FRAME_FIELD_MAX) return -ERR_PAGE_STATE;
    store<u64>(p, PTE_ELSEWHERE | (arg << 12) | keepAD(e) | (e & PTE_WP));
    bumpCount(d, VM_ELSEWHERE_PAGES, 1);
    return 0;
  }
  if (op == OP_RELOCATE_ELSEWHERE) {
    if ((e & PTE_STATE_BITS) != PTE_ELSEWHERE || arg > FRAME_FIELD_MAX) return -ERR_PAGE_STATE;
    store<u64>(p, PTE_ELSEWHERE | (arg << 12) | keepAD(e) | (e & PTE_WP));
    return 0;
  }
  if (op == OP_POISON_NO_FRAME) {
    if ((e & (PTE_SWAPPED | PTE_BALLOONED | PTE_TRACED | PTE_LATENT | PTE_ELSEWHERE)) != 0) return -ERR_PAGE_STATE;
    if ((e & PTE_POISONED) != 0) return 0;
    if (presentPrivate(e)) dropFrame(d, e);
    store<u64>(p, PTE_POISONED | keepAD(e));
    bumpCount(d, VM_POISONED_PAGES, 1);
    return 0;
  }
  if (op == OP_REPAIR || op == OP_MIGRATE) return replaceFrame(d, p, e, gfn, op, srcPtr);
  if (op == OP_BALLOON_HANDOVER || op == OP_DEFLATE_ONTO) return handover(d, p, e, gfn, op, arg);
  return protectionChange(d, p, e, op);
}

/** True when host frame `hfn` is a frame handed over by BALLOON_HANDOVER and not mapped or freed since. */
function isHandedOver(hfn: u64): bool {
  if (hfn == 0 || hfn >= <u64>maxFrames) return false;
  const m = metaAddr(<u32>hfn);
  return load<u16>(m, 4) == OWNER_HOST && (load<u16>(m, 6) & FRAME_HANDOVER) != 0;
}

/**
 * BALLOON_HANDOVER and DEFLATE_ONTO of the entry `e` at `p` (overcommit):
 * a ballooned page's frame leaves its VM for the host, and a handed-over
 * frame becomes another VM's page. The frame is zeroed before it is mapped,
 * so no byte of the VM it came from can be read through it.
 */
function handover(d: usize, p: usize, e: u64, gfn: u32, op: u32, arg: u64): i32 {
  if (op == OP_BALLOON_HANDOVER) {
    if ((e & PTE_STATE_BITS) != 0) return -ERR_PAGE_STATE;
    let hfn: u32 = 0;
    if (presentPrivate(e)) {
      hfn = pteFrame(e);
      const m = metaAddr(hfn);
      store<u32>(m, 0);
      store<u16>(m, OWNER_HOST, 4);
      store<u16>(m, FRAME_HANDOVER, 6);
      bumpCount(d, VM_PRIVATE_FRAMES, -1);
    }
    store<u64>(p, PTE_BALLOONED | keepAD(e) | PTE_D);
    bumpCount(d, VM_BALLOONED_PAGES, 1);
    return <i32>hfn;
  }
  if ((e & PTE_STATE_BITS) != PTE_BALLOONED || !isHandedOver(arg)) return -ERR_PAGE_STATE;
  const hfn = <u32>arg;
  memory.fill(frameAddr(hfn), 0, PAGE_SIZE);
  const m = metaAddr(hfn);
  store<u32>(m, gfn);
  store<u16>(m, <u16>load<u32>(d, VM_ID), 4);
  store<u16>(m, 0, 6);
  store<u64>(p, (<u64>hfn << 12) | PTE_LEAF_RW | keepAD(e) | PTE_D);
  bumpCount(d, VM_BALLOONED_PAGES, -1);
  bumpCount(d, VM_PRIVATE_FRAMES, 1);
  return <i32>hfn;
}

/**
 * REPAIR and MIGRATE of the entry `e` at `p`: the page gets a new frame
 * (filled from srcPtr, or for MIGRATE a copy of the old frame) and the old
 * frame is retired. Returns the new frame or -status (nothing changed).
 */
function replaceFrame(d: usize, p: usize, e: u64, gfn: u32, op: u32, srcPtr: usize): i32 {
  const poison = e & (PTE_POISONED | PTE_LATENT);
  const old = pteFrame(e);
  if (op == OP_REPAIR) {
    if (poison == 0 || old == 0 || srcPtr == 0 || (e & (PTE_STATE_BITS & ~poison)) != 0) return -ERR_PAGE_STATE;
  } else if (!presentPrivate(e) || (e & PTE_STATE_BITS) != 0) {
    return -ERR_PAGE_STATE;
  }
  const hfn = allocFrameUncleared(<u16>load<u32>(d, VM_ID), gfn, 0);
  if (hfn < 0) return hfn;
  memory.copy(frameAddr(<u32>hfn), op == OP_REPAIR ? srcPtr : frameAddr(old), PAGE_SIZE);
  retireFrame(old);
  const wp = e & PTE_WP;
  store<u64>(p, (<u64>hfn << 12) | (PTE_LEAF_RW & ~(wp != 0 ? PTE_W : 0)) | wp | keepAD(e));
  if (poison != 0) bumpCount(d, VM_POISONED_PAGES, -1);
  return hfn;
}

/** TRACE, UNTRACE, WRITE_PROTECT and UNPROTECT of the entry `e` at `p`. */
function protectionChange(d: usize, p: usize, e: u64, op: u32): i32 {
  let n = e;
  if (op == OP_TRACE) {
    if ((e & PTE_R) == 0) return -ERR_PAGE_STATE;
    n = (e | PTE_TRACED) & ~(PTE_R | PTE_W);
    bumpCount(d, VM_TRACED_PAGES, 1);
  } else if (op == OP_UNTRACE) {
    if ((e & PTE_TRACED) == 0) return -ERR_PAGE_STATE;
    n = (e & ~PTE_TRACED) | PTE_R;
    if ((n & (PTE_COW | PTE_WP)) == 0) n |= PTE_W;
    bumpCount(d, VM_TRACED_PAGES, -1);
  } else if (op == OP_WRITE_PROTECT) {
    if (e == 0) return -ERR_PAGE_STATE; // unpopulated: nothing to protect (first touch maps it writable)
    n = (e | PTE_WP) & ~PTE_W;
  } else if (op == OP_UNPROTECT) {
    if (e == 0) return -ERR_PAGE_STATE;
    n = e & ~PTE_WP;
    if ((n & (PTE_R | PTE_COW | PTE_TRACED)) == PTE_R) n |= PTE_W;
  } else {
    return -ERR_PAGE_STATE;
  }
  store<u64>(p, n);
  return n != e ? 1 : 0;
}

/**
 * Moves guest page `gfn` of VM `slot` by `op` (see the table above): `arg`
 * is the swap slot or the location for SWAP_OUT and MOVE_ELSEWHERE,
 * `srcPtr` the 4 KiB to fill the new frame with for BRING_BACK (0: zeros)
 * and REPAIR. Returns 0 (BRING_BACK, REPAIR, MIGRATE: the new frame;
 * protection ops: 1 when the entry changed), or -status; nothing changes on
 * failure.
 */
export function pageSetState(slot: u32, gfn: u32, op: u32, arg: u64, srcPtr: usize): i32 {
  const d = vmDesc(slot);
  if (<u64>gfn >= load<u64>(d, VM_GUEST_PAGES)) return -ERR_GFN_RANGE;
  if (op == OP_RELEASE_HANDOVER) {
    if (!isHandedOver(arg)) return -ERR_PAGE_STATE;
    freeFrame(<u32>arg);
    return 0;
  }
  // Only ballooning, a received poisoned page and a page placed elsewhere may apply to a page that was never populated.
  const create = op == OP_BALLOON || op == OP_BALLOON_HANDOVER || op == OP_POISON_NO_FRAME || op == OP_PLACE_ELSEWHERE;
  const p = leafEntry(d, <u64>gfn, create);
  if (p < 0) return <i32>p;
  if (p == 0) return -ERR_PAGE_STATE;
  return transition(d, <usize>p, load<u64>(<usize>p), gfn, op, arg, srcPtr);
}
