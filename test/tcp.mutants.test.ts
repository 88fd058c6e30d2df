// The TCP source (src/migration/tcp.ts) and the listener
// (src/migration/listener.ts) with guests of 64 pages on loopback, so each
// behaviour takes milliseconds: what a completed, failed or cancelled
// migration reports on each side (the figures and the exact errors), the
// target and option checks, connect failures, the handshake deadline, the
// eviction of the oldest handshake, the busy slot, the progress rule, other
// stream kinds by magic (a first record of exactly 4 bytes), a stream cut
// before them, guests kept or destroyed, the host release, a closed listener;
// and, against a scripted destination, what the source makes of the answers
// it reads after the stream: an acknowledgement in pieces, short, long or
// absent ones, and the destination's ERROR after a failure.
import { connect, createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost, type Host } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { HANDSHAKE_READ_BUFFER_BYTES, listenForMigrations, type ListenerOptions, type ListenerReport, type MigrationListener } from "../src/migration/listener.js";
import { connectMigrationChannel, migrateOverTcp, parseHostPort, resolveTcpMigrationOptions } from "../src/migration/tcp.js";
import { serverHandshake } from "../src/net/handshake.js";
import { SecureChannel } from "../src/net/secure-channel.js";
import { suiteFor } from "../src/net/session-keys.js";
import { TcpChannel } from "../src/net/tcp-channel.js";
import { ACK_BYTES, encodeAck } from "../src/stream/format.js";
import { TEST_LIMITS } from "./helpers.js";

const TOKEN = Buffer.from("a token for the tcp mutants tests");
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface Started { listener: MigrationListener; port: number; reports: ListenerReport[]; next(): Promise<ListenerReport> }

async function start(o: Partial<ListenerOptions> = {}): Promise<Started> {
  const reports: ListenerReport[] = [];
  let taken = 0;
  const waiters: Array<() => void> = [];
  const listener = await listenForMigrations({
    port: 0, token: TOKEN, host: createHost({ memoryMiB: 16 }), idleTimeoutMs: 3000, ...o,
    onReport: (r) => { reports.push(r); o.onReport?.(r); for (const w of waiters.splice(0)) w(); },
  });
  closers.push(() => listener.close());
  const next = async (): Promise<ListenerReport> => {
    while (reports.length <= taken) await new Promise<void>((r) => waiters.push(r));
    return reports[taken++];
  };
  return { listener, port: listener.address.port, reports, next };
}

/** A 64-page guest, its first 16 pages written. */
function guest(): Vm {
  const vm = createHost({ memoryMiB: 16 }).createVm({ pages: 64 });
  vm.write(0, new Uint8Array(16 * 4096).fill(0x3c));
  return vm;
}

/** A 32 MiB guest, its first 16 MiB written: enough to grow the memory of a fresh destination host. */
function growingGuest(): Vm {
  const vm = createHost({ memoryMiB: 64 }).createVm({ pages: 8192 });
  vm.write(0, new Uint8Array(4096 * 4096).fill(1));
  return vm;
}

const target = (port: number, extra: Record<string, unknown> = {}) => ({ host: "127.0.0.1", port, token: TOKEN, idleTimeoutMs: 3000, ...extra });

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

async function rejection(p: Promise<unknown>): Promise<HypermemError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(HypermemError);
  return e as HypermemError;
}

