// The disk-transfer stream (hypermem disk send, served by hypermem listen
// --disk-dir): after the listener's token handshake, in sealed records (any
// split), the source sends a hello, then both sides exchange messages.
//
//   source                                   destination
//     │── HELLO (name, size, block, generation) ─►│ match against the fragment records
//     │◄── OFFER (offset, interval, reason,        │
//     │          digest of the committed hashes) ──│
//     │   hash its own blocks below offset:        │
//     │── START (offset or 0, reason) ───────────►│ (any other offset: CONFLICT + ERROR)
//     │── BLOCK (offset, hash, zero map, pages) ──►│ write, check the hash
//     │── BLOCK ...                              ─►│ every interval: fsync, record,
//     │◄── ACK (committed offset) ─────────────────│ then the acknowledgement
//     │── FINISH (SHA-256 of the image) ─────────►│ check, rename into place
//     │◄── DONE (SHA-256 of the file) ─────────────│
//
// Hello (the listener dispatches on its magic):
//   0      4      6      8        12          20         24            40         42        298   302
//   ┌──────┬──────┬──────┬────────┬───────────┬──────────┬─────────────┬──────────┬─────────┬─────┐
//   │"HMDK"│u16 1 │u16 0 │u32 302 │u64 size   │u32 block │ generation  │u16 name  │ name    │crc32│
//   │      │      │      │        │Bytes      │Bytes     │ 16 bytes    │Bytes     │256 bytes│     │
//   └──────┴──────┴──────┴────────┴───────────┴──────────┴─────────────┴──────────┴─────────┴─────┘
// Message: 0 u8 type │ 1 u8 0 │ 2 u16 0 │ 4 u32 payloadBytes │ 8 payload
//   OFFER    (1) u64 offset │ u64 intervalBytes │ u32 reason │ u32 0 │ 32 prefix digest
//   START    (2) u64 offset │ u32 reason │ u32 0
//   BLOCK    (3) u64 offset │ u32 lengthBytes │ u32 0 │ u64 XXH3-64 of the block │
//                page map: ceil(pages/8) bytes, bit i (LSB first) set = page i
//                follows │ the pages that follow, in order (a zero page is
//                not sent; the last page of the image may be short)
//   ACK      (4) u64 committed offset
//   FINISH   (5) 32 SHA-256 of the image
//   DONE     (6) 32 SHA-256 of the finished file
//   CONFLICT (7) u64 the destination's offset │ u64 the offset the source asked
import { ErrorCode, HypermemError } from "../errors.js";
import { defineHeader } from "../format/header.js";
import { BLOCK_HASH_BYTES, GENERATION_BYTES, HASH_BYTES, MAX_NAME_BYTES, PAGE_BYTES } from "./identity.js";

export const DISK_MAGIC = "HMDK";
export const MIN_BLOCK_BYTES = 64 * 1024;
export const MAX_BLOCK_BYTES = 16 * 2 ** 20;
const NAME_FIELD_BYTES = 256;

export const DISK_HELLO = defineHeader({
  name: "disk hello",
  magic: DISK_MAGIC,
  major: 1,
  minor: 0,
  errorCode: ErrorCode.DiskProtocol,
  fields: [
    { name: "sizeBytes", type: "u64" },
    {
      name: "blockBytes", type: "u32",
      validate: (n) => (n >= MIN_BLOCK_BYTES && n <= MAX_BLOCK_BYTES && (n & (n - 1)) === 0 ? null : `a block of ${n} bytes is not a power of two in ${MIN_BLOCK_BYTES}..${MAX_BLOCK_BYTES}`),
    },
    { name: "generation", type: "bytes", byteLength: GENERATION_BYTES },
    { name: "nameBytes", type: "u16", validate: (n) => (n >= 1 && n <= MAX_NAME_BYTES ? null : `a name of ${n} bytes`) },
    { name: "name", type: "bytes", byteLength: NAME_FIELD_BYTES },
  ],
});

export interface Hello {
  readonly name: string;
  readonly sizeBytes: number;
  readonly blockBytes: number;
  readonly generation: Uint8Array;
}

export function encodeHello(h: Hello): Uint8Array {
  const utf8 = Buffer.from(h.name, "utf8");
  const name = new Uint8Array(NAME_FIELD_BYTES);
  name.set(utf8.subarray(0, NAME_FIELD_BYTES));
  return DISK_HELLO.encode({ sizeBytes: h.sizeBytes, blockBytes: h.blockBytes, generation: h.generation, nameBytes: utf8.length, name });
}

