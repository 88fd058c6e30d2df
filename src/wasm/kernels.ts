// The adapter: one wasm instance, its Heap and its layout, with a typed method
// per export. Domain code (src/host, src/migration...) calls these, never the
// exports. Methods take byte offsets into linear memory; statuses are checked.
import { check, ErrorCode, HypermemError } from "../errors.js";
import type { HvExports } from "./abi.js";
import { Heap } from "./heap.js";
import { instantiate } from "./loader.js";

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
/** Bytes of one frame's metadata (assembly/layout.ts). */
export const FRAME_META_BYTES = 16;
/** Bytes of a VM descriptor and a workload descriptor (assembly/layout.ts). */
export const VM_DESC_BYTES = 64;
export const WORKLOAD_DESC_BYTES = 128;
export const WORKLOAD_SLOTS_OFFSET = 16 << 10;
export const MAX_VMS = 255;
export const MAX_WORKLOADS = 256;
/** Bytes of one access record (assembly/mmu.ts). */
export const ACCESS_BYTES = 16;
/** u32 words of the pack statistics block (assembly/stream.ts). */
export const PACK_STATS_WORDS = 12;
const FOUR_GIB = 2 ** 32;
const CTRL_BYTES = 64 << 10;

/** The info block of the stream kernels (assembly/stream.ts). */
export interface StreamKernelInfo {
  /** REASON_* of the failure, 0 on success. */
  readonly reason: number;
  /** Payload offset of the record (unpack) or list index (pack). */
  readonly offset: number;
  readonly pfn: number;
  readonly type: number;
  readonly length: number;
  /** Underlying kernel status (frame allocation), 0 if none. */
  readonly status: number;
  readonly digest: bigint;
  readonly poisoned: number;
  readonly nextPfn: number;
}

export interface KernelLayout {
  readonly ctrlBase: number;
  readonly scratchBase: number;
  readonly scratchBytes: number;
  readonly metaBase: number;
  readonly frameBase: number;
  readonly maxFrames: number;
}

/** The most frames that fit in one 4 GiB wasm memory after the fixed regions. */
export function maxFramesFor(scratchBytes: number): number {
  const fixed = 2 * CTRL_BYTES + scratchBytes + 0x10000;
  return Math.floor((FOUR_GIB - fixed) / (PAGE_SIZE + FRAME_META_BYTES));
}

export class Kernels {
  readonly exports: HvExports;
  readonly heap: Heap;
  readonly layout: KernelLayout;

  constructor(scratchBytes: number, maxFrames: number) {
    this.exports = instantiate();
    this.heap = new Heap(this.exports.memory);
    check(this.exports.init(scratchBytes, maxFrames), "init", { scratchBytes, maxFrames });
    const e = this.exports;
    this.layout = Object.freeze({
      ctrlBase: e.getCtrlBase() >>> 0,
      scratchBase: e.getScratchBase() >>> 0,
      scratchBytes: e.getScratchBytes() >>> 0,
      metaBase: e.getMetaBase() >>> 0,
      frameBase: e.getFrameBase() >>> 0,
      maxFrames: e.getMaxFrames() >>> 0,
    });
  }

  /** Byte address of host frame `hfn`. */
  frameAddr(hfn: number): number { return this.layout.frameBase + hfn * PAGE_SIZE; }

  /** Scratch region of at least `bytes`, or a typed error. */
  scratch(bytes: number): number {
    if (bytes > this.layout.scratchBytes) {
      throw new HypermemError(ErrorCode.Length, `request of ${bytes} bytes exceeds the ${this.layout.scratchBytes}-byte kernel scratch`, { bytes });
    }
    return this.layout.scratchBase;
  }

