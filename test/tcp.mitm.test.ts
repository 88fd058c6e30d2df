// A man in the middle between a migration source and a listener, on real
// loopback sockets: a proxy that understands the handshake messages and the
// records after them, and alters them. Every attack ends with the source's
// migration failed with a typed error (or, in the handshake, refused with
// one), the source guest unchanged and running, and the destination holding
// nothing of it. The same proxy, passive, lets a migration complete, so each
// failure is the attack's doing.
import { createHash } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost, type Host } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { listenForMigrations, type ListenerReport } from "../src/migration/listener.js";
import { buildScenario, type Scenario } from "../src/migration/scenario.js";
import { migrateOverTcp, type TcpMigrationResult } from "../src/migration/tcp.js";
import { MessageType } from "../src/net/handshake.js";
import { RECORD_HEADER_BYTES, TAG_BYTES } from "../src/net/record.js";
import { Suite } from "../src/net/session-keys.js";
import { xxh3Hash64 } from "../src/pages/pages.js";
import { CHUNK_HEADER_BYTES, checksumOf, encodeAck, RECORD_HEADER_BYTES as STREAM_RECORD_HEADER_BYTES, RecordType as StreamRecord } from "../src/stream/format.js";

const TOKEN = Buffer.from("correct horse battery staple");
const FRAME_HEADER_BYTES = 20;
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** What the proxy does with each unit (a handshake message or a record) going one way: the units to forward instead. */
type Rewrite = (unit: Buffer, index: number) => Buffer[];

interface Attack {
  /** Source to destination: handshake messages (index 0 HELLO, 1 PROOF), then records (index 0 the stream header...). */
  upFrames?: Rewrite;
  upRecords?: Rewrite;
  /** Destination to source, records. */
  downRecords?: Rewrite;
  /** Source to destination: after this many records, stop forwarding and end the connection (a truncation). */
  cutAfterRecords?: number;
}

/**
 * Splits one direction's bytes into units: handshake messages (20-byte
 * header, payload length at offset 14) until `handshakeUnits` of them
 * passed, then records (16-byte header, body length at offset 0, 16-byte tag).
 */
