// Each authentication and framing check of the TCP transport, alone, with
// real loopback sockets: the test talks to the code under test as a peer
// that breaks exactly the rule the check enforces, so the test fails if
// that check is switched off.
//
//   source (clientHandshake)                    destination (serverHandshake)
//     HELLO nc ‖ suite ─────────────────────────▶
//     ◀──────────── CHALLENGE ns ‖ HMAC(token, "…server" ‖ nc ‖ ns ‖ suite)
//     PROOF HMAC(token, "…client" ‖ nc ‖ ns ‖ suite) ▶
//     ◀──────────── ACCEPT | REJECT
//     stream in sealed records ══════════════════▶
//     ◀──────────── ACK "HMAK" status 0, in a sealed record
//
// - The source checks the destination's MAC: a destination that does not
//   know the token (and would accept anything) is refused before PROOF.
// - The destination checks the source's MAC, and the labels differ per
//   direction: its own CHALLENGE MAC reflected as PROOF is refused.
// - Every handshake header field (version, type, length per type).
// - Over TCP the migration completes only on a correct acknowledgement,
//   sealed with the session's key by an authenticated destination.
//
// Already tested in test/tcp.test.ts, not repeated here: wrong tokens on
// both sides through the listener, a PROOF of zeros, a non-hypermem peer
// (magic) and an absurd HELLO length, timeouts, ERR_BUSY. The records
// after the handshake (tags, sequence, replay, a forged acknowledgement by
// a man in the middle) are in test/net.record.test.ts and test/tcp.mitm.test.ts.
import { createHmac, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost } from "../src/host/host.js";
import {
  clientHandshake, decodeFrameHeader, encodeFrame, FRAME_HEADER_BYTES, HANDSHAKE_MAGIC, MAC_BYTES, MAX_TEXT_BYTES, MessageType,
  NONCE_BYTES, readFrame, serverHandshake,
} from "../src/net/handshake.js";
import { SecureChannel } from "../src/net/secure-channel.js";
import { Suite } from "../src/net/session-keys.js";
import { TcpChannel } from "../src/net/tcp-channel.js";
import { migrateOverTcp } from "../src/migration/tcp.js";
import { ACK_HEADER } from "../src/stream/format.js";
import { StreamReceiver } from "../src/stream/receiver.js";

const TOKEN = Buffer.from("a shared secret for the transport checks");
const SERVER_LABEL = "hypermem-migrate-v3 server";
const CLIENT_LABEL = "hypermem-migrate-v3 client";
const SUITE = Suite.Aes256Gcm;
/** HELLO's payload: the client nonce, then the suite byte. */
const hello = (clientNonce: Uint8Array, suite: number = SUITE): Uint8Array => Buffer.concat([clientNonce, Uint8Array.of(suite)]);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A loopback server whose connections go to `serve` as TcpChannels; resolves with its port. */
async function serveOnce(serve: (channel: TcpChannel) => Promise<unknown>): Promise<{ port: number; served: Promise<unknown> }> {
  let settle!: (outcome: unknown) => void;
  const served = new Promise<unknown>((resolve) => { settle = resolve; });
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    const channel = new TcpChannel(socket, { idleTimeoutMs: 3000, peer: "test source" });
    serve(channel).then(() => settle("ok"), (err: unknown) => settle(err));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as { port: number }).port, served };
}

/** A connected client-side TcpChannel to `port`. */
async function dial(port: number): Promise<TcpChannel> {
  const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("connect", resolve));
  const channel = new TcpChannel(socket, { idleTimeoutMs: 3000, peer: "test destination" });
  cleanups.push(() => channel.destroy());
  return channel;
}

const hmac = (label: string, clientNonce: Uint8Array, serverNonce: Uint8Array, suite: number = SUITE): Buffer =>
  createHmac("sha256", TOKEN).update(label).update(clientNonce).update(serverNonce).update(Uint8Array.of(suite)).digest();

describe("the handshake with the right token on both sides", () => {
  it("completes on both sides (the positive case the refusals below are made from)", async () => {
    const { port, served } = await serveOnce((ch) => serverHandshake(ch, TOKEN));
    const keys = await clientHandshake(await dial(port), TOKEN);
    expect(keys.suite).toBe(SUITE);
    expect(await served).toBe("ok");
  });
});

describe("the source authenticates the destination", () => {
  it("a destination that does not know the token is refused before the source sends its proof", async () => {
    const seen: number[] = [];
    // Knows the protocol, not the token: answers HELLO with a made-up MAC, then accepts anything.
    const { port, served } = await serveOnce(async (ch) => {
      await readFrame(ch);
      await ch.send(encodeFrame(MessageType.Challenge, randomBytes(NONCE_BYTES + MAC_BYTES)));
      const next = await readFrame(ch);
      seen.push(next.type);
      await ch.send(encodeFrame(MessageType.Accept));
    });
    const err = await clientHandshake(await dial(port), TOKEN).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HypermemError);
    expect(err).toMatchObject({ code: ErrorCode.Auth, message: expect.stringMatching(/destination .* holds a different token/) });
    await served;
    expect(seen).toEqual([MessageType.Reject]); // never a PROOF
  });
});