  // Frames.
  allocFrame(owner: number, gfn: number, flags: number): number {
    return check(this.exports.allocFrame(owner, gfn, flags), "allocFrame", { owner, gfn });
  }
  /** `count` contiguous zeroed frames for host buffers; returns the byte address. */
  allocBuffer(bytes: number): number {
    const count = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    return this.frameAddr(check(this.exports.allocContiguous(count), "allocContiguous", { frames: count }));
  }
  freeFrame(hfn: number): void { this.exports.freeFrame(hfn); }
  /** Returns the frames of a buffer from allocBuffer to the free list. */
  freeBuffer(ptr: number, bytes: number): void {
    const first = (ptr - this.layout.frameBase) / PAGE_SIZE;
    const count = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    for (let i = 0; i < count; i++) this.exports.freeFrame(first + i);
  }
  get usedFrames(): number { return this.exports.getUsedFrames() >>> 0; }
  get peakUsedFrames(): number { return this.exports.getPeakUsedFrames() >>> 0; }
  get freeFrames(): number { return this.exports.getFreeFrames() >>> 0; }

  // Nested page tables and MMU.
  vmInit(slot: number, vmId: number, guestPages: number): void {
    check(this.exports.vmInit(slot, vmId, BigInt(guestPages)), "vmInit", { vmId, guestPages });
  }
  vmDestroy(slot: number): number { return this.exports.vmDestroy(slot) >>> 0; }
  nptLookup(slot: number, gfn: number): bigint { return this.exports.nptLookup(slot, gfn); }
  nptSet(slot: number, gfn: number, pte: bigint): void { check(this.exports.nptSet(slot, gfn, pte), "nptSet", { gfn }); }
  nptPopulate(slot: number, gfn: number, write: boolean): number {
    return check(this.exports.nptPopulate(slot, gfn, write ? 1 : 0), "populate", { gfn });
  }
  nptBreakCow(slot: number, gfn: number): number { return check(this.exports.nptBreakCow(slot, gfn), "breakCow", { gfn }); }
  mmuRun(slot: number, batchPtr: number, start: number, end: number): number {
    return this.exports.mmuRun(slot, batchPtr, start, end) >>> 0;
  }
  get faultReason(): number { return this.exports.getFaultReason(); }
  get faultGpa(): number { return Number(this.exports.getFaultGpa()); }
  get readChecksum(): bigint { return this.exports.getReadChecksum(); }
  get writeCount(): number { return Number(this.exports.getWriteCount()); }
  harvestBit(slot: number, bitmapPtr: number, bit: number): number { return this.exports.harvestBit(slot, bitmapPtr, bit) >>> 0; }
  ptesUpdate(slot: number, bitmapPtr: number, mode: number): number { return this.exports.ptesUpdate(slot, bitmapPtr, mode) >>> 0; }

  /** Page hashes (XXH64; zero-page hash for unbacked pages; a marker for poisoned ones) to outPtr; returns poisoned count. */
  vmPageHashes(slot: number, firstPfn: number, count: number, outPtr: number): number {
    return this.exports.vmPageHashes(slot, firstPfn, count, outPtr) >>> 0;
  }

  // Bitmaps.
  bitmapScan(bitmapPtr: number, words: number, outPtr: number): number { return this.exports.bitmapScan(bitmapPtr, words, outPtr) >>> 0; }
  bitmapCount(bitmapPtr: number, words: number): number { return this.exports.bitmapCount(bitmapPtr, words) >>> 0; }
  bitmapOr(dstPtr: number, srcPtr: number, words: number): void { this.exports.bitmapOr(dstPtr, srcPtr, words); }
  bitmapAndNot(dstPtr: number, srcPtr: number, words: number): void { this.exports.bitmapAndNot(dstPtr, srcPtr, words); }

  // Page kernels.
  pageCopy(dstPtr: number, srcPtr: number, len: number): void { this.exports.pageCopy(dstPtr, srcPtr, len); }
  isZeroPage(ptr: number, len: number): boolean { return this.exports.isZeroPage(ptr, len) !== 0; }
  pageCompare(aPtr: number, bPtr: number, len: number): number { return this.exports.pageCompare(aPtr, bPtr, len); }
  xorParity(dstPtr: number, listPtr: number, k: number, len: number): void { this.exports.xorParity(dstPtr, listPtr, k, len); }
  hash64(ptr: number, len: number, seed = 0n): bigint { return BigInt.asUintN(64, this.exports.hash64(ptr, len, seed)); }
  hashPages(srcPtr: number, pageBytes: number, count: number, outPtr: number): void { this.exports.hashPages(srcPtr, pageBytes, count, outPtr); }
  /** XXH3-64 (seed 0) of `len` bytes at `ptr`: the stream's chunk checksum and digest page hash. */
  xxh3(ptr: number, len: number): bigint { return BigInt.asUintN(64, this.exports.xxh3(ptr, len)); }
  xbzrleEncode(oldPtr: number, newPtr: number, slen: number, dstPtr: number, dlen: number): number {
    return this.exports.xbzrleEncode(oldPtr, newPtr, slen, dstPtr, dlen);
  }
  xbzrleDecode(srcPtr: number, slen: number, dstPtr: number, dlen: number): number {
    return this.exports.xbzrleDecode(srcPtr, slen, dstPtr, dlen);
  }

