// The TCP migration handshake: both ends prove knowledge of a shared token
// with HMAC-SHA256 over fresh random nonces before any guest state moves,
// agree on how the records after it are protected (the suite), and derive
// the session keys of those records (src/net/session-keys.ts) from the
// token and both nonces. See docs/migration-tcp.md for the message diagram.
//
// The file has two parts: the message codec (encode, decode, read one message
// from a channel), and the protocol steps built on it (clientHandshake,
// serverHandshake).
//
// Handshake message, version 3.0 (little endian): the versioned header of
// src/format/header.ts, then the payload. Every field is checked before the
// payload is read.
//   0        4       6       8             12     13     14          16       20
//   ┌────────┬───────┬───────┬─────────────┬──────┬──────┬───────────┬────────┬─────────┐
//   │ "HMHS" │ u16   │ u16   │ u32 header- │ u8   │ u8   │ u16 pay-  │ u32    │ payload │
//   │        │ maj=3 │ min=0 │ Bytes = 20  │ type │ rsvd │ loadBytes │ crc    │         │
//   └────────┴───────┴───────┴─────────────┴──────┴──────┴───────────┴────────┴─────────┘
//   type          HELLO=1 CHALLENGE=2 PROOF=3 ACCEPT=4 REJECT=5 ERROR=6
//   rsvd          0
//   payloadBytes  fixed per type; at most MAX_TEXT_BYTES for REJECT/ERROR
//   crc           CRC-32 of bytes 0..15
// Payloads: HELLO = client nonce (32) ‖ u8 suite (1 AES-256-GCM, 2 GMAC only);
// CHALLENGE = server nonce (32) ‖ server MAC (32); PROOF = client MAC (32);
// ACCEPT = nothing; REJECT, ERROR = JSON {code, message}.
// Version 2 (no suite, nothing protected after ACCEPT) is refused with
// ERR_FORMAT_VERSION, and so is a version-1 peer (an 8-byte header: magic,
// u8 version 1, u8 type, u16 length). After ACCEPT every message is a record
// (src/net/record.ts); ERROR exists for a peer that fails before it.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ErrorCode, HypermemError, type ErrorCode as Code } from "../errors.js";
import { defineHeader, magicU32, MIN_HEADER_BYTES } from "../format/header.js";
import { deriveSessionKeys, isSuite, Suite, SUITE_NAMES, type SessionKeys } from "./session-keys.js";
import type { TcpChannel } from "./tcp-channel.js";

export const HANDSHAKE_MAGIC = magicU32("HMHS");
export const HANDSHAKE_VERSION = 3;
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
/** HELLO: the client nonce, then the suite byte. */
export const HELLO_BYTES = NONCE_BYTES + 1;
/** Largest REJECT/ERROR text payload. */
export const MAX_TEXT_BYTES = 1024;

