// Quasi-lockstep: identical copies without nondeterminism (a long run),
// a mismatch resynchronises and the held packet leaves only after, each
// trigger (mismatch, timeout, queue full, periodic) fires on its own, the
// secondary equals the primary byte for byte after resyncs, a damaged
// resync stream holds output until a new stream succeeds, and the
// verification fails when the secondary is broken after its flush.
import { describe, expect, it } from "vitest";
import { emitted, firstDifference, hex, seqsPerConnection, traced } from "./lockstep-helpers.js";

describe("lockstep without nondeterminism", () => {
  it("keeps the two copies identical for a minute of guest time: every packet matches, only periodic checkpoints, nothing to repair", async () => {
    const { r, primary } = await traced({ durationMs: 60_000, packetsPerSec: 100, workload: { kind: "uniform", ratePerSec: 5_000 } });
    expect(r.nondeterminism.events).toBe(0);
    expect(r.outputs.compared).toBeGreaterThan(5_900);
    expect(r.outputs.matched).toBe(r.outputs.compared);
    expect(r.outputs.mismatched + r.outputs.timedOut + r.outputs.queueFull).toBe(0);
    expect(r.checkpoints.periodic).toBe(2);
    expect(r.checkpoints.total).toBe(2);
    expect(r.divergedPages).toBe(0);
    expect(r.endDivergedPages).toBe(0);
    expect(firstDifference(primary, r.secondaryVm)).toBe(-1);
    expect(r.heldOutputLatencyMs.p99).toBeCloseTo(0.1, 6);
  }, 60_000);
});

describe("a mismatch", () => {
  it("triggers a resync; the primary's packet is released only after it, and the outside sees the primary's version", async () => {
    const { r, events } = await traced({ durationMs: 300, nondeterminismPerSec: 60 });
    expect(r.outputs.mismatched).toBeGreaterThan(0);
    expect(r.checkpoints.mismatch).toBe(r.outputs.mismatched);
    const secondary = emitted(events, "secondary");
    const primary = emitted(events, "primary");
    const done = new Set(events.filter((e) => e.type === "resync" && e.phase === "done").map((e) => (e as { atNs: number }).atNs));
    const spans = events.filter((e) => e.type === "resync" && (e.phase === "start" || e.phase === "done")).map((e) => (e as { atNs: number }).atNs);
    let mismatchedReleased = 0;
    for (const p of r.released) {
      const key = `${p.connection}:${p.seq}`;
      expect(primary.get(key)?.has(hex(p.payload))).toBe(true);
      if (p.origin === "matched") expect(secondary.get(key)?.has(hex(p.payload))).toBe(true);
      if (p.origin === "checkpoint") {
        expect(done.has(p.releasedNs)).toBe(true);
        if (!secondary.get(key)?.has(hex(p.payload))) mismatchedReleased++;
      }
      for (let i = 0; i + 1 < spans.length; i += 2) {
        const inside = p.releasedNs > spans[i] && p.releasedNs < spans[i + 1];
        expect(inside).toBe(false);
      }
    }
    expect(mismatchedReleased).toBeGreaterThan(0);
    expect(r.packets.outOfOrder).toBe(0);
    for (const seqs of seqsPerConnection(r).values()) expect(seqs).toEqual(seqs.map((_, i) => i));
  });
});

describe("triggers", () => {
  it("timeout: a primary packet whose counterpart is later than compareTimeout forces a checkpoint", async () => {
    const { r } = await traced({ durationMs: 100, compareTimeoutMs: 0.05, packetsPerSec: 200 });
    expect(r.outputs.timedOut).toBeGreaterThan(5);
    expect(r.checkpoints.timeout).toBe(r.outputs.timedOut);
    expect(r.outputs.mismatched).toBe(0);
    const relaxed = await traced({ durationMs: 100, packetsPerSec: 200 });
    expect(relaxed.r.outputs.timedOut).toBe(0);
    expect(relaxed.r.checkpoints.total).toBe(0);
  });

  it("queue full: a slow link lets a connection's queue reach maxQueuePackets", async () => {
    const { r } = await traced({ durationMs: 200, maxQueuePackets: 3, connections: 1, link: { latencyNs: 20e6 }, packetsPerSec: 1000 });
    expect(r.outputs.queueFull).toBeGreaterThan(0);
    expect(r.checkpoints.queueFull).toBe(r.outputs.queueFull);
    expect(r.outputs.mismatched).toBe(0);
    expect(r.packets.outOfOrder).toBe(0);
  });

  it("periodic: divergence that produces no output is repaired every checkpointDelay", async () => {
    const { r, primary } = await traced({ durationMs: 1000, packetsPerSec: 0, nondeterminismPerSec: 40, checkpointDelayMs: 100 });
    expect(r.outputs.compared).toBe(0);
    expect(r.checkpoints.periodic).toBe(9);
    expect(r.checkpoints.total).toBe(9);
    expect(r.divergedPages).toBeGreaterThan(0);
    expect(r.resyncRecords.every((x) => x.verified === true)).toBe(true);
    expect(r.endDivergedPages).toBeGreaterThan(0);
    expect(firstDifference(primary, r.secondaryVm)).toBeGreaterThanOrEqual(0);
  });
});

