// TcpChannel (src/net/tcp-channel.ts) on loopback sockets, one behaviour per
// test and in milliseconds: the figures it keeps (bytes sent and received,
// in flight, queued), its defaults, the errors it fails with (each with its
// code, message and details: idle timeout, a socket error, the peer gone, a
// write that fails, too many sends, a short read), the queue and its
// high-water mark, half-close, discardInput, dismiss, and sockets it cannot
// read into a buffer of its own (no handle, or a handle without user buffers).
import { connect, createServer, Socket, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { DEFAULT_IDLE_TIMEOUT_MS, READ_BUFFER_BYTES, RECEIVE_HIGH_WATER_BYTES, SEND_DEPTH, TcpChannel, type AcceptOptions } from "../src/net/tcp-channel.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A loopback connection: the accepted socket as a TcpChannel (accept mode, or the plain constructor), the client a raw socket. */
async function pair(how: { accept?: AcceptOptions | false; idleTimeoutMs?: number } = {}): Promise<{ ch: TcpChannel; peer: Socket; server: Server }> {
  let got!: (ch: TcpChannel) => void;
  const accepted = new Promise<TcpChannel>((resolve) => { got = resolve; });
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: how.accept !== false }, (socket) => {
    got(how.accept === false
      ? new TcpChannel(socket, how.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: how.idleTimeoutMs })
      : TcpChannel.accept(socket, { idleTimeoutMs: how.idleTimeoutMs ?? 5000, ...how.accept }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const peer = connect({ host: "127.0.0.1", port: (server.address() as { port: number }).port, allowHalfOpen: true });
  peer.on("error", () => undefined);
  await new Promise((r) => peer.once("connect", r));
  const ch = await accepted;
  cleanups.push(() => { ch.destroy(); peer.destroy(); return new Promise((r) => server.close(r)); });
  return { ch, peer, server };
}

/** Resolves once `socket` has received `n` bytes; returns them. */
function readFromSocket(socket: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  return new Promise((resolve) => {
    const on = (d: Buffer): void => {
      parts.push(d);
      have += d.length;
      if (have >= n) { socket.off("data", on); resolve(Buffer.concat(parts)); }
    };
    socket.on("data", on);
  });
}

async function failure(p: Promise<unknown>): Promise<HypermemError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HypermemError);
  return err as HypermemError;
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe("TcpChannel: names and defaults", () => {
  it("names its peer by address and port unless told; the default idle timeout, high-water mark and read buffer", async () => {
    const plain = await pair({ accept: false });
    expect(plain.ch.peer).toBe(`127.0.0.1:${plain.peer.localPort}`);
    expect(plain.ch.idleTimeoutMs).toBe(DEFAULT_IDLE_TIMEOUT_MS);
    expect(plain.ch.receiveHighWaterBytes).toBe(RECEIVE_HIGH_WATER_BYTES);
    expect(plain.ch.readBufferBytes).toBe(0);
    expect(plain.ch.sendDepth).toBe(SEND_DEPTH);
    const accepted = await pair();
    expect(accepted.ch.peer).toBe(`127.0.0.1:${accepted.peer.localPort}`);
    expect(accepted.ch.readBufferBytes).toBe(READ_BUFFER_BYTES);
    expect(accepted.ch.idleTimeoutMs).toBe(5000);
    const named = await pair({ accept: { peer: "the source", readBufferBytes: 8192, receiveHighWaterBytes: 100 } });
    expect([named.ch.peer, named.ch.readBufferBytes, named.ch.receiveHighWaterBytes]).toEqual(["the source", 8192, 100]);
    named.ch.useReadBuffer(16384);
    expect([named.ch.readBufferBytes, named.ch.receiveHighWaterBytes]).toEqual([16384, 100]);
    named.ch.useReadBuffer(4096, 50);
    expect([named.ch.readBufferBytes, named.ch.receiveHighWaterBytes]).toEqual([4096, 50]);
  });
});

describe("TcpChannel: sockets it cannot read into a buffer of its own", () => {
  it("a socket with no handle: the peer is '?:?'; accept() keeps Node's default reads (readBufferBytes 0)", () => {
    const plain = new TcpChannel(new Socket());
    expect([plain.peer, plain.readBufferBytes]).toEqual(["?:?", 0]);
    plain.destroy();
    const accepted = TcpChannel.accept(new Socket());
    expect([accepted.peer, accepted.readBufferBytes]).toEqual(["?:?", 0]);
    accepted.destroy();
  });

  it("in Node's default reads, useReadBuffer() changes only the high-water mark and discardInput() still drops the queue", async () => {
    const { ch, peer } = await pair({ accept: false });
    ch.useReadBuffer(8192, 10);
    expect([ch.readBufferBytes, ch.receiveHighWaterBytes]).toEqual([0, 10]);
    peer.write(Uint8Array.of(1, 2, 3));
    await until(() => ch.queuedBytes === 3);
    ch.discardInput();
    expect([ch.queuedBytes, ch.readBufferBytes]).toEqual([0, 0]);
    peer.write(Uint8Array.of(4, 5));
    await until(() => ch.bytesReceived === 5);
    expect(ch.queuedBytes).toBe(0);
  });

  it("an accepted socket whose handle cannot read into a user buffer is read in Node's default mode, bytes and all", async () => {
    let got!: (ch: TcpChannel) => void;
    const accepted = new Promise<TcpChannel>((resolve) => { got = resolve; });
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      (socket as unknown as { _handle: { useUserBuffer?: unknown } })._handle.useUserBuffer = undefined;
      got(TcpChannel.accept(socket, { peer: "the source" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const peer = connect({ host: "127.0.0.1", port: (server.address() as { port: number }).port });
    peer.on("error", () => undefined);
    const ch = await accepted;
    cleanups.push(() => { ch.destroy(); peer.destroy(); return new Promise((r) => server.close(r)); });
    expect([ch.peer, ch.readBufferBytes]).toEqual(["the source", 0]);
    peer.write(Uint8Array.of(1, 2, 3));
    expect([...(await ch.read(3))]).toEqual([1, 2, 3]);
  });
});

describe("TcpChannel: sending", () => {
  it("counts bytes sent once written, and in flight until then; parts go out in order as one send", async () => {
    const { ch, peer } = await pair();
    const arriving = readFromSocket(peer, 10);
    const sent = ch.sendParts([Uint8Array.of(1, 2, 3), Uint8Array.of(4), Uint8Array.of(5, 6, 7, 8, 9, 10)]);
    expect(ch.bufferedBytes).toBe(10);
    await sent;
    expect([ch.bytesSent, ch.bufferedBytes]).toEqual([10, 0]);
    expect([...(await arriving)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const more = readFromSocket(peer, 3);
    await ch.send(Uint8Array.of(7, 7, 7));
    expect(ch.bytesSent).toBe(13);
    expect([...(await more)]).toEqual([7, 7, 7]);
    await ch.sendParts([]);
    expect(ch.bytesSent).toBe(13);
  });

  it("refuses a send past sendDepth, naming the depth; the others go", async () => {
    const { ch, peer } = await pair();
    const arriving = readFromSocket(peer, SEND_DEPTH);
    const sends = Array.from({ length: SEND_DEPTH }, (_, i) => ch.send(Uint8Array.of(i)));
    const e = await failure(ch.send(Uint8Array.of(9)));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.MigrationFailed, `TcpChannel: more than ${SEND_DEPTH} sends in flight`, { sendDepth: SEND_DEPTH }]);
    await Promise.all(sends);
    expect([...(await arriving)]).toEqual([0, 1, 2, 3]);
    await ch.send(Uint8Array.of(5));
    expect(ch.bytesSent).toBe(SEND_DEPTH + 1);
  });

  it("end(lastParts) writes them past the send depth, counts them and half-closes; receiving goes on; later sends fail", async () => {
    const { ch, peer } = await pair();
    const ended = new Promise<void>((r) => peer.once("end", () => r()));
    const arriving = readFromSocket(peer, 5);
    ch.end([Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5)]);
    expect(ch.bytesSent).toBe(5);
    expect([...(await arriving)]).toEqual([1, 2, 3, 4, 5]);
    await ended;
    ch.end([Uint8Array.of(6)]);
    expect(ch.bytesSent).toBe(5);
    peer.write(Uint8Array.of(42));
    expect([...(await ch.receive())!]).toEqual([42]);
    ch.close();
    expect(ch.error).toBeNull();
  });

  it("a write that fails fails the send with ERR_PEER_CLOSED naming the peer, and the channel with it", async () => {
    const { ch } = await pair({ accept: { peer: "the source" } });
    const write = ch.socket.write.bind(ch.socket);
    ch.socket.write = ((_chunk: Uint8Array, cb?: (err?: Error | null) => void) => {
      ch.socket.write = write;
      setImmediate(() => cb?.(new Error("EPIPE here")));
      return true;
    }) as typeof ch.socket.write;
    const e = await failure(ch.send(Uint8Array.of(1)));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.PeerClosed, "write to the source failed: EPIPE here", { peer: "the source" }]);
    expect(ch.error).toBe(e);
    expect(ch.bufferedBytes).toBe(0);
    expect(ch.bytesSent).toBe(0);
    expect(await failure(ch.send(Uint8Array.of(2)))).toBe(e);
  });
});

describe("TcpChannel: receiving", () => {
  it("a waiting reader gets the bytes; bytes nobody waits for are queued (copies), counted, and paused at the high-water mark, resumed below it", async () => {
    const { ch, peer } = await pair({ accept: { receiveHighWaterBytes: 6 } });
    const waiting = ch.receive();
    peer.write(Uint8Array.of(1, 2, 3));
    expect([...(await waiting)!]).toEqual([1, 2, 3]);
    expect(ch.bytesReceived).toBe(3);
    peer.write(Uint8Array.of(4, 5, 6));
    await until(() => ch.queuedBytes === 3);
    expect(ch.socket.isPaused()).toBe(false);
    peer.write(Uint8Array.of(7, 8, 9));
    await until(() => ch.queuedBytes === 6);
    expect(ch.socket.isPaused()).toBe(true);
    expect(ch.bytesReceived).toBe(9);
    expect([...(await ch.receive())!]).toEqual([4, 5, 6]);
    expect(ch.queuedBytes).toBe(3);
    expect(ch.socket.isPaused()).toBe(false);
    expect([...(await ch.receive())!]).toEqual([7, 8, 9]);
    expect(ch.queuedBytes).toBe(0);
  });

  it("the high-water mark exactly reached pauses; one byte under does not", async () => {
    const { ch, peer } = await pair({ accept: { receiveHighWaterBytes: 4 } });
    peer.write(Uint8Array.of(1, 2, 3));
    await until(() => ch.queuedBytes === 3);
    expect(ch.socket.isPaused()).toBe(false);
    peer.write(Uint8Array.of(4));
    await until(() => ch.queuedBytes === 4);
    expect(ch.socket.isPaused()).toBe(true);
    await ch.receive();
    expect(ch.socket.isPaused()).toBe(ch.queuedBytes >= 4);
  });

  it("a receive that leaves the queue at or above the high-water mark keeps the socket paused; end() with no parts sends nothing", async () => {
    const { ch, peer } = await pair({ accept: { receiveHighWaterBytes: 4 } });
    peer.write(Uint8Array.of(1));
    await until(() => ch.queuedBytes === 1);
    peer.write(Uint8Array.of(2, 3, 4, 5));
    await until(() => ch.queuedBytes === 5);
    expect(ch.socket.isPaused()).toBe(true);
    expect([...(await ch.receive())!]).toEqual([1]);
    expect([ch.queuedBytes, ch.socket.isPaused()]).toEqual([4, true]);
    expect([...(await ch.receive())!]).toEqual([2, 3, 4, 5]);
    expect([ch.queuedBytes, ch.socket.isPaused()]).toEqual([0, false]);
    const got: Buffer[] = [];
    peer.on("data", (d: Buffer) => got.push(d));
    const ended = new Promise<void>((r) => peer.once("end", () => r()));
    ch.end();
    await ended;
    expect([got.length, ch.bytesSent]).toEqual([0, 0]);
  });

  it("read(n) takes exactly n bytes across reads and keeps the rest for the next receive; a peer that ends first is ERR_PEER_CLOSED saying how far", async () => {
    const { ch, peer } = await pair({ accept: { peer: "the source" } });
    peer.write(Uint8Array.of(1, 2));
    await until(() => ch.queuedBytes === 2);
    peer.write(Uint8Array.of(3, 4, 5, 6));
    expect([...(await ch.read(3))]).toEqual([1, 2, 3]);
    expect([...(await ch.read(1))]).toEqual([4]);
    expect(ch.queuedBytes).toBe(2);
    peer.end();
    const e = await failure(ch.read(5));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.PeerClosed, "the source closed the connection after 2 of 5 expected bytes", { peer: "the source", have: 2, need: 5 }]);
    expect(await ch.receive()).toBeNull();
  });

  it("a reader waiting when the peer half-closes gets null", async () => {
    const { ch, peer } = await pair({ accept: false });
    const waiting = ch.receive();
    peer.end();
    expect(await waiting).toBeNull();
    expect(await ch.receive()).toBeNull();
  });

  it("a view handed to a waiting reader is of the read buffer; a queued one is a copy that later reads leave alone", async () => {
    const { ch, peer } = await pair({ accept: { readBufferBytes: 4096 } });
    const waiting = ch.receive();
    peer.write(Buffer.alloc(100, 1));
    const view = (await waiting)!;
    peer.write(Buffer.alloc(100, 2));
    await until(() => ch.queuedBytes === 100);
    const copy = (await ch.receive())!;
    const next = ch.receive();
    peer.write(Buffer.alloc(100, 3));
    expect((await next)![0]).toBe(3);
    expect(view[0]).toBe(3); // the same read buffer, reused
    expect(copy[0]).toBe(2);
  });

  it("discardInput() drops the queue and later bytes (still counted), reading into a small buffer", async () => {
    const { ch, peer } = await pair({ accept: { receiveHighWaterBytes: 8 } });
    peer.write(Buffer.alloc(10, 1));
    await until(() => ch.queuedBytes === 10);
    expect(ch.socket.isPaused()).toBe(true);
    ch.discardInput();
    expect([ch.queuedBytes, ch.readBufferBytes, ch.socket.isPaused()]).toEqual([0, 4096, false]);
    peer.write(Buffer.alloc(20, 2));
    await until(() => ch.bytesReceived === 30);
    expect(ch.queuedBytes).toBe(0);
  });
});

