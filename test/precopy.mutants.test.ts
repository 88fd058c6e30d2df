// The pre-copy source engine (src/migration/precopy.ts) on small guests, in
// milliseconds: every figure it reports is checked against the stream it put
// on the wire (decoded here, record by record) and against the simulated
// link's arithmetic (bytes / rate + latency), with the guest dirtied at
// chosen moments (from onProgress), so the rounds, the switchover, the give-up
// rules, Xen's rules, auto-converge and XBZRLE each have exact oracles.
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost, type Host } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { SimulatedLink } from "../src/sim/link.js";
import { Timeline } from "../src/sim/timeline.js";
import { createChannelPair, type Channel } from "../src/net/channel.js";
import { resolveMigrationOptions, type MigrationOptions } from "../src/migration/options.js";
import { migrateDestination } from "../src/migration/migrate.js";
import { migrateSource } from "../src/migration/precopy.js";
import type { MigrationProgress, MigrationResult } from "../src/migration/stats.js";
import { CHUNK_HEADER_BYTES, RECORD_HEADER_BYTES, readChunkHeader, RecordType, STREAM_HEADER_BYTES } from "../src/stream/format.js";
import { TEST_LIMITS } from "./helpers.js";

/** 1 Gbit/s, bytes/s. */
const GBIT = 1.25e8;
/** The default one-way latency, ns. */
const LATENCY_NS = 100_000;
const PAGE = 4096;

interface WireChunk { readonly bytes: number; readonly records: ReadonlyArray<{ type: number; pfn: number }> }

/** The chunks of one send (a send may hold several: END_STREAM's). */
function decodeSend(bytes: Uint8Array): WireChunk[] {
  const chunks: WireChunk[] = [];
  for (let at = 0; at < bytes.length;) {
    const h = readChunkHeader(bytes, at);
    const v = new DataView(bytes.buffer, bytes.byteOffset + at + CHUNK_HEADER_BYTES, h.payloadBytes);
    const records: Array<{ type: number; pfn: number }> = [];
    for (let r = 0; r < h.payloadBytes;) {
      const type = v.getUint8(r);
      records.push({ type, pfn: v.getUint32(r + 4, true) });
      r += RECORD_HEADER_BYTES + (type === RecordType.Page ? PAGE : v.getUint16(r + 2, true));
    }
    chunks.push({ bytes: CHUNK_HEADER_BYTES + h.payloadBytes, records });
    at += CHUNK_HEADER_BYTES + h.payloadBytes;
  }
  return chunks;
}

const PAGE_TYPES: ReadonlySet<number> = new Set([RecordType.Page, RecordType.Zero, RecordType.Xbzrle, RecordType.Poison]);

/** What the wire says, per round: page records and the bytes of the chunks that carried them. */
interface Wire {
  readonly sendSizes: number[];
  /** Per precopy round, then the stop-and-copy (its pages before END_STREAM's chunk). */
  readonly rounds: Array<{ pages: number; bytes: number; pfns: number[]; types: number[] }>;
  readonly endRounds: number[];
  readonly ended: boolean;
}

function wireOf(sends: Uint8Array[]): Wire {
  const wire: Wire = { sendSizes: sends.map((s) => s.length), rounds: [{ pages: 0, bytes: 0, pfns: [], types: [] }], endRounds: [], ended: false };
  expect(sends[0].length).toBe(STREAM_HEADER_BYTES);
  for (const send of sends.slice(1)) {
    for (const chunk of decodeSend(send)) {
      const cur = wire.rounds.at(-1)!;
      const first = chunk.records[0];
      if (first?.type === RecordType.EndRound) {
        wire.endRounds.push(first.pfn);
        wire.rounds.push({ pages: 0, bytes: 0, pfns: [], types: [] });
      } else if (chunk.records.some((x) => x.type === RecordType.EndStream)) {
        (wire as { ended: boolean }).ended = true;
      } else {
        cur.bytes += chunk.bytes;
        for (const x of chunk.records) {
          expect(PAGE_TYPES.has(x.type)).toBe(true);
          cur.pages++;
          cur.pfns.push(x.pfn);
          cur.types.push(x.type);
        }
      }
    }
  }
  return wire;
}

interface Run {
  readonly r: MigrationResult;
  readonly wire: Wire;
  readonly timeline: Timeline;
  readonly events: MigrationProgress[];
  /** The destination's guest, or the error it failed with. */
  readonly dest: Vm | Error;
}

interface RunOptions {
  /** Called with each progress event before the test's own onProgress (the guest may be written here). */
  readonly dirty?: (p: MigrationProgress, vm: Vm) => void;
  /** Wraps the source's end of the channel. */
  readonly channel?: (inner: Channel) => Channel;
  /** Replaces the destination side. */
  readonly destination?: (host: Host, end: Channel) => Promise<Vm>;
}

/** A guest of `pages` pages, the first `written` of them filled with their own number + 1. */
function guest(pages: number, written: number): { vm: Vm; destination: Host } {
  const vm = createHost({ memoryMiB: 32 }).createVm({ pages });
  for (let pfn = 0; pfn < written; pfn++) vm.write(pfn * PAGE, new Uint8Array(PAGE).fill((pfn % 255) + 1));
  return { vm, destination: createHost({ memoryMiB: 32 }) };
}