describe("tcp.ts: arguments", () => {
  it("parseHostPort: HOST:PORT and [IPv6]:PORT, ports 1..65535; anything else names the option and the text", () => {
    expect(parseHostPort("--to", "example:1")).toEqual({ host: "example", port: 1 });
    expect(parseHostPort("--to", "[::1]:65535")).toEqual({ host: "::1", port: 65535 });
    for (const bad of ["example:0", "example:65536", "example", ":80", "a:b:80", "example:123456", "[::1]80", "x:80 "]) {
      const e = (() => { try { parseHostPort("--to", bad); return null; } catch (err) { return err as HypermemError; } })();
      expect([bad, e?.code, e?.message, e?.details]).toEqual([bad, ErrorCode.BadOption, `--to: expected HOST:PORT (port 1..65535), got ${JSON.stringify(bad)}`, { option: "--to", value: bad }]);
    }
  });

  it("the target is checked before anything connects: its type, unknown keys, the token, encryption", async () => {
    const vm = guest();
    const check = async (t: unknown, code: string, message: string | RegExp, details?: unknown): Promise<void> => {
      const e = await rejection(migrateOverTcp(vm, {}, t as never));
      expect(e.code).toBe(code);
      expect(e.message).toMatch(message);
      if (details) expect(e.details).toEqual(details);
    };
    await check(null, ErrorCode.BadOption, "the TCP target must be an object such as { host, port, token }, got null", { option: "target" });
    await check("x", ErrorCode.BadOption, "the TCP target must be an object such as { host, port, token }, got x");
    await check({ ...target(1), colour: 1 }, ErrorCode.UnknownOption, 'TCP target: unknown option "colour" (known: host, port, token, encryption, idleTimeoutMs, signal)', { option: "colour" });
    await check({ ...target(1), encryption: "yes" }, ErrorCode.BadOption, "encryption must be true or false, got yes", { option: "encryption", value: "yes" });
    await check({ ...target(1), token: new Uint8Array(3) }, ErrorCode.BadOption, /token/);
    expect((await rejection(connectMigrationChannel({ ...target(1), encryption: 1 } as never))).details).toEqual({ option: "encryption", value: 1 });
  });

  it("the simulated link's options and a timeline are refused over TCP, each saying why; maxBandwidthBytesPerSec is not", () => {
    for (const key of ["bandwidthBytesPerSec", "latencyNs", "xbzrleEncodeNsPerPage"]) {
      const e = (() => { try { resolveTcpMigrationOptions({ [key]: 5 }); return null; } catch (err) { return err as HypermemError; } })();
      expect([e?.code, e?.message, e?.details]).toEqual([ErrorCode.BadOption, `${key} models the simulated link of an in-process migration; over TCP the link is real and time is wall-clock time (maxBandwidthBytesPerSec caps the rate)`, { option: key, value: 5 }]);
    }
    const e = (() => { try { resolveTcpMigrationOptions({ timeline: {} as never }); return null; } catch (err) { return err as HypermemError; } })();
    expect([e?.message, e?.details]).toEqual(["a timeline is simulated time; over TCP time is wall-clock time", { option: "timeline", value: {} }]);
    expect(resolveTcpMigrationOptions({ maxBandwidthBytesPerSec: 5, bandwidthBytesPerSec: undefined }).link.maxBandwidthBytesPerSec).toBe(5);
    expect(resolveTcpMigrationOptions(undefined as never)).toEqual(resolveTcpMigrationOptions({}));
    const none = (() => { try { resolveTcpMigrationOptions(null as never); return null; } catch (err) { return err as HypermemError; } })();
    expect([none?.code, none?.message]).toEqual([ErrorCode.BadOption, "migrate: options must be an object, got null"]);
  });
});

describe("tcp.ts: connecting", () => {
  it("nobody listening: ERR_PEER_CLOSED 'cannot migrate to HOST:PORT' with the socket's reason", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const e = await rejection(connectMigrationChannel(target(port)));
    expect([e.code, e.message]).toEqual([ErrorCode.PeerClosed, `cannot migrate to 127.0.0.1:${port}: connection to 127.0.0.1:${port} failed: ECONNREFUSED`]);
    expect(e.details).toMatchObject({ peer: `127.0.0.1:${port}`, cause: "ECONNREFUSED" });
  });

  it("a destination that never answers: ERR_TIMEOUT 'cannot migrate to' after the idle timeout", async () => {
    const held: Socket[] = [];
    const server = createServer((s) => held.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    closers.push(() => { for (const s of held) s.destroy(); return new Promise((r) => server.close(r)); });
    const port = (server.address() as { port: number }).port;
    const e = await rejection(connectMigrationChannel(target(port, { idleTimeoutMs: 50 })));
    expect([e.code, e.message]).toEqual([ErrorCode.Timeout, `cannot migrate to 127.0.0.1:${port}: no activity from 127.0.0.1:${port} for 50 ms (idle timeout)`]);
    expect(e.details).toEqual({ peer: `127.0.0.1:${port}`, idleTimeoutMs: 50 });
  });

  it("a signal already aborted: refused before it connects, and the VM can migrate again", async () => {
    const { port, next } = await start();
    const vm = guest();
    const e = await rejection(migrateOverTcp(vm, TEST_LIMITS, target(port, { signal: AbortSignal.abort() })));
    expect([e.code, e.message]).toEqual([ErrorCode.MigrationFailed, "migration cancelled before it started"]);
    const r = await migrateOverTcp(vm, TEST_LIMITS, target(port));
    expect(r.status).toBe("completed");
    expect((await next()).event).toBe("received");
  });

  it("an abort while the handshake waits for the destination: refused at once with 'migration cancelled before it started'", async () => {
    const controller = new AbortController();
    const held: Socket[] = [];
    // A destination that takes the connection, never answers, and aborts the migration when the connection arrives.
    const server = createServer((s) => { held.push(s); controller.abort(); });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    closers.push(() => { for (const s of held) s.destroy(); return new Promise((r) => server.close(r)); });
    const port = (server.address() as { port: number }).port;
    const vm = guest();
    const e = await rejection(migrateOverTcp(vm, TEST_LIMITS, target(port, { idleTimeoutMs: 10_000, signal: controller.signal })));
    expect([e.code, e.message]).toEqual([ErrorCode.MigrationFailed, "migration cancelled before it started"]);
    expect(vm.paused).toBe(false);
  });

  it("a wrong token is the destination's refusal (ERR_AUTH), reported as refused there", async () => {
    const { port, next } = await start();
    const e = await rejection(migrateOverTcp(guest(), TEST_LIMITS, target(port, { token: Buffer.from("not the right token at all") })));
    expect(e.code).toBe(ErrorCode.Auth);
    const r = await next();
    expect(r).toMatchObject({ event: "refused", error: { code: ErrorCode.Auth } });
  });
});

