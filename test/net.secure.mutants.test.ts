// The handshake's steps and the secure channel on real loopback sockets,
// where a mutation run (issue 19) found no test looking: what each side
// says and sends when the peer breaks a rule (a wrong message type, an ERROR
// instead of CHALLENGE, a wrong proof, an admit refusal, an unknown or other
// suite), the peer's error text decoded (unknown codes, a message that is
// not a string, long messages cut), and the secure channel's life: empty
// and oversized sends, the receive limit, buffers reused, a second close, an
// abort, a peer's own error not echoed back, truncation inside a record.
import { createHmac, randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import {
  clientHandshake, decodeFrameHeader, encodeErrorText, encodeFrame, encodeTextFrame, errorFromText, FRAME_HEADER_BYTES, HANDSHAKE_MAGIC,
  MAC_BYTES, MessageType, NONCE_BYTES, readFrame, serverHandshake, type Frame,
} from "../src/net/handshake.js";
import { MAX_RECORD_BODY_BYTES } from "../src/net/record.js";
import { SecureChannel } from "../src/net/secure-channel.js";
import { Suite } from "../src/net/session-keys.js";
import { TcpChannel } from "../src/net/tcp-channel.js";

const TOKEN = Buffer.from("a token for the secure channel edges");
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A loopback pair of TcpChannels: the accepted end named "test source", the connecting end "test destination". */
async function tcpPair(idleTimeoutMs = 3000): Promise<{ server: TcpChannel; client: TcpChannel }> {
  const sockets: Socket[] = [];
  let accepted!: (ch: TcpChannel) => void;
  const serverSide = new Promise<TcpChannel>((resolve) => { accepted = resolve; });
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    accepted(new TcpChannel(socket, { idleTimeoutMs, peer: "test source" }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const socket = connect({ host: "127.0.0.1", port: (server.address() as { port: number }).port, allowHalfOpen: true });
  socket.on("error", () => undefined);
  sockets.push(socket);
  await new Promise((r) => socket.once("connect", r));
  const client = new TcpChannel(socket, { idleTimeoutMs, peer: "test destination" });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { server: await serverSide, client };
}

async function failure(p: Promise<unknown>): Promise<HypermemError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HypermemError);
  return err as HypermemError;
}

const text = (frame: Frame): unknown => JSON.parse(Buffer.from(frame.payload).toString());
const hmac = (label: string, nc: Uint8Array, ns: Uint8Array, suite: number): Buffer =>
  createHmac("sha256", TOKEN).update(`hypermem-migrate-v3 ${label}`).update(nc).update(ns).update(Uint8Array.of(suite)).digest();

describe("the peer's error text", () => {
  it("keeps a known code and the message; an unknown code or a code that is not a string is ERR_MIGRATION_FAILED", () => {
    const parse = (s: string): HypermemError => errorFromText(Buffer.from(s), "destination");
    expect(parse('{"code":"ERR_BUSY","message":"busy"}')).toMatchObject({ code: ErrorCode.Busy, message: "destination: busy", details: { remote: true } });
    expect(parse('{"code":"ERR_BUSY","message":"busy"}').details).toEqual({ remote: true });
    expect(parse('{"code":"ERR_NO_SUCH_CODE","message":"m"}')).toMatchObject({ code: ErrorCode.MigrationFailed, message: "destination: m" });
    expect(parse('{"code":7,"message":"m"}')).toMatchObject({ code: ErrorCode.MigrationFailed, message: "destination: m" });
    expect(parse('{"code":"ERR_BUSY","message":7}')).toMatchObject({ code: ErrorCode.Busy, message: 'destination: {"code":"ERR_BUSY","message":7}' });
    expect(parse("not json")).toMatchObject({ code: ErrorCode.MigrationFailed, message: "destination: not json" });
  });

  it("is sent whole up to 1024 bytes; a longer one keeps its code and the first 200 characters of its message", () => {
    const envelope = '{"code":"ERR_X","message":""}'.length;
    const fits = "m".repeat(1024 - envelope);
    expect(Buffer.from(encodeErrorText("ERR_X", fits)).toString()).toBe(JSON.stringify({ code: "ERR_X", message: fits }));
    const long = `${"a".repeat(200)}${"b".repeat(1024 - envelope - 199)}`;
    expect(Buffer.from(encodeErrorText("ERR_X", long)).toString()).toBe(JSON.stringify({ code: "ERR_X", message: "a".repeat(200) }));
  });
});

describe("reading handshake messages", () => {
  it("a message whose first bytes the caller read already is completed from the channel, payload intact", async () => {
    const { server, client } = await tcpPair();
    const payload = Buffer.concat([randomBytes(NONCE_BYTES), Uint8Array.of(Suite.Aes256Gcm)]);
    const frame = encodeFrame(MessageType.Hello, payload);
    await client.send(Buffer.concat([frame, encodeFrame(MessageType.Accept)]));
    const start = await server.read(5);
    const got = await readFrame(server, start);
    expect(got.type).toBe(MessageType.Hello);
    expect(Buffer.compare(Buffer.from(got.payload), payload)).toBe(0);
    expect((await readFrame(server)).type).toBe(MessageType.Accept); // nothing of the next message was taken
  });

  it("a bad header names the peer it came from", async () => {
    const { server, client } = await tcpPair();
    await client.send(Buffer.alloc(FRAME_HEADER_BYTES, 0x47));
    const e = await failure(readFrame(server));
    expect(e.message).toMatch(/^handshake from test source: header/);
    expect(e.details.source).toBe("from test source");
  });

  it("a reserved byte that is not 0 is refused, saying so", () => {
    const h = new Uint8Array(FRAME_HEADER_BYTES);
    const v = new DataView(h.buffer);
    v.setUint32(0, HANDSHAKE_MAGIC, true);
    v.setUint16(4, 3, true);
    v.setUint32(8, FRAME_HEADER_BYTES, true);
    v.setUint8(12, MessageType.Accept);
    v.setUint8(13, 1);
    v.setUint32(16, crc32(h.subarray(0, 16)), true);
    expect(() => decodeFrameHeader(h)).toThrow(expect.objectContaining({ code: ErrorCode.Handshake, message: expect.stringContaining("reserved byte is 1, not 0") }));
  });
});

describe("the source's handshake against a hand-made destination", () => {
  it("an ERROR instead of CHALLENGE is the destination's error, with its code", async () => {
    const { server, client } = await tcpPair();
    void readFrame(server).then(() => server.send(encodeTextFrame(MessageType.Error, ErrorCode.Busy, "full")));
    expect(await failure(clientHandshake(client, TOKEN))).toMatchObject({ code: ErrorCode.Busy, message: "destination: full", details: { remote: true } });
  });

  it("another message than CHALLENGE is ERR_HANDSHAKE naming both types", async () => {
    const { server, client } = await tcpPair();
    void readFrame(server).then(() => server.send(encodeFrame(MessageType.Accept)));
    const e = await failure(clientHandshake(client, TOKEN));
    expect(e).toMatchObject({ code: ErrorCode.Handshake, message: "destination sent ACCEPT where CHALLENGE was expected" });
    expect(e.details).toEqual({ got: MessageType.Accept, expected: MessageType.Challenge });
  });

  it("a destination without the token is told why in REJECT; the source's error names the peer", async () => {
    const { server, client } = await tcpPair();
    const rejected = readFrame(server).then(async () => {
      await server.send(encodeFrame(MessageType.Challenge, randomBytes(NONCE_BYTES + MAC_BYTES)));
      return readFrame(server);
    });
    const e = await failure(clientHandshake(client, TOKEN));
    expect(e.code).toBe(ErrorCode.Auth);
    expect(e.details).toEqual({ peer: "test destination" });
    const reject = await rejected;
    expect(reject.type).toBe(MessageType.Reject);
    expect(text(reject)).toEqual({
      code: ErrorCode.Auth,
      message: "authentication failed: the destination's proof does not verify (a different token than the source's, or the handshake was altered on the way)",
    });
  });

  it("a destination that proves the token, then REJECTs, is reported as the destination's refusal", async () => {
    const { server, client } = await tcpPair();
    void (async () => {
      const hello = await readFrame(server);
      const nc = hello.payload.subarray(0, NONCE_BYTES);
      const ns = randomBytes(NONCE_BYTES);
      await server.send(encodeFrame(MessageType.Challenge, Buffer.concat([ns, hmac("server", nc, ns, Suite.Aes256Gcm)])));
      await readFrame(server);
      await server.send(encodeTextFrame(MessageType.Reject, ErrorCode.Busy, "busy with another migration"));
    })();
    expect(await failure(clientHandshake(client, TOKEN))).toMatchObject({ code: ErrorCode.Busy, message: "destination: busy with another migration" });
  });
});

describe("the destination's handshake against a hand-made source", () => {
  const hello = (suite: number, nc: Uint8Array = randomBytes(NONCE_BYTES)): Uint8Array => encodeFrame(MessageType.Hello, Buffer.concat([nc, Uint8Array.of(suite)]));

  it("a PROOF first is ERR_HANDSHAKE naming the source", async () => {
    const { server, client } = await tcpPair();
    await client.send(encodeFrame(MessageType.Proof, new Uint8Array(MAC_BYTES)));
    expect(await failure(serverHandshake(server, TOKEN))).toMatchObject({ code: ErrorCode.Handshake, message: "source sent PROOF where HELLO was expected" });
  });

  it("a HELLO again where PROOF belongs is ERR_HANDSHAKE naming the source", async () => {
    const { server, client } = await tcpPair();
    await client.send(hello(Suite.Aes256Gcm));
    const served = failure(serverHandshake(server, TOKEN));
    await readFrame(client);
    await client.send(hello(Suite.Aes256Gcm));
    expect(await served).toMatchObject({ code: ErrorCode.Handshake, message: "source sent HELLO where PROOF was expected" });
  });

  it("an unknown suite and the other suite are refused with the suite in the details", async () => {
    for (const [asked, details] of [[9, { peer: "test source", suite: 9 }], [Suite.GmacAes256, { peer: "test source", suite: 2, required: 1 }]] as const) {
      const { server, client } = await tcpPair();
      await client.send(hello(asked));
      const e = await failure(serverHandshake(server, TOKEN));
      expect(e.code).toBe(ErrorCode.Handshake);
      expect(e.details).toEqual(details);
      expect((await readFrame(client)).type).toBe(MessageType.Reject);
    }
  });

  it("a wrong proof: ERR_AUTH naming the source, and REJECT telling it why", async () => {
    const { server, client } = await tcpPair();
    await client.send(hello(Suite.Aes256Gcm));
    const served = failure(serverHandshake(server, TOKEN));
    await readFrame(client);
    await client.send(encodeFrame(MessageType.Proof, randomBytes(MAC_BYTES)));
    const e = await served;
    expect(e.code).toBe(ErrorCode.Auth);
    expect(e.message).toBe("authentication failed: the proof of the source test source does not verify: it holds a different token, or the handshake was altered on the way");
    expect(e.details).toEqual({ peer: "test source" });
    expect(text(await readFrame(client))).toEqual({
      code: ErrorCode.Auth,
      message: "authentication failed: the source's proof does not verify (a different token than the destination's, or the handshake was altered on the way)",
    });
  });

  it("admit's refusal of an authenticated source is sent as REJECT and thrown; no refusal accepts", async () => {
    for (const refusal of [new HypermemError(ErrorCode.Busy, "busy now"), null]) {
      const { server, client } = await tcpPair();
      const served = serverHandshake(server, TOKEN, { admit: () => refusal }).then(() => null, (e: unknown) => e);
      const outcome = await clientHandshake(client, TOKEN).then(() => null, (e: unknown) => e);
      expect(await served).toBe(refusal);
      if (refusal) expect(outcome).toMatchObject({ code: ErrorCode.Busy, message: "destination: busy now" });
      else expect(outcome).toBeNull();
    }
  });
});

describe("SecureChannel", () => {
  async function securePair(suite: Suite = Suite.Aes256Gcm, maxRecordBodyBytes?: number): Promise<{ src: SecureChannel; dst: SecureChannel }> {
    const { server, client } = await tcpPair(2000);
    const [dstKeys, srcKeys] = await Promise.all([serverHandshake(server, TOKEN, { suite }), clientHandshake(client, TOKEN, suite)]);
    const dst = new SecureChannel(server, dstKeys, maxRecordBodyBytes === undefined ? { role: "server" } : { role: "server", maxRecordBodyBytes });
    return { src: new SecureChannel(client, srcKeys, { role: "client" }), dst };
  }

  async function readAll(ch: SecureChannel): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let b = await ch.receive(); b !== null; b = await ch.receive()) parts.push(Buffer.from(b));
    return Buffer.concat(parts);
  }

  it("names its peer and counts records both ways; an empty send is a record of its own that hands out nothing", async () => {
    const { src, dst } = await securePair(Suite.GmacAes256);
    expect(src.peer).toBe("test destination");
    expect(dst.peer).toBe("test source");
    await src.send(new Uint8Array(0));
    await src.send(Buffer.from("x"));
    expect(src.recordsSent).toBe(2);
    expect(Buffer.from((await dst.receive())!).toString()).toBe("x");
    expect(dst.recordsReceived).toBe(2);
    src.close();
    expect(await dst.receive()).toBeNull();
    expect(await dst.receive()).toBeNull(); // and again: the CLOSE is remembered
    expect(dst.recordsReceived).toBe(3);
  });

  it("a send of two records and a bit arrives whole in three records; one of exactly two records is two", async () => {
    const { src, dst } = await securePair(Suite.GmacAes256);
    const big = randomBytes(2 * MAX_RECORD_BODY_BYTES + 5);
    await src.send(big);
    expect(src.recordsSent).toBe(3);
    const even = randomBytes(2 * MAX_RECORD_BODY_BYTES);
    await src.send(even);
    expect(src.recordsSent).toBe(5);
    src.close();
    expect(Buffer.compare(await readAll(dst), Buffer.concat([big, even]))).toBe(0);
    expect(dst.recordsReceived).toBe(6);
  });

  it("refuses a DATA record above the receive limit it was given", async () => {
    const { src, dst } = await securePair(Suite.Aes256Gcm, 100);
    await src.send(Buffer.alloc(100, 1));
    expect((await dst.receive())!.length).toBe(100);
    await src.send(Buffer.alloc(101, 2));
    expect(await failure(dst.receive())).toMatchObject({ code: ErrorCode.Integrity, details: { field: "bodyBytes", value: 101 } });
  });

  it("integrity only: the buffer handed out is reused for a later record once the caller came back", async () => {
    const { src, dst } = await securePair(Suite.GmacAes256);
    await src.send(Buffer.alloc(3000, 1));
    const first = (await dst.receive())!;
    const buffer = first.buffer;
    await src.send(Buffer.alloc(2000, 2));
    const second = (await dst.receive())!;
    expect(second.buffer).toBe(buffer);
    expect(Buffer.compare(Buffer.from(second), Buffer.alloc(2000, 2))).toBe(0);
  });

  it("after close(), sends fail saying the channel closed; a later close(error) changes nothing", async () => {
    const { src, dst } = await securePair();
    src.close();
    src.close(new Error("a second close"));
    const e = await failure(src.send(Buffer.from("late")));
    expect(e).toMatchObject({ code: ErrorCode.MigrationFailed, message: "channel to test destination closed" });
    expect(e.details).toEqual({ peer: "test destination" });
    expect(src.recordsSent).toBe(1);
    expect(await readAll(dst)).toHaveLength(0);
  });

  it("the peer's own error is not echoed back: the half-close alone, so the peer sees no CLOSE", async () => {
    const { src, dst } = await securePair();
    src.close(new HypermemError(ErrorCode.StreamDigest, "digest mismatch"));
    const remote = await failure(dst.receive());
    expect(remote).toMatchObject({ code: ErrorCode.StreamDigest, details: { remote: true } });
    dst.close(remote);
    expect(dst.recordsSent).toBe(0);
    const e = await failure(src.receive());
    expect(e.code).toBe(ErrorCode.Integrity);
    expect(e.details).toEqual({ field: "close", sequence: 0 });
  });

  it("a connection that ends inside a record says so", async () => {
    const { src, dst } = await securePair();
    src.tcp.end([Buffer.alloc(5)]);
    expect(await failure(dst.receive())).toMatchObject({ code: ErrorCode.Integrity, message: expect.stringMatching(/ended inside record 0 without a CLOSE record/) });
  });

  it("once the TCP connection failed, close() seals nothing", async () => {
    const { src } = await securePair();
    src.destroy();
    src.close();
    expect(src.recordsSent).toBe(0);
  });

  it("abort(error) tells the peer why, and fails this end's pending receive with it", async () => {
    const { src, dst } = await securePair();
    const pending = failure(dst.receive());
    const why = new HypermemError(ErrorCode.Timeout, "too slow");
    dst.abort(why, 200);
    expect(await pending).toBe(why);
    expect(await failure(src.receive())).toMatchObject({ code: ErrorCode.Timeout, message: "destination: too slow", details: { remote: true } });
  });

  it("destroy() fails a pending receive with ERR_PEER_CLOSED", async () => {
    const { dst } = await securePair();
    const pending = failure(dst.receive());
    dst.destroy();
    expect((await pending).code).toBe(ErrorCode.PeerClosed);
  });
});