async function run(vm: Vm, destination: Host, m: MigrationOptions, how: RunOptions = {}): Promise<Run> {
  const events: MigrationProgress[] = [];
  const o = resolveMigrationOptions({
    ...TEST_LIMITS, bandwidthBytesPerSec: GBIT, ...m,
    onProgress: (p) => { events.push({ ...p }); if (p.phase === "precopy") how.dirty?.(p, vm); },
  });
  const timeline = o.timeline ?? new Timeline();
  const link = new SimulatedLink(timeline, o.link);
  const [a, b] = createChannelPair();
  const sends: Uint8Array[] = [];
  const recording: Channel = { send: (x) => { sends.push(x.slice()); return a.send(x); }, receive: () => a.receive(), close: (e) => a.close(e) };
  const source = how.channel ? how.channel(recording) : recording;
  const [r, dest] = await Promise.all([
    migrateSource(vm, source, o, link),
    (how.destination ?? migrateDestination)(destination, b).then((v) => v, (e: unknown) => e as Error),
  ]);
  return { r, wire: wireOf(sends), timeline, events, dest };
}

/** Writes `count` pages from `pfn` with `fill`. */
function dirty(vm: Vm, pfn: number, count: number, fill: number): void {
  vm.write(pfn * PAGE, new Uint8Array(count * PAGE).fill(fill));
}

/** A dirty hook that runs `write` once in round 0 and once in round 1, at the first progress report of each. */
function inRoundsZeroAndOne(write: (p: MigrationProgress, vm: Vm) => void): (p: MigrationProgress, vm: Vm) => void {
  const seen = new Set<number>();
  return (p, v) => {
    if (seen.has(p.round) || p.round > 1) return;
    seen.add(p.round);
    write(p, v);
  };
}

/** `actual` equals `expected` element by element, to 9 decimals. */
function expectClose(actual: number[], expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((x, i) => expect([i, x]).toEqual([i, expect.closeTo(expected[i], 9)]));
}

/** Every figure the engine reports agrees with the wire and with the link's arithmetic (no XBZRLE encode time, no idle wait). */
function expectAgreesWithWire(run: Run, bandwidth = GBIT): void {
  const { r, wire } = run;
  const total = wire.sendSizes.reduce((s, n) => s + n, 0);
  expect(r.ram.transferred).toBe(total);
  expect(wire.endRounds).toEqual(wire.endRounds.map((_, i) => i));
  const precopyRounds = r.status === "completed" ? r.rounds.slice(0, -1) : r.rounds;
  expect(precopyRounds.map((x) => x.round)).toEqual(wire.endRounds);
  expect(r.rounds.map((x) => x.pagesSent)).toEqual(wire.rounds.slice(0, r.rounds.length).map((x) => x.pages));
  expect(r.rounds.map((x) => x.bytes)).toEqual(wire.rounds.slice(0, r.rounds.length).map((x) => x.bytes));
  for (const x of precopyRounds) expect(x.durationMs).toBeCloseTo((x.bytes / bandwidth) * 1e3, 9);
  expect(r.ram.dirtySyncCount).toBe(wire.endRounds.length + (r.status === "completed" ? 1 : 0));
  const all = wire.rounds.flatMap((x) => x.types);
  expect(r.ram.normal).toBe(all.filter((t) => t === RecordType.Page).length);
  expect(r.ram.duplicate).toBe(all.filter((t) => t === RecordType.Zero).length);
  expect(r.ram.normalBytes).toBe(r.ram.normal * PAGE);
  expect(run.timeline.nowNs).toBeCloseTo(r.totalTime * 1e6, 3);
  expect(r.setupTime * 1e6).toBeCloseTo((STREAM_HEADER_BYTES / bandwidth) * 1e9 + 2 * LATENCY_NS, 3);
  if (r.status === "completed") {
    expect(wire.ended).toBe(true);
    const stopBytes = wire.rounds.at(-1)!.bytes + wire.sendSizes.at(-1)!;
    expect(r.ram.downtimeBytes).toBe(stopBytes);
    expect(r.ram.precopyBytes).toBe(total - stopBytes);
    expect(r.downtime * 1e6).toBeCloseTo((stopBytes / bandwidth) * 1e9 + LATENCY_NS, 3);
    expect(r.totalTime * 1e6).toBeCloseTo((total / bandwidth) * 1e9 + 3 * LATENCY_NS, 3);
    expect(r.rounds.at(-1)).toMatchObject({ round: wire.endRounds.length, pagesDirtied: 0 });
    expect(r.rounds.at(-1)!.durationMs).toBeCloseTo(r.downtime, 9);
  } else {
    expect(wire.ended).toBe(false);
    expect(r.ram.precopyBytes).toBe(total);
    expect(r.ram.downtimeBytes).toBe(0);
  }
}