describe("resync", () => {
  it("sends only the dirty pages after the first full one, re-dirtied ones as deltas, and verifies every resync", async () => {
    const { r } = await traced({ durationMs: 500, nondeterminismPerSec: 30 });
    const later = r.resyncRecords.filter((x) => x.cause !== "initial");
    expect(later.length).toBeGreaterThan(3);
    expect(r.resyncRecords[0].full).toBe(true);
    expect(later.every((x) => !x.full && x.dirtyPages < 512)).toBe(true);
    expect(later.reduce((n, x) => n + x.deltaPages, 0)).toBeGreaterThan(0);
    expect(r.resyncsVerified).toBe(r.resyncRecords.length);
  });

  it("a damaged stream leaves the secondary untouched with ERR_STREAM_CORRUPT; output stays held until a new stream succeeds", async () => {
    const before = new Map<number, Uint8Array>();
    const after = new Map<number, Uint8Array>();
    const { r, events } = await traced({ durationMs: 300, checkpointDelayMs: 100, damageResyncs: [1, 2] });
    for (const e of events) {
      if (e.type !== "resync") continue;
      if (e.phase === "start") before.set(e.attempt, e.secondary.readPages(0, e.secondary.pages));
      if (e.phase === "failed") after.set(e.attempt, e.secondary.readPages(0, e.secondary.pages));
    }
    expect(r.resyncErrors.map((x) => [x.attempt, x.code])).toEqual([[1, "ERR_STREAM_CORRUPT"], [2, "ERR_STREAM_CORRUPT"]]);
    for (const attempt of [1, 2]) expect(Buffer.compare(before.get(attempt)!, after.get(attempt)!)).toBe(0);
    const third = r.resyncRecords.find((x) => x.attempt === 3)!;
    expect(third.full).toBe(true);
    expect(third.verified).toBe(true);
    const startNs = events.find((e) => e.type === "resync" && e.attempt === 1 && e.phase === "start")!;
    const doneNs = events.find((e) => e.type === "resync" && e.attempt === 3 && e.phase === "done")!;
    const inside = r.released.filter((p) => p.releasedNs > (startNs as { atNs: number }).atNs && p.releasedNs < (doneNs as { atNs: number }).atNs);
    expect(inside).toEqual([]);
    expect(r.checkpoints.retries).toBe(2);
    expect(r.packets.outOfOrder).toBe(0);
  });

  it("the verification fails (ERR_LOCKSTEP_DIVERGED) when the secondary differs from the primary after its flush", async () => {
    const { r } = await traced({
      durationMs: 200, checkpointDelayMs: 100,
      onFlushed: (attempt, vm) => { if (attempt === 1) vm.write(4096 * 3, new Uint8Array([0xde, 0xad])); },
    });
    const broken = r.resyncRecords.find((x) => x.attempt === 1)!;
    expect(broken.verified).toBe(false);
    expect(broken.error?.code).toBe("ERR_LOCKSTEP_DIVERGED");
    expect(broken.error?.message).toMatch(/after resync 1 the secondary \(vm \d+\) has digest 0x[0-9a-f]{16}, the primary had 0x[0-9a-f]{16}/);
    expect(r.resyncRecords.find((x) => x.attempt === 0)!.verified).toBe(true);
  });
});

describe("failover during a resync", () => {
  it("drops the uncommitted checkpoint and the held packets; the secondary releases its own versions, once and in order", async () => {
    const probe = await traced({ durationMs: 300, nondeterminismPerSec: 60 });
    const start = probe.events.find((e) => e.type === "resync" && e.phase === "start" && e.cause === "mismatch") as { atNs: number };
    const protectedFromNs = probe.events.find((e) => e.type === "resync" && e.phase === "done")!;
    const failAtMs = (start.atNs - (protectedFromNs as { atNs: number }).atNs) / 1e6 + 0.001;
    const { r } = await traced({ durationMs: 300, nondeterminismPerSec: 60, failAtMs });
    expect(r.failover?.resyncInterrupted).toBe(true);
    expect(r.failover?.heldDropped).toBeGreaterThan(0);
    expect(r.failover?.failoverTimeMs).toBeGreaterThanOrEqual(90);
    expect(r.failover?.failoverTimeMs).toBeLessThanOrEqual(100);
    expect(r.packets.outOfOrder).toBe(0);
    for (const seqs of seqsPerConnection(r).values()) expect(seqs).toEqual(seqs.map((_, i) => i));
  });
});
