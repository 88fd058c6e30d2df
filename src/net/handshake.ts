// The TCP migration handshake: both ends prove knowledge of a shared token
// with HMAC-SHA256 over fresh random nonces before any guest state moves.
// See docs/migration-tcp.md for the message diagram.
//
// The file has two parts: the message codec (encode, decode, read one message
// from a channel), and the protocol steps built on it (clientHandshake,
// serverHandshake).
//
// Handshake message, version 2.0 (little endian): the versioned header of
// src/format/header.ts, then the payload. Every field is checked before the
// payload is read.
//   0        4       6       8             12     13     14          16       20
//   ┌────────┬───────┬───────┬─────────────┬──────┬──────┬───────────┬────────┬─────────┐
//   │ "HMHS" │ u16   │ u16   │ u32 header- │ u8   │ u8   │ u16 pay-  │ u32    │ payload │
//   │        │ maj=2 │ min=0 │ Bytes = 20  │ type │ rsvd │ loadBytes │ crc    │         │
//   └────────┴───────┴───────┴─────────────┴──────┴──────┴───────────┴────────┴─────────┘
//   type          HELLO=1 CHALLENGE=2 PROOF=3 ACCEPT=4 REJECT=5 ERROR=6
//   rsvd          0
//   payloadBytes  fixed per type; at most MAX_TEXT_BYTES for REJECT/ERROR
//   crc           CRC-32 of bytes 0..15
// A version-1 peer (an 8-byte header: magic, u8 version 1, u8 type, u16
// length) is refused with ERR_FORMAT_VERSION.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ErrorCode, HypermemError, type ErrorCode as Code } from "../errors.js";
import { defineHeader, magicU32, MIN_HEADER_BYTES } from "../format/header.js";
import type { TcpChannel } from "./tcp-channel.js";

export const HANDSHAKE_MAGIC = magicU32("HMHS");
export const HANDSHAKE_VERSION = 2;
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
/** Largest REJECT/ERROR text payload. */
export const MAX_TEXT_BYTES = 1024;