export function decodeHello(bytes: Uint8Array, source: string): Hello {
  const h = DISK_HELLO.decode(bytes, { source });
  return { name: Buffer.from(h.name.subarray(0, h.nameBytes)).toString("utf8"), sizeBytes: h.sizeBytes, blockBytes: h.blockBytes, generation: h.generation.slice() };
}

export const Msg = { Offer: 1, Start: 2, Block: 3, Ack: 4, Finish: 5, Done: 6, Conflict: 7 } as const;
export type Msg = (typeof Msg)[keyof typeof Msg];
const MSG_NAMES: Record<number, string> = { 1: "OFFER", 2: "START", 3: "BLOCK", 4: "ACK", 5: "FINISH", 6: "DONE", 7: "CONFLICT" };

/** Why the destination offered what it offered, or why the source started from 0. */
export const Reason = { Resumed: 0, NoFragment: 1, RecordExpired: 2, SourceChanged: 3, FragmentDamaged: 4 } as const;
export type Reason = (typeof Reason)[keyof typeof Reason];
export const REASON_TEXT: Record<Reason, "resumed" | "no fragment" | "record expired" | "source changed" | "fragment damaged"> = {
  0: "resumed", 1: "no fragment", 2: "record expired", 3: "source changed", 4: "fragment damaged",
};

const HEADER_BYTES = 8;
const BLOCK_FIXED_BYTES = 16 + BLOCK_HASH_BYTES;

function message(type: Msg, payloadBytes: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint32(4, payloadBytes, true);
  return { out, view };
}

export function encodeOffer(offset: number, intervalBytes: number, reason: Reason, digest: Uint8Array): Uint8Array {
  const { out, view } = message(Msg.Offer, 24 + HASH_BYTES);
  view.setBigUint64(8, BigInt(offset), true);
  view.setBigUint64(16, BigInt(intervalBytes), true);
  view.setUint32(24, reason, true);
  out.set(digest, 32);
  return out;
}

export function encodeStart(offset: number, reason: Reason): Uint8Array {
  const { out, view } = message(Msg.Start, 16);
  view.setBigUint64(8, BigInt(offset), true);
  view.setUint32(16, reason, true);
  return out;
}

export function encodeAck(offset: number): Uint8Array {
  const { out, view } = message(Msg.Ack, 8);
  view.setBigUint64(8, BigInt(offset), true);
  return out;
}

export function encodeDigestMessage(type: typeof Msg.Finish | typeof Msg.Done, digest: Uint8Array): Uint8Array {
  const { out } = message(type, HASH_BYTES);
  out.set(digest, HEADER_BYTES);
  return out;
}

export function encodeConflict(serverOffset: number, clientOffset: number): Uint8Array {
  const { out, view } = message(Msg.Conflict, 16);
  view.setBigUint64(8, BigInt(serverOffset), true);
  view.setBigUint64(16, BigInt(clientOffset), true);
  return out;
}

/** Pages of a block of `lengthBytes`, and bytes of its page map. */
export function blockLayout(lengthBytes: number): { pages: number; mapBytes: number } {
  const pages = Math.ceil(lengthBytes / PAGE_BYTES);
  return { pages, mapBytes: Math.ceil(pages / 8) };
}

/**
 * A BLOCK message for the block at `offset` (its zero pages left out), with
 * its hash; written into `into` when given (at least the block's length plus
 * blockOverheadBytes), else into a new buffer.
 */
export function encodeBlock(offset: number, block: Uint8Array, hash: Uint8Array, isZero: (page: Uint8Array) => boolean, into?: Uint8Array): { bytes: Uint8Array; dataBytes: number } {
  const { pages, mapBytes } = blockLayout(block.length);
  const map = new Uint8Array(mapBytes);
  let dataBytes = 0;
  for (let i = 0; i < pages; i++) {
    const page = block.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
    if (isZero(page)) continue;
    map[i >> 3] |= 1 << (i & 7);
    dataBytes += page.length;
  }
  const payloadBytes = BLOCK_FIXED_BYTES + mapBytes + dataBytes;
  const out = into ? into.subarray(0, HEADER_BYTES + payloadBytes) : new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  view.setUint32(0, Msg.Block, true);
  view.setUint32(4, payloadBytes, true);
  view.setBigUint64(8, BigInt(offset), true);
  view.setUint32(20, 0, true);
  view.setUint32(16, block.length, true);
  out.set(hash, 24);
  out.set(map, 24 + BLOCK_HASH_BYTES);
  let at = HEADER_BYTES + BLOCK_FIXED_BYTES + mapBytes;
  for (let i = 0; i < pages; i++) {
    if ((map[i >> 3] & (1 << (i & 7))) === 0) continue;
    const page = block.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
    out.set(page, at);
    at += page.length;
  }
  return { bytes: out, dataBytes };
}

