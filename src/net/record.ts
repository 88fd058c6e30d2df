// Records: how every message after the handshake's ACCEPT travels on a
// migration connection, in both directions (the stream's chunks, the
// acknowledgement, an ERROR text, the final CLOSE). Each record is sealed
// with its direction's session key (src/net/session-keys.ts) by AES-256-GCM:
// encrypted and authenticated by default, or authenticated only (GMAC: the
// same AEAD over an empty plaintext, the body in the additional data). The
// header is authenticated too, and carries the direction's sequence number,
// which also makes the nonce: a record replayed, reordered, dropped,
// altered or moved to another connection fails its check.
//
// Record (little endian), header = bytes 0..15:
//   0           4      5       6        8                      16               16+n        16+n+16
//   ┌───────────┬──────┬───────┬────────┬──────────────────────┬────────────────┬───────────┐
//   │ u32 body- │ u8   │ u8    │ u16    │ u64 sequence         │ body, n bytes: │ tag       │
//   │ Bytes = n │ type │ flags │ rsvd   │ 0, 1, 2... per       │ ciphertext, or │ 16 bytes  │
//   │           │      │ = 0   │ = 0    │ direction            │ clear (GMAC)   │           │
//   └───────────┴──────┴───────┴────────┴──────────────────────┴────────────────┴───────────┘
//   type    DATA = 1   bytes of the channel (n <= MAX_RECORD_BODY_BYTES)
//           ERROR = 2  JSON {code, message}: why the sender gives up (n <= 1024); its last record
//           CLOSE = 3  the sender's clean end (n = 0); a connection that ends without one was truncated
//   nonce   96 bits: the direction's iv (12 bytes) with bytes 4..11 XORed with the sequence (u64 LE)
//   AEAD    AES-256-GCM(key, nonce, additional data = header [‖ body when GMAC], plaintext = body or empty)
//
// A reader checks the header's fields and the sequence it expects before it
// reads the body, and uses no byte of the body before the tag verifies.
import { ErrorCode, HypermemError } from "../errors.js";
import { IV_BYTES } from "./session-keys.js";

export const RECORD_HEADER_BYTES = 16;
export const TAG_BYTES = 16;
/** Largest DATA body: a stream chunk (1 MiB of payload and its header) with room to spare; larger sends are split. */
export const MAX_RECORD_BODY_BYTES = (1 << 20) + (64 << 10);
/** Largest ERROR body. */
export const MAX_ERROR_BODY_BYTES = 1024;
/** Sequence numbers stay below this (2^53 - 1: exact in a JavaScript number); a sender refuses to go past it. */
export const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;
/** The AEAD every suite uses. */
export const AEAD_ALGORITHM = "aes-256-gcm";

export const RecordType = { Data: 1, Error: 2, Close: 3 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];
export const RECORD_TYPE_NAMES: Readonly<Record<number, string>> = { 1: "DATA", 2: "ERROR", 3: "CLOSE" };

/** Byte offsets of the header's fields. */
export const RecordField = { bodyBytes: 0, type: 4, flags: 5, rsvd: 6, sequence: 8 } as const;

export interface RecordHeader {
  readonly bodyBytes: number;
  readonly type: RecordType;
  readonly sequence: number;
}

/** Writes a record header into `out` (RECORD_HEADER_BYTES). */
export function encodeRecordHeader(out: Uint8Array, h: RecordHeader): void {
  const view = new DataView(out.buffer, out.byteOffset, RECORD_HEADER_BYTES);
  view.setUint32(RecordField.bodyBytes, h.bodyBytes, true);
  view.setUint8(RecordField.type, h.type);
  view.setUint8(RecordField.flags, 0);
  view.setUint16(RecordField.rsvd, 0, true);
  view.setUint32(RecordField.sequence, h.sequence >>> 0, true);
  view.setUint32(RecordField.sequence + 4, Math.floor(h.sequence / 2 ** 32), true);
}

function integrityError(message: string, details: Record<string, unknown>): HypermemError {
  return new HypermemError(ErrorCode.Integrity, message, details);
}

/**
 * Checks a record header against what the reader expects: a known type,
 * flags and rsvd 0, a body length the type allows (at most `maxBodyBytes`
 * for DATA) and the sequence number `expected`. Throws ERR_INTEGRITY naming
 * the field, its offset, the value and what was expected. `from` names the
 * sender ("from 127.0.0.1:4444").
 */
export function decodeRecordHeader(bytes: Uint8Array, expected: number, maxBodyBytes: number, from: string): RecordHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, RECORD_HEADER_BYTES);
  const at = `record ${expected} ${from}`;
  const field = (name: keyof typeof RecordField, value: number | string, why: string): HypermemError =>
    integrityError(`${at}: header field ${name} (offset ${RecordField[name]}) is ${value}, ${why}`, { field: name, value, sequence: expected });
  const type = view.getUint8(RecordField.type);
  if (RECORD_TYPE_NAMES[type] === undefined) throw field("type", type, "not a record type (DATA 1, ERROR 2, CLOSE 3)");
  const flags = view.getUint8(RecordField.flags);
  if (flags !== 0) throw field("flags", flags, "expected 0");
  const rsvd = view.getUint16(RecordField.rsvd, true);
  if (rsvd !== 0) throw field("rsvd", rsvd, "expected 0");
  const bodyBytes = view.getUint32(RecordField.bodyBytes, true);
  const limit = type === RecordType.Data ? maxBodyBytes : type === RecordType.Error ? MAX_ERROR_BODY_BYTES : 0;
  if (bodyBytes > limit) throw field("bodyBytes", bodyBytes, `above the ${limit} bytes a ${RECORD_TYPE_NAMES[type]} record may carry`);
  const high = view.getUint32(RecordField.sequence + 4, true);
  const sequence = high * 2 ** 32 + view.getUint32(RecordField.sequence, true);
  if (sequence !== expected) {
    const what = sequence < expected ? "an earlier record again (replayed)" : "a later record (one was dropped, or records were reordered)";
    throw field("sequence", high >= 2 ** 21 ? `0x${high.toString(16)}${view.getUint32(RecordField.sequence, true).toString(16).padStart(8, "0")}` : sequence, `expected ${expected}: ${what}`);
  }
  return { bodyBytes, type: type as RecordType, sequence };
}

/** The 96-bit nonce of record `sequence`: the direction's iv with bytes 4..11 XORed with the sequence, u64 LE. */
export function recordNonce(iv: Uint8Array, sequence: number): Uint8Array {
  const nonce = Uint8Array.from(iv.subarray(0, IV_BYTES));
  const low = sequence >>> 0;
  const high = Math.floor(sequence / 2 ** 32);
  for (let i = 0; i < 4; i++) {
    nonce[4 + i] ^= (low >>> (8 * i)) & 0xff;
    nonce[8 + i] ^= (high >>> (8 * i)) & 0xff;
  }
  return nonce;
}