describe("precopy: rounds on the wire", () => {
  it("QEMU: the bulk pass, then each round resends what the last one dirtied, until the rest fits the limit", async () => {
    const { vm, destination } = guest(256, 64);
    const run1 = await run(vm, destination, { downtimeLimitNs: 1e6 }, {
      dirty: (p, v) => { if (p.round < 3) dirty(v, 100 + p.round * 40, 40, p.round + 1); },
    });
    const { r, wire } = run1;
    expectAgreesWithWire(run1);
    expect(r.status).toBe("completed");
    expect(r.rounds.map((x) => [x.pagesSent, x.pagesDirtied])).toEqual([[256, 40], [40, 40], [40, 40], [40, 0], [0, 0]]);
    expect(wire.rounds.map((x) => x.pfns[0])).toEqual([0, 100, 140, 180, undefined]);
    expect(r.stopReason).toBe("expected downtime 0.1 ms within the 1 ms limit");
    expect(r.expectedDowntime).toBeCloseTo(0.1, 12);
    expect(r.ram.remaining).toBe(0);
    expect(r.ram.total).toBe(256 * PAGE);
    expect(r.ram.duplicate).toBe(192);
    expect(r.ram.normal).toBe(64 + 3 * 40);
    // The rate at the last sync: 120 pages over the time up to it (setup, four rounds, three END_ROUND chunks of 24 bytes).
    const lastSyncNs = r.setupTime * 1e6 + r.rounds.slice(0, 4).reduce((t, x) => t + x.durationMs * 1e6, 0) + 3 * (24 / GBIT) * 1e9;
    expect(r.ram.dirtyPagesRate).toBeCloseTo((120 * 1e9) / lastSyncNs, 6);
    expect(r.ram.mbps).toBeCloseTo((r.ram.transferred * 8) / (r.totalTime / 1e3) / 1e6, 9);
    expect(r.digestTime).toBe(0);
    expect(vm.paused).toBe(true);
    expect((run1.dest as Vm).read(100 * PAGE, 1)[0]).toBe(1);
    expect((run1.dest as Vm).read(219 * PAGE, 1)[0]).toBe(3);
  });
});

/** A chunk of 255 whole pages (the most a 1 MiB payload holds): 16 + 255 × 4104 bytes. */
const FULL_CHUNK_BYTES = CHUNK_HEADER_BYTES + 255 * (RECORD_HEADER_BYTES + PAGE);
const chunkNs = (bytes: number, bandwidth = GBIT): number => (bytes / bandwidth) * 1e9;
const SETUP_NS = chunkNs(STREAM_HEADER_BYTES) + 2 * LATENCY_NS;

describe("precopy: a limit left unset", () => {
  for (const unset of [{ maxRounds: null }, { maxTotalTimeNs: null }]) {
    it(`${Object.keys(unset)[0]} null: no limit of that kind (the other one still set)`, async () => {
      const { vm, destination } = guest(256, 64);
      const done = await run(vm, destination, { downtimeLimitNs: 1e6, ...unset }, {
        dirty: (p, v) => { if (p.round < 3) dirty(v, 100 + p.round * 40, 40, p.round + 1); },
      });
      expect(done.r.status).toBe("completed");
      expect(done.r.rounds.map((x) => x.pagesSent)).toEqual([256, 40, 40, 40, 0]);
    });
  }
});

