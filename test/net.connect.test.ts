// connectSecureChannel (src/net/connect.ts), the client end a technique uses
// for a stream the listener serves (the disk transfer), against a loopback
// server scripted per test: the channel it returns carries records both ways
// under the suite asked for, keeps sending after the server's half-close,
// and uses the default idle timeout; a bad token is refused before any
// connection; a refused connection, a server that closes or stays silent
// fail with the stream named ("cannot test to HOST:PORT: ...") and host and
// port in the details; a handshake refusal comes through as it is, and the
// failed connection is closed on the server's side.
import { createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { connectSecureChannel } from "../src/net/connect.js";
import { serverHandshake } from "../src/net/handshake.js";
import { SecureChannel } from "../src/net/secure-channel.js";
import { Suite } from "../src/net/session-keys.js";
import { DEFAULT_IDLE_TIMEOUT_MS, TcpChannel } from "../src/net/tcp-channel.js";

const TOKEN = Buffer.from("a token for connectSecureChannel");
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A loopback server that hands each accepted connection, as a TcpChannel (3 s idle timeout), to `serve`. */
async function server(serve: (ch: TcpChannel) => unknown): Promise<{ port: number; accepted: () => number }> {
  const sockets: Socket[] = [];
  const srv = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    void serve(new TcpChannel(socket, { idleTimeoutMs: 3000, peer: "test source" }));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => srv.close(r));
  });
  return { port: (srv.address() as { port: number }).port, accepted: () => sockets.length };
}

async function failure(p: Promise<unknown>): Promise<HypermemError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HypermemError);
  return err as HypermemError;
}

/** A server that authenticates with `suite`, then runs `then` on its secure channel. */
function authenticating(suite: Suite, then: (sc: SecureChannel) => Promise<void>): (ch: TcpChannel) => Promise<void> {
  return async (ch) => {
    const keys = await serverHandshake(ch, TOKEN, { suite }).catch(() => null);
    if (keys) await then(new SecureChannel(ch, keys, { role: "server" }));
  };
}

const text = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString());

