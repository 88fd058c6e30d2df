// PagePacker: the source side of the page-record stream (migration,
// checkpoints, snapshots). Pages are packed into records by the wasm kernel
// streamPack (one call per chunk, no per-page JS), framed into checksummed
// chunks here; the kernel hashes each page into the chunk's checksum as it
// copies it (streaming XXH3-64 in a state area behind each output buffer),
// so the payload is not read again to checksum it. Poisoned pages go out as
// POISON records and their bytes are never read; a latent error the packer
// meets is made known on the source, as a guest access would; a page that
// lives elsewhere (swapped, remote) is brought back through the VM's page
// hook first (docs/migration-stream.md).
import { ErrorCode, HypermemError } from "../errors.js";
import { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { rejectUnknown, requireInt } from "../options.js";
import { PAGE_SIZE, STAGE_NO_ZERO_DETECTION, Stage, StreamReason, XXH3_STREAM_STATE_BYTES } from "../wasm/codes.js";
import type { Kernels } from "../wasm/kernels.js";
import { guestDigest } from "./fingerprints.js";
import {
  CHUNK_HEADER_BYTES, END_STREAM_BYTES, FLAG_XBZRLE, MAX_CHUNK_PAYLOAD, RECORD_HEADER_BYTES, RecordType,
  checksumOf, encodeHeader, frameChunk, writeChunkHeader, writeRecordHeader,
} from "./format.js";

export type PackStage = "bulk" | "iterate" | "final";

/** What one packChunk call (or a packer's whole life, see totals) sent. QEMU `info migrate` names in brackets. */
export interface PackStats {
  /** Page records written: zero + normal + XBZRLE + poisoned (skipped unchanged pages are not records). */
  pages: number;
  /** ZERO records [duplicate]. */
  zeroPages: number;
  /** PAGE records [normal]. */
  normalPages: number;
  /** Page bytes in PAGE records [normal bytes]. */
  normalBytes: number;
  /** XBZRLE records [xbzrle pages]. */
  xbzrlePages: number;
  /** Encoded bytes in XBZRLE records (payloads only) [xbzrle bytes]. */
  xbzrleBytes: number;
  /** Pages looked up in the cache and not found [cache miss]. */
  xbzrleCacheMiss: number;
  /** Hits whose encoding did not fit in 4095 bytes, sent as PAGE [overflow]. */
  xbzrleOverflow: number;
  /** Hits identical to the cached copy: consumed, nothing sent. */
  xbzrleUnchanged: number;
  /** POISON records (known errors and latent ones found). */
  poisonedPages: number;
  /** Latent errors the exception-safe read found (now known on the source). */
  latentFound: number;
  /** Bytes on the wire: chunk headers and payloads (plus the stream header in totals). */
  wireBytes: number;
}

export interface PagePackerOptions {
  /** XBZRLE page cache size in bytes: a power-of-two number of 4 KiB pages, or null for no XBZRLE. */
  xbzrleCacheBytes: number | null;
  /**
   * Return packChunk's chunks as views of output buffers the packer owns in
   * the source host (no copy). A view stays valid until `chunkBuffers` more
   * chunks have been packed: a sender may keep that many in flight, then
   * must be done with the oldest before the next packChunk. @default false
   */
  borrowChunks?: boolean;
  /** Output buffers for borrowed chunks (about 1 MiB each), 1..16. @default 1 */
  chunkBuffers?: number;
  /** Send all-zero pages as 8-byte ZERO records; false sends them whole (QEMU zero-page-detection=none). @default true */
  zeroPageDetection?: boolean;
}

export interface PackResult {
  /** List entries consumed (sent, or skipped as unchanged); continue from start + consumed. */
  readonly consumed: number;
  /** One framed chunk (its length is its wire size), or null when nothing had to be sent. */
  readonly chunk: Uint8Array | null;
  readonly stats: PackStats;
}

export function emptyPackStats(): PackStats {
  return {
    pages: 0, zeroPages: 0, normalPages: 0, normalBytes: 0, xbzrlePages: 0, xbzrleBytes: 0,
    xbzrleCacheMiss: 0, xbzrleOverflow: 0, xbzrleUnchanged: 0, poisonedPages: 0, latentFound: 0, wireBytes: 0,
  };
}

/** Adds every counter of `s` into `into`. */
export function addStats(into: PackStats, s: PackStats): void {
  for (const key of Object.keys(into) as (keyof PackStats)[]) into[key] += s[key];
}

/** Largest cache: the host's memory bounds it anyway; this keeps slots and sizes in u32. */
const MAX_CACHE_PAGES = 1 << 20;
/** Pfns per call of the poison list kernel. */
const POISON_LIST_BATCH = 16384;
/** Size of one output buffer: a chunk header and the largest payload. */
const OUT_BUFFER_BYTES = CHUNK_HEADER_BYTES + MAX_CHUNK_PAYLOAD;
/**
 * One output area: the buffer, then the streaming checksum state of the
 * payload being built in it (outside any chunk handed out).
 *
 *   0             16                                 OUT_BUFFER_BYTES     + 72
 *  ┌─────────────┬──────────────────────────────────┬──────────────────┐
 *  │ chunk header│ payload (records, ≤ 1 MiB)       │ XXH3 stream state│
 *  └─────────────┴──────────────────────────────────┴──────────────────┘
 */
const OUT_AREA_BYTES = OUT_BUFFER_BYTES + XXH3_STREAM_STATE_BYTES;

export class PagePacker {
  readonly vm: Vm;
  /** XBZRLE cache slots (pages); 0 when XBZRLE is off. */
  readonly cachePages: number;
  readonly #k: Kernels;
  /** Output buffers (host frames) chunks are built in, taken in turn. */
  readonly #outs: readonly number[];
  #next = 0;
  readonly #cachePtr: number;
  readonly #cacheBytes: number;
  #list: PfnList | null = null;
  #poisonList: PfnList | null = null;
  #sequence = 0;
  #round = -1;
  #epoch = -1;
  #ended = false;
  #closed = false;
  readonly #borrow: boolean;
  /** Flags OR-ed into every stage code. */
  readonly #stageFlags: number;
  readonly #totals = emptyPackStats();

  constructor(vm: Vm, options: PagePackerOptions) {
    rejectUnknown(options, ["xbzrleCacheBytes", "borrowChunks", "chunkBuffers", "zeroPageDetection"], "PagePacker");
    this.#borrow = options.borrowChunks ?? false;
    const chunkBuffers = requireInt("chunkBuffers", options.chunkBuffers ?? 1, 1, 16);
    this.#stageFlags = options.zeroPageDetection === false ? STAGE_NO_ZERO_DETECTION : 0;
    const cacheBytes = options.xbzrleCacheBytes;
    let cachePages = 0;
    if (cacheBytes !== null) {
      requireInt("xbzrleCacheBytes", cacheBytes, PAGE_SIZE, MAX_CACHE_PAGES * PAGE_SIZE);
      cachePages = cacheBytes / PAGE_SIZE;
      if (!Number.isInteger(cachePages) || (cachePages & (cachePages - 1)) !== 0) {
        throw new HypermemError(
          ErrorCode.BadOption,
          `xbzrleCacheBytes must be a power-of-two number of ${PAGE_SIZE}-byte pages, got ${cacheBytes} (${cacheBytes / PAGE_SIZE} pages)`,
          { option: "xbzrleCacheBytes", value: cacheBytes },
        );
      }
    }
    this.vm = vm;
    this.cachePages = cachePages;
    this.#k = vm.host.kernels;
    this.#cacheBytes = cachePages * (PAGE_SIZE + 8);
    this.#cachePtr = cachePages > 0 ? this.#k.frames.allocBuffer(this.#cacheBytes) : 0;
    const outs: number[] = [];
    try {
      for (let i = 0; i < chunkBuffers; i++) outs.push(this.#k.frames.allocBuffer(OUT_AREA_BYTES));
    } catch (err) {
      for (const ptr of outs) this.#k.frames.freeBuffer(ptr, OUT_AREA_BYTES);
      if (cachePages > 0) this.#k.frames.freeBuffer(this.#cachePtr, this.#cacheBytes);
      throw err;
    }
    this.#outs = outs;
  }

  /** Where the chunk being built goes. */
  get #outPtr(): number { return this.#outs[this.#next]; }
  /** The streaming checksum state of the chunk being built. */
  get #hashState(): number { return this.#outs[this.#next] + OUT_BUFFER_BYTES; }

  /** Starts the checksum of a new chunk's payload (before anything is written into it). */
  #beginPayload(): void { this.#k.stream.hashBegin(this.#hashState, this.#outPtr + CHUNK_HEADER_BYTES); }

  /** The 40-byte stream header for this VM (send it first). */
  header(): Uint8Array {
    const h = encodeHeader({ flags: this.cachePages > 0 ? FLAG_XBZRLE : 0, guestPages: this.vm.pages, vmId: this.vm.id });
    this.#totals.wireBytes += h.length;
    return h;
  }

  /** Sequence number the next chunk will carry (= chunks produced so far). */
  get sequence(): number { return this.#sequence; }

  /** Cumulative statistics of every chunk so far (wireBytes includes headers handed out). */
  get totals(): PackStats { return { ...this.#totals }; }

  #alive(what: string): void {
    if (this.#closed) throw new HypermemError(ErrorCode.Destroyed, `PagePacker.${what}: the packer was closed`, {});
    if (this.#ended) throw new HypermemError(ErrorCode.BadOption, `PagePacker.${what}: the stream already ended`, {});
  }

  /**
   * Packs pages from `list`, entries [start, start + count), into at most
   * one chunk of at most 1 MiB of payload. `generation` is the dirty-sync
   * count (XBZRLE cache age). XBZRLE is used only in the "iterate" and
   * "final" stages.
   */
  packChunk(list: PfnList, start: number, count: number, stage: PackStage, generation: number): PackResult {
    this.#alive("packChunk");
    const stageCode = Object.hasOwn(Stage, stage) ? Stage[stage] : undefined;
    if (stageCode === undefined) {
      throw new HypermemError(ErrorCode.BadOption, `stage must be "bulk", "iterate" or "final", got ${String(stage)}`, { option: "stage", value: stage });
    }
    requireInt("generation", generation, 0, 0xffff_ffff);
    requireInt("start", start, 0, list.capacity);
    requireInt("count", count, 0, list.capacity - start);
    this.#beginPayload();
    const { consumed, payloadBytes, stats } = this.#pack(list.ptr + start * 4, count, stageCode | this.#stageFlags, generation, 0, MAX_CHUNK_PAYLOAD);
    const chunk = payloadBytes > 0 ? this.#frame(payloadBytes, this.#borrow) : null;
    stats.wireBytes = chunk ? chunk.length : 0;
    addStats(this.#totals, stats);
    return { consumed, chunk, stats };
  }

  /**
   * Runs the pack kernel, writing at payload offset `at` with `capacity`
   * bytes of room. A page that is not resident is brought back through the
   * page hook and packing resumes there; bad list entries are typed errors.
   */
  #pack(listPtr: number, count: number, stage: number, generation: number, at: number, capacity: number): { consumed: number; payloadBytes: number; stats: PackStats } {
    const k = this.#k;
    const slots = this.cachePages;
    const stats = emptyPackStats();
    let consumed = 0;
    let payloadBytes = 0;
    for (;;) {
      const n = k.stream.pack(
        this.vm.slot, listPtr + consumed * 4, count - consumed, this.#outPtr + CHUNK_HEADER_BYTES + at + payloadBytes, capacity - payloadBytes,
        slots > 0 ? this.#cachePtr + slots * PAGE_SIZE : 0, this.#cachePtr, slots, stage, generation, this.#hashState,
      );
      const counters = k.stream.packCounters();
      addCounters(stats, counters);
      payloadBytes += counters.payloadBytes;
      if (n >= 0) return { consumed: consumed + n, payloadBytes, stats };
      const info = k.stream.info();
      if (info.reason === StreamReason.PfnRange) {
        throw new HypermemError(ErrorCode.GpaRange, `pfn list entry ${consumed + info.offset} is pfn ${info.pfn}, past the end of the ${this.vm.pages}-page guest of vm ${this.vm.id}`, { index: consumed + info.offset, pfn: info.pfn });
      }
      // StreamReason.NotResident: the records before it are in; bring the page back and go on from it.
      consumed += info.offset;
      this.vm.accessPage(info.pfn, false);
    }
  }

  /**
   * Frames the payload in the output buffer (its checksum finished from the
   * streaming state: the bytes the kernel did not hash while copying are
   * read back) and returns the chunk: a copy, or (`borrow`) a view of the
   * output buffer, the next of which is then used.
   */
  #frame(payloadBytes: number, borrow: boolean): Uint8Array {
    const k = this.#k;
    const out = this.#outPtr;
    const checksum = checksumOf(k.stream.hashFinish(this.#hashState, out + CHUNK_HEADER_BYTES, payloadBytes));
    k.heap.copyIn(out, chunkHeaderBytes(this.#sequence++, payloadBytes, checksum));
    const bytes = CHUNK_HEADER_BYTES + payloadBytes;
    if (!borrow) return k.heap.copyOut(out, bytes);
    this.#next = (this.#next + 1) % this.#outs.length;
    return k.heap.borrow(out, bytes);
  }

  /** A chunk holding a control record (END_ROUND, COMMIT) numbered `n`. */
  #control(type: RecordType, n: number): Uint8Array {
    const payload = new Uint8Array(RECORD_HEADER_BYTES);
    writeRecordHeader(new DataView(payload.buffer), 0, type, 0, n);
    const chunk = frameChunk(this.#sequence++, payload);
    this.#totals.wireBytes += chunk.length;
    return chunk;
  }

  /** A chunk holding END_ROUND for `round`; rounds are numbered 0, 1, 2... (the bulk pass is round 0). */
  endRound(round: number): Uint8Array {
    this.#alive("endRound");
    requireInt("round", round, this.#round + 1, this.#round + 1);
    this.#round = round;
    return this.#control(RecordType.EndRound, round);
  }

  /**
   * A chunk holding COMMIT for `epoch` (0, 1, 2...): a staged receiver
   * applies the records of the epoch only when it reads this.
   */
  commitEpoch(epoch: number): Uint8Array {
    this.#alive("commitEpoch");
    requireInt("epoch", epoch, this.#epoch + 1, this.#epoch + 1);
    this.#epoch = epoch;
    return this.#control(RecordType.Commit, epoch);
  }

  /**
   * Ends the stream: POISON records for every page poisoned on the source
   * (so the destination's poisoned set equals the source's at switchover,
   * including latent errors found only now), then END_STREAM with the digest
   * of the source guest. Returns one or more framed chunks, concatenated (a
   * copy, also with borrowChunks); the last one ends with END_STREAM. The
   * packer accepts nothing afterwards.
   */
  endStream(): Uint8Array {
    this.#alive("endStream");
    const k = this.#k;
    this.#poisonList ??= new PfnList(k, POISON_LIST_BATCH);
    const list = this.#poisonList;
    const room = MAX_CHUNK_PAYLOAD - RECORD_HEADER_BYTES - END_STREAM_BYTES;
    const chunks: Uint8Array[] = [];
    let payload = 0;
    this.#beginPayload();
    for (let from = 0; ;) {
      const n = k.stream.poisonList(this.vm.slot, list.ptr, POISON_LIST_BATCH, from);
      const next = k.stream.info().nextPfn;
      for (let done = 0; done < n;) {
        const r = this.#pack(list.ptr + done * 4, n - done, Stage.final, 0, payload, room - payload);
        done += r.consumed;
        payload += r.payloadBytes;
        addStats(this.#totals, r.stats);
        if (done < n) { // the chunk is full
          chunks.push(this.#frame(payload, false));
          payload = 0;
          this.#beginPayload();
        }
      }
      if (n < POISON_LIST_BATCH) break;
      from = next;
    }
    payload += this.#putEndStream(payload);
    chunks.push(this.#frame(payload, false));
    for (const c of chunks) this.#totals.wireBytes += c.length;
    this.#ended = true;
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => { out.set(c, at); return at + c.length; }, 0);
    return out;
  }

  /** Writes END_STREAM at payload offset `at`; returns its size. */
  #putEndStream(at: number): number {
    const { digest, poisoned } = guestDigest(this.vm);
    const record = new Uint8Array(RECORD_HEADER_BYTES + END_STREAM_BYTES);
    const view = new DataView(record.buffer);
    writeRecordHeader(view, 0, RecordType.EndStream, END_STREAM_BYTES, 0);
    view.setBigUint64(RECORD_HEADER_BYTES, digest, true);
    view.setUint32(RECORD_HEADER_BYTES + 8, this.vm.pages, true);
    view.setUint32(RECORD_HEADER_BYTES + 12, poisoned, true);
    this.#k.heap.copyIn(this.#outPtr + CHUNK_HEADER_BYTES + at, record);
    return record.length;
  }

  /**
   * A list in the source host holding `pfns`, for packChunk (tests and small
   * lists). The list belongs to the packer and is overwritten by the next
   * call; it is freed by close().
   */
  scratchList(pfns: ArrayLike<number>): PfnList {
    if (this.#closed) throw new HypermemError(ErrorCode.Destroyed, "PagePacker.scratchList: the packer was closed", {});
    if (!this.#list || this.#list.capacity < pfns.length) {
      this.#list?.free();
      this.#list = new PfnList(this.#k, Math.max(1024, pfns.length));
    }
    this.#list.set(pfns);
    return this.#list;
  }

  /** Frees the packer's buffers (XBZRLE cache, output buffers, lists) in the source host. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const k = this.#k;
    if (this.cachePages > 0) k.frames.freeBuffer(this.#cachePtr, this.#cacheBytes);
    for (const ptr of this.#outs) k.frames.freeBuffer(ptr, OUT_AREA_BYTES);
    this.#list?.free();
    this.#poisonList?.free();
  }
}

/** Adds a pack call's kernel counters into `stats`. */
function addCounters(stats: PackStats, c: ReturnType<Kernels["stream"]["packCounters"]>): void {
  stats.pages += c.zeroPages + c.normalPages + c.xbzrlePages + c.poisonedPages;
  stats.zeroPages += c.zeroPages;
  stats.normalPages += c.normalPages;
  stats.normalBytes += c.normalPages * PAGE_SIZE;
  stats.xbzrlePages += c.xbzrlePages;
  stats.xbzrleBytes += c.xbzrleBytes;
  stats.xbzrleCacheMiss += c.xbzrleCacheMiss;
  stats.xbzrleOverflow += c.xbzrleOverflow;
  stats.xbzrleUnchanged += c.xbzrleUnchanged;
  stats.poisonedPages += c.poisonedPages;
  stats.latentFound += c.latentFound;
}

/** A chunk header for a payload of `payloadBytes` with `checksum`. */
function chunkHeaderBytes(sequence: number, payloadBytes: number, checksum: number): Uint8Array {
  const h = new Uint8Array(CHUNK_HEADER_BYTES);
  writeChunkHeader(h, 0, sequence, payloadBytes, checksum);
  return h;
}
