// The ABI of the hypermem wasm module: every export, in one place. Only
// src/wasm/ calls these. Pointers are byte offsets into linear memory;
// negative i32 results are -status (assembly/status.ts).
import { computeLayout, ctrlBase, frameBase, maxFrames, metaBase, scratchBase, scratchBytes } from "./layout";
import { allocContiguous, allocFrame, bumpFrame, ensureMemory, freeCount, freeFrame, initFrames, peakUsedFrames, usedFrames } from "./frames";
import * as pte from "./pte";
import * as status from "./status";
import { faultGpa, faultIndex, faultReason, readChecksum, writeCount } from "./mmu";
import * as stream from "./stream";

export { vmInit, vmDestroy, nptLookup, nptSet, nptPopulate, nptBreakCow } from "./npt";
export { mmuRun } from "./mmu";
export { harvestBit, ptesUpdate } from "./harvest";
export { bitmapScan, bitmapCount, bitmapOr, bitmapAndNot } from "./bitmap";
export { pageCopy, isZeroPage, pageCompare } from "./page";
export { xorParity } from "./parity";
export { hash64, hashPages } from "./hash";
export { xxh3 } from "./xxh3";
export { xbzrleEncode, xbzrleDecode } from "./xbzrle";
export { workloadInit, workloadGenerate, traceValidate } from "./workload";
export { streamPack, streamUnpack, streamDigest, streamDigestTableInit, streamPoisonList, getStreamInfoPtr, getPackStatsPtr } from "./stream";
export { vmPageHashes } from "./verify";
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

// Constants mirrored by src/host/pte.ts, src/host/fault.ts and src/errors.ts (test/abi.test.ts).
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
export const ABI_FAULT_NOT_PRESENT: u32 = pte.FAULT_NOT_PRESENT;
export const ABI_FAULT_WRITE_PROTECT: u32 = pte.FAULT_WRITE_PROTECT;
export const ABI_FAULT_COW: u32 = pte.FAULT_COW;
export const ABI_FAULT_POISONED: u32 = pte.FAULT_POISONED;
export const ABI_FAULT_TRACED: u32 = pte.FAULT_TRACED;
export const ABI_FAULT_SWAPPED: u32 = pte.FAULT_SWAPPED;
export const ABI_FAULT_BALLOONED: u32 = pte.FAULT_BALLOONED;
export const ABI_FAULT_BAD_ACCESS: u32 = pte.FAULT_BAD_ACCESS;
export const ABI_ERR_OUT_OF_FRAMES: i32 = status.ERR_OUT_OF_FRAMES;
export const ABI_ERR_MEMORY_GROW: i32 = status.ERR_MEMORY_GROW;
export const ABI_ERR_GFN_RANGE: i32 = status.ERR_GFN_RANGE;
export const ABI_ERR_PAGE_STATE: i32 = status.ERR_PAGE_STATE;
export const ABI_ERR_BAD_ACCESS: i32 = status.ERR_BAD_ACCESS;
// Migration stream constants, mirrored by src/migration/stream-format.ts (test/stream.test.ts).
export const ABI_REC_PAGE: u32 = stream.REC_PAGE;
export const ABI_REC_ZERO: u32 = stream.REC_ZERO;
export const ABI_REC_XBZRLE: u32 = stream.REC_XBZRLE;
export const ABI_REC_POISON: u32 = stream.REC_POISON;
export const ABI_REC_END_ROUND: u32 = stream.REC_END_ROUND;
export const ABI_REC_END_STREAM: u32 = stream.REC_END_STREAM;
export const ABI_REC_HEADER_BYTES: u32 = stream.REC_HEADER_BYTES;
export const ABI_MAX_RECORD_BYTES: u32 = stream.MAX_RECORD_BYTES;
export const ABI_STREAM_POISON_MARK: u64 = stream.POISON_MARK;
