// PagePacker: the source side of the migration stream. Pages are packed into
// records by the wasm kernel streamPack (one call per chunk, no per-page JS),
// framed into checksummed chunks here. Poisoned pages go out as POISON
// records and their bytes are never read; a latent error the packer meets is
// made known on the source, as a guest access would (docs/migration-stream.md).
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt } from "../options.js";
import type { Vm } from "../host/vm.js";
import { PAGE_SIZE, type Kernels } from "../wasm/kernels.js";
import {
  CHUNK_HEADER_BYTES, END_STREAM_BYTES, FLAG_XBZRLE, MAX_CHUNK_PAYLOAD, RECORD_HEADER_BYTES, RecordType,
  checksumOf, encodeHeader, frameChunk, stagingArea, writeChunkHeader, writeRecordHeader,
} from "./stream-format.js";

export type PackStage = "bulk" | "iterate" | "final";
const STAGE_CODES: Readonly<Record<PackStage, number>> = { bulk: 0, iterate: 1, final: 2 };

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

/** assembly/stream.ts STAGE_NO_ZERO_DETECTION. */
const STAGE_NO_ZERO_DETECTION = 0x100;

/** Largest cache: the host's memory bounds it anyway; this keeps slots and sizes in u32. */
const MAX_CACHE_PAGES = 1 << 20;
/** Pfns per call of the poison list kernel. */
const POISON_LIST_BATCH = 16384;
/** Offset of endStream's poison list in the staging area (after the chunk being built). */
const POISON_LIST_OFFSET = 2 << 20;
/** Size of one output buffer: a chunk header and the largest payload. */
const OUT_BUFFER_BYTES = CHUNK_HEADER_BYTES + MAX_CHUNK_PAYLOAD;

