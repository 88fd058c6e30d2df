// The ABI of the hypermem wasm module: every export, in one place. Only
// src/wasm/ calls these. Pointers are byte offsets into linear memory;
// negative i32 results are -status (assembly/status.ts).
import { computeLayout, ctrlBase, frameBase, maxFrames, metaBase, scratchBase, scratchBytes } from "./layout";
import { allocContiguous, allocFrame, bumpFrame, ensureMemory, freeCount, freeFrame, initFrames, peakUsedFrames, usedFrames } from "./frames";
import * as pte from "./pte";
import * as status from "./status";
import * as layout from "./layout";
import * as mmu from "./mmu";
import { faultGpa, faultIndex, faultReason, readChecksum, writeCount } from "./mmu";
import * as npt from "./npt";
import * as pageState from "./page-state";
import * as stream from "./stream";
import { POISON_MARK } from "./fingerprint";
import { XXH3_STREAM_STATE_BYTES } from "./xxh3";

export { vmInit, vmDestroy, nptLookup, nptSet, nptPopulate, nptBreakCow, nptTablesNeeded } from "./npt";
export { mmuRun } from "./mmu";
export { harvestBit, ptesUpdate } from "./harvest";
export { bitmapScan, bitmapCount, bitmapOr, bitmapAndNot } from "./bitmap";
export { pageCopy, isZeroPage, pageCompare } from "./page";
export { xorParity } from "./parity";
export { hash64, hashPages } from "./hash";
export { xxh3 } from "./xxh3";
// Migration stream (issue 18): the chunk checksum hashed while the packer writes the payload.
export { xxh3StreamBegin, xxh3StreamCopyPage, xxh3StreamFinish } from "./xxh3";
export { xbzrleEncode, xbzrleDecode } from "./xbzrle";
export { workloadInit, workloadGenerate, traceValidate } from "./workload";
export { streamPack, streamUnpack, streamPoisonList, getStreamInfoPtr, getPackStatsPtr } from "./stream";
export { pageSetState } from "./page-state";
export { pageFingerprints, getFingerprintPoisoned, digestStart, digestFold, digestFinish, fingerprintTableInit } from "./fingerprint";
export { allocFrame, allocContiguous, freeFrame };

/**
 * Lays out memory for `frames` host frames after a `scratch`-byte scratch
 * region, and grows memory to hold the zero frame. Returns 0 or -status.
 */
export function init(scratch: u32, frames: u32): i32 {
  const st = ensureMemory(computeLayout(scratch, frames));
  if (st < 0) return st;
  initFrames();
  return 0;
}

export function getCtrlBase(): usize { return ctrlBase; }
export function getScratchBase(): usize { return scratchBase; }
export function getScratchBytes(): usize { return scratchBytes; }
export function getMetaBase(): usize { return metaBase; }
export function getFrameBase(): usize { return frameBase; }
export function getMaxFrames(): u32 { return maxFrames; }
export function getUsedFrames(): u32 { return usedFrames; }
export function getPeakUsedFrames(): u32 { return peakUsedFrames; }
export function getFreeFrames(): u32 { return freeCount; }
export function getBumpFrame(): u32 { return bumpFrame; }
export function getFaultReason(): u32 { return faultReason; }
export function getFaultIndex(): u32 { return faultIndex; }
export function getFaultGpa(): u64 { return faultGpa; }
export function getReadChecksum(): u64 { return readChecksum; }
export function getWriteCount(): u64 { return writeCount; }