  // Workloads.
  workloadInit(descPtr: number, kind: number, seed: bigint, firstPage: number, pageCount: number,
    writeFraction: number, accessBytes: number, p1: number, p2: number): void {
    check(this.exports.workloadInit(descPtr, kind, seed, BigInt(firstPage), BigInt(pageCount), writeFraction, accessBytes, p1, p2), "workloadInit", { kind });
  }
  workloadGenerate(descPtr: number, outPtr: number, count: number): void { this.exports.workloadGenerate(descPtr, outPtr, count); }
  traceValidate(ptr: number, count: number, guestPages: number): number {
    return this.exports.traceValidate(ptr, count, BigInt(guestPages)) >>> 0;
  }

  // Migration stream (assembly/stream.ts). Failures return -1 with the reason in streamInfo().
  /** Packs records for the pfns at listPtr; returns pfns consumed or -1 (see streamInfo / packStats). */
  streamPack(slot: number, listPtr: number, count: number, outPtr: number, capacity: number,
    cacheMetaPtr: number, cachePagesPtr: number, cacheSlots: number, stage: number, generation: number): number {
    return this.exports.streamPack(slot, listPtr, count, outPtr, capacity, cacheMetaPtr, cachePagesPtr, cacheSlots, stage, generation >>> 0);
  }
  /**
   * Validates and applies records from payload offset `offset`; returns where
   * it stopped, or -1. With a digest table (`tablePtr` != 0, see
   * streamDigestTableInit) it records the hash of every page it writes.
   */
  streamUnpack(slot: number, ptr: number, len: number, offset: number, allowXbzrle: boolean, tablePtr = 0): number {
    return this.exports.streamUnpack(slot, ptr, len, offset, allowXbzrle ? 1 : 0, tablePtr);
  }
  /** Guest-memory digest of VM `slot`, page hashes read from a digest table if given; or -1 (a swapped-out page; see streamInfo). */
  streamDigest(slot: number, tablePtr = 0): number { return this.exports.streamDigest(slot, tablePtr); }
  /** Fills a digest table (8 bytes per guest page) for a guest with nothing received yet. */
  streamDigestTableInit(tablePtr: number, pages: number): void { this.exports.streamDigestTableInit(tablePtr, pages); }
  /** Lists poisoned pfns (PSN or LAT) from `fromPfn` at outPtr, at most `max`; streamInfo().nextPfn continues. */
  streamPoisonList(slot: number, outPtr: number, max: number, fromPfn: number): number {
    return this.exports.streamPoisonList(slot, outPtr, max, fromPfn) >>> 0;
  }
  /** The stream kernels' info block (assembly/stream.ts). */
  streamInfo(): StreamKernelInfo {
    const at = this.exports.getStreamInfoPtr() >>> 0;
    const v = this.heap.view;
    return {
      reason: v.getUint32(at, true), offset: v.getUint32(at + 4, true), pfn: v.getUint32(at + 8, true),
      type: v.getUint32(at + 12, true), length: v.getUint32(at + 16, true), status: v.getInt32(at + 20, true),
      digest: v.getBigUint64(at + 24, true), poisoned: v.getUint32(at + 32, true), nextPfn: v.getUint32(at + 36, true),
    };
  }
  /** Copy of the pack statistics block of the last streamPack (PACK_STATS_WORDS u32). */
  packStats(): Uint32Array {
    const at = this.exports.getPackStatsPtr() >>> 0;
    return new Uint32Array(this.heap.u8.slice(at, at + PACK_STATS_WORDS * 4).buffer);
  }
}