describe("a migration over TCP, both sides", () => {
  it("completed: the result's verification and TCP figures; the listener's report; the guest destroyed unless kept", async () => {
    const t0 = performance.now();
    const kept: Vm[] = [];
    const offered: ListenerReport[] = [];
    const { listener, port, next } = await start({ onGuest: (vm, report) => { kept.push(vm); offered.push(report); return kept.length === 1; } });
    for (const encryption of [true, false]) {
      const { port: p2 } = encryption ? { port } : await start({ encryption: false });
      const vm = guest();
      const r = await migrateOverTcp(vm, TEST_LIMITS, target(p2, { encryption }));
      expect(r.status).toBe("completed");
      expect(r.verification).toEqual({ method: "digest", ok: true, pagesCompared: 64, poisonedPages: 0, firstMismatchPfn: null });
      expect(r.tcp.peer).toBe(`127.0.0.1:${p2}`);
      expect(r.tcp.protection).toBe(encryption ? "aes-256-gcm" : "gmac-aes-256");
      expect(r.tcp.bytesSent).toBeGreaterThan(r.ram.transferred);
      expect(r.tcp.mibPerSec).toBeCloseTo(r.tcp.bytesSent / 2 ** 20 / (r.tcp.wallMs / 1e3), 6);
      expect(r.tcp.handshakeMs).toBeGreaterThan(0);
      expect(r.tcp.wallMs).toBeGreaterThanOrEqual(r.tcp.handshakeMs);
      expect(r.tcp.wallMs).toBeLessThanOrEqual(performance.now() - t0);
      expect(r.tcp.guestStealPct).toBe(0);
      expect(r.tcp.guestStealMs).toBe(0);
      expect(vm.paused).toBe(true);
    }
    const report = await next();
    if (report.event !== "received") throw new Error(`expected received, got ${report.event}`);
    expect(report).toMatchObject({ peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), guestBytes: 64 * 4096, kept: true });
    expect(report.streamBytes).toBeGreaterThan(64 * 8);
    expect(report.chunks).toBeGreaterThanOrEqual(3);
    expect(report.mibPerSec).toBeCloseTo(report.streamBytes / 2 ** 20 / (report.wallMs / 1e3), 6);
    expect(report.wallMs).toBeGreaterThan(0);
    expect(report.wallMs).toBeLessThanOrEqual(performance.now() - t0);
    expect(kept[0].destroyed).toBe(false);
    expect(kept[0].read(0, 1)[0]).toBe(0x3c);
    expect(listener.host.vms).toEqual([kept[0]]);
    await migrateOverTcp(guest(), TEST_LIMITS, target(port));
    expect((await next()).event).toBe("received");
    expect(kept[1].destroyed).toBe(true);
    expect(listener.served).toBe(2);
    // onGuest decides whether the guest is kept: the report it is shown says "not kept" until then.
    expect(offered.map((r) => r.event === "received" && r.kept)).toEqual([false, false]);
  });

  it("a guest that wants more CPU than its share: steal time, as a share of the time it was attached", async () => {
    const { port, next } = await start();
    const vm = guest();
    const workload = vm.startWorkload({ kind: "uniform", ratePerSec: 1e8, writeFraction: 0.1, seed: 3 });
    closers.push(() => workload.close());
    const r = await migrateOverTcp(vm, { ...TEST_LIMITS, workload }, target(port));
    await next();
    expect(r.tcp.guestStealMs).toBeGreaterThan(0);
    // The guest was attached for at most the migration's wall time, so its steal share is at least stolen / wall.
    expect(r.tcp.guestStealPct).toBeGreaterThanOrEqual((100 * r.tcp.guestStealMs) / r.tcp.wallMs);
    expect(r.tcp.guestStealPct).toBeLessThanOrEqual(100);
  });

  it("a stream the destination refuses: failed, with the destination's error in the result and in its report", async () => {
    const { port, next, listener } = await start({ receiverLimits: { maxGuestPages: 32 } });
    const vm = guest();
    const r = await migrateOverTcp(vm, TEST_LIMITS, target(port));
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe(ErrorCode.StreamLimit);
    expect(r.error?.message).toMatch(/^destination: stream header field guestPages .* is 64/);
    expect(r.stopReason).toBe(r.error?.message);
    expect(r.verification).toBeNull();
    expect(vm.paused).toBe(false);
    const report = await next();
    expect(report).toMatchObject({ event: "failed", error: { code: ErrorCode.StreamLimit } });
    if (report.event === "failed") expect(report.streamBytes).toBeGreaterThan(0);
    expect(listener.host.vms.length).toBe(0);
  });

  it("a source that gives up tells the listener, which reports a cancellation with the source's reason", async () => {
    const { port, next } = await start();
    const vm = guest();
    // The guest dirties 16 pages at every round (a workload on the wall clock may get no time to run on a loaded machine, and then the migration converges).
    const dirty = new Uint8Array(16 * 4096).fill(0x5a);
    const r = await migrateOverTcp(vm, { downtimeLimitNs: 1, maxRounds: 2, onProgress: () => vm.write(0, dirty) }, target(port));
    expect([r.status, r.stopReason]).toEqual(["cancelled", "gave up after 2 rounds (maxRounds)"]);
    const report = await next();
    expect(report).toMatchObject({ event: "cancelled", reason: expect.stringMatching(/gave up after 2 rounds \(maxRounds\)/) });
  });

  it("an abort during the migration: cancelled, the destination reports it, the source guest runs", async () => {
    const { port, next } = await start();
    const vm = guest();
    const controller = new AbortController();
    const r = await migrateOverTcp(vm, { ...TEST_LIMITS, downtimeLimitNs: 1, onProgress: () => controller.abort() }, target(port, { signal: controller.signal }));
    expect(r.status).not.toBe("completed");
    expect(r.stopReason).toMatch(/cancelled/);
    expect(vm.paused).toBe(false);
    expect((await next()).event).toMatch(/cancelled|failed/);
  });
});

