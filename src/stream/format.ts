// The hypermem page-record stream, version 3 (docs/migration-stream.md has
// the byte-layout diagrams): a 40-byte header, then framed, checksummed
// chunks whose payloads are records. Migration, checkpoints and snapshots
// all carry guest memory in it. Little endian throughout. The record packer
// and unpacker are wasm kernels (assembly/stream.ts); this file holds the
// constants, the header codec and the chunk framing.
import { crc32 } from "node:zlib";
import { xxh3Hash64 } from "../pages/pages.js";
import { ErrorCode, HypermemError } from "../errors.js";
import { END_STREAM_BYTES, MAX_RECORD_BYTES, PAGE_SIZE, POISON_MARK, RECORD_HEADER_BYTES, RecordType, StreamReason } from "../wasm/codes.js";

export { END_STREAM_BYTES, MAX_RECORD_BYTES, POISON_MARK, RECORD_HEADER_BYTES, RecordType };

/** "HMMS" */
export const STREAM_MAGIC = 0x534d4d48;
export const STREAM_VERSION = 3;
export const HEADER_BYTES = 40;
/** Header flag: XBZRLE records may appear. */
export const FLAG_XBZRLE = 1 << 0;
const KNOWN_FLAGS = FLAG_XBZRLE;

/** "HMCK" */
export const CHUNK_MAGIC = 0x4b434d48;
export const CHUNK_HEADER_BYTES = 16;
/** Largest payload the packer writes (1 MiB). */
export const MAX_CHUNK_PAYLOAD = 1 << 20;
/** Default receiver limit on a chunk payload: 1 MiB plus slack for other writers. */
export const DEFAULT_MAX_CHUNK_BYTES = MAX_CHUNK_PAYLOAD + (64 << 10);

export const RECORD_NAMES: Readonly<Record<number, string>> = {
  1: "PAGE", 2: "ZERO", 3: "XBZRLE", 4: "POISON", 5: "END_ROUND", 6: "END_STREAM", 7: "COMMIT",
};

/**
 * The destination's acknowledgement, sent back once it has received
 * END_STREAM and matched the digest (8 bytes): "HMAK", u32 status 0.
 * The source reports a migration completed only after reading it.
 */
export const ACK_MAGIC = 0x4b414d48;
export const ACK_BYTES = 8;

export function encodeAck(): Uint8Array {
  const out = new Uint8Array(ACK_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, ACK_MAGIC, true);
  v.setUint32(4, 0, true);
  return out;
}

/** True when `bytes` is exactly a success acknowledgement. */
export function isAck(bytes: Uint8Array): boolean {
  if (bytes.length !== ACK_BYTES) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, ACK_BYTES);
  return v.getUint32(0, true) === ACK_MAGIC && v.getUint32(4, true) === 0;
}
/** Failure reasons of the stream kernels (assembly/stream.ts REASON_*), as message text. */
export const KERNEL_REASONS: Readonly<Record<StreamReason, string>> = {
  [StreamReason.RecordHeader]: "record header runs past the end of the chunk",
  [StreamReason.Type]: "unknown record type",
  [StreamReason.Flags]: "record flags must be 0",
  [StreamReason.Length]: "record payload length is wrong for its type",
  [StreamReason.Overrun]: "record payload runs past the end of the chunk",
  [StreamReason.PfnRange]: "page index past the end of the guest",
  [StreamReason.XbzrleInvalid]: "XBZRLE payload is not a valid XBZRLE stream for a 4096-byte page",
  [StreamReason.XbzrleDisabled]: "XBZRLE record in a stream whose header does not enable XBZRLE",
  [StreamReason.PageState]: "record for a page in a state it cannot apply to (poisoned, ballooned or traced)",
  [StreamReason.OutOfFrames]: "the destination host ran out of frames",
  [StreamReason.Field]: "END_STREAM record field must be 0",
  [StreamReason.NotResident]: "record for a page that is not resident (swapped or elsewhere) and was not brought back",
};

export interface StreamHeader {
  readonly version: number;
  /** FLAG_* bits. */
  readonly flags: number;
  readonly pageBytes: number;
  readonly guestPages: number;
  /** The source VM's id (informational). */
  readonly vmId: number;
}

/**
 * Header layout (40 bytes):
 *  0 magic "HMMS" · 4 u16 version · 6 u16 flags · 8 u32 page size · 12 u32 header bytes
 *  16 u64 guest pages · 24 u32 vm id · 28 u32 reserved · 32 u32 reserved · 36 u32 crc32(bytes 0..35)
 */
export function encodeHeader(h: { flags: number; guestPages: number; vmId: number }): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, STREAM_MAGIC, true);
  v.setUint16(4, STREAM_VERSION, true);
  v.setUint16(6, h.flags, true);
  v.setUint32(8, PAGE_SIZE, true);
  v.setUint32(12, HEADER_BYTES, true);
  v.setBigUint64(16, BigInt(h.guestPages), true);
  v.setUint32(24, h.vmId >>> 0, true);
  v.setUint32(36, crc32(out.subarray(0, 36)), true);
  return out;
}

function corrupt(message: string, details: Record<string, unknown>): HypermemError {
  return new HypermemError(ErrorCode.StreamCorrupt, message, details);
}