describe("precopy: the switchover inside a scan window", () => {
  it("QEMU switches over after the chunk that makes the rest fit; the unsent rest of the window goes in the stop-and-copy", async () => {
    const { vm, destination } = guest(1024, 1024);
    // After one chunk 769 pages are left (25.3 ms at 1 Gbit/s), after two 514 (17.0 ms): within 20 ms.
    const done = await run(vm, destination, { downtimeLimitNs: 20e6 }, {
      dirty: (p, v) => { if (p.transferredBytes < 2 * FULL_CHUNK_BYTES) dirty(v, 0, 10, 0xee); },
    });
    const { r, wire, events } = done;
    expectAgreesWithWire(done);
    expect(r.status).toBe("completed");
    expect(r.rounds.map((x) => [x.round, x.pagesSent, x.pagesDirtied])).toEqual([[0, 510, 10], [1, 524, 0]]);
    expect(wire.rounds[1].pfns.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(wire.rounds[1].pfns.slice(10)).toEqual(Array.from({ length: 514 }, (_, i) => 510 + i));
    // The bandwidth decided with is the one measured over the round: header, latency and two chunks.
    const measured = ((STREAM_HEADER_BYTES + 2 * FULL_CHUNK_BYTES) * 1e9) / (SETUP_NS + 2 * chunkNs(FULL_CHUNK_BYTES));
    const expectedNs = ((524 * (PAGE + 8)) / measured) * 1e9 + LATENCY_NS;
    expect(r.expectedDowntime).toBeCloseTo(expectedNs / 1e6, 9);
    expect(r.stopReason).toBe(`expected downtime ${(expectedNs / 1e6).toFixed(1)} ms within the 20 ms limit`);
    expect(r.stopReason).toBe("expected downtime 17.5 ms within the 20 ms limit");
    expect(r.ram.pagesPerSecond).toBeCloseTo(524 / (r.rounds[1].durationMs / 1e3), 6);
    expect((done.dest as Vm).read(5 * PAGE, 2)).toEqual(Uint8Array.of(0xee, 0xee));

    // Progress: after each chunk, what is left (pending + the window's unsent rest), the bytes so far, the phase.
    const precopy = events.filter((e) => e.phase === "precopy");
    expect(precopy.map((e) => e.remainingBytes / PAGE)).toEqual([769, 514]);
    expect(precopy.map((e) => e.transferredBytes)).toEqual([STREAM_HEADER_BYTES + FULL_CHUNK_BYTES, STREAM_HEADER_BYTES + 2 * FULL_CHUNK_BYTES]);
    expect(precopy.map((e) => e.round)).toEqual([0, 0]);
    expect(precopy[0].elapsedMs * 1e6).toBeCloseTo(SETUP_NS + chunkNs(FULL_CHUNK_BYTES), 3);
    expect(precopy.every((e) => e.throttlePct === 0 && e.dirtyPagesRate === 0)).toBe(true);
    const stop = events.filter((e) => e.phase === "stop-and-copy");
    expect(stop.map((e) => e.remainingBytes / PAGE)).toEqual([269, 14, 0]);
    expect(stop.map((e) => e.round)).toEqual([1, 1, 1]);
    expect(stop[0].dirtyPagesRate).toBeCloseTo(r.ram.dirtyPagesRate, 9);
    expect(r.ram.dirtyPagesRate).toBeCloseTo((10 * 1e9) / (SETUP_NS + 2 * chunkNs(FULL_CHUNK_BYTES)), 6);
  });

  it("XBZRLE: a switchover inside the bulk pass sends the rest as bulk: whole pages, no deltas", async () => {
    const { vm, destination } = guest(1024, 1024);
    const bulk = await run(vm, destination, { downtimeLimitNs: 20e6, xbzrleCacheBytes: 4 * 2 ** 20, xbzrleEncodeNsPerPage: 0 });
    expect(bulk.r.status).toBe("completed");
    expect(bulk.wire.rounds.flatMap((x) => x.types).every((t) => t === RecordType.Page)).toBe(true);
    expect(bulk.r.xbzrleCache).toMatchObject({ pages: 0, cacheMiss: 0, cacheSize: 4 * 2 ** 20 });
  });
});

describe("precopy: the user's limits", () => {
  it("maxRounds: a guest that never converges gives up after exactly that many rounds, cancelled, the guest running", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { downtimeLimitNs: 1e6, maxRounds: 3 }, {
      dirty: (p, v) => dirty(v, 100, 40, p.round + 1),
    });
    const { r, wire } = done;
    expectAgreesWithWire(done);
    expect(r.status).toBe("cancelled");
    expect(r.stopReason).toBe("gave up after 3 rounds (maxRounds)");
    expect(r.rounds.map((x) => x.pagesSent)).toEqual([256, 40, 40]);
    expect(wire.endRounds).toEqual([0, 1, 2]);
    expect(r.ram.remaining).toBe(40 * PAGE);
    expect(r.downtime).toBe(0);
    expect(vm.paused).toBe(false);
    expect(done.dest).toBeInstanceOf(HypermemError);
    expect(done.dest).toMatchObject({ code: ErrorCode.MigrationCancelled, message: "migration cancelled by the source: gave up after 3 rounds (maxRounds)" });
    expect(r.totalTime * 1e6).toBeCloseTo(chunkNs(r.ram.transferred) + 2 * LATENCY_NS, 3);
  });

  it("maxTotalTimeNs: checked after every chunk; the limit met exactly ends it there, with the window's unsent rest counted", async () => {
    const atTwoChunks = SETUP_NS + 2 * chunkNs(FULL_CHUNK_BYTES);
    for (const [limitNs, chunks] of [[atTwoChunks, 2], [atTwoChunks + 1, 3], [atTwoChunks - 1, 2]] as const) {
      const { vm, destination } = guest(1024, 1024);
      const done = await run(vm, destination, { downtimeLimitNs: 1e6, maxTotalTimeNs: limitNs });
      const { r } = done;
      expectAgreesWithWire(done);
      expect([limitNs, r.status, r.rounds.length]).toEqual([limitNs, "cancelled", 0]);
      expect(done.wire.rounds[0].pages).toBe(255 * chunks);
      expect(r.ram.remaining).toBe((1024 - 255 * chunks) * PAGE);
      expect(r.stopReason).toBe(`gave up after ${(r.totalTime).toFixed(0)} ms (maxTotalTimeNs)`);
      expect(done.dest).toMatchObject({ code: ErrorCode.MigrationCancelled });
    }
  });

  it("maxTotalTimeNs is also checked at the end of a pass", async () => {
    const { vm, destination } = guest(256, 64);
    // The bulk pass is one chunk; the limit falls within the END_ROUND chunk after it, so the sync that ends the round gives up.
    const bulkBytes = CHUNK_HEADER_BYTES + 64 * (PAGE + 8) + 192 * 8;
    const done = await run(vm, destination, { downtimeLimitNs: 1e6, maxTotalTimeNs: SETUP_NS + chunkNs(bulkBytes) + 100 }, {
      dirty: (p, v) => dirty(v, 100, 40, p.round + 1),
    });
    expect(done.r.status).toBe("cancelled");
    expect(done.r.stopReason).toBe("gave up after 2 ms (maxTotalTimeNs)");
    expect(done.r.rounds.map((x) => x.pagesSent)).toEqual([256]);
  });

  it("an idle guest whose limit is out of reach: a pass with nothing to send waits 1 ms for the guest, then syncs", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { downtimeLimitNs: 1, maxRounds: 4 });
    const { r } = done;
    expect(r.status).toBe("cancelled");
    expect(r.stopReason).toBe("gave up after 4 rounds (maxRounds)");
    expect(r.rounds.map((x) => x.pagesSent)).toEqual([256, 0, 0, 0]);
    expectClose(r.rounds.map((x) => x.durationMs), [chunkNs(done.wire.rounds[0].bytes) / 1e6, 1, 1, 1]);
    expect(r.totalTime * 1e6).toBeCloseTo(chunkNs(r.ram.transferred) + 2 * LATENCY_NS + 3e6, 3);
  });

  it("an AbortSignal cancels between chunks: status cancelled, the destination told why", async () => {
    const { vm, destination } = guest(1024, 1024);
    const controller = new AbortController();
    const done = await run(vm, destination, { downtimeLimitNs: 1e6, signal: controller.signal }, {
      dirty: () => controller.abort(),
    });
    expect(done.r.status).toBe("cancelled");
    expect(done.r.stopReason).toBe("cancelled (interrupted)");
    expect(done.r.error).toBeNull();
    expect(done.wire.rounds[0].pages).toBeLessThanOrEqual(2 * 255);
    expect(done.dest).toMatchObject({ code: ErrorCode.MigrationCancelled, message: "migration cancelled (interrupted)" });
    expect(vm.paused).toBe(false);
  });
});

