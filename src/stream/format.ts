// The hypermem page-record stream, version 3.0 (docs/migration-stream.md has
// the byte-layout diagrams): a versioned header (src/format/header.ts), then
// framed, checksummed chunks (src/format/chunks.ts) whose payloads are
// records. Migration, checkpoints and snapshots all carry guest memory in
// it. Little endian throughout. The record packer and unpacker are wasm
// kernels (assembly/stream.ts); this file holds the header codec, the chunk
// magic, the acknowledgement and the record constants.
//
// Stream header (STREAM_HEADER_BYTES = 36):
//   0 "HMMS" · 4 u16 major 3 · 6 u16 minor 0 · 8 u32 headerBytes 36
//   12 u32 flags (bit 0: XBZRLE records may appear) · 16 u32 pageBytes 4096
//   20 u64 guestPages · 28 u32 vmId · 32 u32 crc32 of bytes 0..31
// Acknowledgement (ACK_BYTES = 20), the destination's answer to a verified stream:
//   0 "HMAK" · 4 u16 major 1 · 6 u16 minor 0 · 8 u32 headerBytes 20 · 12 u32 status 0
//   16 u32 crc32 of bytes 0..15
import { ErrorCode, HypermemError } from "../errors.js";
import { encodeChunkHeader, frameChunk as frameAnyChunk, CHUNK_HEADER_BYTES } from "../format/chunks.js";
import { defineHeader, magicU32, type HeaderCodec } from "../format/header.js";
import { END_STREAM_BYTES, MAX_RECORD_BYTES, PAGE_SIZE, POISON_MARK, RECORD_HEADER_BYTES, RecordType, StreamReason } from "../wasm/codes.js";

export { CHUNK_HEADER_BYTES, END_STREAM_BYTES, MAX_RECORD_BYTES, POISON_MARK, RECORD_HEADER_BYTES, RecordType };

export const STREAM_VERSION = 3;
/** Header flag: XBZRLE records may appear. */
export const FLAG_XBZRLE = 1 << 0;
const KNOWN_FLAGS = FLAG_XBZRLE;

/** The stream header codec. */
export const STREAM_HEADER = defineHeader({
  name: "stream",
  magic: "HMMS",
  major: STREAM_VERSION,
  minor: 0,
  errorCode: ErrorCode.StreamCorrupt,
  // Versions 1 and 2 put a u16 version where the major now is, and a header size at byte 12.
  olderLayout: (prefix) => (prefix.getUint16(4, true) <= 2 ? String(prefix.getUint16(4, true)) : null),
  fields: [
    { name: "flags", type: "u32", validate: (v) => ((v & ~KNOWN_FLAGS) === 0 ? null : `flags 0x${v.toString(16)} set unknown bits (known: 0x${KNOWN_FLAGS.toString(16)})`) },
    { name: "pageBytes", type: "u32", validate: (v) => (v === PAGE_SIZE ? null : `page size ${v} (this hypermem has ${PAGE_SIZE}-byte pages)`) },
    { name: "guestPages", type: "u64", validate: (v: number) => (v >= 1 ? null : "guestPages 0 (a guest has at least one page)") },
    { name: "vmId", type: "u32" },
  ],
});
export const STREAM_HEADER_BYTES = STREAM_HEADER.byteLength;
/** The stream header's fields, as STREAM_HEADER decodes them. */
export type StreamHeaderFields = typeof STREAM_HEADER extends HeaderCodec<infer V> ? V : never;

/** "HMCK": every chunk's magic. */
export const CHUNK_MAGIC = magicU32("HMCK");
/** Largest payload the packer writes (1 MiB). */
export const MAX_CHUNK_PAYLOAD = 1 << 20;
/** Default receiver limit on a chunk payload: 1 MiB plus slack for other writers. */
export const DEFAULT_MAX_CHUNK_BYTES = MAX_CHUNK_PAYLOAD + (64 << 10);

export const RECORD_NAMES: Readonly<Record<number, string>> = {
  1: "PAGE", 2: "ZERO", 3: "XBZRLE", 4: "POISON", 5: "END_ROUND", 6: "END_STREAM", 7: "COMMIT",
};