describe("TcpChannel: failures", () => {
  it("an idle connection fails with ERR_TIMEOUT naming the peer and the timeout; a pending receive gets it", async () => {
    const { ch } = await pair({ accept: { peer: "the source" }, idleTimeoutMs: 40 });
    const e = await failure(ch.receive());
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.Timeout, "no activity from the source for 40 ms (idle timeout)", { peer: "the source", idleTimeoutMs: 40 }]);
    expect(ch.error).toBe(e);
    expect(await failure(ch.receive())).toBe(e);
    expect(ch.socket.destroyed).toBe(true);
  });

  it("a socket error is ERR_PEER_CLOSED with its code as the cause; the first error wins", async () => {
    const { ch } = await pair({ accept: { peer: "the source" } });
    const pending = ch.receive();
    ch.socket.emit("error", Object.assign(new Error("reset"), { code: "ECONNRESET" }));
    const e = await failure(pending);
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.PeerClosed, "connection to the source failed: ECONNRESET", { peer: "the source", cause: "ECONNRESET" }]);
    ch.socket.emit("error", new Error("no code"));
    expect(ch.error).toBe(e);
    const other = await pair({ accept: { peer: "other" } });
    other.ch.socket.emit("error", new Error("no code"));
    expect([other.ch.error?.message, other.ch.error?.details]).toEqual(["connection to other failed: no code", { peer: "other", cause: "no code" }]);
  });

  it("once both sides ended, the socket's close is ERR_PEER_CLOSED 'closed'; bytes queued before stay readable, then the end", async () => {
    const { ch, peer } = await pair({ accept: { peer: "the source" } });
    peer.end(Uint8Array.of(1, 2));
    await until(() => ch.queuedBytes === 2);
    ch.end();
    await until(() => ch.error !== null);
    expect([ch.error!.code, ch.error!.message, ch.error!.details]).toEqual([ErrorCode.PeerClosed, "connection to the source closed", { peer: "the source" }]);
    expect([...(await ch.receive())!]).toEqual([1, 2]);
    expect(await ch.receive()).toBeNull();
  });

  it("a connection reset fails a waiting reader", async () => {
    const { ch, peer } = await pair({ accept: { peer: "the source" } });
    const reading = ch.receive();
    peer.resetAndDestroy();
    const e = await failure(reading);
    expect([e.code, e.message]).toEqual([ErrorCode.PeerClosed, "connection to the source failed: ECONNRESET"]);
  });

  it("close(error): a HypermemError as it is, another error as ERR_MIGRATION_FAILED; pending sends and reads get it", async () => {
    const { ch } = await pair();
    const reading = ch.receive();
    const mine = new HypermemError(ErrorCode.StreamDigest, "digest");
    ch.close(mine);
    expect(await failure(reading)).toBe(mine);
    const other = await pair();
    const read2 = other.ch.receive();
    other.ch.close(new Error("plain"));
    const e = await failure(read2);
    expect([e.code, e.message]).toEqual([ErrorCode.MigrationFailed, "plain"]);
    other.ch.end([Uint8Array.of(1)]);
    expect(other.ch.bytesSent).toBe(0);
  });

  it("destroy() fails pending calls with ERR_PEER_CLOSED 'closed locally'", async () => {
    const { ch } = await pair({ accept: { peer: "the source" } });
    const reading = ch.receive();
    ch.destroy();
    const e = await failure(reading);
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.PeerClosed, "connection to the source closed locally", { peer: "the source" }]);
    ch.destroy();
    expect(ch.error).toBe(e);
  });

  it("dismiss(error, linger): pending calls fail with it, what was written still reaches the peer, then the socket goes", async () => {
    const { ch, peer } = await pair();
    const reading = ch.receive();
    const arriving = readFromSocket(peer, 3);
    void ch.send(Uint8Array.of(1, 2, 3)).catch(() => undefined);
    const why = new HypermemError(ErrorCode.Busy, "busy");
    ch.dismiss(why, 10_000); // the socket goes once the bytes are written, long before the linger time
    expect(await failure(reading)).toBe(why);
    expect([...(await arriving)]).toEqual([1, 2, 3]);
    await until(() => ch.socket.destroyed);
    ch.dismiss(new HypermemError(ErrorCode.Timeout, "later"), 1000);
    expect(ch.error).toBe(why);
  });

  it("dismiss with a peer that does not read: the socket goes after the linger time", async () => {
    const { ch, peer } = await pair();
    peer.pause();
    const big = new Uint8Array(96 << 20); // more than the kernel buffers on both sides take (tcp_rmem's maximum is 32 MiB here)
    void ch.send(big).catch(() => undefined);
    const why = new HypermemError(ErrorCode.Busy, "busy");
    ch.dismiss(why, 30);
    ch.close(new Error("a later error")); // the first error wins: it does not cut the linger short
    expect([ch.socket.destroyed, ch.error]).toEqual([false, why]);
    await until(() => ch.socket.destroyed);
  });
});