// Constants mirrored by src/wasm/codes.ts (test/abi.test.ts checks every one).
export const ABI_PTE_R: u64 = pte.PTE_R;
export const ABI_PTE_W: u64 = pte.PTE_W;
export const ABI_PTE_X: u64 = pte.PTE_X;
export const ABI_PTE_MT_WB: u64 = pte.PTE_MT_WB;
export const ABI_PTE_A: u64 = pte.PTE_A;
export const ABI_PTE_D: u64 = pte.PTE_D;
export const ABI_PTE_COW: u64 = pte.PTE_COW;
export const ABI_PTE_FRAME_MASK: u64 = pte.PTE_FRAME_MASK;
export const ABI_PTE_SWAPPED: u64 = pte.PTE_SWAPPED;
export const ABI_PTE_BALLOONED: u64 = pte.PTE_BALLOONED;
export const ABI_PTE_POISONED: u64 = pte.PTE_POISONED;
export const ABI_PTE_TRACED: u64 = pte.PTE_TRACED;
export const ABI_PTE_WP: u64 = pte.PTE_WP;
export const ABI_PTE_LATENT: u64 = pte.PTE_LATENT;
export const ABI_PTE_ELSEWHERE: u64 = pte.PTE_ELSEWHERE;
export const ABI_FAULT_NOT_PRESENT: u32 = pte.FAULT_NOT_PRESENT;
export const ABI_FAULT_WRITE_PROTECT: u32 = pte.FAULT_WRITE_PROTECT;
export const ABI_FAULT_COW: u32 = pte.FAULT_COW;
export const ABI_FAULT_POISONED: u32 = pte.FAULT_POISONED;
export const ABI_FAULT_TRACED: u32 = pte.FAULT_TRACED;
export const ABI_FAULT_SWAPPED: u32 = pte.FAULT_SWAPPED;
export const ABI_FAULT_BALLOONED: u32 = pte.FAULT_BALLOONED;
export const ABI_FAULT_BAD_ACCESS: u32 = pte.FAULT_BAD_ACCESS;
export const ABI_FAULT_ELSEWHERE: u32 = pte.FAULT_ELSEWHERE;
export const ABI_ERR_OUT_OF_FRAMES: i32 = status.ERR_OUT_OF_FRAMES;
export const ABI_ERR_MEMORY_GROW: i32 = status.ERR_MEMORY_GROW;
export const ABI_ERR_GFN_RANGE: i32 = status.ERR_GFN_RANGE;
export const ABI_ERR_PAGE_STATE: i32 = status.ERR_PAGE_STATE;
export const ABI_ERR_BAD_ACCESS: i32 = status.ERR_BAD_ACCESS;
export const ABI_ACCESS_BYTES: u32 = mmu.ACCESS_BYTES;
export const ABI_OP_WRITE: u32 = mmu.OP_WRITE;
export const ABI_FRAME_META_BYTES: u32 = layout.FRAME_META_BYTES;
export const ABI_VM_DESC_BYTES: u32 = layout.VM_DESC_BYTES;
export const ABI_MAX_VMS: u32 = layout.MAX_VMS;
export const ABI_WORKLOAD_SLOTS_OFFSET: u32 = layout.WORKLOAD_SLOTS_OFFSET;
export const ABI_WORKLOAD_DESC_BYTES: u32 = layout.WORKLOAD_DESC_BYTES;
export const ABI_MAX_WORKLOADS: u32 = layout.MAX_WORKLOADS;
export const ABI_VM_ROOT: u32 = npt.VM_ROOT;
export const ABI_VM_TABLE_FRAMES: u32 = npt.VM_TABLE_FRAMES;
export const ABI_VM_PRIVATE_FRAMES: u32 = npt.VM_PRIVATE_FRAMES;
export const ABI_VM_SWAPPED_PAGES: u32 = npt.VM_SWAPPED_PAGES;
export const ABI_VM_BALLOONED_PAGES: u32 = npt.VM_BALLOONED_PAGES;
export const ABI_VM_POISONED_PAGES: u32 = npt.VM_POISONED_PAGES;
export const ABI_VM_TRACED_PAGES: u32 = npt.VM_TRACED_PAGES;
export const ABI_VM_ELSEWHERE_PAGES: u32 = npt.VM_ELSEWHERE_PAGES;
export const ABI_OP_SWAP_OUT: u32 = pageState.OP_SWAP_OUT;
export const ABI_OP_MOVE_ELSEWHERE: u32 = pageState.OP_MOVE_ELSEWHERE;
export const ABI_OP_BRING_BACK: u32 = pageState.OP_BRING_BACK;
export const ABI_OP_BALLOON: u32 = pageState.OP_BALLOON;
export const ABI_OP_DEFLATE: u32 = pageState.OP_DEFLATE;
export const ABI_OP_POISON: u32 = pageState.OP_POISON;
export const ABI_OP_POISON_LATENT: u32 = pageState.OP_POISON_LATENT;
export const ABI_OP_REPORT_LATENT: u32 = pageState.OP_REPORT_LATENT;
export const ABI_OP_POISON_NO_FRAME: u32 = pageState.OP_POISON_NO_FRAME;
export const ABI_OP_TRACE: u32 = pageState.OP_TRACE;
export const ABI_OP_UNTRACE: u32 = pageState.OP_UNTRACE;
export const ABI_OP_WRITE_PROTECT: u32 = pageState.OP_WRITE_PROTECT;
export const ABI_OP_UNPROTECT: u32 = pageState.OP_UNPROTECT;
export const ABI_REC_PAGE: u32 = stream.REC_PAGE;
export const ABI_REC_ZERO: u32 = stream.REC_ZERO;
export const ABI_REC_XBZRLE: u32 = stream.REC_XBZRLE;
export const ABI_REC_POISON: u32 = stream.REC_POISON;
export const ABI_REC_END_ROUND: u32 = stream.REC_END_ROUND;
export const ABI_REC_END_STREAM: u32 = stream.REC_END_STREAM;
export const ABI_REC_COMMIT: u32 = stream.REC_COMMIT;
export const ABI_REC_HEADER_BYTES: u32 = stream.REC_HEADER_BYTES;
export const ABI_MAX_RECORD_BYTES: u32 = stream.MAX_RECORD_BYTES;
export const ABI_END_STREAM_BYTES: u32 = stream.END_STREAM_BYTES;
export const ABI_STAGE_BULK: u32 = stream.STAGE_BULK;
export const ABI_STAGE_ITERATE: u32 = stream.STAGE_ITERATE;
export const ABI_STAGE_FINAL: u32 = stream.STAGE_FINAL;
export const ABI_STAGE_NO_ZERO_DETECTION: u32 = stream.STAGE_NO_ZERO_DETECTION;
export const ABI_UNPACK_XBZRLE: u32 = stream.UNPACK_XBZRLE;
export const ABI_UNPACK_VALIDATE_ONLY: u32 = stream.UNPACK_VALIDATE_ONLY;
export const ABI_REASON_PFN_RANGE: u32 = stream.REASON_PFN_RANGE;
export const ABI_REASON_FLAGS: u32 = stream.REASON_FLAGS;
export const ABI_REASON_PAGE_STATE: u32 = stream.REASON_PAGE_STATE;
export const ABI_REASON_OUT_OF_FRAMES: u32 = stream.REASON_OUT_OF_FRAMES;
export const ABI_REASON_NOT_RESIDENT: u32 = stream.REASON_NOT_RESIDENT;
export const ABI_PACK_STATS_WORDS: u32 = stream.PACK_STATS_WORDS;
export const ABI_POISON_MARK: u64 = POISON_MARK;
export const ABI_XXH3_STREAM_STATE_BYTES: u32 = XXH3_STREAM_STATE_BYTES;

