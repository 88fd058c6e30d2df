// buildResult (src/migration/result.ts): the figures of QEMU's `info migrate`
// from the source engine's counters, each against a value worked out by hand
// (units: ns in, ms out; bytes; pages/s over the last round that took time;
// Mbit/s; XBZRLE's miss rate over every cache lookup and its encoding rate),
// and the edges: nothing measured yet, no XBZRLE, no stop-and-copy yet.
import { describe, expect, it } from "vitest";
import { buildResult, type SourceCounters } from "../src/migration/result.js";
import type { PackStats } from "../src/stream/packer.js";

const totals: PackStats = {
  pages: 28, zeroPages: 7, normalPages: 11, normalBytes: 11 * 4096,
  xbzrlePages: 3, xbzrleBytes: 600, xbzrleCacheMiss: 2, xbzrleOverflow: 1, xbzrleUnchanged: 4,
  poisonedPages: 5, latentFound: 2, wireBytes: 123_456,
};

const counters: SourceCounters = {
  totals,
  nowNs: 2.5e9,
  setupNs: 4e6,
  lastExpectedDowntimeNs: 7.5e6,
  transferred: 1_000_000,
  remainingPages: 3,
  digestNs: 2.25e6,
  generation: 6,
  bytesAtStop: 900_000,
  rounds: [
    { round: 0, pagesSent: 100, bytes: 410_400, durationMs: 50, pagesDirtied: 40, throttlePct: 0 },
    { round: 1, pagesSent: 40, bytes: 164_160, durationMs: 20, pagesDirtied: 9, throttlePct: 20 },
    { round: 2, pagesSent: 30, bytes: 123_120, durationMs: 10, pagesDirtied: 0, throttlePct: 20 },
    { round: 3, pagesSent: 0, bytes: 0, durationMs: 0, pagesDirtied: 0, throttlePct: 20 },
  ],
  vm: { memoryBytes: 64 << 20 },
  o: { xbzrleCacheBytes: 1 << 20 },
  sync: { throttlePct: 30, dirtyPagesRate: 1234.5 },
};

describe("buildResult", () => {
  it("a completed migration: every figure from the counters, in QEMU's units", () => {
    const r = buildResult(counters, "completed", "expected downtime 2 ms <= limit 300 ms", 3e6, 17);
    expect(r).toEqual({
      status: "completed",
      totalTime: 2500,
      setupTime: 4,
      downtime: 3,
      digestTime: 2.25,
      expectedDowntime: 7.5,
      ram: {
        transferred: 1_000_000,
        remaining: 0,
        total: 64 << 20,
        duplicate: 7,
        normal: 11,
        normalBytes: 11 * 4096,
        dirtySyncCount: 5,
        // The last round that took time: 30 pages in 10 ms (round 3 took none).
        pagesPerSecond: 3000,
        dirtyPagesRate: 1234.5,
        // 8,000,000 bits in 2.5 s.
        mbps: 3.2,
        precopyBytes: 900_000,
        downtimeBytes: 100_000,
      },
      xbzrleCache: {
        cacheSize: 1 << 20,
        bytes: 600,
        pages: 3,
        cacheMiss: 2,
        // 2 misses in 3 + 2 + 1 + 4 lookups.
        cacheMissRate: 0.2,
        // 3 pages of 4096 bytes in 600 encoded bytes.
        encodingRate: 20.48,
        overflow: 1,
      },
      cpuThrottlePercentage: 30,
      rounds: counters.rounds,
      poisonedPagesSent: 5,
      latentErrorsFound: 2,
      stopReason: "expected downtime 2 ms <= limit 300 ms",
      verification: null,
      error: null,
      wallTimeMs: 17,
    });
    expect(r.rounds).not.toBe(counters.rounds);
  });

  it("a migration that did not complete reports the pages left, in bytes", () => {
    const r = buildResult(counters, "cancelled", "maxRounds 3 reached", 0, 1);
    expect([r.status, r.ram.remaining, r.stopReason, r.downtime]).toEqual(["cancelled", 3 * 4096, "maxRounds 3 reached", 0]);
  });

  it("before the stop-and-copy, everything sent is precopy; nothing measured yet gives rates of 0, not NaN", () => {
    const idle: SourceCounters = {
      ...counters,
      nowNs: 0,
      bytesAtStop: null,
      rounds: [{ round: 0, pagesSent: 0, bytes: 0, durationMs: 0, pagesDirtied: 0, throttlePct: 0 }],
      totals: { ...totals, xbzrlePages: 0, xbzrleBytes: 0, xbzrleCacheMiss: 0, xbzrleOverflow: 0, xbzrleUnchanged: 0 },
    };
    const r = buildResult(idle, "failed", "x", 0, 0);
    expect([r.totalTime, r.ram.mbps, r.ram.pagesPerSecond, r.ram.precopyBytes, r.ram.downtimeBytes]).toEqual([0, 0, 0, 1_000_000, 0]);
    expect([r.xbzrleCache?.cacheMissRate, r.xbzrleCache?.encodingRate]).toEqual([0, 0]);
    // No rounds at all: 0 pages/s too.
    expect(buildResult({ ...idle, rounds: [] }, "failed", "x", 0, 0).ram.pagesPerSecond).toBe(0);
  });

  it("without XBZRLE there are no cache figures", () => {
    expect(buildResult({ ...counters, o: { xbzrleCacheBytes: null } }, "completed", "x", 0, 0).xbzrleCache).toBeNull();
  });
});