export const MessageType = { Hello: 1, Challenge: 2, Proof: 3, Accept: 4, Reject: 5, Error: 6 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
const TYPE_NAMES = ["?", "HELLO", "CHALLENGE", "PROOF", "ACCEPT", "REJECT", "ERROR"];

/** Payload length each type must have (null: variable, up to MAX_TEXT_BYTES). */
const PAYLOAD_BYTES: Record<MessageType, number | null> = {
  1: HELLO_BYTES, 2: NONCE_BYTES + MAC_BYTES, 3: MAC_BYTES, 4: 0, 5: null, 6: null,
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

/** The JSON {code, message} of a REJECT or ERROR (a handshake message, or an ERROR record), at most MAX_TEXT_BYTES. */
export function encodeErrorText(code: string, message: string): Uint8Array {
  const text = Buffer.from(JSON.stringify({ code, message }));
  return text.length <= MAX_TEXT_BYTES ? text : Buffer.from(JSON.stringify({ code, message: message.slice(0, 200) }));
}

/** REJECT and ERROR carry JSON {code, message}; a peer's bad text becomes a plain message. */
export function encodeTextFrame(type: typeof MessageType.Reject | typeof MessageType.Error, code: string, message: string): Uint8Array {
  return encodeFrame(type, encodeErrorText(code, message));
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** The error a REJECT/ERROR frame reports, prefixed with who said it. */
export function frameError(frame: Frame, who: string): HypermemError {
  return errorFromText(frame.payload, who);
}

/** The error a peer's JSON {code, message} text reports (details.remote: true), prefixed with who said it. */
export function errorFromText(payload: Uint8Array, who: string): HypermemError {
  let code: Code = ErrorCode.MigrationFailed;
  let message = Buffer.from(payload).toString("utf8");
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

const SERVER_LABEL = Buffer.from("hypermem-migrate-v3 server");
const CLIENT_LABEL = Buffer.from("hypermem-migrate-v3 client");

/** What a suite means, for messages. */
export function describeSuite(suite: Suite): string {
  return suite === Suite.Aes256Gcm ? "encryption (AES-256-GCM)" : "integrity only (GMAC, --no-encryption)";
}

/** A proof: HMAC-SHA256 keyed by the token over the label, both nonces and the suite the server heard. */
function mac(token: Uint8Array, label: Buffer, clientNonce: Uint8Array, serverNonce: Uint8Array, suite: Suite): Buffer {
  return createHmac("sha256", token).update(label).update(clientNonce).update(serverNonce).update(Uint8Array.of(suite)).digest();
}

function expectType(frame: Frame, type: MessageType, who: string): void {
  if (frame.type === MessageType.Reject || frame.type === MessageType.Error) throw frameError(frame, who);
  if (frame.type !== type) {
    throw new HypermemError(ErrorCode.Handshake, `${who} sent ${TYPE_NAMES[frame.type]} where ${TYPE_NAMES[type]} was expected`, { got: frame.type, expected: type });
  }
}

/** Sends REJECT with `e` (best effort: the peer may be gone) and returns `e` to throw. */
async function reject(channel: TcpChannel, e: HypermemError, text = e.message): Promise<HypermemError> {
  await channel.send(encodeTextFrame(MessageType.Reject, e.code, text)).catch(() => undefined);
  return e;
}

/**
 * Source side: HELLO with the suite it wants, check the destination's proof
 * in CHALLENGE, send PROOF, wait for ACCEPT; returns the session keys.
 * Throws ERR_AUTH (a wrong token on either side, or a handshake altered on
 * the way, such as a suite changed by a man in the middle), ERR_HANDSHAKE
 * (a destination that wants the other suite, or a malformed message),
 * ERR_FORMAT_VERSION (a destination speaking another handshake version),
 * ERR_BUSY, ERR_TIMEOUT or ERR_PEER_CLOSED.
 */
export async function clientHandshake(channel: TcpChannel, token: Uint8Array, suite: Suite = Suite.Aes256Gcm): Promise<SessionKeys> {
  const clientNonce = randomBytes(NONCE_BYTES);
  await channel.send(encodeFrame(MessageType.Hello, Buffer.concat([clientNonce, Uint8Array.of(suite)])));
  const challenge = await readFrame(channel);
  expectType(challenge, MessageType.Challenge, "destination");
  const serverNonce = challenge.payload.subarray(0, NONCE_BYTES);
  const serverMac = challenge.payload.subarray(NONCE_BYTES);
  if (!timingSafeEqual(serverMac, mac(token, SERVER_LABEL, clientNonce, serverNonce, suite))) {
    const e = new HypermemError(ErrorCode.Auth, `authentication failed: the proof of the destination ${channel.peer} does not verify: it holds a different token, or the handshake was altered on the way`, { peer: channel.peer });
    throw await reject(channel, e, "authentication failed: the destination's proof does not verify (a different token than the source's, or the handshake was altered on the way)");
  }
  await channel.send(encodeFrame(MessageType.Proof, mac(token, CLIENT_LABEL, clientNonce, serverNonce, suite)));
  expectType(await readFrame(channel), MessageType.Accept, "destination");
  return deriveSessionKeys(token, clientNonce, serverNonce, suite);
}

export interface ServerHandshakeOptions {
  /** The suite this end requires. @default Suite.Aes256Gcm */
  suite?: Suite;
  /**
   * Called once the source's proof verified, before ACCEPT: an error to
   * refuse the authenticated source with (REJECT, then thrown), or null to
   * accept it. @default accept
   */
  admit?: () => HypermemError | null;
}

/**
 * Destination side: reads HELLO (refusing another suite than its own),
 * answers CHALLENGE with its own proof, checks PROOF, asks `admit`, sends
 * ACCEPT; returns the session keys. On a wrong proof sends REJECT and
 * throws ERR_AUTH; a source wanting the other suite is ERR_HANDSHAKE, one
 * speaking another handshake version ERR_FORMAT_VERSION. Nothing is
 * allocated for the peer before this returns.
 */
export async function serverHandshake(channel: TcpChannel, token: Uint8Array, options: ServerHandshakeOptions = {}): Promise<SessionKeys> {
  const suite = options.suite ?? Suite.Aes256Gcm;
  const hello = await readFrame(channel);
  expectType(hello, MessageType.Hello, "source");
  const clientNonce = hello.payload.subarray(0, NONCE_BYTES);
  const asked = hello.payload[NONCE_BYTES];
  if (!isSuite(asked)) {
    throw await reject(channel, new HypermemError(ErrorCode.Handshake, `the source ${channel.peer} asks for protection suite ${asked}, which this hypermem does not speak (1 ${SUITE_NAMES[1]}, 2 ${SUITE_NAMES[2]})`, { peer: channel.peer, suite: asked }));
  }
  if (asked !== suite) {
    const why = `the source asks for ${describeSuite(asked)}, this destination requires ${describeSuite(suite)}: give --no-encryption to both sides or to neither`;
    throw await reject(channel, new HypermemError(ErrorCode.Handshake, `${why} (source ${channel.peer})`, { peer: channel.peer, suite: asked, required: suite }), why);
  }
  const serverNonce = randomBytes(NONCE_BYTES);
  await channel.send(encodeFrame(MessageType.Challenge, Buffer.concat([serverNonce, mac(token, SERVER_LABEL, clientNonce, serverNonce, suite)])));
  const proof = await readFrame(channel);
  expectType(proof, MessageType.Proof, "source");
  if (!timingSafeEqual(proof.payload, mac(token, CLIENT_LABEL, clientNonce, serverNonce, suite))) {
    const e = new HypermemError(ErrorCode.Auth, `authentication failed: the proof of the source ${channel.peer} does not verify: it holds a different token, or the handshake was altered on the way`, { peer: channel.peer });
    throw await reject(channel, e, "authentication failed: the source's proof does not verify (a different token than the destination's, or the handshake was altered on the way)");
  }
  const refusal = options.admit?.() ?? null;
  if (refusal) throw await reject(channel, refusal);
  await channel.send(encodeFrame(MessageType.Accept));
  return deriveSessionKeys(token, clientNonce, serverNonce, suite);
}