describe("precopy: Xen's rules", () => {
  it("stops when fewer than 50 pages are left: an idle guest after its bulk pass", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { policy: "xen" });
    expectAgreesWithWire(done);
    expect(done.r.stopReason).toBe("fewer than 50 pages left (0)");
    expect(done.r.rounds.map((x) => x.pagesSent)).toEqual([256, 0]);
    expect(done.r.status).toBe("completed");
  });

  it("a round sends only what was dirty when it began, and skips the pages dirtied again meanwhile (they wait for the next)", async () => {
    const { vm, destination } = guest(2048, 64);
    let stage = 0;
    const done = await run(vm, destination, { policy: "xen" }, {
      dirty: (p, v) => {
        if (p.round === 0 && stage === 0) { dirty(v, 100, 60, 0x11); dirty(v, 1100, 60, 0x22); stage = 1; }
        if (p.round === 1 && stage === 1) { dirty(v, 1100, 30, 0x33); stage = 2; }
      },
    });
    const { r, wire } = done;
    expectAgreesWithWire(done);
    expect(r.status).toBe("completed");
    expect(r.rounds.map((x) => [x.pagesSent, x.pagesDirtied])).toEqual([[2048, 120], [90, 30], [30, 0]]);
    expect(wire.rounds[1].pfns).toEqual([...Array.from({ length: 60 }, (_, i) => 100 + i), ...Array.from({ length: 30 }, (_, i) => 1130 + i)]);
    expect(wire.rounds[2].pfns).toEqual(Array.from({ length: 30 }, (_, i) => 1100 + i));
    expect(r.stopReason).toBe("fewer than 50 pages left (30)");
    expect((done.dest as Vm).read(1100 * PAGE, 1)[0]).toBe(0x33);
    expect((done.dest as Vm).read(1159 * PAGE, 1)[0]).toBe(0x22);
  });

  it("stops once more than 3x the guest was sent", async () => {
    const { vm, destination } = guest(64, 64);
    const done = await run(vm, destination, { policy: "xen" }, { dirty: (p, v) => dirty(v, 0, 64, p.round + 1) });
    expectAgreesWithWire(done);
    expect(done.r.stopReason).toBe("sent more than 3x the guest (256 pages)");
    expect(done.r.rounds.map((x) => x.pagesSent)).toEqual([64, 64, 64, 64, 64]);
  });

  it("stops after 30 rounds", async () => {
    const { vm, destination } = guest(1024, 64);
    const done = await run(vm, destination, { policy: "xen" }, { dirty: (p, v) => dirty(v, 200, 50, (p.round % 200) + 1) });
    expectAgreesWithWire(done);
    expect(done.r.stopReason).toBe("30 rounds done");
    expect(done.r.rounds.length).toBe(31);
    expect(done.r.rounds.slice(1, 30).every((x) => x.pagesSent === 50)).toBe(true);
  });

  it("maxRounds ends a Xen migration too", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { policy: "xen", maxRounds: 2 }, { dirty: (p, v) => dirty(v, 100, 60, p.round + 1) });
    expect(done.r.stopReason).toBe("gave up after 2 rounds (maxRounds)");
    expect(done.r.ram.remaining).toBe(60 * PAGE);
  });
});

