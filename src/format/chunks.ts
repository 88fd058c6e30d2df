// Chunk framing and its incremental parser. A framed stream is an optional
// versioned header (src/format/header.ts) followed by chunks; the migration
// stream (docs/migration-stream.md) is one. docs/formats.md describes both.
//
// Chunk (little endian):
//   0            4            8              12           16
//   ┌────────────┬────────────┬──────────────┬────────────┬──────────────────────┐
//   │ u32 magic  │ u32 seq    │ u32 payload- │ u32 check- │ payload              │
//   │ (4 ASCII)  │ from first │     Bytes    │     sum    │ (payloadBytes bytes) │
//   └────────────┴────────────┴──────────────┴────────────┴──────────────────────┘
//   seq       counts chunks with no gap, from the parser's firstSequence
//   checksum  low 32 bits of XXH3-64 (seed 0) of the payload
//
// ChunkParser takes the bytes split anywhere (one at a time works). It checks
// a chunk's magic as soon as its 4 bytes are in, then the sequence, then the
// payload length against the limits, all before any payload byte reaches the
// sink; the sink then gets the payload in pieces, and the checksum is compared
// before the sink applies the chunk. The parser buffers at most one header
// (16 bytes, or a leading header of up to 64 KiB) and never keeps a view of
// the caller's bytes across calls, so a sink can land payloads in wasm memory,
// whose views a memory.grow between pushes detaches.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt } from "../options.js";
import { xxh3Hash64 } from "../pages/pages.js";
import { describeMagic, MIN_HEADER_BYTES, type DecodedHeader, type HeaderCodec } from "./header.js";

export const CHUNK_HEADER_BYTES = 16;
/** Largest payloadBytes a u32 can announce. */
const MAX_U32 = 0xffffffff;

/** The four fields of a chunk header. */
export interface ChunkHeader {
  /** As read little endian: magicU32("HMCK") for "HMCK". */
  readonly magic: number;
  readonly sequence: number;
  readonly payloadBytes: number;
  readonly checksum: number;
}

/** A chunk header as the parser hands it to the sink: where it sat in the stream. */
export interface ChunkFrame extends ChunkHeader {
  /** Stream offset of the chunk's first header byte. */
  readonly streamOffset: number;
}

/** Where a chunk's payload goes. Each method may throw: the parser then fails with that error. */
export interface ChunkSink {
  /** The framing checks passed: make room for `chunk.payloadBytes`. */
  begin(chunk: ChunkFrame): void;
  /** Payload bytes [at, at + bytes.length). `bytes` is valid during the call only. */
  write(bytes: Uint8Array, at: number): void;
  /** The whole payload is in: its checksum (low 32 bits of XXH3-64); the parser compares. */
  checksum(chunk: ChunkFrame): number;
  /** The checksum matched: apply the chunk. Return true when it ends the stream (nothing may follow). */
  end(chunk: ChunkFrame): boolean | void;
}

/** The checksum of a chunk payload: the low 32 bits of XXH3-64 (seed 0). */
export function chunkChecksum(payload: Uint8Array): number {
  return Number(xxh3Hash64(payload) & 0xffffffffn);
}

/** Writes the 16-byte header `h` into `out` at byte `at`. */
export function encodeChunkHeader(out: Uint8Array, at: number, h: ChunkHeader): void {
  const view = new DataView(out.buffer, out.byteOffset + at, CHUNK_HEADER_BYTES);
  view.setUint32(0, h.magic, true);
  view.setUint32(4, h.sequence, true);
  view.setUint32(8, h.payloadBytes, true);
  view.setUint32(12, h.checksum, true);
}

/** One whole chunk (header and a copy of `payload`). */
export function frameChunk(magic: number, sequence: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + payload.byteLength);
  encodeChunkHeader(out, 0, { magic, sequence, payloadBytes: payload.byteLength, checksum: chunkChecksum(payload) });
  out.set(payload, CHUNK_HEADER_BYTES);
  return out;
}

/** A sink that collects each payload into its own Uint8Array and checksums it in JavaScript. */
export class BufferSink implements ChunkSink {
  /** The payloads received so far, in order (when no onChunk was given). */
  readonly payloads: Uint8Array[] = [];
  readonly #onChunk: ((payload: Uint8Array, chunk: ChunkFrame) => boolean | void) | undefined;
  #current = new Uint8Array(0);

