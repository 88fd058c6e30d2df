// Each authentication and framing check of the TCP transport, alone, with
// real loopback sockets: the test talks to the code under test as a peer
// that breaks exactly the rule the check enforces, so the test fails if
// that check is switched off.
//
//   source (clientHandshake)               destination (serverHandshake)
//     HELLO nc ────────────────────────────▶
//     ◀──────────── CHALLENGE ns ‖ HMAC(token, "…server" ‖ nc ‖ ns)
//     PROOF HMAC(token, "…client" ‖ nc ‖ ns) ▶
//     ◀──────────── ACCEPT | REJECT
//     stream ══════════════════════════════▶
//     ◀──────────── ACK "HMAK" status 0
//
// - The source checks the destination's MAC: a destination that does not
//   know the token (and would accept anything) is refused before PROOF.
// - The destination checks the source's MAC, and the labels differ per
//   direction: its own CHALLENGE MAC reflected as PROOF is refused.
// - Every handshake header field (version, type, length per type).
// - Over TCP the migration completes only on a correct acknowledgement.
//
// Already tested in test/tcp.test.ts, not repeated here: wrong tokens on
// both sides through the listener, a PROOF of zeros, a non-hypermem peer
// (magic) and an absurd HELLO length, timeouts, ERR_BUSY.
import { createHmac, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHost, ErrorCode, HypermemError } from "../src/index.js";
import {
  clientHandshake, decodeFrameHeader, encodeFrame, FRAME_HEADER_BYTES, HANDSHAKE_MAGIC, MAC_BYTES, MAX_TEXT_BYTES, MessageType,
  NONCE_BYTES, readFrame, serverHandshake,
} from "../src/net/handshake.js";
import { TcpChannel } from "../src/net/tcp-channel.js";
import { migrateOverTcp } from "../src/migration/tcp.js";
import { ACK_HEADER } from "../src/stream/format.js";
import { StreamReceiver } from "../src/stream/receiver.js";