/** The acknowledgement codec: the source reports a migration completed only after reading one with status 0. */
export const ACK_HEADER = defineHeader({
  name: "acknowledgement",
  magic: "HMAK",
  major: 1,
  minor: 0,
  errorCode: ErrorCode.MigrationFailed,
  fields: [{ name: "status", type: "u32" }],
});
export const ACK_MAGIC = magicU32("HMAK");
export const ACK_BYTES = ACK_HEADER.byteLength;

export function encodeAck(): Uint8Array {
  return ACK_HEADER.encode({ status: 0 });
}

/** True when `bytes` is exactly a valid success acknowledgement. */
export function isAck(bytes: Uint8Array): boolean {
  if (bytes.length !== ACK_BYTES) return false;
  try {
    return ACK_HEADER.decode(bytes).status === 0;
  } catch {
    return false;
  }
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

export function encodeHeader(h: { flags: number; guestPages: number; vmId: number }): Uint8Array {
  return STREAM_HEADER.encode({ flags: h.flags, pageBytes: PAGE_SIZE, guestPages: h.guestPages, vmId: h.vmId >>> 0 });
}

/** Refuses a guest over the receiver's limit: ERR_STREAM_LIMIT naming the field. */
export function checkGuestLimit(guestPages: number, maxGuestPages: number): void {
  if (guestPages > maxGuestPages) {
    throw new HypermemError(
      ErrorCode.StreamLimit,
      `stream header field guestPages (byte offset ${STREAM_HEADER.offsetOf("guestPages")}) is ${guestPages} (${guestPages / 256} MiB), above the receiver's limit of ${maxGuestPages} pages`,
      { field: "guestPages", value: guestPages, limit: maxGuestPages },
    );
  }
}

/**
 * Decodes and validates a stream header (the format layer's checks: magic,
 * headerBytes, crc, version, then each field), and guest pages up to
 * `maxGuestPages`. Throws ERR_STREAM_CORRUPT, ERR_FORMAT_VERSION or
 * ERR_STREAM_LIMIT naming the field and value.
 */
export function decodeHeader(bytes: Uint8Array, maxGuestPages: number): StreamHeader {
  if (bytes.length < STREAM_HEADER_BYTES) {
    throw new HypermemError(ErrorCode.StreamTruncated, `stream header: ${bytes.length} of ${STREAM_HEADER_BYTES} bytes`, { bytes: bytes.length });
  }
  const h = STREAM_HEADER.decode(bytes.subarray(0, STREAM_HEADER_BYTES));
  checkGuestLimit(h.guestPages, maxGuestPages);
  return { version: h.major, flags: h.flags, pageBytes: h.pageBytes, guestPages: h.guestPages, vmId: h.vmId };
}

/** The four fields of the chunk header at `bytes[at]` (not checked). */
export function readChunkHeader(bytes: Uint8Array, at = 0): { magic: number; sequence: number; payloadBytes: number; checksum: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, CHUNK_HEADER_BYTES);
  return { magic: v.getUint32(0, true), sequence: v.getUint32(4, true), payloadBytes: v.getUint32(8, true), checksum: v.getUint32(12, true) };
}

/** The chunk checksum of a payload's XXH3-64 value: its low 32 bits. */
export function checksumOf(xxh3: bigint): number {
  return Number(xxh3 & 0xffff_ffffn);
}

/** Writes the header of a stream chunk at `out[at]`. */
export function writeChunkHeader(out: Uint8Array, at: number, sequence: number, payloadBytes: number, checksum: number): void {
  encodeChunkHeader(out, at, { magic: CHUNK_MAGIC, sequence: sequence >>> 0, payloadBytes, checksum: checksum >>> 0 });
}

/** A framed stream chunk holding `payload`. */
export function frameChunk(sequence: number, payload: Uint8Array): Uint8Array {
  return frameAnyChunk(CHUNK_MAGIC, sequence, payload);
}

/** Writes a record header (type, flags 0, payload length, pfn or round) at `view[at]`. */
export function writeRecordHeader(view: DataView, at: number, type: RecordType, payloadBytes: number, pfn: number): void {
  view.setUint8(at, type);
  view.setUint8(at + 1, 0);
  view.setUint16(at + 2, payloadBytes, true);
  view.setUint32(at + 4, pfn >>> 0, true);
}
