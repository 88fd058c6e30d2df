// StreamReceiver: the destination side of the migration stream. Bytes arrive
// split anywhere (as from TCP) and are copied once, straight into a payload
// buffer in the destination host's memory; only an unfinished header or
// chunk is buffered, bounded by the chunk limit. Every field is validated
// before anything is allocated or written; records are validated and applied
// by the wasm kernel streamUnpack, which also keeps a digest table (the hash
// of every page it writes, while the page is in cache) so END_STREAM costs a
// fold rather than a pass over the guest. Any error destroys the partial
// guest (the host gets every frame back) and makes the receiver refuse
// further input.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt } from "../options.js";
import type { Host } from "../host/host.js";
import { MAX_GUEST_PAGES, type Vm } from "../host/vm.js";
import { PAGE_SIZE } from "../wasm/kernels.js";
import {
  CHUNK_HEADER_BYTES, CHUNK_MAGIC, DEFAULT_MAX_CHUNK_BYTES, END_STREAM_BYTES, FLAG_XBZRLE, HEADER_BYTES,
  KERNEL_REASONS, REASON_OUT_OF_FRAMES, RECORD_HEADER_BYTES, RECORD_NAMES, RecordType, STREAM_MAGIC,
  checksumOf, decodeHeader, readChunkHeader, stagingArea, type ChunkHeader, type StreamHeader,
} from "./stream-format.js";

/** Largest guest given a digest table (8 bytes per page: 64 MiB); larger guests are digested by reading them at END_STREAM. */
export const DIGEST_TABLE_MAX_PAGES = 1 << 23;

export interface ReceiverLimits {
  /** Largest guest a stream header may announce, in 4 KiB pages. @default MAX_GUEST_PAGES (1 TiB) */
  maxGuestPages?: number;
  /** Largest chunk payload accepted, in bytes. @default 1 MiB + 64 KiB */
  maxChunkBytes?: number;
}

type Phase = "header" | "chunk-header" | "payload" | "done" | "failed";

/** Smallest chunk payload: one record header. */
const MIN_CHUNK_BYTES = RECORD_HEADER_BYTES;

export class StreamReceiver {
  readonly host: Host;
  readonly maxGuestPages: number;
  readonly maxChunkBytes: number;
  #phase: Phase = "header";
  /** Header and chunk-header bytes being collected. */
  readonly #small = new Uint8Array(HEADER_BYTES);
  /** Payload buffer in the destination host, grown to the largest chunk so far; -1 before the first chunk and after. */
  #payloadPtr = -1;
  #payloadCapacity = 0;
  /** Digest table in the destination host (8 bytes per guest page), or 0 (the kernels' "none") when the guest is too large for one. */
  #tablePtr = 0;
  #tableBytes = 0;
  #have = 0;
  #need = HEADER_BYTES;
  /** Stream bytes consumed so far. */
  #offset = 0;
  /** Stream offset of the chunk being received. */
  #chunkOffset = 0;
  #chunk: ChunkHeader | null = null;
  #sequence = 0;
  #round = -1;
  #header: StreamHeader | null = null;
  #vm: Vm | null = null;
  #error: HypermemError | null = null;
  #handedOver = false;

  constructor(host: Host, limits: ReceiverLimits = {}) {
    rejectUnknown(limits, ["maxGuestPages", "maxChunkBytes"], "StreamReceiver");
    this.host = host;
    this.maxGuestPages = requireInt("maxGuestPages", limits.maxGuestPages ?? MAX_GUEST_PAGES, 1, MAX_GUEST_PAGES);
    const staging = stagingArea(host.kernels).bytes;
    this.maxChunkBytes = requireInt("maxChunkBytes", limits.maxChunkBytes ?? Math.min(DEFAULT_MAX_CHUNK_BYTES, staging), MIN_CHUNK_BYTES, staging);
  }

