// StreamReceiver: the destination side of the page-record stream. Bytes
// arrive split anywhere (as from TCP) and are copied once, straight into a
// payload buffer in the destination host's memory; only an unfinished header
// or chunk is buffered, bounded by the chunk limit. Every field is validated
// before anything is allocated or written; records are validated and applied
// by the wasm kernel streamUnpack, which also keeps a fingerprint table (the
// hash of every page it writes, while the page is in cache) so END_STREAM
// costs a fold rather than a pass over the guest.
//
// Two modes. "direct" (migration): records apply as they arrive; any error
// destroys the partial guest (the host gets every frame back) and the
// receiver refuses further input. "epochs" (checkpoint backups): the records
// of an epoch are validated as they arrive but staged, and applied only at
// the epoch's COMMIT record, after checking the host has the frames they may
// take; an error or a cut stream drops the uncommitted epoch and leaves the
// guest exactly as the last COMMIT left it (takeCommitted() hands it over).
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import { MAX_GUEST_PAGES, type Vm } from "../host/vm.js";
import { rejectUnknown, requireInt } from "../options.js";
import { installMachineCheckHandler } from "../ras/machine-check.js";
import { PAGE_SIZE, StreamReason, UNPACK_VALIDATE_ONLY, UNPACK_XBZRLE } from "../wasm/codes.js";
import { guestDigest } from "./fingerprints.js";
import {
  CHUNK_HEADER_BYTES, CHUNK_MAGIC, DEFAULT_MAX_CHUNK_BYTES, END_STREAM_BYTES, FLAG_XBZRLE, HEADER_BYTES,
  KERNEL_REASONS, RECORD_HEADER_BYTES, RECORD_NAMES, RecordType, STREAM_MAGIC,
  checksumOf, decodeHeader, readChunkHeader, type ChunkHeader, type StreamHeader,
} from "./format.js";

/** Largest guest given a fingerprint table (8 bytes per page: 64 MiB); larger guests are digested by reading them at END_STREAM. */
export const DIGEST_TABLE_MAX_PAGES = 1 << 23;

export interface ReceiverLimits {
  /** Largest guest a stream header may announce, in 4 KiB pages. @default MAX_GUEST_PAGES (1 TiB) */
  maxGuestPages?: number;
  /** Largest chunk payload accepted, in bytes. @default 1 MiB + 64 KiB */
  maxChunkBytes?: number;
  /** "direct": apply records as they arrive (migration); "epochs": apply each epoch at its COMMIT (checkpoint backups). @default "direct" */
  mode?: "direct" | "epochs";
  /** Epochs mode: most bytes of records staged before a COMMIT. @default 256 MiB */
  maxStagedBytes?: number;
}

type Phase = "header" | "chunk-header" | "payload" | "done" | "failed";

/** Smallest chunk payload: one record header. */
const MIN_CHUNK_BYTES = RECORD_HEADER_BYTES;
/** Largest chunk payload a receiver may be configured for (16 MiB). */
const MAX_CHUNK_LIMIT = 16 << 20;
const DEFAULT_MAX_STAGED_BYTES = 256 << 20;

/** A chunk payload kept for the epoch's COMMIT: the record spans [start, end) of it still to apply. */
interface StagedChunk {
  readonly ptr: number;
  readonly capacity: number;
  readonly spans: Array<readonly [number, number]>;
}

export class StreamReceiver {
  readonly host: Host;
  readonly maxGuestPages: number;
  readonly maxChunkBytes: number;
  readonly mode: "direct" | "epochs";
  readonly maxStagedBytes: number;
  #phase: Phase = "header";
  /** Header and chunk-header bytes being collected. */
  readonly #small = new Uint8Array(HEADER_BYTES);
  /** Payload buffer in the destination host, grown to the largest chunk so far; -1 before the first chunk and after. */
  #payloadPtr = -1;
  #payloadCapacity = 0;
  /** Fingerprint table in the destination host (8 bytes per guest page), or 0 (the kernels' "none") when the guest is too large for one. */
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
  #epoch = -1;
  /** Epochs mode: the uncommitted epoch's payloads, in order, and the frames they may take. */
  #staged: StagedChunk[] = [];
  #stagedBytes = 0;
  #stagedFrames = 0;
  #header: StreamHeader | null = null;
  #vm: Vm | null = null;
  #error: HypermemError | null = null;
  #handedOver = false;