export const MessageType = { Hello: 1, Challenge: 2, Proof: 3, Accept: 4, Reject: 5, Error: 6 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
const TYPE_NAMES = ["?", "HELLO", "CHALLENGE", "PROOF", "ACCEPT", "REJECT", "ERROR"];

/** Payload length each type must have (null: variable, up to MAX_TEXT_BYTES). */
const PAYLOAD_BYTES: Record<MessageType, number | null> = {
  1: NONCE_BYTES, 2: NONCE_BYTES + MAC_BYTES, 3: MAC_BYTES, 4: 0, 5: null, 6: null,
};

// ── message codec ────────────────────────────────────────────────────────────

/** The handshake message header. */
export const HANDSHAKE_HEADER = defineHeader({
  name: "handshake",
  magic: "HMHS",
  major: HANDSHAKE_VERSION,
  minor: 0,
  errorCode: ErrorCode.Handshake,
  // Version 1 had a u8 version (1) at offset 4, where the major's low byte now is.
  olderLayout: (prefix) => (prefix.getUint8(4) === 1 ? "1" : null),
  fields: [
    { name: "type", type: "u8", validate: (t) => (t >= 1 && t <= 6 ? null : `unknown handshake message type ${t}`) },
    { name: "rsvd", type: "u8", validate: (r) => (r === 0 ? null : `reserved byte is ${r}, not 0`) },
    {
      name: "payloadBytes", type: "u16",
      validate: (length, fields) => {
        const type = fields.type as MessageType;
        const expected = PAYLOAD_BYTES[type];
        if (expected === null ? length <= MAX_TEXT_BYTES : length === expected) return null;
        return `${TYPE_NAMES[type]} payload is ${length} bytes, expected ${expected ?? `at most ${MAX_TEXT_BYTES}`}`;
      },
    },
  ],
});
/** Bytes of a message header. */
export const FRAME_HEADER_BYTES = HANDSHAKE_HEADER.byteLength;

export interface Frame {
  readonly type: MessageType;
  readonly payload: Uint8Array;
}

export function encodeFrame(type: MessageType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = HANDSHAKE_HEADER.encode({ type, rsvd: 0, payloadBytes: payload.length });
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

/** Checks a whole message header (FRAME_HEADER_BYTES); returns the type and payload length. */
export function decodeFrameHeader(bytes: Uint8Array): { type: MessageType; length: number } {
  const h = HANDSHAKE_HEADER.decode(bytes);
  return { type: h.type as MessageType, length: h.payloadBytes };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Reads one message. `start` holds its first bytes when the caller has read
 * them already (at most 16). The fixed part is checked before the rest of the
 * header is read, and the whole header before the payload is.
 */
export async function readFrame(channel: TcpChannel, start: Uint8Array = new Uint8Array(0)): Promise<Frame> {
  const prefix = start.length < MIN_HEADER_BYTES ? concat(start, await channel.read(MIN_HEADER_BYTES - start.length)) : start;
  const source = { source: `from ${channel.peer}` };
  const { headerBytes } = HANDSHAKE_HEADER.decodePrefix(prefix, source);
  const header = headerBytes > prefix.length ? concat(prefix, await channel.read(headerBytes - prefix.length)) : prefix;
  const h = HANDSHAKE_HEADER.decode(header, source);
  return { type: h.type as MessageType, payload: h.payloadBytes ? await channel.read(h.payloadBytes) : new Uint8Array(0) };
}

/** REJECT and ERROR carry JSON {code, message}; a peer's bad text becomes a plain message. */
export function encodeTextFrame(type: typeof MessageType.Reject | typeof MessageType.Error, code: string, message: string): Uint8Array {
  let text = Buffer.from(JSON.stringify({ code, message }));
  if (text.length > MAX_TEXT_BYTES) text = Buffer.from(JSON.stringify({ code, message: message.slice(0, 200) }));
  return encodeFrame(type, text);
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** The error a REJECT/ERROR frame reports, prefixed with who said it. */
export function frameError(frame: Frame, who: string): HypermemError {
  let code: Code = ErrorCode.MigrationFailed;
  let message = Buffer.from(frame.payload).toString("utf8");
  try {
    const parsed = JSON.parse(message) as { code?: unknown; message?: unknown };
    if (typeof parsed.code === "string" && KNOWN_CODES.has(parsed.code)) code = parsed.code as Code;
    if (typeof parsed.message === "string") message = parsed.message;
  } catch {
    // not JSON: keep the raw text
  }
  return new HypermemError(code, `${who}: ${message}`, { remote: true });
}

// ── protocol steps ───────────────────────────────────────────────────────────

const SERVER_LABEL = Buffer.from("hypermem-migrate-v1 server");
const CLIENT_LABEL = Buffer.from("hypermem-migrate-v1 client");

/** Reads the shared token: the file's contents, trimmed. Missing or empty files are refused. */
export async function loadToken(file: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new HypermemError(ErrorCode.BadOption, `--token-file: cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { option: "--token-file", file });
  }
  const token = text.trim();
  if (token.length === 0) throw new HypermemError(ErrorCode.BadOption, `--token-file: ${JSON.stringify(file)} is empty; put a shared secret in it (e.g. openssl rand -hex 32)`, { option: "--token-file", file });
  return Buffer.from(token, "utf8");
}

function mac(token: Uint8Array, label: Buffer, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return createHmac("sha256", token).update(label).update(clientNonce).update(serverNonce).digest();
}

function expectType(frame: Frame, type: MessageType, who: string): void {
  if (frame.type === MessageType.Reject || frame.type === MessageType.Error) throw frameError(frame, who);
  if (frame.type !== type) {
    throw new HypermemError(ErrorCode.Handshake, `${who} sent ${TYPE_NAMES[frame.type]} where ${TYPE_NAMES[type]} was expected`, { got: frame.type, expected: type });
  }
}

/**
 * Source side: HELLO, check the destination's proof in CHALLENGE, send
 * PROOF, wait for ACCEPT. Throws ERR_AUTH (wrong token on either side),
 * ERR_HANDSHAKE, ERR_FORMAT_VERSION (a destination speaking another
 * handshake version), ERR_BUSY, ERR_TIMEOUT or ERR_PEER_CLOSED.
 */
export async function clientHandshake(channel: TcpChannel, token: Uint8Array): Promise<void> {
  const clientNonce = randomBytes(NONCE_BYTES);
  await channel.send(encodeFrame(MessageType.Hello, clientNonce));
  const challenge = await readFrame(channel);
  expectType(challenge, MessageType.Challenge, "destination");
  const serverNonce = challenge.payload.subarray(0, NONCE_BYTES);
  const serverMac = challenge.payload.subarray(NONCE_BYTES);
  if (!timingSafeEqual(serverMac, mac(token, SERVER_LABEL, clientNonce, serverNonce))) {
    const e = new HypermemError(ErrorCode.Auth, `authentication failed: the destination ${channel.peer} holds a different token`, { peer: channel.peer });
    await channel.send(encodeTextFrame(MessageType.Reject, e.code, "authentication failed: the destination holds a different token than the source")).catch(() => undefined);
    throw e;
  }
  await channel.send(encodeFrame(MessageType.Proof, mac(token, CLIENT_LABEL, clientNonce, serverNonce)));
  expectType(await readFrame(channel), MessageType.Accept, "destination");
}

/**
 * Destination side: reads HELLO, answers CHALLENGE with its own proof,
 * checks PROOF, sends ACCEPT. On a wrong proof sends REJECT and throws
 * ERR_AUTH; a source speaking another handshake version is ERR_FORMAT_VERSION.
 * Nothing is allocated for the peer before this returns.
 */
export async function serverHandshake(channel: TcpChannel, token: Uint8Array): Promise<void> {
  const hello = await readFrame(channel);
  expectType(hello, MessageType.Hello, "source");
  const clientNonce = hello.payload;
  const serverNonce = randomBytes(NONCE_BYTES);
  await channel.send(encodeFrame(MessageType.Challenge, Buffer.concat([serverNonce, mac(token, SERVER_LABEL, clientNonce, serverNonce)])));
  const proof = await readFrame(channel);
  expectType(proof, MessageType.Proof, "source");
  if (!timingSafeEqual(proof.payload, mac(token, CLIENT_LABEL, clientNonce, serverNonce))) {
    const e = new HypermemError(ErrorCode.Auth, `authentication failed: the source ${channel.peer} holds a different token`, { peer: channel.peer });
    await channel.send(encodeTextFrame(MessageType.Reject, e.code, "authentication failed: the source holds a different token than the destination")).catch(() => undefined);
    throw e;
  }
  await channel.send(encodeFrame(MessageType.Accept));
}