class Splitter {
  #buffer = Buffer.alloc(0);
  #units = 0;
  readonly handshakeUnits: number;
  constructor(handshakeUnits: number) { this.handshakeUnits = handshakeUnits; }
  get inHandshake(): boolean { return this.#units < this.handshakeUnits; }
  push(data: Buffer): Array<{ unit: Buffer; handshake: boolean; index: number }> {
    this.#buffer = Buffer.concat([this.#buffer, data]);
    const out: Array<{ unit: Buffer; handshake: boolean; index: number }> = [];
    for (;;) {
      const handshake = this.inHandshake;
      const headBytes = handshake ? FRAME_HEADER_BYTES : RECORD_HEADER_BYTES;
      if (this.#buffer.length < headBytes) return out;
      const total = handshake ? FRAME_HEADER_BYTES + this.#buffer.readUInt16LE(14) : RECORD_HEADER_BYTES + this.#buffer.readUInt32LE(0) + TAG_BYTES;
      if (this.#buffer.length < total) return out;
      const unit = this.#buffer.subarray(0, total);
      this.#buffer = this.#buffer.subarray(total);
      out.push({ unit: Buffer.from(unit), handshake, index: handshake ? this.#units : this.#units - this.handshakeUnits });
      this.#units++;
      // A REJECT ends the handshake early: what follows is not records.
      if (handshake && unit.readUInt8(12) === MessageType.Reject) return out;
    }
  }
}

/** A proxy to `port` applying `attack`; its port. */
async function mitm(port: number, attack: Attack): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const up = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(up);
    const fromClient = new Splitter(2); // HELLO, PROOF
    const fromServer = new Splitter(2); // CHALLENGE, ACCEPT
    let cut = false;
    client.on("data", (d: Buffer) => {
      if (cut) return;
      for (const { unit, handshake, index } of fromClient.push(d)) {
        if (!handshake && attack.cutAfterRecords !== undefined && index >= attack.cutAfterRecords) {
          cut = true;
          up.end();
          return;
        }
        const rewrite = handshake ? attack.upFrames : attack.upRecords;
        for (const u of rewrite ? rewrite(unit, index) : [unit]) up.write(u);
      }
    });
    up.on("data", (d: Buffer) => {
      for (const { unit, handshake, index } of fromServer.push(d)) {
        const rewrite = handshake ? undefined : attack.downRecords;
        for (const u of rewrite ? rewrite(unit, index) : [unit]) client.write(u);
      }
    });
    client.on("end", () => { if (!cut) up.end(); });
    up.on("end", () => client.end());
    for (const s of [client, up]) {
      s.on("error", () => undefined);
      s.on("close", () => { client.destroy(); up.destroy(); });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  closers.push(() => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); });
  return (server.address() as { port: number }).port;
}

async function startListener(encryption: boolean): Promise<{ port: number; host: Host; next(): Promise<ListenerReport> }> {
  const host = createHost({ memoryMiB: 64 });
  const reports: ListenerReport[] = [];
  const waiters: Array<(r: ListenerReport) => void> = [];
  const listener = await listenForMigrations({
    port: 0, token: TOKEN, host, encryption, idleTimeoutMs: 2000,
    onReport: (r) => { const w = waiters.shift(); if (w) w(r); else reports.push(r); },
  });
  closers.push(() => listener.close());
  const next = (): Promise<ListenerReport> => {
    const r = reports.shift();
    return r ? Promise.resolve(r) : new Promise((resolve) => waiters.push(resolve));
  };
  return { port: listener.address.port, host, next };
}

/** A 2 MiB guest, every page written, running a read-only workload: its memory must not change at all. */
function scenario(): Scenario {
  const s = buildScenario({ guestMiB: 2, hostMiB: 34, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }, ratePerSec: 20_000, writeFraction: 0 });
  closers.push(() => s.workload.close());
  return s;
}

function memoryHash(vm: Vm): string {
  return createHash("sha256").update(vm.read(0, vm.pages * 4096)).digest("hex");
}

/** Migrates through the proxy; the result, or the error a refused handshake throws. */
function migrateVia(s: Scenario, port: number, encryption: boolean): Promise<TcpMigrationResult | HypermemError> {
  return migrateOverTcp(s.vm, { workload: s.workload }, { host: "127.0.0.1", port, token: TOKEN, encryption, idleTimeoutMs: 2000 })
    .catch((e: unknown) => e as HypermemError);
}

/** The attack's outcome checked: failed with `code` on the source, the source guest unchanged and running, nothing on the destination. */
async function expectFoiled(encryption: boolean, attack: Attack, code: string, sourceMessage?: RegExp): Promise<{ result: TcpMigrationResult; report: ListenerReport }> {
  const { port, host, next } = await startListener(encryption);
  const s = scenario();
  const before = memoryHash(s.vm);
  const r = await migrateVia(s, await mitm(port, attack), encryption);
  expect(r).not.toBeInstanceOf(Error);
  const result = r as TcpMigrationResult;
  expect(result.status).toBe("failed");
  expect(result.error?.code).toBe(code);
  if (sourceMessage) expect(result.error?.message).toMatch(sourceMessage);
  expect(result.verification).toBeNull();
  const report = await next();
  expect(report.event).toBe("failed");
  expect(host.stats().vms).toBe(0);
  expect(s.vm.paused).toBe(false);
  expect(memoryHash(s.vm)).toBe(before);
  return { result, report };
}

const flipBit = (unit: Buffer, at: number): Buffer => {
  const copy = Buffer.from(unit);
  copy[at] ^= 0x01;
  return copy;
};

describe("a man in the middle after the handshake", () => {
  it.each([[true], [false]])("a passive proxy changes nothing (encryption %s): the migration completes", async (encryption) => {
    const { port, next } = await startListener(encryption);
    const s = scenario();
    const r = (await migrateVia(s, await mitm(port, {}), encryption)) as TcpMigrationResult;
    expect(r.status).toBe("completed");
    expect(r.tcp.protection).toBe(encryption ? "aes-256-gcm" : "gmac-aes-256");
    expect(await next()).toMatchObject({ event: "received", guestBytes: 2 * 2 ** 20 });
  });

  it.each([[true], [false]])("one flipped bit in a chunk's record (encryption %s) fails the record's tag", async (encryption) => {
    const { report } = await expectFoiled(encryption, { upRecords: (u, i) => [i === 1 ? flipBit(u, RECORD_HEADER_BYTES + 5000) : u] }, ErrorCode.Integrity, /^destination: record 1 from the source .* does not verify/);
    expect(report).toMatchObject({ error: { code: ErrorCode.Integrity } });
  });

  it("a page rewritten in clear (integrity only) with the chunk checksum recomputed fails the record's GMAC", async () => {
    let rewritten = false;
    const rewrite: Rewrite = (unit, index) => {
      if (index !== 1) return [unit];
      const copy = Buffer.from(unit);
      const chunk = copy.subarray(RECORD_HEADER_BYTES, copy.length - TAG_BYTES);
      const payload = chunk.subarray(CHUNK_HEADER_BYTES);
      expect(payload.readUInt8(0)).toBe(StreamRecord.Page);
      payload.write("PWNED-BY-MITM!!!", STREAM_RECORD_HEADER_BYTES, "latin1");
      chunk.writeUInt32LE(checksumOf(xxh3Hash64(payload)), 12); // the chunk header's checksum, recomputed: the stream alone would take it
      rewritten = true;
      return [copy];
    };
    await expectFoiled(false, { upRecords: rewrite }, ErrorCode.Integrity, /record 1 .* does not verify/);
    expect(rewritten).toBe(true);
  });

  it.each([[true], [false]])("a record replayed (encryption %s) fails on its sequence number", async (encryption) => {
    await expectFoiled(encryption, { upRecords: (u, i) => (i === 1 ? [u, u] : [u]) }, ErrorCode.Integrity, /header field sequence \(offset 8\) is 1, expected 2: an earlier record again \(replayed\)/);
  });

  it("two records swapped fail on the sequence number", async () => {
    let held: Buffer | null = null;
    await expectFoiled(true, { upRecords: (u, i) => {
      if (i === 1) { held = u; return []; }
      if (i === 2) return [u, held!];
      return [u];
    } }, ErrorCode.Integrity, /is 2, expected 1: a later record \(one was dropped, or records were reordered\)/);
  });

  it("a record dropped fails on the sequence number of the next", async () => {
    await expectFoiled(true, { upRecords: (u, i) => (i === 1 ? [] : [u]) }, ErrorCode.Integrity, /is 2, expected 1/);
  });

  it("the stream truncated (the rest dropped, the connection ended) fails: no CLOSE record", async () => {
    const { report } = await expectFoiled(true, { cutAfterRecords: 2 }, ErrorCode.Integrity, /ended after record 2 without a CLOSE record \(truncated on the way\)/);
    expect(report).toMatchObject({ error: { code: ErrorCode.Integrity } });
  });

  it.each([[true], [false]])("a forged acknowledgement (encryption %s) does not verify: the source fails, the destination got nothing", async (encryption) => {
    // The proxy drops the whole stream and answers the source with an acknowledgement record it made up.
    const ack = encodeAck();
    const forged = Buffer.concat([Buffer.alloc(RECORD_HEADER_BYTES), ack, Buffer.alloc(TAG_BYTES)]);
    forged.writeUInt32LE(ack.length, 0);
    forged.writeUInt8(1, 4); // DATA, sequence 0
    const { port, host, next } = await startListener(encryption);
    const s = scenario();
    const before = memoryHash(s.vm);
    const r = (await migrateVia(s, await forgingProxy(port, forged), encryption)) as TcpMigrationResult;
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe(ErrorCode.Integrity);
    expect(r.error?.message).toMatch(/^record 0 from the destination .*: the tag of its 20-byte DATA record does not verify/);
    expect(await next()).toMatchObject({ event: "failed", streamBytes: 0, error: { code: ErrorCode.Integrity } });
    expect(host.stats().vms).toBe(0);
    expect(s.vm.paused).toBe(false);
    expect(memoryHash(s.vm)).toBe(before);
  });
});

/**
 * A proxy in front of `port` that passes the handshake, then drops every
 * record of the source (ending the connection to the destination) and sends
 * the source `forged` in the destination's name.
 */
async function forgingProxy(port: number, forged: Buffer): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const up = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const fromClient = new Splitter(2);
    const fromServer = new Splitter(2);
    client.on("data", (d: Buffer) => {
      for (const { unit, handshake } of fromClient.push(d)) {
        if (handshake) up.write(unit);
        else if (!up.writableEnded) up.end();
      }
    });
    up.on("data", (d: Buffer) => {
      for (const { unit, handshake } of fromServer.push(d)) {
        if (!handshake) continue; // the destination's own records (its ERROR) do not reach the source
        client.write(unit);
        if (unit.readUInt8(12) === MessageType.Accept) client.write(forged);
      }
    });
    for (const s of [client, up]) {
      s.on("error", () => undefined);
      s.on("close", () => { client.destroy(); up.destroy(); });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  closers.push(() => new Promise((r) => server.close(r)));
  return (server.address() as { port: number }).port;
}

describe("a man in the middle in the handshake", () => {
  /** HELLO with its suite byte (the last of its payload) set to `suite`, the header crc recomputed by re-encoding. */
  const withSuite = (hello: Buffer, suite: number): Buffer => {
    const copy = Buffer.from(hello);
    copy[FRAME_HEADER_BYTES + 32] = suite;
    return copy;
  };

  it("a downgrade to integrity only, accepted by a destination that allows it, fails the destination's proof on the source: ERR_AUTH, nothing sent", async () => {
    const { port, host, next } = await startListener(false);
    const s = scenario();
    const before = memoryHash(s.vm);
    const r = await migrateVia(s, await mitm(port, { upFrames: (u, i) => [i === 0 ? withSuite(u, Suite.GmacAes256) : u] }), true);
    expect(r).toBeInstanceOf(HypermemError);
    expect((r as HypermemError).code).toBe(ErrorCode.Auth);
    expect((r as HypermemError).message).toMatch(/proof of the destination .* does not verify: it holds a different token, or the handshake was altered on the way/);
    expect(await next()).toMatchObject({ event: "refused" });
    expect(host.stats().vms).toBe(0);
    expect(memoryHash(s.vm)).toBe(before);
  });

  it("a downgrade refused by a destination that requires encryption: ERR_HANDSHAKE on both sides", async () => {
    const { port, host, next } = await startListener(true);
    const s = scenario();
    const r = await migrateVia(s, await mitm(port, { upFrames: (u, i) => [i === 0 ? withSuite(u, Suite.GmacAes256) : u] }), true);
    expect(r).toBeInstanceOf(HypermemError);
    expect((r as HypermemError).code).toBe(ErrorCode.Handshake);
    expect((r as HypermemError).message).toMatch(/^destination: the source asks for integrity only .*, this destination requires encryption/);
    expect(await next()).toMatchObject({ event: "refused", error: { code: ErrorCode.Handshake } });
    expect(host.stats().vms).toBe(0);
  });

  it("an upgrade or an unknown suite is refused the same way", async () => {
    for (const [listenerEncrypts, suite, why] of [[false, Suite.Aes256Gcm, /requires integrity only/], [true, 7, /asks for protection suite 7/]] as const) {
      const { port, next } = await startListener(listenerEncrypts);
      const r = await migrateVia(scenario(), await mitm(port, { upFrames: (u, i) => [i === 0 ? withSuite(u, suite) : u] }), !listenerEncrypts);
      expect((r as HypermemError).code).toBe(ErrorCode.Handshake);
      expect(await next()).toMatchObject({ event: "refused", error: { code: ErrorCode.Handshake, message: expect.stringMatching(why) } });
    }
  });

  it("sides set differently without a man in the middle: refused with a message that says what to change", async () => {
    const { port, next } = await startListener(true);
    const r = await migrateVia(scenario(), port, false);
    expect((r as HypermemError).code).toBe(ErrorCode.Handshake);
    expect((r as HypermemError).message).toMatch(/give --no-encryption to both sides or to neither/);
    expect(await next()).toMatchObject({ event: "refused" });
  });
});