describe("connectSecureChannel", () => {
  it("authenticates with AES-256-GCM by default and carries records both ways, with the default idle timeout", async () => {
    let got: string | null = "";
    const s = await server(authenticating(Suite.Aes256Gcm, async (sc) => {
      got = text(await sc.receive());
      await sc.send(Buffer.from("pong"));
    }));
    const sc = await connectSecureChannel({ host: "127.0.0.1", port: s.port, token: TOKEN }, "test");
    cleanups.push(() => sc.destroy());
    expect(sc.suite).toBe(Suite.Aes256Gcm);
    expect(sc.peer).toBe(`127.0.0.1:${s.port}`);
    expect(sc.peerRole).toBe("destination");
    expect(sc.tcp.idleTimeoutMs).toBe(DEFAULT_IDLE_TIMEOUT_MS);
    await sc.send(Buffer.from("ping"));
    expect(text(await sc.receive())).toBe("pong");
    expect(got).toBe("ping");
  });

  it("with encryption false asks for integrity only (GMAC), and takes the idle timeout given", async () => {
    const s = await server(authenticating(Suite.GmacAes256, async (sc) => {
      await sc.send(Buffer.from(`echo ${text(await sc.receive())}`));
    }));
    const sc = await connectSecureChannel({ host: "127.0.0.1", port: s.port, token: TOKEN, encryption: false, idleTimeoutMs: 2500 }, "test");
    cleanups.push(() => sc.destroy());
    expect(sc.suite).toBe(Suite.GmacAes256);
    expect(sc.tcp.idleTimeoutMs).toBe(2500);
    await sc.send(Buffer.from("x"));
    expect(text(await sc.receive())).toBe("echo x");
  });

  it("keeps sending after the server closed its side (a half-open connection)", async () => {
    let after: Array<string | null> = [];
    let finished!: () => void;
    const done = new Promise<void>((r) => { finished = r; });
    const { port } = await server(authenticating(Suite.Aes256Gcm, async (sc) => {
      sc.close(); // CLOSE record, then the half-close
      after = [text(await sc.receive()), text(await sc.receive())];
      finished();
    }));
    const sc = await connectSecureChannel({ host: "127.0.0.1", port, token: TOKEN }, "test");
    cleanups.push(() => sc.destroy());
    expect(await sc.receive()).toBeNull(); // the server's CLOSE
    expect(await sc.tcp.receive()).toBeNull(); // its FIN has arrived: only our direction is left
    await sc.send(Buffer.from("after the close"));
    sc.close();
    await done;
    expect(after).toEqual(["after the close", null]);
  });

  it("refuses a bad token before connecting", async () => {
    const s = await server(() => undefined);
    const e = await failure(connectSecureChannel({ host: "127.0.0.1", port: s.port, token: Buffer.from("short") }, "test"));
    expect(e.code).toBe(ErrorCode.BadOption);
    expect(e.message).toContain("5 bytes");
    await new Promise((r) => setTimeout(r, 50));
    expect(s.accepted()).toBe(0);
  });

  it("a refused connection is ERR_PEER_CLOSED naming the stream, the address and the cause", async () => {
    const s = await server(() => undefined);
    await cleanups.pop()!(); // closes the server: its port now refuses
    const e = await failure(connectSecureChannel({ host: "127.0.0.1", port: s.port, token: TOKEN }, "send a test"));
    expect(e.code).toBe(ErrorCode.PeerClosed);
    expect(e.message).toBe(`cannot send a test to 127.0.0.1:${s.port}: connection to 127.0.0.1:${s.port} failed: ECONNREFUSED`);
    expect(e.details).toEqual({ peer: `127.0.0.1:${s.port}`, cause: "ECONNREFUSED", host: "127.0.0.1", port: s.port });
  });

  it("a server that closes during the handshake is ERR_PEER_CLOSED naming the stream", async () => {
    const s = await server((ch) => ch.destroy());
    const e = await failure(connectSecureChannel({ host: "127.0.0.1", port: s.port, token: TOKEN }, "test"));
    expect(e.code).toBe(ErrorCode.PeerClosed);
    expect(e.message).toMatch(new RegExp(`^cannot test to 127\\.0\\.0\\.1:${s.port}: `));
    expect(e.details).toMatchObject({ host: "127.0.0.1", port: s.port });
  });

  it("a silent server is ERR_TIMEOUT after the idle timeout, naming the stream and the timeout", async () => {
    const s = await server(() => undefined);
    const e = await failure(connectSecureChannel({ host: "127.0.0.1", port: s.port, token: TOKEN, idleTimeoutMs: 200 }, "test"));
    expect(e.code).toBe(ErrorCode.Timeout);
    expect(e.message).toBe(`cannot test to 127.0.0.1:${s.port}: no activity from 127.0.0.1:${s.port} for 200 ms (idle timeout)`);
    expect(e.details).toEqual({ peer: `127.0.0.1:${s.port}`, idleTimeoutMs: 200, host: "127.0.0.1", port: s.port });
  });

  it("a handshake refusal is thrown as it is, and the connection is closed (the server sees it end)", async () => {
    let seen!: (outcome: string) => void;
    const outcome = new Promise<string>((r) => { seen = r; });
    const s = await server(async (ch) => {
      const refused = await serverHandshake(ch, TOKEN, { suite: Suite.GmacAes256 }).then(() => "accepted", (e: HypermemError) => e.code);
      expect(refused).toBe(ErrorCode.Handshake);
      seen(await ch.receive().then((b) => (b === null ? "ended" : "data"), (e: HypermemError) => e.code));
    });
    const e = await failure(connectSecureChannel({ host: "127.0.0.1", port: s.port, token: TOKEN }, "test"));
    expect(e.code).toBe(ErrorCode.Handshake);
    expect(e.message).not.toContain("cannot test");
    expect(e.details).not.toHaveProperty("host");
    expect(["ended", ErrorCode.PeerClosed]).toContain(await outcome); // not ERR_TIMEOUT: the source closed it
  });
});