  constructor(host: Host, limits: ReceiverLimits = {}) {
    rejectUnknown(limits, ["maxGuestPages", "maxChunkBytes", "mode", "maxStagedBytes"], "StreamReceiver");
    this.host = host;
    this.maxGuestPages = requireInt("maxGuestPages", limits.maxGuestPages ?? MAX_GUEST_PAGES, 1, MAX_GUEST_PAGES);
    this.maxChunkBytes = requireInt("maxChunkBytes", limits.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, MAX_CHUNK_LIMIT);
    const mode = limits.mode ?? "direct";
    if (mode !== "direct" && mode !== "epochs") {
      throw new HypermemError(ErrorCode.BadOption, `mode must be "direct" or "epochs", got ${JSON.stringify(mode)}`, { option: "mode", value: mode });
    }
    this.mode = mode;
    this.maxStagedBytes = requireInt("maxStagedBytes", limits.maxStagedBytes ?? DEFAULT_MAX_STAGED_BYTES, this.maxChunkBytes, Number.MAX_SAFE_INTEGER);
  }

  /** The destination VM (created once the header is valid); null before, and after a failure in direct mode. */
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
  /** Number of the last epoch committed (COMMIT received), -1 before the first. */
  get epoch(): number { return this.#epoch; }
  /** Epochs mode: bytes of records waiting for their COMMIT. */
  get stagedBytes(): number { return this.#stagedBytes; }

  /** Feeds stream bytes (any split). Throws a HypermemError on the first problem (see the modes above). */
  push(bytes: Uint8Array): void {
    if (this.#error) throw this.#refused();
    try {
      this.#consume(bytes);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** The received VM. Throws ERR_STREAM_TRUNCATED (and, in direct mode, discards the guest) when END_STREAM has not arrived. */
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

  /**
   * Epochs mode: hands over the guest as the last COMMIT left it (records of
   * an unfinished epoch are dropped) and ends the receiver. Null when no
   * stream header arrived. Also after a failure.
   */
  takeCommitted(): { vm: Vm; epoch: number } | null {
    if (this.mode !== "epochs") {
      throw new HypermemError(ErrorCode.BadOption, "takeCommitted() is for a receiver in epochs mode; a direct receiver hands its guest over with finish()", { option: "mode" });
    }
    this.#dropStaged();
    this.#releaseBuffers();
    const vm = this.#vm;
    if (!vm || this.#handedOver) return null;
    this.#handedOver = true;
    if (!this.#error) this.#phase = "failed";
    return { vm, epoch: this.#epoch };
  }

  /** Gives up: discards the partial guest (direct mode; not one already handed over) or the uncommitted epoch (epochs mode); later calls throw. */
  abort(reason = "aborted by the caller"): void {
    if (this.#error || this.#handedOver) return;
    this.#fail(new HypermemError(ErrorCode.MigrationFailed, `stream receive aborted after ${this.#offset} bytes: ${reason}`, { offset: this.#offset, reason }));
  }

  #refused(): HypermemError {
    const e = this.#error!;
    return new HypermemError(e.code, `the receiver already failed: ${e.message}`, { ...e.details });
  }

  /** Records the error, drops what is not committed, and returns the error to throw. */
  #fail(err: unknown): unknown {
    this.#phase = "failed";
    this.#dropStaged();
    if (this.mode === "direct") {
      if (this.#vm && !this.#handedOver) this.#vm.destroy();
      this.#vm = null;
    }
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
        if (this.#have === this.#need) this.#acceptPayload(this.#need);
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
    installMachineCheckHandler(this.host); // POISON records make poisoned pages here
    this.#header = header;
    this.#allocFingerprintTable(header.guestPages);
    this.#startChunk();
  }

  /** For a guest up to DIGEST_TABLE_MAX_PAGES, the fingerprint table. */
  #allocFingerprintTable(pages: number): void {
    if (pages > DIGEST_TABLE_MAX_PAGES) return;
    this.#tablePtr = this.#hostBuffer(pages * 8, "guestPages", pages, "its fingerprint table");
    this.#tableBytes = pages * 8;
    this.host.kernels.pages.fingerprintTableInit(this.#tablePtr, pages);
  }

  /** A buffer of `bytes` in the destination host; ERR_STREAM_LIMIT naming `field` when the host is full. */
  #hostBuffer(bytes: number, field: string, value: number, what: string): number {
    try {
      return this.host.kernels.frames.allocBuffer(bytes);
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
    if (this.#payloadPtr >= 0) k.frames.freeBuffer(this.#payloadPtr, this.#payloadCapacity);
    this.#payloadPtr = -1;
    this.#payloadCapacity = 0;
    const capacity = Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
    this.#payloadPtr = this.#hostBuffer(capacity, "payloadBytes", bytes, `a ${bytes}-byte chunk payload`);
    this.#payloadCapacity = capacity;
  }

  /** Returns the payload buffer and fingerprint table to the host. */
  #releaseBuffers(): void {
    const k = this.host.kernels;
    if (this.#payloadPtr >= 0) k.frames.freeBuffer(this.#payloadPtr, this.#payloadCapacity);
    if (this.#tablePtr !== 0) k.frames.freeBuffer(this.#tablePtr, this.#tableBytes);
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
    if (this.mode === "epochs" && this.#stagedBytes + h.payloadBytes > this.maxStagedBytes) {
      throw new HypermemError(
        ErrorCode.StreamLimit,
        `${where}: epoch ${this.#epoch + 1} would stage ${this.#stagedBytes + h.payloadBytes} bytes before its COMMIT, above the receiver's limit of ${this.maxStagedBytes}`,
        { field: "payloadBytes", value: h.payloadBytes, staged: this.#stagedBytes, limit: this.maxStagedBytes },
      );
    }
    this.#ensurePayloadBuffer(h.payloadBytes);
    this.#chunk = h;
    this.#phase = "payload";
    this.#have = 0;
    this.#need = h.payloadBytes;
  }

  /** Checks the checksum of the `length`-byte payload in the payload buffer, then validates and applies (or stages) its records. */
  #acceptPayload(length: number): void {
    const h = this.#chunk!;
    const where = `chunk ${this.#sequence} (stream offset ${this.#chunkOffset})`;
    const k = this.host.kernels;
    const ptr = this.#payloadPtr;
    const checksum = checksumOf(k.pages.xxh3(ptr, length));
    if (checksum !== h.checksum) {
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${where}: field checksum is 0x${h.checksum.toString(16)}, the ${length}-byte payload's is 0x${checksum.toString(16)}`,
        { field: "checksum", value: h.checksum, actual: checksum, chunk: this.#sequence, offset: this.#chunkOffset + 12 },
      );
    }
    const payloadOffset = this.#chunkOffset + CHUNK_HEADER_BYTES;
    const staged: StagedChunk = { ptr, capacity: this.#payloadCapacity, spans: [] };
    let off = 0;
    while (off < length) {
      const r = this.mode === "epochs" ? this.#validate(ptr, length, off, where, payloadOffset) : this.#apply(ptr, length, off, where, payloadOffset);
      if (r > off) staged.spans.push([off, r]);
      if (r === length) break;
      const info = k.stream.info();
      if (info.type === RecordType.EndStream) {
        this.#endStream(length, r, where, payloadOffset, staged.spans.length > 0);
        return;
      }
      this.#control(info.type, info.pfn, staged, `${where}, ${RECORD_NAMES[info.type]} record at payload offset ${r} (stream offset ${payloadOffset + r})`, payloadOffset + r);
      off = r + RECORD_HEADER_BYTES;
    }
    if (this.mode === "epochs" && staged.spans.length > 0) this.#keepStaged(staged);
    this.#sequence++;
    this.#startChunk();
  }

  /** Applies records of [off, len) until a control record; returns its offset or len. A page not resident is brought back first. */
  #apply(ptr: number, len: number, off: number, where: string, payloadOffset: number): number {
    const k = this.host.kernels;
    const vm = this.#vm!;
    const flags = (this.#header!.flags & FLAG_XBZRLE) !== 0 ? UNPACK_XBZRLE : 0;
    for (;;) {
      const r = k.stream.unpack(vm.slot, ptr, len, off, flags, this.#tablePtr);
      if (r >= 0) return r;
      const info = k.stream.info();
      if (info.reason !== StreamReason.NotResident) throw this.#recordError(where, payloadOffset);
      vm.accessPage(info.pfn, true);
      off = info.offset;
    }
  }

  /** Epochs mode: validates records of [off, len) without applying them; counts the frames they may take. */
  #validate(ptr: number, len: number, off: number, where: string, payloadOffset: number): number {
    const k = this.host.kernels;
    const vm = this.#vm!;
    const flags = UNPACK_VALIDATE_ONLY | ((this.#header!.flags & FLAG_XBZRLE) !== 0 ? UNPACK_XBZRLE : 0);
    for (;;) {
      const r = k.stream.unpack(vm.slot, ptr, len, off, flags, 0);
      this.#stagedFrames += k.stream.info().framesNeeded;
      if (r >= 0) return r;
      const info = k.stream.info();
      if (info.reason !== StreamReason.NotResident) throw this.#recordError(where, payloadOffset);
      vm.accessPage(info.pfn, true);
      off = info.offset;
    }
  }

  /** An END_ROUND or COMMIT record numbered `n` (rounds and epochs count up from 0). */
  #control(type: number, n: number, current: StagedChunk, at: string, offset: number): void {
    const isCommit = type === RecordType.Commit;
    const expected = (isCommit ? this.#epoch : this.#round) + 1;
    if (n !== expected) {
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${at}: ${isCommit ? "epoch" : "round"} ${n}, expected ${expected}`,
        { field: isCommit ? "epoch" : "round", value: n, expected, chunk: this.#sequence, offset },
      );
    }
    if (!isCommit) {
      this.#round = n;
      return;
    }
    if (this.mode === "epochs") this.#commit(current, at);
    this.#epoch = n;
  }

  /** Keeps a chunk's payload for the COMMIT; the next chunk gets a buffer of its own. */
  #keepStaged(chunk: StagedChunk): void {
    this.#staged.push(chunk);
    this.#stagedBytes += chunk.capacity;
    this.#payloadPtr = -1;
    this.#payloadCapacity = 0;
  }

  /** Applies the staged records (and the spans of `current` before the COMMIT), once the host has the frames they may take. */
  #commit(current: StagedChunk, at: string): void {
    const k = this.host.kernels;
    const free = this.host.maxFrames - k.frames.used;
    if (this.#stagedFrames > free) {
      throw new HypermemError(
        ErrorCode.StreamLimit,
        `${at}: epoch ${this.#epoch + 1} may need ${this.#stagedFrames} new frames, the destination host has ${free}; the epoch is dropped, the guest stays at epoch ${this.#epoch}`,
        { epoch: this.#epoch + 1, framesNeeded: this.#stagedFrames, framesFree: free },
      );
    }
    for (const chunk of [...this.#staged, current]) {
      for (const [start, end] of chunk.spans) this.#apply(chunk.ptr, end, start, at, 0);
    }
    current.spans.length = 0;
    this.#dropStaged();
  }

  /** Frees the staged payloads (committed or dropped). */
  #dropStaged(): void {
    for (const chunk of this.#staged) this.host.kernels.frames.freeBuffer(chunk.ptr, chunk.capacity);
    this.#staged = [];
    this.#stagedBytes = 0;
    this.#stagedFrames = 0;
  }

  #recordError(where: string, payloadOffset: number): HypermemError {
    const info = this.host.kernels.stream.info();
    const type = RECORD_NAMES[info.type] ?? `unknown type ${info.type}`;
    const reason = info.reason === 0 ? "unknown reason" : KERNEL_REASONS[info.reason];
    const field = info.reason === StreamReason.Flags ? `flags ${info.length}` : `payload length ${info.length}`;
    return new HypermemError(
      info.reason === StreamReason.OutOfFrames ? ErrorCode.StreamLimit : ErrorCode.StreamCorrupt,
      `${where}, record at payload offset ${info.offset} (stream offset ${payloadOffset + info.offset}): ${type}, pfn ${info.pfn}, ${field}: ${reason}`,
      { chunk: this.#sequence, offset: payloadOffset + info.offset, recordType: info.type, pfn: info.pfn, length: info.length, reason: info.reason, status: info.status },
    );
  }

  /** END_STREAM at payload offset `r`: last in the chunk, nothing uncommitted, right guest size, matching digest. */
  #endStream(length: number, r: number, where: string, payloadOffset: number, uncommittedInChunk: boolean): void {
    const end = r + RECORD_HEADER_BYTES + END_STREAM_BYTES;
    const at = `${where}, END_STREAM record at payload offset ${r} (stream offset ${payloadOffset + r})`;
    if (end !== length) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: ${length - end} bytes follow it in the chunk`, { chunk: this.#sequence, offset: payloadOffset + end });
    }
    if (this.mode === "epochs" && (this.#staged.length > 0 || uncommittedInChunk)) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: epoch ${this.#epoch + 1} has records but no COMMIT before the end of the stream`, { chunk: this.#sequence, epoch: this.#epoch + 1 });
    }
    const k = this.host.kernels;
    const fields = new DataView(k.heap.copyOut(this.#payloadPtr + r + RECORD_HEADER_BYTES, END_STREAM_BYTES).buffer);
    const digest = fields.getBigUint64(0, true);
    const pages = fields.getUint32(8, true);
    const poisoned = fields.getUint32(12, true);
    const vm = this.#vm!;
    if (pages !== vm.pages) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: field guestPages is ${pages}, the header said ${vm.pages}`, { field: "guestPages", value: pages, expected: vm.pages, offset: payloadOffset + r + 16 });
    }
    const own = guestDigest(vm, this.#tablePtr);
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