export interface BlockMessage {
  readonly offset: number;
  readonly lengthBytes: number;
  readonly hash: Uint8Array;
  /** Page i's bytes in `data`, or null for a zero page. */
  readonly pages: ReadonlyArray<{ at: number; bytes: number } | null>;
  readonly data: Uint8Array;
}

/** Decodes a BLOCK payload; ERR_DISK_PROTOCOL when its lengths do not add up. */
export function decodeBlock(payload: Uint8Array, maxBlockBytes: number): BlockMessage {
  if (payload.length < BLOCK_FIXED_BYTES) throw protocolError(`a BLOCK of ${payload.length} bytes, fewer than its ${BLOCK_FIXED_BYTES}-byte header`, { field: "payloadBytes", value: payload.length });
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const offset = Number(view.getBigUint64(0, true));
  const lengthBytes = view.getUint32(8, true);
  if (lengthBytes < 1 || lengthBytes > maxBlockBytes) throw protocolError(`a BLOCK at offset ${offset} of ${lengthBytes} bytes, outside 1..${maxBlockBytes}`, { field: "lengthBytes", value: lengthBytes, offset });
  const { pages, mapBytes } = blockLayout(lengthBytes);
  const mapAt = BLOCK_FIXED_BYTES;
  if (payload.length < mapAt + mapBytes) throw protocolError(`a BLOCK at offset ${offset} cut short in its page map`, { field: "map", offset });
  const out: Array<{ at: number; bytes: number } | null> = [];
  let at = mapAt + mapBytes;
  for (let i = 0; i < pages; i++) {
    if ((payload[mapAt + (i >> 3)] & (1 << (i & 7))) === 0) {
      out.push(null);
      continue;
    }
    const bytes = Math.min(PAGE_BYTES, lengthBytes - i * PAGE_BYTES);
    out.push({ at, bytes });
    at += bytes;
  }
  if (at !== payload.length) throw protocolError(`a BLOCK at offset ${offset} carries ${payload.length - mapAt - mapBytes} bytes of pages, its map says ${at - mapAt - mapBytes}`, { field: "payloadBytes", offset });
  return { offset, lengthBytes, hash: payload.subarray(16, 16 + BLOCK_HASH_BYTES), pages: out, data: payload };
}

const u64 = (p: Uint8Array, at: number): number => Number(new DataView(p.buffer, p.byteOffset, p.length).getBigUint64(at, true));
const u32 = (p: Uint8Array, at: number): number => new DataView(p.buffer, p.byteOffset, p.length).getUint32(at, true);

function expectLength(type: Msg, payload: Uint8Array, bytes: number): void {
  if (payload.length !== bytes) throw protocolError(`a ${MSG_NAMES[type]} of ${payload.length} bytes, not ${bytes}`, { field: "payloadBytes", value: payload.length });
}

export function decodeOffer(p: Uint8Array): { offset: number; intervalBytes: number; reason: Reason; digest: Uint8Array } {
  expectLength(Msg.Offer, p, 24 + HASH_BYTES);
  const reason = u32(p, 16);
  if (!(reason in REASON_TEXT)) throw protocolError(`an OFFER with reason ${reason}`, { field: "reason", value: reason });
  return { offset: u64(p, 0), intervalBytes: u64(p, 8), reason: reason as Reason, digest: p.slice(24, 24 + HASH_BYTES) };
}

export function decodeStart(p: Uint8Array): { offset: number; reason: Reason } {
  expectLength(Msg.Start, p, 16);
  const reason = u32(p, 8);
  if (!(reason in REASON_TEXT)) throw protocolError(`a START with reason ${reason}`, { field: "reason", value: reason });
  return { offset: u64(p, 0), reason: reason as Reason };
}

export function decodeAck(p: Uint8Array): number {
  expectLength(Msg.Ack, p, 8);
  return u64(p, 0);
}

export function decodeDigestMessage(type: Msg, p: Uint8Array): Uint8Array {
  expectLength(type, p, HASH_BYTES);
  return p.slice();
}