describe("the listener's rules", () => {
  it("binds 127.0.0.1 by default; a port in use is ERR_BAD_OPTION naming it", async () => {
    const { listener, port } = await start();
    expect(listener.address).toEqual({ host: "127.0.0.1", port });
    const e = await rejection(listenForMigrations({ port, token: TOKEN, host: createHost({ memoryMiB: 16 }) }));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.BadOption, `cannot listen on 127.0.0.1:${port}: EADDRINUSE`, { port }]);
  });

  it("a handshake not done in time is cut: refused, ERR_TIMEOUT naming the deadline", async () => {
    const { port, next, listener } = await start({ handshakeTimeoutMs: 60 });
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => undefined);
    closers.push(() => s.destroy());
    const r = await next();
    expect(r).toMatchObject({ event: "refused", error: { code: ErrorCode.Timeout } });
    if (r.event === "refused") expect(r.error.message).toBe(`handshake with ${r.peer} not completed within 60 ms`);
    expect(listener.handshakes).toBe(0);
    expect(listener.served).toBe(1);
  });

  it("one handshake more than maxHandshakes drops the oldest with ERR_BUSY; the listener holds small buffers only", async () => {
    const { port, next, listener } = await start({ maxHandshakes: 2, handshakeTimeoutMs: 5000 });
    const sockets: Socket[] = [];
    closers.push(() => { for (const s of sockets) s.destroy(); });
    for (let i = 0; i < 3; i++) {
      const s = connect({ host: "127.0.0.1", port });
      s.on("error", () => undefined);
      sockets.push(s);
      await until(() => listener.connections === i + 1);
    }
    const r = await next();
    expect(r).toMatchObject({ event: "refused", peer: `127.0.0.1:${sockets[0].localPort}`, error: { code: ErrorCode.Busy } });
    if (r.event === "refused") expect(r.error.message).toBe(`destination has 2 handshakes in progress; the oldest (127.0.0.1:${sockets[0].localPort}) was dropped for a new connection`);
    expect(listener.handshakes).toBe(2);
    // The two live handshakes' read buffers; the dropped connection, failed and lingering, counts nothing.
    expect(listener.bufferedBytes).toBe(2 * HANDSHAKE_READ_BUFFER_BYTES);
  });

  it("an authenticated source holding the slot makes another one ERR_BUSY; once it goes, the next completes", async () => {
    const { port, next } = await start();
    const first = await connectMigrationChannel(target(port));
    const e = await rejection(connectMigrationChannel(target(port)));
    expect([e.code, e.message]).toEqual([ErrorCode.Busy, expect.stringMatching(/destination is busy with another migration; retry later/)]);
    expect(await next()).toMatchObject({ event: "refused", error: { code: ErrorCode.Busy } });
    first.destroy();
    expect(await next()).toMatchObject({ event: "failed", streamBytes: 0 });
    expect((await migrateOverTcp(guest(), TEST_LIMITS, target(port))).status).toBe("completed");
  });

  it("a refused handshake leaves the slot with the source holding it: a third source is still ERR_BUSY", async () => {
    const { port, next } = await start();
    const first = await connectMigrationChannel(target(port));
    closers.push(() => first.destroy());
    expect((await rejection(connectMigrationChannel(target(port, { token: Buffer.from("not the right token at all") })))).code).toBe(ErrorCode.Auth);
    expect(await next()).toMatchObject({ event: "refused", error: { code: ErrorCode.Auth } });
    expect((await rejection(connectMigrationChannel(target(port)))).code).toBe(ErrorCode.Busy);
  });

  it("the progress rule: an authenticated source sending too little in a window is cut with ERR_TIMEOUT saying what it sent", async () => {
    const { port, next } = await start({ minRateBytesPerSec: 1000, progressWindowMs: 50 });
    const idle = await connectMigrationChannel(target(port));
    closers.push(() => idle.destroy());
    const r = await next();
    expect(r).toMatchObject({ event: "failed", error: { code: ErrorCode.Timeout } });
    if (r.event === "failed") expect(r.error.message).toMatch(/^the source 127\.0\.0\.1:\d+ sent 0 bytes in the last 50 ms, under the 50 of the progress rule \(1000 bytes\/s over 50 ms\): cut to free the destination$/);
  });

  it("a refused connection is let go after its linger time: no connection stays open", async () => {
    const { port, next, listener } = await start();
    await rejection(connectMigrationChannel(target(port, { token: Buffer.from("not the right token at all") })));
    expect((await next()).event).toBe("refused");
    expect(listener.connections).toBe(1);
    await until(() => listener.connections === 0);
  });

  it("a host of its own is kept when releaseHostAfterMs is null", async () => {
    const { port, next, listener } = await start({ host: undefined, hostMiB: 64, releaseHostAfterMs: null });
    const host = listener.host;
    expect((await migrateOverTcp(growingGuest(), TEST_LIMITS, target(port))).status).toBe("completed");
    await next();
    await new Promise((r) => setTimeout(r, 60));
    expect([listener.hostReleases, listener.host]).toEqual([0, host]);
  });

  it("a host of its own holding a kept guest is not released", async () => {
    const { port, next, listener } = await start({ host: undefined, hostMiB: 64, releaseHostAfterMs: 10, onGuest: () => true });
    const host = listener.host;
    expect((await migrateOverTcp(guest(), TEST_LIMITS, target(port))).status).toBe("completed");
    await next();
    await new Promise((r) => setTimeout(r, 60));
    expect([listener.hostReleases, listener.host, host.vms.length]).toEqual([0, host, 1]);
  });

  it("another stream kind goes to its handler by magic, with the first bytes, the host and the peer; the slot is freed after", async () => {
    const seen: Array<{ first: string; peer: string; host: Host }> = [];
    const { port, listener } = await start({
      streams: { HMXX: async ({ channel, first, host, peer }) => { seen.push({ first: Buffer.from(first).toString(), peer, host }); await channel.send(Buffer.from("ok")); channel.close(); } },
    });
    const ch = await connectMigrationChannel(target(port));
    await ch.send(Buffer.from("HM"));
    await ch.send(Buffer.from("XX-rest"));
    expect(Buffer.from((await ch.receive())!).toString()).toBe("ok");
    expect(seen).toEqual([{ first: "HMXX-rest", peer: `127.0.0.1:${ch.tcp.socket.localPort}`, host: listener.host }]);
    ch.destroy();
    await until(() => listener.served === 1);
    expect((await migrateOverTcp(guest(), TEST_LIMITS, target(port))).status).toBe("completed");
  });

  it("with integrity only, the first bytes handed to a handler stay what the source sent after the handler's next receive", async () => {
    // firstBytes once kept a Buffer#slice() view of the first record, which the next record read into the same buffer overwrote.
    const seen: string[] = [];
    const { port } = await start({
      encryption: false,
      streams: { HMXX: async ({ channel, first }) => { await channel.send(Buffer.from("go")); const next = Buffer.from((await channel.receive())!).toString(); seen.push(Buffer.from(first).toString(), next); channel.close(); } },
    });
    const ch = await connectMigrationChannel(target(port, { encryption: false }));
    closers.push(() => ch.destroy());
    await ch.send(Buffer.from("HMXX-one"));
    expect(Buffer.from((await ch.receive())!).toString()).toBe("go");
    await ch.send(Buffer.from("another"));
    expect(await ch.receive()).toBeNull();
    expect(seen).toEqual(["HMXX-one", "another"]);
  });

  it("a stream that ends before its first 4 bytes fails as a truncated migration stream, its bytes counted", async () => {
    const { port, next } = await start();
    const ch = await connectMigrationChannel(target(port));
    await ch.send(Buffer.from("HM"));
    ch.close();
    const r = await next();
    expect(r).toMatchObject({ event: "failed", streamBytes: 2, error: { code: ErrorCode.StreamTruncated } });
  });

  it("a source's ERROR that is not a cancellation is reported as failed, with its code; a stream closed with no bytes is truncated", async () => {
    const { port, next } = await start();
    const t0 = performance.now();
    const broken = await connectMigrationChannel(target(port));
    await broken.send(Buffer.from("HM"));
    broken.close(new HypermemError(ErrorCode.StreamDigest, "the source broke"));
    const r = await next();
    expect(r).toMatchObject({ event: "failed", error: { code: ErrorCode.StreamDigest, message: expect.stringMatching(/the source broke/) } });
    if (r.event === "failed") expect(r.wallMs).toBeLessThanOrEqual(performance.now() - t0);
    const empty = await connectMigrationChannel(target(port));
    empty.close();
    expect(await next()).toMatchObject({ event: "failed", streamBytes: 0, error: { code: ErrorCode.StreamTruncated } });
  });

  it("a first record of exactly the 4 bytes of a magic goes to its handler at once", async () => {
    const seen: string[] = [];
    const { port } = await start({
      streams: { HMXX: async ({ channel, first }) => { seen.push(Buffer.from(first).toString()); await channel.send(Buffer.from("ok")); channel.close(); } },
    });
    const ch = await connectMigrationChannel(target(port));
    closers.push(() => ch.destroy());
    await ch.send(Buffer.from("HMXX"));
    expect(Buffer.from((await ch.receive())!).toString()).toBe("ok");
    expect(seen).toEqual(["HMXX"]);
  });

  it("a closed listener has no address: ERR_MIGRATION_FAILED 'listener is not bound'", async () => {
    const listener = await listenForMigrations({ port: 0, token: TOKEN, host: createHost({ memoryMiB: 16 }) });
    await listener.close();
    const e = (() => { try { return listener.address; } catch (err) { return err as HypermemError; } })();
    expect(e).toBeInstanceOf(HypermemError);
    expect([(e as HypermemError).code, (e as HypermemError).message]).toEqual([ErrorCode.MigrationFailed, "listener is not bound"]);
  });

  it("a throwing onGuest is reported as failed; the listener keeps serving", async () => {
    const { port, next } = await start({ onGuest: () => { throw new Error("callback broke"); } });
    expect((await migrateOverTcp(guest(), TEST_LIMITS, target(port))).status).toBe("completed");
    expect(await next()).toEqual({ event: "failed", peer: expect.any(String), streamBytes: 0, wallMs: 0, error: { code: ErrorCode.MigrationFailed, message: "callback broke" } });
  });

  it("a throwing onGuest that throws something other than an Error is reported with its text", async () => {
    const { port, next } = await start({ onGuest: () => { throw undefined; } });
    expect((await migrateOverTcp(guest(), TEST_LIMITS, target(port))).status).toBe("completed");
    expect(await next()).toMatchObject({ event: "failed", error: { code: ErrorCode.MigrationFailed, message: "undefined" } });
  });

  it("close() cancels a pending host release: the host stays", async () => {
    const { port, listener, next } = await start({ host: undefined, hostMiB: 64, releaseHostAfterMs: 40 });
    const first = listener.host;
    expect((await migrateOverTcp(growingGuest(), TEST_LIMITS, target(port))).status).toBe("completed");
    await next();
    await until(() => listener.served === 1);
    await listener.close();
    await new Promise((r) => setTimeout(r, 120));
    expect([listener.host, listener.hostReleases]).toEqual([first, 0]);
  });

  it("a host of its own is replaced once idle for releaseHostAfterMs after a guest grew it; a given host never is", async () => {
    const { port, listener, next } = await start({ host: undefined, hostMiB: 64, releaseHostAfterMs: 20 });
    const first = listener.host;
    expect((await migrateOverTcp(growingGuest(), TEST_LIMITS, target(port))).status).toBe("completed");
    await next();
    await until(() => listener.hostReleases === 1);
    expect(listener.host).not.toBe(first);
    const given = await start({ releaseHostAfterMs: 20 });
    const host = given.listener.host;
    expect((await migrateOverTcp(guest(), TEST_LIMITS, target(given.port))).status).toBe("completed");
    await given.next();
    await new Promise((r) => setTimeout(r, 60));
    expect([given.listener.host, given.listener.hostReleases]).toEqual([host, 0]);
  });
});