const TOKEN = Buffer.from("a shared secret for the transport checks");
const SERVER_LABEL = "hypermem-migrate-v1 server";
const CLIENT_LABEL = "hypermem-migrate-v1 client";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A loopback server whose connections go to `serve` as TcpChannels; resolves with its port. */
async function serveOnce(serve: (channel: TcpChannel) => Promise<void>): Promise<{ port: number; served: Promise<unknown> }> {
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

const hmac = (label: string, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer =>
  createHmac("sha256", TOKEN).update(label).update(clientNonce).update(serverNonce).digest();

describe("the handshake with the right token on both sides", () => {
  it("completes on both sides (the positive case the refusals below are made from)", async () => {
    const { port, served } = await serveOnce((ch) => serverHandshake(ch, TOKEN));
    await expect(clientHandshake(await dial(port), TOKEN)).resolves.toBeUndefined();
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
  it("its own CHALLENGE MAC reflected back as PROOF is refused (the labels differ per direction)", async () => {
    const { port, served } = await serveOnce((ch) => serverHandshake(ch, TOKEN));
    const ch = await dial(port);
    const clientNonce = randomBytes(NONCE_BYTES);
    await ch.send(encodeFrame(MessageType.Hello, clientNonce));
    const challenge = await readFrame(ch);
    expect(challenge.type).toBe(MessageType.Challenge);
    const serverNonce = challenge.payload.subarray(0, NONCE_BYTES);
    const serverMac = challenge.payload.subarray(NONCE_BYTES);
    expect(Buffer.compare(serverMac, hmac(SERVER_LABEL, clientNonce, serverNonce))).toBe(0); // the MAC is what the doc says
    await ch.send(encodeFrame(MessageType.Proof, serverMac));
    expect((await readFrame(ch)).type).toBe(MessageType.Reject);
    expect(await served).toMatchObject({ code: ErrorCode.Auth });
  });

  it("a proof computed as the documentation says is accepted", async () => {
    const { port, served } = await serveOnce((ch) => serverHandshake(ch, TOKEN));
    const ch = await dial(port);
    const clientNonce = randomBytes(NONCE_BYTES);
    await ch.send(encodeFrame(MessageType.Hello, clientNonce));
    const serverNonce = (await readFrame(ch)).payload.subarray(0, NONCE_BYTES);
    await ch.send(encodeFrame(MessageType.Proof, hmac(CLIENT_LABEL, clientNonce, serverNonce)));
    expect((await readFrame(ch)).type).toBe(MessageType.Accept);
    expect(await served).toBe("ok");
  });

  it("a proof for another session's nonces is refused (no replay)", async () => {
    const { port, served } = await serveOnce((ch) => serverHandshake(ch, TOKEN));
    const ch = await dial(port);
    const clientNonce = randomBytes(NONCE_BYTES);
    await ch.send(encodeFrame(MessageType.Hello, clientNonce));
    await readFrame(ch);
    await ch.send(encodeFrame(MessageType.Proof, hmac(CLIENT_LABEL, clientNonce, randomBytes(NONCE_BYTES))));
    expect((await readFrame(ch)).type).toBe(MessageType.Reject);
    expect(await served).toMatchObject({ code: ErrorCode.Auth });
  });
});

describe("handshake message header: each field checked", () => {
  /** A version 2 message header (docs/migration-tcp.md), sealed with its crc: `major` at 4, type at 12, length at 14. */
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

  it("version: 2.0 is read; 1 (the old layout), 3.0 and 2.1 are refused", () => {
    expect(decodeFrameHeader(header(2, MessageType.Accept, 0))).toEqual({ type: MessageType.Accept, length: 0 });
    for (const [major, minor, found] of [[1, 0, "1"], [3, 0, "3.0"], [2, 1, "2.1"]] as const) {
      expect(refused(header(major, MessageType.Accept, 0, minor))).toMatchObject({ code: ErrorCode.FormatVersion, details: { found } });
    }
  });

  it("type: 1..6 are read, 0 and 7 are refused", () => {
    const lengths = [NONCE_BYTES, NONCE_BYTES + MAC_BYTES, MAC_BYTES, 0, 10, 10];
    lengths.forEach((length, i) => expect(decodeFrameHeader(header(2, i + 1, length))).toEqual({ type: i + 1, length }));
    for (const type of [0, 7]) {
      expect(refused(header(2, type, 0))).toMatchObject({ code: ErrorCode.Handshake, message: expect.stringContaining(`unknown handshake message type ${type}`), details: { field: "type", value: type } });
    }
  });

  it("length: exact for HELLO, CHALLENGE, PROOF and ACCEPT (one byte more or less is refused), at most 1024 for REJECT and ERROR", () => {
    const fixed: ReadonlyArray<readonly [number, number]> = [
      [MessageType.Hello, NONCE_BYTES], [MessageType.Challenge, NONCE_BYTES + MAC_BYTES], [MessageType.Proof, MAC_BYTES], [MessageType.Accept, 0],
    ];
    for (const [type, length] of fixed) {
      expect(decodeFrameHeader(header(2, type, length))).toEqual({ type, length });
      for (const wrong of [length - 1, length + 1].filter((n) => n >= 0)) {
        expect(refused(header(2, type, wrong)), `type ${type} length ${wrong}`).toMatchObject({ code: ErrorCode.Handshake, details: { field: "payloadBytes", value: wrong } });
      }
    }
    for (const type of [MessageType.Reject, MessageType.Error]) {
      expect(decodeFrameHeader(header(2, type, MAX_TEXT_BYTES))).toEqual({ type, length: MAX_TEXT_BYTES });
      expect(decodeFrameHeader(header(2, type, 0))).toEqual({ type, length: 0 });
      expect(refused(header(2, type, MAX_TEXT_BYTES + 1))).toMatchObject({ code: ErrorCode.Handshake, details: { field: "payloadBytes", value: MAX_TEXT_BYTES + 1 } });
    }
  });
});

describe("the acknowledgement over TCP", () => {
  /** A destination that authenticates, receives the whole stream correctly, and answers `ack`. */
  async function destination(ack: Uint8Array): Promise<number> {
    const host = createHost({ memoryMiB: 16 });
    const { port } = await serveOnce(async (ch) => {
      await serverHandshake(ch, TOKEN);
      const receiver = new StreamReceiver(host);
      while (!receiver.done) {
        const bytes = await ch.receive();
        if (bytes === null) break;
        receiver.push(bytes);
      }
      receiver.finish().destroy();
      await ch.send(ack);
      ch.close();
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