describe("precopy: XBZRLE", () => {
  it("deltas from the second look at a page on; the encode time is spent when it is longer than the wire time; the stop-and-copy sends deltas too", async () => {
    // Xen's rule (under 50 pages left) decides the switchover here, whatever the measured bandwidth.
    const { vm, destination } = guest(256, 64);
    const touch = (v: Vm, pfn: number, count: number, value: number): void => {
      for (let i = 0; i < count; i++) v.write((pfn + i) * PAGE + 8, Uint8Array.of(value, value));
    };
    const seen = new Set<number>();
    const done = await run(vm, destination, { policy: "xen", xbzrleCacheBytes: 2 ** 20, xbzrleEncodeNsPerPage: 1e6 }, {
      dirty: (p, v) => {
        if (seen.has(p.round)) return;
        seen.add(p.round);
        if (p.round <= 1) touch(v, 100, 60, p.round + 1);
        if (p.round === 2) touch(v, 100, 20, 9);
      },
    });
    const { r, wire } = done;
    expect(r.status).toBe("completed");
    expect(r.stopReason).toBe("fewer than 50 pages left (20)");
    expect(wire.rounds.map((x) => x.pages)).toEqual([256, 60, 60, 20]);
    expect(wire.rounds[0].types.includes(RecordType.Xbzrle)).toBe(false);
    expect(wire.rounds[1].types.every((t) => t === RecordType.Page)).toBe(true);
    expect(wire.rounds[2].types.every((t) => t === RecordType.Xbzrle)).toBe(true);
    expect(wire.rounds[3].types.every((t) => t === RecordType.Xbzrle)).toBe(true);
    expect(r.xbzrleCache).toMatchObject({ cacheSize: 2 ** 20, pages: 80, cacheMiss: 60, overflow: 0 });
    expectClose(r.rounds.map((x) => x.durationMs), [chunkNs(wire.rounds[0].bytes) / 1e6, chunkNs(wire.rounds[1].bytes) / 1e6, 60, r.downtime]);
    expect(r.downtime * 1e6).toBeCloseTo(20e6 + chunkNs(wire.sendSizes.at(-1)!) + LATENCY_NS, 3);
    expect((done.dest as Vm).read(100 * PAGE + 8, 2)).toEqual(Uint8Array.of(9, 9));
    expect((done.dest as Vm).read(159 * PAGE + 8, 2)).toEqual(Uint8Array.of(2, 2));
  });

  it("pages dirtied with the bytes they had are consumed unsent, and their lookups still take encode time", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { downtimeLimitNs: 1e6, xbzrleCacheBytes: 2 ** 20, xbzrleEncodeNsPerPage: 1e6 }, {
      dirty: inRoundsZeroAndOne((_, v) => dirty(v, 100, 40, 0x77)),
    });
    const { r, wire } = done;
    expect(r.status).toBe("completed");
    expect(wire.rounds.map((x) => x.pages)).toEqual([256, 40, 0, 0]);
    expect(r.rounds.map((x) => [x.pagesSent, x.bytes])).toEqual([[256, wire.rounds[0].bytes], [40, wire.rounds[1].bytes], [0, 0], [0, 0]]);
    expectClose(r.rounds.map((x) => x.durationMs), [chunkNs(wire.rounds[0].bytes) / 1e6, chunkNs(wire.rounds[1].bytes) / 1e6, 40, r.downtime]);
    expect(r.xbzrleCache).toMatchObject({ pages: 0, cacheMiss: 40 });
    expect(r.ram.transferred).toBe(wire.sendSizes.reduce((a, b) => a + b, 0));
  });
});

describe("precopy: rounds that send nothing but took time", () => {
  it("Xen: a round whose pages were all unchanged (XBZRLE hits) ends at its pass, after its encode time, not as an idle pass", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { policy: "xen", xbzrleCacheBytes: 2 ** 20, xbzrleEncodeNsPerPage: 1e6 }, {
      dirty: inRoundsZeroAndOne((_, v) => dirty(v, 100, 60, 0x77)),
    });
    const { r, wire } = done;
    expect(r.status).toBe("completed");
    expect(r.rounds.map((x) => [x.pagesSent, x.bytes])).toEqual([[256, wire.rounds[0].bytes], [60, wire.rounds[1].bytes], [0, 0], [0, 0]]);
    expectClose(r.rounds.map((x) => x.durationMs), [chunkNs(wire.rounds[0].bytes) / 1e6, chunkNs(wire.rounds[1].bytes) / 1e6, 60, r.downtime]);
    expect(r.stopReason).toBe("fewer than 50 pages left (0)");
  });

  it("a caller without onProgress: the engine reports to nobody and completes", async () => {
    const { vm, destination } = guest(256, 64);
    const o = resolveMigrationOptions({ ...TEST_LIMITS, policy: "xen" });
    const [a, b] = createChannelPair();
    const [r] = await Promise.all([migrateSource(vm, a, o, new SimulatedLink(new Timeline(), o.link)), migrateDestination(destination, b)]);
    expect([r.status, r.stopReason]).toEqual(["completed", "fewer than 50 pages left (0)"]);
  });
});

describe("precopy: XBZRLE overflow", () => {
  it("pages rewritten whole after they were cached overflow: sent as PAGE records, their encode time spent", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, { policy: "xen", xbzrleCacheBytes: 2 ** 20, xbzrleEncodeNsPerPage: 1e6 }, {
      dirty: inRoundsZeroAndOne((p, v) => {
        for (let i = 0; i < 60; i++) v.write((100 + i) * PAGE, Uint8Array.from({ length: PAGE }, (_, j) => (j * 31 + i * 7 + p.round * 101) & 0xff));
      }),
    });
    const { r, wire } = done;
    expect(r.status).toBe("completed");
    expect(wire.rounds.map((x) => x.pages)).toEqual([256, 60, 60, 0]);
    expect(wire.rounds[2].types.every((t) => t === RecordType.Page)).toBe(true);
    expect(r.xbzrleCache).toMatchObject({ pages: 0, cacheMiss: 60, overflow: 60 });
    expectClose(r.rounds.map((x) => x.durationMs), [chunkNs(wire.rounds[0].bytes) / 1e6, chunkNs(wire.rounds[1].bytes) / 1e6, 60, r.downtime]);
  });
});