  /** The destination VM (created once the header is valid); null before, and after a failure. */
  get vm(): Vm | null { return this.#vm; }
  /** The validated stream header, once received. */
  get header(): StreamHeader | null { return this.#header; }
  /** True once END_STREAM arrived and the digest matched. */
  get done(): boolean { return this.#phase === "done"; }
  /** Stream bytes consumed so far. */
  get bytesReceived(): number { return this.#offset; }
  /** Chunks applied so far. */
  get chunks(): number { return this.#sequence; }
  /** Number of the last END_ROUND received, -1 before the first. */
  get round(): number { return this.#round; }

  /** Feeds stream bytes (any split). Throws a HypermemError on the first problem; the partial guest is then gone. */
  push(bytes: Uint8Array): void {
    if (this.#error) throw this.#refused();
    try {
      this.#consume(bytes);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** The received VM. Throws ERR_STREAM_TRUNCATED (and discards the guest) when END_STREAM has not arrived. */
  finish(): Vm {
    if (this.#error) throw this.#refused();
    if (this.#phase !== "done" || !this.#vm) {
      const where = this.#phase === "header"
        ? `in the stream header (${this.#have} of ${HEADER_BYTES} bytes)`
        : this.#phase === "chunk-header"
          ? `${this.#have ? `in the header of chunk ${this.#sequence} (${this.#have} of ${CHUNK_HEADER_BYTES} bytes)` : `before chunk ${this.#sequence}`}`
          : `in the payload of chunk ${this.#sequence} (${this.#have} of ${this.#need} bytes)`;
      throw this.#fail(new HypermemError(
        ErrorCode.StreamTruncated,
        `stream ended after ${this.#offset} bytes ${where}, without END_STREAM`,
        { offset: this.#offset, chunk: this.#sequence, phase: this.#phase },
      ));
    }
    this.#handedOver = true;
    return this.#vm;
  }

  /** Gives up: discards the partial guest (not one already returned by finish()); later calls throw. */
  abort(reason = "aborted by the caller"): void {
    if (this.#error || this.#handedOver) return;
    this.#fail(new HypermemError(ErrorCode.MigrationFailed, `stream receive aborted after ${this.#offset} bytes: ${reason}`, { offset: this.#offset, reason }));
  }

  #refused(): HypermemError {
    const e = this.#error!;
    return new HypermemError(e.code, `the receiver already failed: ${e.message}`, { ...e.details });
  }

  /** Records the error, destroys the partial guest, and returns the error to throw. */
  #fail(err: unknown): unknown {
    this.#phase = "failed";
    if (this.#vm && !this.#handedOver) this.#vm.destroy();
    this.#vm = null;
    this.#releaseBuffers();
    this.#error = err instanceof HypermemError
      ? err
      : new HypermemError(ErrorCode.StreamCorrupt, `stream receive failed: ${String(err)}`, {});
    return err;
  }

  #consume(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.#phase === "done") {
        throw new HypermemError(ErrorCode.StreamCorrupt, `${bytes.length - at} bytes after END_STREAM at stream offset ${this.#offset}`, { offset: this.#offset, extra: bytes.length - at });
      }
      const take = Math.min(this.#need - this.#have, bytes.length - at);
      if (this.#phase === "payload") {
        this.host.kernels.heap.copyIn(this.#payloadPtr + this.#have, bytes.subarray(at, at + take));
        this.#have += take;
        this.#offset += take;
        at += take;
        if (this.#have === this.#need) this.#applyChunk(this.#need);
        continue;
      }
      this.#small.set(bytes.subarray(at, at + take), this.#have);
      this.#have += take;
      at += take;
      this.#offset += take;
      if (this.#have >= 4 && this.#have - take < 4) this.#checkMagic();
      if (this.#have < this.#need) continue;
      if (this.#phase === "header") this.#acceptHeader();
      else this.#acceptChunkHeader();
    }
  }

  /** Rejects a wrong magic as soon as its 4 bytes are in. */
  #checkMagic(): void {
    const magic = this.#small[0] | (this.#small[1] << 8) | (this.#small[2] << 16) | (this.#small[3] << 24);
    const header = this.#phase === "header";
    const want = header ? STREAM_MAGIC : CHUNK_MAGIC;
    if ((magic >>> 0) !== want) {
      const where = header ? "stream header" : `header of chunk ${this.#sequence} (stream offset ${this.#chunkOffset})`;
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${where}: field magic is 0x${(magic >>> 0).toString(16)}, expected 0x${want.toString(16)} ("${header ? "HMMS" : "HMCK"}")`,
        { field: "magic", value: magic >>> 0, chunk: header ? undefined : this.#sequence, offset: header ? 0 : this.#chunkOffset },
      );
    }
  }

  #acceptHeader(): void {
    const header = decodeHeader(this.#small, this.maxGuestPages);
    try {
      this.#vm = this.host.createVm({ pages: header.guestPages });
    } catch (err) {
      if (err instanceof HypermemError && (err.code === ErrorCode.OutOfFrames || err.code === ErrorCode.HostLimit || err.code === ErrorCode.GuestTooLarge)) {
        throw new HypermemError(
          ErrorCode.StreamLimit,
          `stream header field guestPages is ${header.guestPages}: the destination host cannot take the guest (${err.message})`,
          { field: "guestPages", value: header.guestPages, cause: err.code },
        );
      }
      throw err;
    }
    this.#header = header;
    this.#allocDigestTable(header.guestPages);
    this.#startChunk();
  }

  /** For a guest up to DIGEST_TABLE_MAX_PAGES, the digest table. */
  #allocDigestTable(pages: number): void {
    if (pages > DIGEST_TABLE_MAX_PAGES) return;
    this.#tablePtr = this.#hostBuffer(pages * 8, "guestPages", pages, "its digest table");
    this.#tableBytes = pages * 8;
    this.host.kernels.streamDigestTableInit(this.#tablePtr, pages);
  }

  /** A buffer of `bytes` in the destination host; ERR_STREAM_LIMIT naming `field` when the host is full. */
  #hostBuffer(bytes: number, field: string, value: number, what: string): number {
    try {
      return this.host.kernels.allocBuffer(bytes);
    } catch (err) {
      if (err instanceof HypermemError && err.code === ErrorCode.OutOfFrames) {
        throw new HypermemError(ErrorCode.StreamLimit, `field ${field} is ${value}: the destination host has no room for ${what} (${err.message})`, { field, value, cause: err.code });
      }
      throw err;
    }
  }

  /** Room for a `bytes`-byte payload: the buffer is replaced by a larger one when needed (it holds nothing between chunks). */
  #ensurePayloadBuffer(bytes: number): void {
    if (bytes <= this.#payloadCapacity) return;
    const k = this.host.kernels;
    if (this.#payloadPtr >= 0) k.freeBuffer(this.#payloadPtr, this.#payloadCapacity);
    this.#payloadPtr = -1;
    this.#payloadCapacity = 0;
    const capacity = Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
    this.#payloadPtr = this.#hostBuffer(capacity, "payloadBytes", bytes, `a ${bytes}-byte chunk payload`);
    this.#payloadCapacity = capacity;
  }

  /** Returns the payload buffer and digest table to the host. */
  #releaseBuffers(): void {
    const k = this.host.kernels;
    if (this.#payloadPtr >= 0) k.freeBuffer(this.#payloadPtr, this.#payloadCapacity);
    if (this.#tablePtr !== 0) k.freeBuffer(this.#tablePtr, this.#tableBytes);
    this.#payloadPtr = -1;
    this.#payloadCapacity = 0;
    this.#tablePtr = 0;
  }

  #startChunk(): void {
    this.#phase = "chunk-header";
    this.#have = 0;
    this.#need = CHUNK_HEADER_BYTES;
    this.#chunkOffset = this.#offset;
  }

  #acceptChunkHeader(): void {
    const h = readChunkHeader(this.#small);
    const where = `chunk ${this.#sequence} (stream offset ${this.#chunkOffset})`;
    if (h.sequence !== this.#sequence) {
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${where}: field sequence is ${h.sequence}, expected ${this.#sequence} (a reordered, duplicated or lost chunk)`,
        { field: "sequence", value: h.sequence, expected: this.#sequence, offset: this.#chunkOffset },
      );
    }
    if (h.payloadBytes > this.maxChunkBytes) {
      throw new HypermemError(
        ErrorCode.StreamLimit,
        `${where}: field payloadBytes is ${h.payloadBytes}, above the receiver's limit of ${this.maxChunkBytes}`,
        { field: "payloadBytes", value: h.payloadBytes, limit: this.maxChunkBytes, chunk: this.#sequence, offset: this.#chunkOffset + 8 },
      );
    }
    if (h.payloadBytes < MIN_CHUNK_BYTES) {
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${where}: field payloadBytes is ${h.payloadBytes}, below one record header (${MIN_CHUNK_BYTES})`,
        { field: "payloadBytes", value: h.payloadBytes, chunk: this.#sequence, offset: this.#chunkOffset + 8 },
      );
    }
    this.#ensurePayloadBuffer(h.payloadBytes);
    this.#chunk = h;
    this.#phase = "payload";
    this.#have = 0;
    this.#need = h.payloadBytes;
  }

  /** Checks the checksum of the `length`-byte payload in the payload buffer, then validates and applies its records. */
  #applyChunk(length: number): void {
    const h = this.#chunk!;
    const vm = this.#vm!;
    const where = `chunk ${this.#sequence} (stream offset ${this.#chunkOffset})`;
    const k = this.host.kernels;
    const ptr = this.#payloadPtr;
    const checksum = checksumOf(k.xxh3(ptr, length));
    if (checksum !== h.checksum) {
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${where}: field checksum is 0x${h.checksum.toString(16)}, the ${length}-byte payload's is 0x${checksum.toString(16)}`,
        { field: "checksum", value: h.checksum, actual: checksum, chunk: this.#sequence, offset: this.#chunkOffset + 12 },
      );
    }
    const allowXbzrle = (this.#header!.flags & FLAG_XBZRLE) !== 0;
    const payloadOffset = this.#chunkOffset + CHUNK_HEADER_BYTES;
    let off = 0;
    while (off < length) {
      const r = k.streamUnpack(vm.slot, ptr, length, off, allowXbzrle, this.#tablePtr);
      if (r < 0) throw this.#recordError(where, payloadOffset);
      if (r === length) break;
      const info = k.streamInfo();
      if (info.type === RecordType.EndRound) {
        if (info.pfn !== this.#round + 1) {
          throw new HypermemError(
            ErrorCode.StreamCorrupt,
            `${where}, END_ROUND record at payload offset ${r} (stream offset ${payloadOffset + r}): round ${info.pfn}, expected ${this.#round + 1}`,
            { field: "round", value: info.pfn, expected: this.#round + 1, chunk: this.#sequence, offset: payloadOffset + r },
          );
        }
        this.#round = info.pfn;
        off = r + RECORD_HEADER_BYTES;
        continue;
      }
      this.#endStream(length, r, where, payloadOffset);
      return;
    }
    this.#sequence++;
    this.#startChunk();
  }

  #recordError(where: string, payloadOffset: number): HypermemError {
    const info = this.host.kernels.streamInfo();
    const type = RECORD_NAMES[info.type] ?? `unknown type ${info.type}`;
    const reason = KERNEL_REASONS[info.reason] ?? `reason ${info.reason}`;
    const field = info.reason === 3 ? `flags ${info.length}` : `payload length ${info.length}`;
    return new HypermemError(
      info.reason === REASON_OUT_OF_FRAMES ? ErrorCode.StreamLimit : ErrorCode.StreamCorrupt,
      `${where}, record at payload offset ${info.offset} (stream offset ${payloadOffset + info.offset}): ${type}, pfn ${info.pfn}, ${field}: ${reason}`,
      { chunk: this.#sequence, offset: payloadOffset + info.offset, recordType: info.type, pfn: info.pfn, length: info.length, reason: info.reason, status: info.status },
    );
  }

  /** END_STREAM at payload offset `r`: last in the chunk, right guest size, matching digest. */
  #endStream(length: number, r: number, where: string, payloadOffset: number): void {
    const end = r + RECORD_HEADER_BYTES + END_STREAM_BYTES;
    const at = `${where}, END_STREAM record at payload offset ${r} (stream offset ${payloadOffset + r})`;
    if (end !== length) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: ${length - end} bytes follow it in the chunk`, { chunk: this.#sequence, offset: payloadOffset + end });
    }
    const k = this.host.kernels;
    const field = this.#payloadPtr + r + RECORD_HEADER_BYTES;
    const digest = k.heap.view.getBigUint64(field, true);
    const pages = k.heap.view.getUint32(field + 8, true);
    const poisoned = k.heap.view.getUint32(field + 12, true);
    const vm = this.#vm!;
    if (pages !== vm.pages) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: field guestPages is ${pages}, the header said ${vm.pages}`, { field: "guestPages", value: pages, expected: vm.pages, offset: payloadOffset + r + 16 });
    }
    if (k.streamDigest(vm.slot, this.#tablePtr) < 0) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: the received guest has a page (pfn ${k.streamInfo().pfn}) it cannot digest`, { pfn: k.streamInfo().pfn });
    }
    const own = k.streamInfo();
    if (own.poisoned !== poisoned || own.digest !== digest) {
      throw new HypermemError(
        ErrorCode.StreamDigest,
        `${at}: the source's memory digest is 0x${digest.toString(16)} with ${poisoned} poisoned pages, the received guest's is 0x${own.digest.toString(16)} with ${own.poisoned}`,
        { expected: digest, actual: own.digest, expectedPoisoned: poisoned, actualPoisoned: own.poisoned },
      );
    }
    this.#sequence++;
    this.#phase = "done";
    this.#have = 0;
    this.#need = 0;
    this.#releaseBuffers();
  }
}