// ras (memory-error recovery): frames retired before first use, frame flags
// (clean-backed), retirement of a host-owned frame, and the page-state
// operations that move a page off a bad frame.
export { reserveFrame, retireFrame, frameUpdateFlags } from "./frames";
export const ABI_OP_REPAIR: u32 = pageState.OP_REPAIR;
export const ABI_OP_MIGRATE: u32 = pageState.OP_MIGRATE;
// snapshot (issue 14): the page-state move of a lazily restored page, and
// whole pages copied between a VM and linear memory (assembly/guest-pages.ts).
export const ABI_OP_PLACE_ELSEWHERE: u32 = pageState.OP_PLACE_ELSEWHERE;
export { guestPagesRead, guestPagesCheck, guestPagesWrite, getGuestPagesRefused } from "./guest-pages";
// checkpoint (issue 11): the pause copy, guest pages gathered by a pfn list
// into one buffer (assembly/gather.ts).
export { gatherPages } from "./gather";
// tiers (issue 20): the page-state move that rewrites where an elsewhere
// page's contents live (the NVM purge without virtblocks rewrites mappings).
export const ABI_OP_RELOCATE_ELSEWHERE: u32 = pageState.OP_RELOCATE_ELSEWHERE;
// overcommit (issue 15): page-state moves that hand a ballooned page's frame
// to another VM (assembly/page-state.ts), and the frame flag they use.
export const ABI_OP_BALLOON_HANDOVER: u32 = pageState.OP_BALLOON_HANDOVER;
export const ABI_OP_DEFLATE_ONTO: u32 = pageState.OP_DEFLATE_ONTO;
export const ABI_OP_RELEASE_HANDOVER: u32 = pageState.OP_RELEASE_HANDOVER;
export const ABI_FRAME_HANDOVER: u16 = layout.FRAME_HANDOVER;
// overcommit (issue 15): balloon moves by the list (assembly/balloon.ts):
// the driver's clock sweep, BALLOON_HANDOVER, DEFLATE_ONTO / DEFLATE and
// RELEASE_HANDOVER over a pfn or frame list in one call.
export { balloonSweep, balloonTake, balloonGive, balloonRelease, balloonFreeFirst, bitmapFirst, getBalloonFailedAt, getBalloonHand } from "./balloon";
import * as balloon from "./balloon";
export const ABI_BALLOON_DATA_BIT: u32 = balloon.DATA_BIT;
export const ABI_BALLOON_NO_PFN: u32 = balloon.NO_PFN;
// remote (issue 20): XXH3-64 of a run of pages in one call, the page
// checksum of the region, baseline and dirty-list formats version 2.
export { xxh3Pages } from "./page-hashes";
// swap (issue 16): swapped pages brought back from bytes read into linear
// memory, each hashed in place and checked first (assembly/swap-in.ts).
export { swapInVerified } from "./swap-in";