describe("precopy: the event loop and the source's resources", () => {
  it("a long in-process migration lets timers run while it goes (it yields every 50 ms of wall time)", async () => {
    const { vm, destination } = guest(1024, 64);
    let fired = false;
    let firedDuring = false;
    const timer = setTimeout(() => { fired = true; }, 0);
    const done = await run(vm, destination, { policy: "xen" }, {
      dirty: (p, v) => {
        if (fired) firedDuring = true;
        // Each chunk takes at least 5 ms of wall time here, so the migration outlasts several 50 ms yield periods on any machine.
        for (const t = performance.now(); performance.now() - t < 5;);
        dirty(v, 200, 50, (p.round % 200) + 1);
      },
    });
    clearTimeout(timer);
    expect(done.r.stopReason).toBe("30 rounds done");
    expect(firedDuring).toBe(true);
  });

  it("a source host without room for the XBZRLE cache: the error, and everything taken so far given back", async () => {
    for (const policy of ["qemu", "xen"] as const) {
      const source = createHost({ memoryMiB: 8 });
      const vm = source.createVm({ pages: 256 });
      vm.write(0, new Uint8Array(PAGE).fill(1));
      const before = source.stats().usedFrames;
      const o = resolveMigrationOptions({ ...TEST_LIMITS, policy, xbzrleCacheBytes: 64 * 2 ** 20 });
      const [a] = createChannelPair();
      await expect(migrateSource(vm, a, o, new SimulatedLink(new Timeline(), o.link))).rejects.toMatchObject({ code: ErrorCode.OutOfFrames });
      expect([policy, source.stats().usedFrames]).toEqual([policy, before]);
      const again = await run(vm, createHost({ memoryMiB: 8 }), { policy });
      expect(again.r.status).toBe("completed");
    }
  });
});