export function decodeConflict(p: Uint8Array): { serverOffset: number; clientOffset: number } {
  expectLength(Msg.Conflict, p, 16);
  return { serverOffset: u64(p, 0), clientOffset: u64(p, 8) };
}

export function protocolError(message: string, details: Record<string, unknown> = {}): HypermemError {
  return new HypermemError(ErrorCode.DiskProtocol, `disk transfer: ${message}`, details);
}

/**
 * Cuts a byte stream (any split) into messages; ERR_DISK_PROTOCOL naming a
 * bad type or length. A message that lies whole in the bytes of one push is
 * handed out as a view of them (valid as long as those bytes are: the
 * channel's until its next receive); one split across pushes is gathered
 * into a buffer of its own, each byte copied once.
 */
export class MessageReader {
  readonly #maxPayloadBytes: number;
  /** The header of the next message, while fewer than 8 of its bytes are in. */
  readonly #head = new Uint8Array(HEADER_BYTES);
  #headBytes = 0;
  /** The message being gathered (header included), and how much of it is in. */
  #message: Uint8Array | null = null;
  #messageBytes = 0;

  constructor(maxPayloadBytes: number) {
    this.#maxPayloadBytes = maxPayloadBytes;
  }

  /** Checks a header; returns the message's type and payload length. */
  #header(bytes: Uint8Array, at: number): { type: Msg; length: number } {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_BYTES);
    const type = view.getUint8(0);
    const length = view.getUint32(4, true);
    if (!(type in MSG_NAMES) || view.getUint8(1) !== 0 || view.getUint16(2, true) !== 0) {
      throw protocolError(`a message of type ${type} (reserved ${view.getUint8(1)}, ${view.getUint16(2, true)}) is not a disk-transfer message`, { field: "type", value: type });
    }
    if (length > this.#maxPayloadBytes) throw protocolError(`a ${MSG_NAMES[type]} of ${length} bytes, more than ${this.#maxPayloadBytes}`, { field: "payloadBytes", value: length });
    return { type: type as Msg, length };
  }

  /** The messages `bytes` completes. */
  push(bytes: Uint8Array): Array<{ type: Msg; payload: Uint8Array }> {
    const out: Array<{ type: Msg; payload: Uint8Array }> = [];
    let at = 0;
    while (at < bytes.length) {
      if (this.#message) {
        const take = Math.min(bytes.length - at, this.#message.length - this.#messageBytes);
        this.#message.set(bytes.subarray(at, at + take), this.#messageBytes);
        this.#messageBytes += take;
        at += take;
        if (this.#messageBytes === this.#message.length) {
          out.push({ type: this.#message[0] as Msg, payload: this.#message.subarray(HEADER_BYTES) });
          this.#message = null;
          this.#messageBytes = 0;
        }
        continue;
      }
      if (this.#headBytes > 0 || bytes.length - at < HEADER_BYTES) {
        const take = Math.min(bytes.length - at, HEADER_BYTES - this.#headBytes);
        this.#head.set(bytes.subarray(at, at + take), this.#headBytes);
        this.#headBytes += take;
        at += take;
        if (this.#headBytes < HEADER_BYTES) continue;
        this.#headBytes = 0;
        const { type, length } = this.#header(this.#head, 0);
        if (length === 0) {
          out.push({ type, payload: new Uint8Array(0) });
          continue;
        }
        this.#message = new Uint8Array(HEADER_BYTES + length);
        this.#message.set(this.#head, 0);
        this.#messageBytes = HEADER_BYTES;
        continue;
      }
      const { type, length } = this.#header(bytes, at);
      if (bytes.length - at - HEADER_BYTES >= length) {
        out.push({ type, payload: bytes.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length) });
        at += HEADER_BYTES + length;
        continue;
      }
      this.#message = new Uint8Array(HEADER_BYTES + length);
      this.#messageBytes = 0;
    }
    return out;
  }

  /** Bytes of a message not yet complete. */
  get pendingBytes(): number { return this.#headBytes + this.#messageBytes; }
}

/** Bytes a BLOCK message adds to its block's, at most. */
export const blockOverheadBytes = (blockBytes: number): number => HEADER_BYTES + BLOCK_FIXED_BYTES + Math.ceil(blockBytes / PAGE_BYTES / 8);

/** Largest payload a message may carry for blocks of `blockBytes`. */
export const maxPayloadFor = (blockBytes: number): number => BLOCK_FIXED_BYTES + Math.ceil(blockBytes / PAGE_BYTES / 8) + blockBytes;

export const messageName = (type: Msg): string => MSG_NAMES[type];