describe("the destination authenticates the source", () => {
  /** A real destination, and a hand-made source that has sent HELLO and read CHALLENGE. */
  async function challenged(): Promise<{ ch: TcpChannel; served: Promise<unknown>; clientNonce: Uint8Array; serverNonce: Uint8Array; serverMac: Uint8Array }> {
    const { port, served } = await serveOnce((ch) => serverHandshake(ch, TOKEN));
    const ch = await dial(port);
    const clientNonce = randomBytes(NONCE_BYTES);
    await ch.send(encodeFrame(MessageType.Hello, hello(clientNonce)));
    const challenge = await readFrame(ch);
    expect(challenge.type).toBe(MessageType.Challenge);
    return { ch, served, clientNonce, serverNonce: challenge.payload.subarray(0, NONCE_BYTES), serverMac: challenge.payload.subarray(NONCE_BYTES) };
  }

  /** Sends `proof` as PROOF; the destination must answer REJECT and fail with ERR_AUTH. */
  async function expectRefused(ch: TcpChannel, served: Promise<unknown>, proof: Uint8Array): Promise<void> {
    await ch.send(encodeFrame(MessageType.Proof, proof));
    expect((await readFrame(ch)).type).toBe(MessageType.Reject);
    expect(await served).toMatchObject({ code: ErrorCode.Auth });
  }

  it("its own CHALLENGE MAC reflected back as PROOF is refused (the labels differ per direction)", async () => {
    const { ch, served, clientNonce, serverNonce, serverMac } = await challenged();
    expect(Buffer.compare(serverMac, hmac(SERVER_LABEL, clientNonce, serverNonce))).toBe(0); // the MAC is what the doc says
    await expectRefused(ch, served, serverMac);
  });

  it("a proof computed as the documentation says is accepted", async () => {
    const { ch, served, clientNonce, serverNonce } = await challenged();
    await ch.send(encodeFrame(MessageType.Proof, hmac(CLIENT_LABEL, clientNonce, serverNonce)));
    expect((await readFrame(ch)).type).toBe(MessageType.Accept);
    expect(await served).toBe("ok");
  });

  it("a proof over another suite than the one the destination heard is refused (a downgrade cannot be proved)", async () => {
    const { ch, served, clientNonce, serverNonce } = await challenged();
    await expectRefused(ch, served, hmac(CLIENT_LABEL, clientNonce, serverNonce, Suite.GmacAes256));
  });

  it.each([
    { what: "its first byte", at: 0 },
    { what: "its last byte", at: MAC_BYTES - 1 },
  ])("the right proof with one bit of $what flipped is refused (the whole MAC is compared)", async ({ at }) => {
    const { ch, served, clientNonce, serverNonce } = await challenged();
    const proof = hmac(CLIENT_LABEL, clientNonce, serverNonce);
    proof[at] ^= 0x01;
    await expectRefused(ch, served, proof);
  });

  it("the right proof with a byte more is refused before it is compared (PROOF is exactly 32 bytes)", async () => {
    const { ch, served, clientNonce, serverNonce } = await challenged();
    // encodeFrame refuses to write it: the header is made by hand, as a hostile client would.
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    const v = new DataView(header.buffer);
    v.setUint32(0, HANDSHAKE_MAGIC, true);
    v.setUint16(4, 3, true);
    v.setUint32(8, FRAME_HEADER_BYTES, true);
    v.setUint8(12, MessageType.Proof);
    v.setUint16(14, MAC_BYTES + 1, true);
    v.setUint32(16, crc32(header.subarray(0, 16)), true);
    await ch.send(Buffer.concat([header, hmac(CLIENT_LABEL, clientNonce, serverNonce), Uint8Array.of(0)]));
    expect(await served).toMatchObject({ code: ErrorCode.Handshake, details: { field: "payloadBytes", value: MAC_BYTES + 1 } });
  });

  it("a proof for another session's nonces is refused (no replay)", async () => {
    const { ch, served, clientNonce } = await challenged();
    await expectRefused(ch, served, hmac(CLIENT_LABEL, clientNonce, randomBytes(NONCE_BYTES)));
  });
});