  /** `onChunk`, when given, receives each checked payload instead of `payloads`; true ends the stream. */
  constructor(onChunk?: (payload: Uint8Array, chunk: ChunkFrame) => boolean | void) {
    this.#onChunk = onChunk;
  }

  begin(chunk: ChunkFrame): void { this.#current = new Uint8Array(chunk.payloadBytes); }
  write(bytes: Uint8Array, at: number): void { this.#current.set(bytes, at); }
  checksum(): number { return chunkChecksum(this.#current); }
  end(chunk: ChunkFrame): boolean | void {
    const payload = this.#current;
    this.#current = new Uint8Array(0);
    if (this.#onChunk) return this.#onChunk(payload, chunk);
    this.payloads.push(payload);
  }
}

export interface ChunkParserOptions<H = unknown> {
  /** The stream's name in messages ("stream"). */
  name: string;
  /** Every chunk's magic, as magicU32() gives it. */
  magic: number;
  /** Largest payload accepted; a larger one is limitErrorCode, before anything is buffered. */
  maxPayloadBytes: number;
  /** Smallest payload accepted. @default 0 */
  minPayloadBytes?: number;
  /** Sequence number of the first chunk. @default 0 */
  firstSequence?: number;
  /** A versioned header before the first chunk, decoded and handed to onHeader. */
  header?: HeaderCodec<H>;
  /** Receives the decoded leading header (may throw to refuse it). */
  onHeader?: (header: DecodedHeader<H>) => void;
  sink: ChunkSink;
  /** Code of a chunk that fails a check. */
  errorCode: ErrorCode;
  /** Code of a payload length over maxPayloadBytes. @default errorCode */
  limitErrorCode?: ErrorCode;
  /** Code of finish() in the middle of a header or chunk. @default errorCode */
  truncatedErrorCode?: ErrorCode;
}
const OPTION_KEYS = ["name", "magic", "maxPayloadBytes", "minPayloadBytes", "firstSequence", "header", "onHeader", "sink", "errorCode", "limitErrorCode", "truncatedErrorCode"];

/** The options after defaults, frozen. */
export type ResolvedChunkParserOptions<H> = Readonly<Required<Omit<ChunkParserOptions<H>, "header" | "onHeader">> & Pick<ChunkParserOptions<H>, "header" | "onHeader">>;

type Phase = "header" | "chunk-header" | "payload" | "ended" | "finished" | "failed";

/** The incremental parser of a framed stream: push() the bytes as they come, finish() at the end. */
export class ChunkParser<H = unknown> {
  readonly options: ResolvedChunkParserOptions<H>;
  #phase: Phase;
  /** The header being collected: 16 bytes for a chunk or a header's fixed part, then a leading header's headerBytes. */
  #small: Uint8Array;
  #have = 0;
  #need: number;
  #offset = 0;
  #chunkOffset = 0;
  #sequence: number;
  #chunks = 0;
  #frame: ChunkFrame | null = null;
  #ended = false;
  #error: HypermemError | null = null;

  constructor(options: ChunkParserOptions<H>) {
    rejectUnknown(options, OPTION_KEYS, "ChunkParser");
    const maxPayloadBytes = requireInt("maxPayloadBytes", options.maxPayloadBytes, 0, MAX_U32);
    this.options = Object.freeze({
      name: options.name,
      magic: requireInt("magic", options.magic, 0, MAX_U32),
      maxPayloadBytes,
      minPayloadBytes: requireInt("minPayloadBytes", options.minPayloadBytes ?? 0, 0, maxPayloadBytes),
      firstSequence: requireInt("firstSequence", options.firstSequence ?? 0, 0, MAX_U32),
      header: options.header,
      onHeader: options.onHeader,
      sink: options.sink,
      errorCode: options.errorCode,
      limitErrorCode: options.limitErrorCode ?? options.errorCode,
      truncatedErrorCode: options.truncatedErrorCode ?? options.errorCode,
    });
    this.#sequence = this.options.firstSequence;
    this.#phase = options.header ? "header" : "chunk-header";
    this.#need = options.header ? MIN_HEADER_BYTES : CHUNK_HEADER_BYTES;
    this.#small = new Uint8Array(this.#need);
  }

  /** Stream bytes consumed so far. */
  get bytesConsumed(): number { return this.#offset; }
  /** Chunks checked and handed to sink.end() so far. */
  get chunks(): number { return this.#chunks; }
  /** True once the sink said a chunk ended the stream. */
  get ended(): boolean { return this.#ended; }

  /** Feeds the next bytes, split anywhere. Throws the first problem; after that every call throws. */
  push(bytes: Uint8Array): void {
    this.#refuseIfDone();
    try {
      this.#consume(bytes);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** The input is over: throws a truncation error when it stopped inside a header or a chunk. */
  finish(): void {
    this.#refuseIfDone();
    if (this.#phase === "ended" || (this.#phase === "chunk-header" && this.#have === 0)) {
      this.#phase = "finished";
      return;
    }
    const n = this.options.name;
    const where = this.#phase === "header"
      ? `in its ${this.options.header!.name} header (${this.#have} of ${this.#need} bytes)`
      : this.#phase === "chunk-header"
        ? `in the header of chunk ${this.#sequence} (${this.#have} of ${CHUNK_HEADER_BYTES} bytes)`
        : `in the payload of chunk ${this.#sequence} (${this.#have} of ${this.#need} bytes)`;
    throw this.#fail(new HypermemError(this.options.truncatedErrorCode, `${n} ended after ${this.#offset} bytes, ${where}`,
      { offset: this.#offset, chunk: this.#sequence, phase: this.#phase, have: this.#have, need: this.#need }));
  }

  #refuseIfDone(): void {
    if (this.#error) {
      const e = this.#error;
      throw new HypermemError(e.code, `${this.options.name} parser already failed: ${e.message}`, { ...e.details });
    }
    if (this.#phase === "finished") {
      throw new HypermemError(ErrorCode.Destroyed, `${this.options.name} parser is finished; it takes no more input`, { offset: this.#offset });
    }
  }

  #fail(err: unknown): unknown {
    this.#phase = "failed";
    this.#small = new Uint8Array(0);
    this.#error = err instanceof HypermemError
      ? err
      : new HypermemError(this.options.errorCode, `${this.options.name} failed at stream offset ${this.#offset}: ${String(err)}`, { offset: this.#offset });
    return err;
  }

  #consume(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.byteLength) {
      if (this.#phase === "ended") {
        const extra = bytes.byteLength - at;
        throw new HypermemError(this.options.errorCode,
          `${this.options.name}: ${extra} bytes at stream offset ${this.#offset}, after chunk ${this.#sequence - 1} ended the stream`,
          { offset: this.#offset, extra });
      }
      const take = Math.min(this.#need - this.#have, bytes.byteLength - at);
      if (this.#phase === "payload") {
        this.options.sink.write(bytes.subarray(at, at + take), this.#have);
      } else {
        this.#small.set(bytes.subarray(at, at + take), this.#have);
      }
      const before = this.#have;
      this.#have += take;
      this.#offset += take;
      at += take;
      if (this.#phase === "payload") {
        if (this.#have === this.#need) this.#endChunk();
      } else {
        if (before < 4 && this.#have >= 4) this.#checkMagic();
        if (this.#have === this.#need) {
          if (this.#phase === "header") this.#headerBytesIn();
          else this.#chunkHeaderIn();
        }
      }
    }
  }

  #checkMagic(): void {
    const header = this.options.header;
    if (this.#phase === "header") {
      header!.checkMagic(this.#small);
      return;
    }
    const found = new DataView(this.#small.buffer, 0, 4).getUint32(0, true);
    if (found !== this.options.magic) {
      throw this.#chunkError("magic", this.#chunkOffset, found, this.options.magic,
        `field magic is ${describeMagic(found)}, expected ${describeMagic(this.options.magic)}`);
    }
  }

  /** The leading header's fixed part, then all of it, is in. */
  #headerBytesIn(): void {
    const codec = this.options.header!;
    if (this.#need === MIN_HEADER_BYTES) {
      const { headerBytes } = codec.decodePrefix(this.#small);
      if (headerBytes > MIN_HEADER_BYTES) {
        const all = new Uint8Array(headerBytes);
        all.set(this.#small);
        this.#small = all;
        this.#need = headerBytes;
        return;
      }
    }
    const decoded = codec.decode(this.#small);
    this.#small = new Uint8Array(CHUNK_HEADER_BYTES);
    this.options.onHeader?.(decoded);
    this.#startChunk();
  }

  #startChunk(): void {
    this.#phase = "chunk-header";
    this.#have = 0;
    this.#need = CHUNK_HEADER_BYTES;
    this.#chunkOffset = this.#offset;
  }

  #chunkHeaderIn(): void {
    const view = new DataView(this.#small.buffer, 0, CHUNK_HEADER_BYTES);
    const frame: ChunkFrame = Object.freeze({
      magic: view.getUint32(0, true),
      sequence: view.getUint32(4, true),
      payloadBytes: view.getUint32(8, true),
      checksum: view.getUint32(12, true),
      streamOffset: this.#chunkOffset,
    });
    const o = this.options;
    const expected = this.#sequence;
    if (frame.sequence !== expected) {
      const [problem, why] = frame.sequence === expected - 1
        ? ["duplicated", "a duplicate of the previous chunk"]
        : frame.sequence < expected
          ? ["reordered", `chunk ${frame.sequence} came again (reordered or duplicated)`]
          : ["lost", `chunk${frame.sequence - expected > 1 ? `s ${expected}..${frame.sequence - 1} are` : ` ${expected} is`} missing (lost, or reordered after chunk ${frame.sequence})`];
      throw this.#chunkError("sequence", this.#chunkOffset + 4, frame.sequence, expected,
        `field sequence (stream offset ${this.#chunkOffset + 4}) is ${frame.sequence}, expected ${expected}: ${why}`, { problem });
    }
    if (frame.payloadBytes > o.maxPayloadBytes) {
      throw this.#chunkError("payloadBytes", this.#chunkOffset + 8, frame.payloadBytes, o.maxPayloadBytes,
        `field payloadBytes (stream offset ${this.#chunkOffset + 8}) is ${frame.payloadBytes}, above the limit of ${o.maxPayloadBytes}`, { limit: o.maxPayloadBytes }, o.limitErrorCode);
    }
    if (frame.payloadBytes < o.minPayloadBytes) {
      throw this.#chunkError("payloadBytes", this.#chunkOffset + 8, frame.payloadBytes, o.minPayloadBytes,
        `field payloadBytes (stream offset ${this.#chunkOffset + 8}) is ${frame.payloadBytes}, below the minimum of ${o.minPayloadBytes}`);
    }
    this.#frame = frame;
    o.sink.begin(frame);
    this.#phase = "payload";
    this.#have = 0;
    this.#need = frame.payloadBytes;
    if (frame.payloadBytes === 0) this.#endChunk();
  }

  #endChunk(): void {
    const frame = this.#frame!;
    const sink = this.options.sink;
    const actual = sink.checksum(frame) >>> 0;
    if (actual !== frame.checksum) {
      throw this.#chunkError("checksum", this.#chunkOffset + 12, frame.checksum, actual,
        `field checksum (stream offset ${this.#chunkOffset + 12}) is 0x${frame.checksum.toString(16)}, the ${frame.payloadBytes}-byte payload's is 0x${actual.toString(16)}`, { actual });
    }
    const last = sink.end(frame) === true;
    this.#frame = null;
    this.#chunks++;
    this.#sequence = (this.#sequence + 1) >>> 0;
    if (last) {
      this.#ended = true;
      this.#phase = "ended";
      this.#have = 0;
      this.#need = 0;
    } else {
      this.#startChunk();
    }
  }

  #chunkError(field: string, offset: number, value: number, expected: number, what: string,
    extra: Record<string, unknown> = {}, code: ErrorCode = this.options.errorCode): HypermemError {
    return new HypermemError(code, `${this.options.name} chunk ${this.#sequence} (stream offset ${this.#chunkOffset}): ${what}`,
      { field, value, expected, chunk: this.#sequence, offset, ...extra });
  }
}