export class PagePacker {
  readonly vm: Vm;
  /** XBZRLE cache slots (pages); 0 when XBZRLE is off. */
  readonly cachePages: number;
  readonly #k: Kernels;
  /** Where chunks are built: owned buffers taken in turn (borrowChunks), or the host's staging area (copied out). */
  readonly #outs: readonly number[];
  #next = 0;
  /** [ptr, bytes] of the staging area and the owned output buffers, which a pfn list must not overlap. */
  readonly #ownAreas: readonly (readonly [number, number])[];
  readonly #staging: { readonly ptr: number; readonly bytes: number };
  readonly #cachePtr: number;
  readonly #cacheBytes: number;
  #listPtr = -1;
  #listBytes = 0;
  #sequence = 0;
  #round = -1;
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
    this.#staging = stagingArea(this.#k);
    if (this.#staging.bytes < POISON_LIST_OFFSET + POISON_LIST_BATCH * 4) {
      throw new HypermemError(ErrorCode.Length, `the host's ${this.#staging.bytes}-byte staging area cannot hold a chunk`, { bytes: this.#staging.bytes });
    }
    this.#cacheBytes = cachePages * (PAGE_SIZE + 8);
    this.#cachePtr = cachePages > 0 ? this.#k.allocBuffer(this.#cacheBytes) : 0;
    const outs: number[] = [];
    try {
      for (let i = 0; this.#borrow && i < chunkBuffers; i++) outs.push(this.#k.allocBuffer(OUT_BUFFER_BYTES));
    } catch (err) {
      for (const ptr of outs) this.#k.freeBuffer(ptr, OUT_BUFFER_BYTES);
      if (cachePages > 0) this.#k.freeBuffer(this.#cachePtr, this.#cacheBytes);
      throw err;
    }
    this.#outs = this.#borrow ? outs : [this.#staging.ptr];
    this.#ownAreas = [[this.#staging.ptr, this.#staging.bytes], ...outs.map((ptr) => [ptr, OUT_BUFFER_BYTES] as const)];
  }

  /** Where the chunk being built goes. */
  get #outPtr(): number { return this.#outs[this.#next]; }

  /** Does [first, end) overlap the staging area or an output buffer? */
  #overlapsOwnBuffers(first: number, end: number): boolean {
    return this.#ownAreas.some(([ptr, bytes]) => first < ptr + bytes && end > ptr);
  }

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
   * Packs pages from the pfn list at `listPtr` (u32 pfns in the source host's
   * linear memory), entries [start, start + count), into at most one chunk of
   * at most 1 MiB of payload. `generation` is the dirty-sync count (XBZRLE
   * cache age). XBZRLE is used only in the "iterate" and "final" stages.
   */
  packChunk(listPtr: number, start: number, count: number, stage: PackStage, generation: number): PackResult {
    this.#alive("packChunk");
    const stageCode = STAGE_CODES[stage];
    if (stageCode === undefined) {
      throw new HypermemError(ErrorCode.BadOption, `stage must be "bulk", "iterate" or "final", got ${String(stage)}`, { option: "stage", value: stage });
    }
    requireInt("generation", generation, 0, 0xffff_ffff);
    requireInt("start", start, 0, 0x3fff_ffff);
    requireInt("count", count, 0, 0x3fff_ffff);
    requireInt("listPtr", listPtr, 0, this.#k.heap.byteLength);
    const first = listPtr + start * 4;
    const end = first + count * 4;
    if (first % 4 !== 0 || end > this.#k.heap.byteLength) {
      throw new HypermemError(ErrorCode.Length, `pfn list [${first}, ${end}) is not a 4-aligned range of linear memory`, { listPtr, start, count });
    }
    if (count > 0 && this.#overlapsOwnBuffers(first, end)) {
      throw new HypermemError(ErrorCode.BadOption, `pfn list [${first}, ${end}) overlaps the stream staging area (the second half of the kernel scratch) or the packer's output buffers`, { listPtr, start, count });
    }
    const { consumed, payloadBytes, stats } = this.#pack(first, count, stageCode | this.#stageFlags, generation, 0, MAX_CHUNK_PAYLOAD);
    const chunk = payloadBytes > 0 ? this.#frame(payloadBytes, this.#borrow) : null;
    stats.wireBytes = chunk ? chunk.length : 0;
    addStats(this.#totals, stats);
    return { consumed, chunk, stats };
  }

  /** Runs the pack kernel, writing at payload offset `at` with `capacity` bytes of room; throws typed errors for bad list entries. */
  #pack(listPtr: number, count: number, stage: number, generation: number, at: number, capacity: number): { consumed: number; payloadBytes: number; stats: PackStats } {
    const k = this.#k;
    const slots = this.cachePages;
    const consumed = k.streamPack(
      this.vm.slot, listPtr, count, this.#outPtr + CHUNK_HEADER_BYTES + at, capacity,
      slots > 0 ? this.#cachePtr + slots * PAGE_SIZE : 0, this.#cachePtr, slots, stage, generation,
    );
    if (consumed < 0) {
      const info = k.streamInfo();
      if (info.reason === 6) {
        throw new HypermemError(ErrorCode.GpaRange, `pfn list entry ${info.offset} is pfn ${info.pfn}, past the end of the ${this.vm.pages}-page guest of vm ${this.vm.id}`, { index: info.offset, pfn: info.pfn });
      }
      throw new HypermemError(ErrorCode.PageState, `vm ${this.vm.id}: guest page ${info.pfn} (pfn list entry ${info.offset}) is swapped out; swap it in before sending it`, { index: info.offset, pfn: info.pfn });
    }
    const s = k.packStats();
    const stats: PackStats = {
      pages: s[2] + s[3] + s[4] + s[9],
      zeroPages: s[2],
      normalPages: s[3],
      normalBytes: s[3] * PAGE_SIZE,
      xbzrlePages: s[4],
      xbzrleBytes: s[5],
      xbzrleCacheMiss: s[6],
      xbzrleOverflow: s[7],
      xbzrleUnchanged: s[8],
      poisonedPages: s[9],
      latentFound: s[10],
      wireBytes: 0,
    };
    return { consumed, payloadBytes: s[11], stats };
  }

  /**
   * Frames the payload in the output buffer (checksum hashed in wasm) and
   * returns the chunk: a copy, or (`borrow`) a view of the output buffer,
   * the next of which is then used.
   */
  #frame(payloadBytes: number, borrow: boolean): Uint8Array {
    const k = this.#k;
    const out = this.#outPtr;
    const checksum = checksumOf(k.xxh3(out + CHUNK_HEADER_BYTES, payloadBytes));
    writeChunkHeader(k.heap.u8, out, this.#sequence++, payloadBytes, checksum);
    const bytes = CHUNK_HEADER_BYTES + payloadBytes;
    if (!borrow) return k.heap.copyOut(out, bytes);
    this.#next = (this.#next + 1) % this.#outs.length;
    return k.heap.borrow(out, bytes);
  }

  /** A chunk holding END_ROUND for `round`; rounds are numbered 0, 1, 2... (the bulk pass is round 0). */
  endRound(round: number): Uint8Array {
    this.#alive("endRound");
    requireInt("round", round, this.#round + 1, this.#round + 1);
    this.#round = round;
    const payload = new Uint8Array(RECORD_HEADER_BYTES);
    writeRecordHeader(new DataView(payload.buffer), 0, RecordType.EndRound, 0, round);
    const chunk = frameChunk(this.#sequence++, payload);
    this.#totals.wireBytes += chunk.length;
    return chunk;
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
    const listPtr = this.#staging.ptr + POISON_LIST_OFFSET;
    const room = MAX_CHUNK_PAYLOAD - RECORD_HEADER_BYTES - END_STREAM_BYTES;
    const chunks: Uint8Array[] = [];
    let payload = 0;
    for (let from = 0; ;) {
      const n = k.streamPoisonList(this.vm.slot, listPtr, POISON_LIST_BATCH, from);
      const next = k.streamInfo().nextPfn;
      for (let done = 0; done < n;) {
        const r = this.#pack(listPtr + done * 4, n - done, STAGE_CODES.final, 0, payload, room - payload);
        done += r.consumed;
        payload += r.payloadBytes;
        addStats(this.#totals, r.stats);
        if (done < n) { // the chunk is full
          chunks.push(this.#frame(payload, false));
          payload = 0;
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
    const k = this.#k;
    if (k.streamDigest(this.vm.slot, 0) < 0) {
      const { pfn } = k.streamInfo();
      throw new HypermemError(ErrorCode.PageState, `vm ${this.vm.id}: guest page ${pfn} is swapped out; the digest needs every page`, { pfn });
    }
    const { digest, poisoned } = k.streamInfo();
    const p = this.#outPtr + CHUNK_HEADER_BYTES + at;
    const view = k.heap.view;
    writeRecordHeader(view, p, RecordType.EndStream, END_STREAM_BYTES, 0);
    view.setBigUint64(p + RECORD_HEADER_BYTES, digest, true);
    view.setUint32(p + RECORD_HEADER_BYTES + 8, this.vm.pages, true);
    view.setUint32(p + RECORD_HEADER_BYTES + 12, poisoned, true);
    return RECORD_HEADER_BYTES + END_STREAM_BYTES;
  }

  /** A list buffer of at least `entries` u32 in the source host (grown by reallocation). */
  #ensureList(entries: number): number {
    const bytes = Math.max(1, entries) * 4;
    if (this.#listBytes < bytes) {
      if (this.#listPtr >= 0) this.#k.freeBuffer(this.#listPtr, this.#listBytes);
      this.#listPtr = -1;
      const rounded = Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
      this.#listPtr = this.#k.allocBuffer(rounded);
      this.#listBytes = rounded;
    }
    return this.#listPtr;
  }

  /**
   * Copies `pfns` into a buffer in the source host for packChunk (tests and
   * small lists). The buffer belongs to the packer and is overwritten by the
   * next call; it is freed by close().
   */
  scratchList(pfns: ArrayLike<number>): { ptr: number; count: number } {
    if (this.#closed) throw new HypermemError(ErrorCode.Destroyed, "PagePacker.scratchList: the packer was closed", {});
    const ptr = this.#ensureList(pfns.length);
    const u32 = this.#k.heap.u32;
    const base = ptr / 4;
    for (let i = 0; i < pfns.length; i++) u32[base + i] = pfns[i];
    return { ptr, count: pfns.length };
  }

  /** Frees the packer's buffers (XBZRLE cache, list) in the source host. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const k = this.#k;
    if (this.cachePages > 0) k.freeBuffer(this.#cachePtr, this.#cacheBytes);
    if (this.#borrow) for (const ptr of this.#outs) k.freeBuffer(ptr, OUT_BUFFER_BYTES);
    if (this.#listPtr >= 0) k.freeBuffer(this.#listPtr, this.#listBytes);
    this.#listPtr = -1;
  }
}
