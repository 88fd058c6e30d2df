// StreamReceiver: the destination side of the page-record stream. Bytes
// arrive split anywhere (as from TCP); the format layer's ChunkParser checks
// the header and each chunk's framing, and this receiver is its sink: the
// payload is copied once, straight into a buffer in the destination host's
// memory, and checksummed there in wasm. Every field is validated before
// anything is allocated or written; records are validated and applied
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
import { ChunkParser, type ChunkFrame, type ChunkSink } from "../format/chunks.js";
import type { DecodedHeader } from "../format/header.js";
import type { Host } from "../host/host.js";
import { MAX_GUEST_PAGES, type Vm } from "../host/vm.js";
import { rejectUnknown, requireInt } from "../options.js";
import { installMachineCheckHandler } from "../ras/machine-check.js";
import { PAGE_SIZE, StreamReason, UNPACK_VALIDATE_ONLY, UNPACK_XBZRLE } from "../wasm/codes.js";
import { guestDigest } from "./fingerprints.js";
import {
  CHUNK_HEADER_BYTES, CHUNK_MAGIC, DEFAULT_MAX_CHUNK_BYTES, END_STREAM_BYTES, FLAG_XBZRLE, KERNEL_REASONS,
  RECORD_HEADER_BYTES, RECORD_NAMES, RecordType, STREAM_HEADER, checkGuestLimit, checksumOf, type StreamHeader,
  type StreamHeaderFields,
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

export class StreamReceiver implements ChunkSink {
  readonly host: Host;
  readonly maxGuestPages: number;
  readonly maxChunkBytes: number;
  readonly mode: "direct" | "epochs";
  readonly maxStagedBytes: number;
  readonly #parser: ChunkParser<StreamHeaderFields>;
  /** Payload buffer in the destination host, grown to the largest chunk so far; -1 before the first chunk and after. */
  #payloadPtr = -1;
  #payloadCapacity = 0;
  /** Fingerprint table in the destination host (8 bytes per guest page), or 0 (the kernels' "none") when the guest is too large for one. */
  #tablePtr = 0;
  #tableBytes = 0;
  #done = false;
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
    this.#parser = new ChunkParser({
      name: "stream", magic: CHUNK_MAGIC, maxPayloadBytes: this.maxChunkBytes, minPayloadBytes: MIN_CHUNK_BYTES,
      header: STREAM_HEADER, onHeader: (h) => this.#acceptHeader(h),
      sink: this, errorCode: ErrorCode.StreamCorrupt, limitErrorCode: ErrorCode.StreamLimit, truncatedErrorCode: ErrorCode.StreamTruncated,
    });
  }

  /** The destination VM (created once the header is valid); null before, and after a failure in direct mode. */
  get vm(): Vm | null { return this.#vm; }
  /** The validated stream header, once received. */
  get header(): StreamHeader | null { return this.#header; }
  /** True once END_STREAM arrived and the digest matched. */
  get done(): boolean { return this.#done; }
  /** Stream bytes consumed so far. */
  get bytesReceived(): number { return this.#parser.bytesConsumed; }
  /** Chunks applied so far. */
  get chunks(): number { return this.#parser.chunks; }
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
      this.#parser.push(bytes);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** The received VM. Throws ERR_STREAM_TRUNCATED (and, in direct mode, discards the guest) when END_STREAM has not arrived. */
  finish(): Vm {
    if (this.#error) throw this.#refused();
    if (!this.#done || !this.#vm) {
      const offset = this.bytesReceived;
      try {
        this.#parser.finish();
      } catch (err) {
        const e = err as HypermemError;
        throw this.#fail(new HypermemError(e.code, `${e.message}, without END_STREAM`, { ...e.details }));
      }
      throw this.#fail(new HypermemError(
        ErrorCode.StreamTruncated,
        `stream ended after ${offset} bytes, before chunk ${this.chunks}, without END_STREAM`,
        { offset, chunk: this.chunks },
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
    this.#error ??= new HypermemError(ErrorCode.Destroyed, `the receiver handed its guest over at epoch ${this.#epoch}`, { epoch: this.#epoch });
    return { vm, epoch: this.#epoch };
  }

  /** Gives up: discards the partial guest (direct mode; not one already handed over) or the uncommitted epoch (epochs mode); later calls throw. */
  abort(reason = "aborted by the caller"): void {
    if (this.#error || this.#handedOver) return;
    this.#fail(new HypermemError(ErrorCode.MigrationFailed, `stream receive aborted after ${this.bytesReceived} bytes: ${reason}`, { offset: this.bytesReceived, reason }));
  }

  #refused(): HypermemError {
    const e = this.#error!;
    return new HypermemError(e.code, `the receiver already failed: ${e.message}`, { ...e.details });
  }

  /** Records the error, drops what is not committed, and returns the error to throw. */
  #fail(err: unknown): unknown {
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

  /** The stream header passed the format layer's checks: the guest size against the limits, then the guest. */
  #acceptHeader(h: DecodedHeader<StreamHeaderFields>): void {
    checkGuestLimit(h.guestPages, this.maxGuestPages);
    const header: StreamHeader = { version: h.major, flags: h.flags, pageBytes: h.pageBytes, guestPages: h.guestPages, vmId: h.vmId };
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

  /** ChunkSink: a chunk's framing passed; makes room for its payload in the host. */
  begin(chunk: ChunkFrame): void {
    if (this.mode === "epochs" && this.#stagedBytes + chunk.payloadBytes > this.maxStagedBytes) {
      throw new HypermemError(
        ErrorCode.StreamLimit,
        `stream chunk ${chunk.sequence} (stream offset ${chunk.streamOffset}): epoch ${this.#epoch + 1} would stage ${this.#stagedBytes + chunk.payloadBytes} bytes before its COMMIT, above the receiver's limit of ${this.maxStagedBytes}`,
        { field: "payloadBytes", value: chunk.payloadBytes, staged: this.#stagedBytes, limit: this.maxStagedBytes },
      );
    }
    this.#ensurePayloadBuffer(chunk.payloadBytes);
  }

  /** ChunkSink: payload bytes land straight in the host buffer. */
  write(bytes: Uint8Array, at: number): void {
    this.host.kernels.heap.copyIn(this.#payloadPtr + at, bytes);
  }

  /** ChunkSink: the payload's checksum, hashed in wasm. */
  checksum(chunk: ChunkFrame): number {
    return checksumOf(this.host.kernels.pages.xxh3(this.#payloadPtr, chunk.payloadBytes));
  }

  /** ChunkSink: a checked chunk; applies (or stages) its records. True at END_STREAM. */
  end(chunk: ChunkFrame): boolean {
    this.#acceptPayload(chunk);
    return this.#done;
  }

  /** Validates and applies (or stages) the records of a checked chunk's payload. */
  #acceptPayload(chunk: ChunkFrame): void {
    const length = chunk.payloadBytes;
    const where = `chunk ${chunk.sequence} (stream offset ${chunk.streamOffset})`;
    const k = this.host.kernels;
    const ptr = this.#payloadPtr;
    const payloadOffset = chunk.streamOffset + CHUNK_HEADER_BYTES;
    const staged: StagedChunk = { ptr, capacity: this.#payloadCapacity, spans: [] };
    let off = 0;
    while (off < length) {
      const r = this.mode === "epochs" ? this.#validate(ptr, length, off, where, payloadOffset) : this.#apply(ptr, length, off, where, payloadOffset);
      if (r > off) staged.spans.push([off, r]);
      if (r === length) break;
      const info = k.stream.info();
      if (info.type === RecordType.EndStream) {
        this.#endStream(chunk, r, where, payloadOffset, staged.spans.length > 0);
        return;
      }
      this.#control(chunk, info.type, info.pfn, staged, `${where}, ${RECORD_NAMES[info.type]} record at payload offset ${r} (stream offset ${payloadOffset + r})`, payloadOffset + r);
      off = r + RECORD_HEADER_BYTES;
    }
    if (this.mode === "epochs" && staged.spans.length > 0) this.#keepStaged(staged);
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
  #control(chunk: ChunkFrame, type: number, n: number, current: StagedChunk, at: string, offset: number): void {
    const isCommit = type === RecordType.Commit;
    const expected = (isCommit ? this.#epoch : this.#round) + 1;
    if (n !== expected) {
      throw new HypermemError(
        ErrorCode.StreamCorrupt,
        `${at}: ${isCommit ? "epoch" : "round"} ${n}, expected ${expected}`,
        { field: isCommit ? "epoch" : "round", value: n, expected, chunk: chunk.sequence, offset },
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
    const chunk = this.chunks;
    const info = this.host.kernels.stream.info();
    const type = RECORD_NAMES[info.type] ?? `unknown type ${info.type}`;
    const reason = info.reason === 0 ? "unknown reason" : KERNEL_REASONS[info.reason];
    const field = info.reason === StreamReason.Flags ? `flags ${info.length}` : `payload length ${info.length}`;
    return new HypermemError(
      info.reason === StreamReason.OutOfFrames ? ErrorCode.StreamLimit : ErrorCode.StreamCorrupt,
      `${where}, record at payload offset ${info.offset} (stream offset ${payloadOffset + info.offset}): ${type}, pfn ${info.pfn}, ${field}: ${reason}`,
      { chunk, offset: payloadOffset + info.offset, recordType: info.type, pfn: info.pfn, length: info.length, reason: info.reason, status: info.status },
    );
  }

  /** END_STREAM at payload offset `r`: last in the chunk, nothing uncommitted, right guest size, matching digest. */
  #endStream(chunk: ChunkFrame, r: number, where: string, payloadOffset: number, uncommittedInChunk: boolean): void {
    const length = chunk.payloadBytes;
    const end = r + RECORD_HEADER_BYTES + END_STREAM_BYTES;
    const at = `${where}, END_STREAM record at payload offset ${r} (stream offset ${payloadOffset + r})`;
    if (end !== length) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: ${length - end} bytes follow it in the chunk`, { chunk: chunk.sequence, offset: payloadOffset + end });
    }
    if (this.mode === "epochs" && (this.#staged.length > 0 || uncommittedInChunk)) {
      throw new HypermemError(ErrorCode.StreamCorrupt, `${at}: epoch ${this.#epoch + 1} has records but no COMMIT before the end of the stream`, { chunk: chunk.sequence, epoch: this.#epoch + 1 });
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
    this.#done = true;
    this.#releaseBuffers();
  }
}