describe("handshake message header: each field checked", () => {
  /** A version 3 message header (docs/migration-tcp.md), sealed with its crc: `major` at 4, type at 12, length at 14. */
  const header = (major: number, type: number, length: number, minor = 0): Uint8Array => {
    const out = new Uint8Array(FRAME_HEADER_BYTES);
    const v = new DataView(out.buffer);
    v.setUint32(0, HANDSHAKE_MAGIC, true);
    v.setUint16(4, major, true);
    v.setUint16(6, minor, true);
    v.setUint32(8, FRAME_HEADER_BYTES, true);
    v.setUint8(12, type);
    v.setUint16(14, length, true);
    v.setUint32(16, crc32(out.subarray(0, 16)), true);
    return out;
  };
  const refused = (bytes: Uint8Array): unknown => {
    try {
      decodeFrameHeader(bytes);
    } catch (err) {
      return err;
    }
    return null;
  };

  it("version: 3.0 is read; 1 (the old layout), 2.0 (nothing protected after ACCEPT), 4.0 and 3.1 are refused", () => {
    expect(decodeFrameHeader(header(3, MessageType.Accept, 0))).toEqual({ type: MessageType.Accept, length: 0 });
    for (const [major, minor, found] of [[1, 0, "1"], [2, 0, "2.0"], [4, 0, "4.0"], [3, 1, "3.1"]] as const) {
      expect(refused(header(major, MessageType.Accept, 0, minor))).toMatchObject({ code: ErrorCode.FormatVersion, details: { found } });
    }
  });

  it("type: 1..6 are read, 0 and 7 are refused", () => {
    const lengths = [NONCE_BYTES + 1, NONCE_BYTES + MAC_BYTES, MAC_BYTES, 0, 10, 10];
    lengths.forEach((length, i) => expect(decodeFrameHeader(header(3, i + 1, length))).toEqual({ type: i + 1, length }));
    for (const type of [0, 7]) {
      expect(refused(header(3, type, 0))).toMatchObject({ code: ErrorCode.Handshake, message: expect.stringContaining(`unknown handshake message type ${type}`), details: { field: "type", value: type } });
    }
  });

  it("length: exact for HELLO, CHALLENGE, PROOF and ACCEPT (one byte more or less is refused), at most 1024 for REJECT and ERROR", () => {
    const fixed: ReadonlyArray<readonly [number, number]> = [
      [MessageType.Hello, NONCE_BYTES + 1], [MessageType.Challenge, NONCE_BYTES + MAC_BYTES], [MessageType.Proof, MAC_BYTES], [MessageType.Accept, 0],
    ];
    for (const [type, length] of fixed) {
      expect(decodeFrameHeader(header(3, type, length))).toEqual({ type, length });
      for (const wrong of [length - 1, length + 1].filter((n) => n >= 0)) {
        expect(refused(header(3, type, wrong)), `type ${type} length ${wrong}`).toMatchObject({ code: ErrorCode.Handshake, details: { field: "payloadBytes", value: wrong } });
      }
    }
    for (const type of [MessageType.Reject, MessageType.Error]) {
      expect(decodeFrameHeader(header(3, type, MAX_TEXT_BYTES))).toEqual({ type, length: MAX_TEXT_BYTES });
      expect(decodeFrameHeader(header(3, type, 0))).toEqual({ type, length: 0 });
      expect(refused(header(3, type, MAX_TEXT_BYTES + 1))).toMatchObject({ code: ErrorCode.Handshake, details: { field: "payloadBytes", value: MAX_TEXT_BYTES + 1 } });
    }
  });
});

describe("the acknowledgement over TCP", () => {
  /** A destination that authenticates, receives the whole stream correctly, and answers `ack`. */
  async function destination(ack: Uint8Array): Promise<number> {
    const host = createHost({ memoryMiB: 16 });
    const { port } = await serveOnce(async (tcp) => {
      const ch = new SecureChannel(tcp, await serverHandshake(tcp, TOKEN), { role: "server" });
      const receiver = new StreamReceiver(host);
      while (!receiver.done) {
        const bytes = await ch.receive();
        if (bytes === null) break;
        receiver.push(bytes);
      }
      receiver.finish().destroy();
      await ch.send(ack);
      await ch.close();
    });
    return port;
  }
  const ack = (status: number): Uint8Array => ACK_HEADER.encode({ status });

  it.each([
    { what: "status 0", answer: ack(0), status: "completed" },
    { what: "status 1", answer: ack(1), status: "failed" },
    { what: "20 bytes of something else", answer: Buffer.from("HMAX\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), status: "failed" },
  ])("the source completes only on a correct acknowledgement: $what -> $status", async ({ answer, status }) => {
    const port = await destination(answer);
    const vm = createHost({ memoryMiB: 16 }).createVm({ pages: 64 });
    vm.write(0, new Uint8Array(16 * 4096).fill(3));
    const result = await migrateOverTcp(vm, {}, { host: "127.0.0.1", port, token: TOKEN, idleTimeoutMs: 3000 });
    expect(result.status).toBe(status);
    if (status === "completed") expect(result.verification).toMatchObject({ ok: true, method: "digest" });
    else expect(result.error?.message).toMatch(/acknowledg/);
  });
});