/**
 * A destination that authenticates like the listener (AES-GCM, or GMAC
 * with `encryption` false), sends `answer` (each
 * piece its own DATA record) and reads the stream. "close-now" then sends
 * CLOSE at once (still reading); the others wait until the source has closed
 * its side and then send an ERROR record, a CLOSE record, or cut the
 * connection without either.
 */
async function scripted(answer: Uint8Array[], end: "close-now" | "error" | "close" | "cut", encryption = true): Promise<number> {
  const server = createServer((socket) => {
    void (async () => {
      const tcp = new TcpChannel(socket, { idleTimeoutMs: 3000 });
      closers.push(() => tcp.destroy());
      const sc = new SecureChannel(tcp, await serverHandshake(tcp, TOKEN, { suite: suiteFor(encryption) }), { role: "server" });
      for (const piece of answer) await sc.send(piece);
      if (end === "close-now") sc.close();
      await (async () => { while ((await sc.receive()) !== null); })().catch(() => undefined);
      if (end === "error") sc.close(new HypermemError(ErrorCode.StreamDigest, "the page at pfn 7 differs"));
      else if (end === "close") sc.close();
      else if (end === "cut") tcp.destroy();
    })().catch(() => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  closers.push(() => new Promise((r) => server.close(r)));
  return (server.address() as { port: number }).port;
}

describe("tcp.ts: the destination's answer, from a scripted destination", () => {
  const ack = encodeAck();
  const notAck = (n: number): string => `the destination answered ${n} bytes that are not an acknowledgement`;

  it("an acknowledgement in two or three records is put together: completed", async () => {
    for (const pieces of [[ack.subarray(0, 8), ack.subarray(8)], [ack.subarray(0, 1), ack.subarray(1, 2), ack.subarray(2)]]) {
      const vm = guest();
      const r = await migrateOverTcp(vm, TEST_LIMITS, target(await scripted(pieces, "close")));
      expect([r.status, r.error, r.verification?.ok, vm.paused]).toEqual(["completed", null, true, true]);
    }
  });

  it("with integrity only (records not decrypted into fresh buffers), an acknowledgement in pieces is still put together", async () => {
    // SourceChannel.receive once kept Buffer#slice() views of the pieces, which the next record overwrote.
    for (const pieces of [[ack.subarray(0, 8), ack.subarray(8)], [ack.subarray(0, 1), ack.subarray(1, 2), ack.subarray(2)]]) {
      const vm = guest();
      const r = await migrateOverTcp(vm, TEST_LIMITS, target(await scripted(pieces, "close", false), { encryption: false }));
      expect([r.status, r.error, r.verification?.ok, vm.paused]).toEqual(["completed", null, true, true]);
    }
  });

  it("answers that are not an acknowledgement fail the source with their length; the destination's CLOSE after that leaves the source's own error", async () => {
    const cases: Array<[Uint8Array[], "close" | "close-now", number]> = [
      [[new Uint8Array(ACK_BYTES)], "close", ACK_BYTES], // the right length, status and magic zero
      [[Buffer.concat([ack, Buffer.from([0])])], "close", ACK_BYTES + 1], // an acknowledgement and one byte more, in one record
      [[ack.subarray(0, 3)], "close-now", 3], // the first 3 bytes, then CLOSE
    ];
    for (const [answer, end, n] of cases) {
      const vm = guest();
      const r = await migrateOverTcp(vm, TEST_LIMITS, target(await scripted(answer, end)));
      expect([r.status, r.stopReason, r.error, r.verification, vm.paused]).toEqual(["failed", notAck(n), { code: ErrorCode.MigrationFailed, message: notAck(n) }, null, false]);
    }
  });

  it("no answer before the destination's CLOSE: 'closed the connection without acknowledging the stream'", async () => {
    const r = await migrateOverTcp(guest(), TEST_LIMITS, target(await scripted([], "close-now")));
    const message = "the destination closed the connection without acknowledging the stream";
    expect([r.status, r.stopReason, r.error]).toEqual(["failed", message, { code: ErrorCode.MigrationFailed, message }]);
  });

  it("a source that gives up keeps its own reason, whatever the destination answers after", async () => {
    const vm = guest();
    const dirty = new Uint8Array(16 * 4096).fill(0x5a);
    const r = await migrateOverTcp(vm, { downtimeLimitNs: 1, maxRounds: 2, onProgress: () => vm.write(0, dirty) }, target(await scripted([], "error")));
    expect([r.status, r.stopReason, r.error, vm.paused]).toEqual(["cancelled", "gave up after 2 rounds (maxRounds)", null, false]);
  });

  it("a destination that closes its side at once, while a larger guest is still being sent: the source sends on, then fails for want of an acknowledgement", async () => {
    // The source's socket is half-open: the destination's FIN does not end the source's sending side.
    const vm = createHost({ memoryMiB: 16 }).createVm({ pages: 2048 });
    for (let pfn = 0; pfn < 2048; pfn += 256) vm.write(pfn * 4096, new Uint8Array(256 * 4096).fill(0x3c + pfn / 256));
    const r = await migrateOverTcp(vm, TEST_LIMITS, target(await scripted([], "close-now")));
    const message = "the destination closed the connection without acknowledging the stream";
    expect([r.status, r.stopReason, r.error]).toEqual(["failed", message, { code: ErrorCode.MigrationFailed, message }]);
    expect(r.tcp.bytesSent).toBeGreaterThan(2048 * 4096);
  });

  it("the destination's ERROR after the failure becomes the result's reason and code", async () => {
    const vm = guest();
    const r = await migrateOverTcp(vm, TEST_LIMITS, target(await scripted([new Uint8Array(ACK_BYTES)], "error")));
    const message = "destination: the page at pfn 7 differs";
    expect([r.status, r.stopReason, r.error, vm.paused]).toEqual(["failed", message, { code: ErrorCode.StreamDigest, message }, false]);
  });

  it("a connection cut after the failure, with no ERROR or CLOSE, leaves the source's own error", async () => {
    const r = await migrateOverTcp(guest(), TEST_LIMITS, target(await scripted([new Uint8Array(ACK_BYTES)], "cut")));
    expect([r.status, r.stopReason, r.error]).toEqual(["failed", notAck(ACK_BYTES), { code: ErrorCode.MigrationFailed, message: notAck(ACK_BYTES) }]);
  });

  it("an abort during the stream: failed with ERR_MIGRATION_CANCELLED 'migration cancelled (interrupted)', whatever the destination answers after", async () => {
    for (const then of ["error", "close"] as const) {
      const controller = new AbortController();
      const vm = guest();
      const r = await migrateOverTcp(vm, { ...TEST_LIMITS, onProgress: () => controller.abort() }, target(await scripted([], then), { signal: controller.signal }));
      const message = "migration cancelled (interrupted)";
      expect([r.status, r.stopReason, r.error, vm.paused]).toEqual(["failed", message, { code: ErrorCode.MigrationCancelled, message }, false]);
    }
  });
});