/**
 * Decodes and validates a 40-byte header: magic, version, page size, header
 * size, crc, flags, reserved fields, and guest pages in [1, maxGuestPages].
 * Throws ERR_STREAM_CORRUPT or ERR_STREAM_LIMIT naming the field and value.
 */
export function decodeHeader(bytes: Uint8Array, maxGuestPages: number): StreamHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new HypermemError(ErrorCode.StreamTruncated, `stream header: ${bytes.length} of ${HEADER_BYTES} bytes`, { bytes: bytes.length });
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const field = (name: string, offset: number, value: number | bigint, expected: string): HypermemError =>
    corrupt(`stream header field ${name} (byte offset ${offset}) is ${typeof value === "bigint" ? value : `0x${value.toString(16)}`}, expected ${expected}`, { field: name, value, offset });
  const magic = v.getUint32(0, true);
  if (magic !== STREAM_MAGIC) throw field("magic", 0, magic, '"HMMS" (0x534d4d48)');
  const crc = v.getUint32(36, true);
  const want = crc32(bytes.subarray(0, 36));
  if (crc !== want) throw field("crc", 36, crc, `0x${want.toString(16)} (crc32 of bytes 0..35)`);
  const version = v.getUint16(4, true);
  if (version !== STREAM_VERSION) throw field("version", 4, version, String(STREAM_VERSION));
  const flags = v.getUint16(6, true);
  if ((flags & ~KNOWN_FLAGS) !== 0) throw field("flags", 6, flags, `only bits 0x${KNOWN_FLAGS.toString(16)}`);
  const pageBytes = v.getUint32(8, true);
  if (pageBytes !== PAGE_SIZE) throw field("pageSize", 8, pageBytes, String(PAGE_SIZE));
  const headerBytes = v.getUint32(12, true);
  if (headerBytes !== HEADER_BYTES) throw field("headerBytes", 12, headerBytes, String(HEADER_BYTES));
  if (v.getUint32(28, true) !== 0) throw field("reserved", 28, v.getUint32(28, true), "0");
  if (v.getUint32(32, true) !== 0) throw field("reserved", 32, v.getUint32(32, true), "0");
  const pages = v.getBigUint64(16, true);
  if (pages === 0n) throw field("guestPages", 16, pages, "at least 1");
  if (pages > BigInt(maxGuestPages)) {
    throw new HypermemError(
      ErrorCode.StreamLimit,
      `stream header field guestPages (byte offset 16) is ${pages} (${pages / 256n} MiB), above the receiver's limit of ${maxGuestPages} pages`,
      { field: "guestPages", value: pages, limit: maxGuestPages },
    );
  }
  return { version, flags, pageBytes, guestPages: Number(pages), vmId: v.getUint32(24, true) };
}

/** A decoded chunk header (not yet checked against a sequence or a limit). */
export interface ChunkHeader {
  readonly magic: number;
  readonly sequence: number;
  readonly payloadBytes: number;
  /** Low 32 bits of XXH3-64 (seed 0) of the payload. */
  readonly checksum: number;
}

/** Chunk header layout (16 bytes): 0 magic "HMCK" · 4 u32 sequence · 8 u32 payload bytes · 12 u32 checksum. */
export function readChunkHeader(bytes: Uint8Array, at = 0): ChunkHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, CHUNK_HEADER_BYTES);
  return { magic: v.getUint32(0, true), sequence: v.getUint32(4, true), payloadBytes: v.getUint32(8, true), checksum: v.getUint32(12, true) };
}

/** The chunk checksum of a payload's XXH3-64 value: its low 32 bits. */
export function checksumOf(xxh3: bigint): number {
  return Number(xxh3 & 0xffff_ffffn);
}

/** Chunk checksum of a payload held in a JS array (the stream hot path hashes in wasm instead). */
export function chunkChecksum(payload: Uint8Array): number {
  return checksumOf(xxh3Hash64(payload));
}

/** Writes a chunk header at `out[at]` for a payload of `payloadBytes` with `checksum`. */
export function writeChunkHeader(out: Uint8Array, at: number, sequence: number, payloadBytes: number, checksum: number): void {
  const v = new DataView(out.buffer, out.byteOffset + at, CHUNK_HEADER_BYTES);
  v.setUint32(0, CHUNK_MAGIC, true);
  v.setUint32(4, sequence >>> 0, true);
  v.setUint32(8, payloadBytes, true);
  v.setUint32(12, checksum >>> 0, true);
}

/** A framed chunk holding `payload`. */
export function frameChunk(sequence: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + payload.length);
  out.set(payload, CHUNK_HEADER_BYTES);
  writeChunkHeader(out, 0, sequence, payload.length, chunkChecksum(payload));
  return out;
}

/** Writes a record header (type, flags 0, payload length, pfn or round) at `view[at]`. */
export function writeRecordHeader(view: DataView, at: number, type: RecordType, payloadBytes: number, pfn: number): void {
  view.setUint8(at, type);
  view.setUint8(at + 1, 0);
  view.setUint16(at + 2, payloadBytes, true);
  view.setUint32(at + 4, pfn >>> 0, true);
}

export { crc32 };
