// The protection stream over TCP (hypermem ft --to, served by hypermem
// listen): after the migration handshake, in sealed DATA records (any
// split), the primary sends a hello, then messages; the backup answers with
// checkpoint acknowledgements (ack.ts, 20 bytes each, back to back).
//
// Hello (the listener dispatches on its magic):
//   0        4        6        8             12              16                     20          24
//   ┌────────┬────────┬────────┬─────────────┬───────────────┬──────────────────────┬───────────┐
//   │ "HMPS" │ u16 1  │ u16 0  │ u32 24      │ u32 guestPages│ u32 heartbeatTimeout │ u32 crc32 │
//   │        │        │        │             │               │ Ms                   │           │
//   └────────┴────────┴────────┴─────────────┴───────────────┴──────────────────────┴───────────┘
// Message:
//   0 u8 type │ 1 u8 0 │ 2 u16 0 │ 4 u32 payloadBytes │ 8 payload
//   STREAM (1)     the checkpoint stream's bytes (its header, then chunks: encoder.ts)
//   DIGEST (2)     u32 checkpoint │ u32 0 │ u64 digest of the primary's guest at its pause
//   HEARTBEAT (3)  nothing: the primary is alive
//   END (4)        nothing: the protection ends cleanly (no failover)
import { ErrorCode, HypermemError } from "../errors.js";
import { defineHeader } from "../format/header.js";

export const PROTECTION_MAGIC = "HMPS";

export const PROTECTION_HELLO = defineHeader({
  name: "protection hello",
  magic: PROTECTION_MAGIC,
  major: 1,
  minor: 0,
  errorCode: ErrorCode.StreamCorrupt,
  fields: [
    { name: "guestPages", type: "u32", validate: (n) => (n >= 1 ? null : "a guest of 0 pages") },
    { name: "heartbeatTimeoutMs", type: "u32", validate: (n) => (n >= 1 && n <= 600_000 ? null : `heartbeat timeout ${n} ms is outside 1..600000`) },
  ],
});

export const MessageKind = { Stream: 1, Digest: 2, Heartbeat: 3, End: 4 } as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

const MESSAGE_HEADER_BYTES = 8;
/** Largest payload a message may announce (a chunk is at most a few MiB). */
export const MAX_MESSAGE_BYTES = 64 * 2 ** 20;

export function encodeMessage(kind: MessageKind, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(MESSAGE_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setUint32(4, payload.length, true);
  out.set(payload, MESSAGE_HEADER_BYTES);
  return out;
}

export function encodeDigest(checkpoint: number, digest: bigint): Uint8Array {
  const payload = new Uint8Array(16);
  const view = new DataView(payload.buffer);
  view.setUint32(0, checkpoint, true);
  view.setBigUint64(8, digest, true);
  return encodeMessage(MessageKind.Digest, payload);
}

export function decodeDigest(payload: Uint8Array): { checkpoint: number; digest: bigint } {
  if (payload.length !== 16) throw new HypermemError(ErrorCode.StreamCorrupt, `a DIGEST message of ${payload.length} bytes, not 16`, { field: "digest" });
  const view = new DataView(payload.buffer, payload.byteOffset, 16);
  return { checkpoint: view.getUint32(0, true), digest: view.getBigUint64(8, true) };
}

/** Cuts a byte stream (any split) into messages; ERR_STREAM_CORRUPT naming a bad type or length. */
export class MessageReader {
  #pending = new Uint8Array(0);

  /**
   * The messages `bytes` completes. Their payloads are views, valid until the
   * next push (`bytes` may be a receive buffer the channel reuses); what is
   * kept of an incomplete message is copied.
   */
  push(bytes: Uint8Array): Array<{ kind: MessageKind; payload: Uint8Array }> {
    const buf = this.#pending.length === 0 ? bytes : new Uint8Array(Buffer.concat([this.#pending, bytes]));
    const out: Array<{ kind: MessageKind; payload: Uint8Array }> = [];
    let at = 0;
    while (buf.length - at >= MESSAGE_HEADER_BYTES) {
      const view = new DataView(buf.buffer, buf.byteOffset + at, MESSAGE_HEADER_BYTES);
      const kind = view.getUint8(0);
      const length = view.getUint32(4, true);
      if (kind < MessageKind.Stream || kind > MessageKind.End || view.getUint8(1) !== 0 || view.getUint16(2, true) !== 0) {
        throw new HypermemError(ErrorCode.StreamCorrupt, `protection message of type ${kind} (reserved ${view.getUint8(1)}, ${view.getUint16(2, true)}): not a message`, { field: "type", value: kind });
      }
      if (length > MAX_MESSAGE_BYTES) {
        throw new HypermemError(ErrorCode.StreamCorrupt, `protection message of ${length} bytes, more than ${MAX_MESSAGE_BYTES}`, { field: "payloadBytes", value: length });
      }
      if (buf.length - at - MESSAGE_HEADER_BYTES < length) break;
      out.push({ kind: kind as MessageKind, payload: buf.subarray(at + MESSAGE_HEADER_BYTES, at + MESSAGE_HEADER_BYTES + length) });
      at += MESSAGE_HEADER_BYTES + length;
    }
    this.#pending = new Uint8Array(buf.subarray(at)); // a copy: Buffer#slice would be a view of the reused buffer
    return out;
  }
}