describe("precopy: the guest's workload and auto-converge", () => {
  it("auto-converge: the throttle climbs 20, 30, 40 % once a period dirties more than half what it sent, twice; the workload runs throttled", async () => {
    const source = createHost({ memoryMiB: 32 });
    const vm = source.createVm({ pages: 1024 });
    const workload = vm.startWorkload({ kind: "uniform", ratePerSec: 2000, writeFraction: 1, writeBytes: 8, seed: 3 });
    const done = await run(vm, createHost({ memoryMiB: 32 }), {
      bandwidthBytesPerSec: 2e6, downtimeLimitNs: 1e6, maxRounds: 12, workload, autoConverge: true,
    });
    const { r } = done;
    expect(r.status).toBe("cancelled");
    const steps = r.rounds.map((x) => x.throttlePct);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    const distinct = [...new Set(steps)];
    expect(distinct.slice(0, 4)).toEqual([0, 20, 30, 40]);
    expect(r.cpuThrottlePercentage).toBe(steps.at(-1));
    expect(workload.throttle).toBeCloseTo(r.cpuThrottlePercentage / 100, 12);
    expect(workload.clock).toBeNull();
    workload.close();
  });

  it("without auto-converge the throttle stays 0; a workload attached to the migration's timeline before stays attached", async () => {
    const timeline = new Timeline();
    const source = createHost({ memoryMiB: 32 });
    const vm = source.createVm({ pages: 1024 });
    const workload = vm.startWorkload({ kind: "uniform", ratePerSec: 2000, writeFraction: 1, writeBytes: 8, seed: 3 });
    workload.attach(timeline);
    const done = await run(vm, createHost({ memoryMiB: 32 }), { bandwidthBytesPerSec: 2e6, downtimeLimitNs: 1e6, maxRounds: 6, workload, timeline });
    expect(done.r.rounds.map((x) => x.throttlePct)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(done.r.rounds.reduce((n, x) => n + x.pagesDirtied, 0)).toBeGreaterThan(0);
    expect(workload.throttle).toBe(0);
    expect(workload.clock).toBe(timeline);
    workload.close();
  });

  it("a workload of another guest is refused before anything is sent", async () => {
    const { vm, destination } = guest(256, 64);
    const other = vm.host.createVm({ pages: 16 });
    const workload = other.startWorkload({ kind: "uniform", ratePerSec: 10, writeFraction: 1, seed: 1 });
    const [a] = createChannelPair();
    let sends = 0;
    const channel: Channel = { ...a, send: (x) => { sends++; return a.send(x); } };
    const o = resolveMigrationOptions({ ...TEST_LIMITS, workload });
    await expect(migrateSource(vm, channel, o, new SimulatedLink(new Timeline(), o.link))).rejects.toMatchObject({
      code: ErrorCode.BadOption, message: `the workload runs on vm ${other.id}, not on the migrating vm ${vm.id}`, details: { option: "workload" },
    });
    expect(sends).toBe(0);
    expect(destination.stats().vms).toBe(0);
    workload.close();
  });
});

describe("precopy: sends in flight", () => {
  /**
   * A channel of `depth` (it refuses a send past min(16, floor(depth)), at least 1, unresolved),
   * handing each send on (uncopied: the engine must not reuse its buffer yet) after the previous one resolved.
   */
  const queued = (depth: number) => (inner: Channel): Channel => {
    const allowed = Math.max(1, Math.min(16, Math.floor(depth)));
    let chain: Promise<void> = Promise.resolve();
    let unresolved = 0;
    return {
      ...inner, sendDepth: depth,
      send: (x) => {
        if (++unresolved > allowed) return Promise.reject(new Error(`more than ${allowed} sends in flight`));
        chain = chain.then(() => inner.send(x));
        return chain.finally(() => { unresolved--; });
      },
    };
  };

  for (const depth of [4, 100, 0, 2.5]) {
    it(`a channel of sendDepth ${depth} gets every chunk intact (the engine keeps at most min(16, depth), at least 1, in flight)`, async () => {
      const { vm, destination } = guest(1024, 1024);
      const done = await run(vm, destination, { downtimeLimitNs: 1e6 }, {
        channel: queued(depth),
        dirty: (p, v) => { if (p.round < 2) dirty(v, 300, 300, p.round + 7); },
      });
      expect(done.r.status).toBe("completed");
      expect(done.r.ram.transferred).toBe(done.wire.sendSizes.reduce((a, b) => a + b, 0));
      expect((done.dest as Vm).read(599 * PAGE, 1)[0]).toBe(vm.read(599 * PAGE, 1)[0]);
      expect((done.dest as Vm).read(1023 * PAGE, 1)[0]).toBe((1023 % 255) + 1);
    });
  }
});

describe("precopy: the end of the stream and failures", () => {
  /** A destination that reads the stream up to its END_STREAM (or closes the channel with an error if it ends first). */
  async function readToEnd(end: Channel): Promise<void> {
    let first = true;
    for (;;) {
      const bytes = await end.receive();
      if (bytes === null) throw new Error("the stream ended before END_STREAM");
      if (!first && decodeSend(bytes).some((c) => c.records.some((x) => x.type === RecordType.EndStream))) return;
      first = false;
    }
  }

  it("a completed migration frees everything it took on the source host; a failed one leaves the guest running", async () => {
    const { vm, destination } = guest(256, 64);
    const before = vm.host.stats().usedFrames;
    const done = await run(vm, destination, { downtimeLimitNs: 1e6, xbzrleCacheBytes: 2 ** 20, policy: "xen" });
    expect(done.r.status).toBe("completed");
    expect(vm.host.stats().usedFrames).toBe(before);
    expect(vm.paused).toBe(true);
    vm.resume();
    const qemu = await run(vm, createHost({ memoryMiB: 32 }), { downtimeLimitNs: 1e6 });
    expect(qemu.r.status).toBe("completed");
    expect(vm.host.stats().usedFrames).toBe(before);
  });

  it("an answer that is not an acknowledgement fails the migration, naming its size; the source runs again", async () => {
    const { vm, destination } = guest(256, 64);
    let told: HypermemError | null = null;
    const done = await run(vm, destination, {}, {
      destination: async (_host, end) => {
        await readToEnd(end).catch((e: Error) => { end.close(e); throw e; });
        await end.send(new Uint8Array(3)).catch(() => undefined);
        told = await end.receive().then(() => null, (e: unknown) => e as HypermemError);
        throw new Error("answered garbage");
      },
    });
    expect(done.r.status).toBe("failed");
    expect(done.r.error).toEqual({ code: ErrorCode.MigrationFailed, message: "the destination answered 3 bytes that are not an acknowledgement" });
    expect(done.r.stopReason).toBe("the destination answered 3 bytes that are not an acknowledgement");
    expect(told).toMatchObject({ code: ErrorCode.MigrationFailed, details: { bytes: 3 } });
    expect(vm.paused).toBe(false);
  }, 10_000);

  it("a destination that closes without acknowledging fails the migration", async () => {
    const { vm, destination } = guest(256, 64);
    const done = await run(vm, destination, {}, {
      destination: async (_host, end) => {
        await readToEnd(end).catch((e: Error) => { end.close(e); throw e; });
        end.close();
        throw new Error("closed without an answer");
      },
    });
    expect(done.r.status).toBe("failed");
    expect(done.r.error).toEqual({ code: ErrorCode.MigrationFailed, message: "the destination closed the connection without acknowledging the stream" });
    expect(vm.paused).toBe(false);
  }, 10_000);

  it("a channel failing with a plain Error: failed, ERR_MIGRATION_FAILED with its message; a HypermemError keeps its code", async () => {
    for (const [thrown, code] of [[new Error("cable unplugged"), ErrorCode.MigrationFailed], [new HypermemError(ErrorCode.StreamCorrupt, "cable unplugged"), ErrorCode.StreamCorrupt]] as const) {
      const { vm, destination } = guest(256, 64);
      let n = 0;
      const done = await run(vm, destination, { downtimeLimitNs: 1e6 }, {
        channel: (inner) => ({ ...inner, send: (x) => (++n === 3 ? Promise.reject(thrown) : inner.send(x)) }),
        dirty: (p, v) => dirty(v, 100, 40, p.round + 1),
      });
      expect(done.r.status).toBe("failed");
      expect(done.r.error).toEqual({ code, message: "cable unplugged" });
      expect(done.r.stopReason).toBe("cable unplugged");
      expect(done.dest).toMatchObject({ code, message: "cable unplugged" });
      expect(vm.paused).toBe(false);
    }
    for (const [thrown, message] of [["a string", "a string"], [undefined, "undefined"]] as const) {
      const { vm, destination } = guest(256, 64);
      const done = await run(vm, destination, {}, { channel: (inner) => ({ ...inner, send: (x) => (x.length > 100 ? Promise.reject(thrown) : inner.send(x)) }) });
      expect([done.r.status, done.r.error]).toEqual(["failed", { code: ErrorCode.MigrationFailed, message }]);
    }
  });
});
