// The TCP migration handshake: both ends prove knowledge of a shared token
// with HMAC-SHA256 over fresh random nonces before any guest state moves.
// See docs/migration-tcp.md for the message diagram.
//
// Handshake message (little endian), every field checked before use:
//  +0  u32  magic    "HMHS"
//  +4  u8   version  1
//  +5  u8   type     HELLO=1 CHALLENGE=2 PROOF=3 ACCEPT=4 REJECT=5 ERROR=6
//  +6  u16  length   payload bytes; fixed per type, at most MAX_TEXT_BYTES for REJECT/ERROR
//  +8  ...  payload
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ErrorCode, HypermemError, type ErrorCode as Code } from "../errors.js";
import type { TcpChannel } from "./tcp-channel.js";

export const HANDSHAKE_MAGIC = 0x53484d48; // "HMHS"
export const HANDSHAKE_VERSION = 1;
export const FRAME_HEADER_BYTES = 8;
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

const SERVER_LABEL = Buffer.from("hypermem-migrate-v1 server");
const CLIENT_LABEL = Buffer.from("hypermem-migrate-v1 client");

export interface Frame {
  readonly type: MessageType;
  readonly payload: Uint8Array;
}

export function encodeFrame(type: MessageType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, HANDSHAKE_MAGIC, true);
  v.setUint8(4, HANDSHAKE_VERSION);
  v.setUint8(5, type);
  v.setUint16(6, payload.length, true);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Validates a frame header; returns the type and payload length. */
export function decodeFrameHeader(bytes: Uint8Array): { type: MessageType; length: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
  const magic = v.getUint32(0, true);
  if (magic !== HANDSHAKE_MAGIC) {
    throw new HypermemError(ErrorCode.Handshake, `handshake message magic 0x${magic.toString(16)} is not "HMHS" (not a hypermem peer?)`, { magic });
  }
  const version = v.getUint8(4);
  if (version !== HANDSHAKE_VERSION) {
    throw new HypermemError(ErrorCode.Handshake, `handshake version ${version} is not supported (this side speaks ${HANDSHAKE_VERSION})`, { version });
  }
  const type = v.getUint8(5);
  if (type < 1 || type > 6) throw new HypermemError(ErrorCode.Handshake, `unknown handshake message type ${type}`, { type });
  const length = v.getUint16(6, true);
  const expected = PAYLOAD_BYTES[type as MessageType];
  if (expected === null ? length > MAX_TEXT_BYTES : length !== expected) {
    throw new HypermemError(ErrorCode.Handshake, `${TYPE_NAMES[type]} payload is ${length} bytes, expected ${expected ?? `at most ${MAX_TEXT_BYTES}`}`, { type, length });
  }
  return { type: type as MessageType, length };
}

export async function readFrame(channel: TcpChannel): Promise<Frame> {
  const { type, length } = decodeFrameHeader(await channel.read(FRAME_HEADER_BYTES));
  return { type, payload: length ? await channel.read(length) : new Uint8Array(0) };
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
 * ERR_HANDSHAKE, ERR_BUSY, ERR_TIMEOUT or ERR_PEER_CLOSED.
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
 * ERR_AUTH; nothing is allocated for the peer before this returns.
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
