// The migration-stream kernels (assembly/stream.ts) for src/stream: the
// record packer, the validating unpacker and the poisoned-page walk, with
// their info and statistics blocks decoded into named fields.
import type { HvExports } from "./abi.js";
import { PACK_STATS, type StreamReason } from "./codes.js";
import type { Heap } from "./heap.js";

/** The info block after a stream kernel call. */
export interface StreamInfo {
  /** Why the call failed (StreamReason), 0 on success. */
  readonly reason: StreamReason | 0;
  /** Payload offset of the record (unpack) or list index (pack). */
  readonly offset: number;
  /** Record pfn, round or epoch, or the offending page. */
  readonly pfn: number;
  /** Record type (unpack: also the control record it stopped at). */
  readonly type: number;
  readonly length: number;
  /** Underlying kernel status (frame allocation), 0 if none. */
  readonly status: number;
  /** streamPoisonList: the first pfn not scanned yet. */
  readonly nextPfn: number;
  /** streamUnpack validating only: frames applying the records could take at most. */
  readonly framesNeeded: number;
}

/** The pack statistics block, by name. */
export type PackCounters = Record<(typeof PACK_STATS)[number], number>;

export class StreamKernels {
  readonly #e: HvExports;
  readonly #heap: Heap;

  constructor(exports: HvExports, heap: Heap) {
    this.#e = exports;
    this.#heap = heap;
  }

  /**
   * Packs records for the `count` pfns at listPtr into outPtr (at most
   * `capacity` bytes); returns the pfns consumed, or -1 (see info()).
   * The cache areas and slots are the XBZRLE page cache (0 slots: none).
   * `hashStatePtr` (0: none) is the payload's streaming checksum state
   * (hashBegin): outPtr must then be where the payload ends so far.
   */
  pack(slot: number, listPtr: number, count: number, outPtr: number, capacity: number,
    cacheMetaPtr: number, cachePagesPtr: number, cacheSlots: number, stage: number, generation: number, hashStatePtr = 0): number {
    return this.#e.streamPack(slot, listPtr, count, outPtr, capacity, cacheMetaPtr, cachePagesPtr, cacheSlots, stage, generation >>> 0, hashStatePtr);
  }

  /** Starts the streaming XXH3-64 of a payload written from basePtr on, state (XXH3_STREAM_STATE_BYTES) at statePtr. */
  hashBegin(statePtr: number, basePtr: number): void {
    this.#e.xxh3StreamBegin(statePtr, basePtr);
  }

  /** Copies the page at srcPtr to dstPtr, the end of the payload so far, hashing it on the way. */
  hashCopyPage(statePtr: number, dstPtr: number, srcPtr: number): void {
    this.#e.xxh3StreamCopyPage(statePtr, dstPtr, srcPtr);
  }

  /** XXH3-64 of the `len`-byte payload at basePtr: equal to pages.xxh3(basePtr, len) (a state begun elsewhere is ignored). */
  hashFinish(statePtr: number, basePtr: number, len: number): bigint {
    return BigInt.asUintN(64, this.#e.xxh3StreamFinish(statePtr, basePtr, len));
  }

  /** The statistics of the last pack call. */
  packCounters(): PackCounters {
    const at = this.#e.getPackStatsPtr() >>> 0;
    const view = this.#heap.view;
    return Object.fromEntries(PACK_STATS.map((name, i) => [name, view.getUint32(at + i * 4, true)])) as PackCounters;
  }

  /**
   * Validates (and unless UNPACK_VALIDATE_ONLY is in `flags`, applies) the
   * records of the `len`-byte payload at ptr from `offset`; returns where it
   * stopped (a control record's offset, or len), or -1 (see info()).
   */
  unpack(slot: number, ptr: number, len: number, offset: number, flags: number, tablePtr = 0): number {
    return this.#e.streamUnpack(slot, ptr, len, offset, flags, tablePtr);
  }

  /** Lists poisoned pfns (PSN or LAT) from `fromPfn` at outPtr, at most `max`; info().nextPfn continues. */
  poisonList(slot: number, outPtr: number, max: number, fromPfn: number): number {
    return this.#e.streamPoisonList(slot, outPtr, max, fromPfn) >>> 0;
  }

  /** The info block of the last call. */
  info(): StreamInfo {
    const at = this.#e.getStreamInfoPtr() >>> 0;
    const v = this.#heap.view;
    return {
      reason: v.getUint32(at, true) as StreamReason | 0, offset: v.getUint32(at + 4, true), pfn: v.getUint32(at + 8, true),
      type: v.getUint32(at + 12, true), length: v.getUint32(at + 16, true), status: v.getInt32(at + 20, true),
      nextPfn: v.getUint32(at + 24, true), framesNeeded: v.getUint32(at + 28, true),
    };
  }
}
