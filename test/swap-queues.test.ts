// The swap device's model and arbitration (src/swap/device.ts, queues.ts,
// device-sim.ts, figures.ts) against hand-computed timelines: service
// times and channels, strict priority against FIFO, the free-frame rule,
// promotion and cancellation of prefetches, queue depths, percentiles and
// histogram buckets; the presets against their data-sheet figures.
import { describe, expect, it } from "vitest";
import { DEVICE_PRESETS, latencyFigures, percentile, resolveDevice, SimulatedDevice, type DeviceModel, type QueueMode, type SwapRequest } from "../src/index.js";

/** 2 channels, 10 µs per read or write, depths demand 2, prefetch 1, write-back 1. */
const SMALL: DeviceModel = resolveDevice({ name: "small", parallelism: 2, readNs: 10_000, writeNs: 10_000, adjacentReadNs: 10_000, adjacentWriteNs: 10_000, queueDepth: { demand: 2, prefetch: 1, writeBack: 1 } });
const ONE: DeviceModel = resolveDevice({ name: "one", parallelism: 1, readNs: 10_000, writeNs: 10_000, adjacentReadNs: 10_000, adjacentWriteNs: 10_000 });

function device(model: DeviceModel, mode: QueueMode, framesLow = false): SimulatedDevice {
  return new SimulatedDevice(model, mode, 1e6, { completed: () => {}, framesLow: () => framesLow });
}

/** Runs the device to the end and returns the completion time of each request, µs. */
function doneUs(d: SimulatedDevice, ...rs: SwapRequest[]): number[] {
  d.advanceTo(1e9);
  return rs.map((r) => r.doneNs / 1e3);
}

describe("swap device model", () => {
  it("the presets follow from their data sheets (QD1 latency, peak IOPS, channels)", () => {
    const derive = (qd1Read: number, peakRead: number, qd1Write: number, peakWrite: number) => {
      const parallelism = Math.floor(peakRead / qd1Read);
      const round = (ns: number): number => Math.round(ns / 100) * 100;
      return { parallelism, readNs: round(Math.max(1e9 / qd1Read, parallelism * 1e9 / peakRead)), writeNs: round(Math.max(1e9 / qd1Write, parallelism * 1e9 / peakWrite)) };
    };
    expect(DEVICE_PRESETS.nvme).toMatchObject(derive(22_000, 1_000_000, 60_000, 1_000_000));
    expect(DEVICE_PRESETS["sata-ssd"]).toMatchObject(derive(13_000, 98_000, 36_000, 88_000));
    expect(DEVICE_PRESETS.hdd).toMatchObject({ parallelism: 1, readNs: 12.68e6, writeNs: 13.68e6 });
    expect(DEVICE_PRESETS.hdd.adjacentReadNs).toBeCloseTo(4096 / 220e6 * 1e9, -2);
    expect(DEVICE_PRESETS.nvme.queueDepth).toEqual({ demand: 45, prefetch: 12, writeBack: 23 });
  });

  it("one request costs its service time; an adjacent slot on the same channel costs the adjacent time", () => {
    const d = device(DEVICE_PRESETS.hdd, "priority");
    const a = d.submit("writeBack", 10, 0);
    const b = d.submit("writeBack", 11, 0);
    const c = d.submit("writeBack", 40, 0);
    expect(doneUs(d, a, b, c)).toEqual([13_680, 13_680 + 18.6, 13_680 + 18.6 + 13_680]);
  });

  it("serves `parallelism` requests at once", () => {
    const d = device(SMALL, "fifo");
    const rs = [1, 3, 5, 7, 9].map((slot) => d.submit("demand", slot, 0));
    expect(doneUs(d, ...rs)).toEqual([10, 10, 20, 20, 30]);
  });

  it("priority: a demand read passes queued write-backs (their depth keeps a channel free); fifo: it waits behind them", () => {
    const run = (mode: QueueMode): number[] => {
      const d = device(SMALL, mode);
      const writes = [0, 2, 4, 6, 8].map((slot) => d.submit("writeBack", slot, 0));
      const demand = d.submit("demand", 20, 0);
      return doneUs(d, demand, ...writes);
    };
    expect(run("priority")).toEqual([10, 10, 20, 30, 40, 50]);
    expect(run("fifo")).toEqual([30, 10, 10, 20, 20, 30]);
  });

  it("priority order is demand, prefetch, write-back; write-back first when free frames are low", () => {
    const order = (framesLow: boolean): number[] => {
      const d = device(ONE, "priority", framesLow);
      const busy = d.submit("prefetch", 0, 0);
      const w = d.submit("writeBack", 2, 0);
      const p = d.submit("prefetch", 4, 0);
      const dem = d.submit("demand", 6, 0);
      return doneUs(d, busy, dem, p, w);
    };
    expect(order(false)).toEqual([10, 20, 30, 40]);
    expect(order(true)).toEqual([10, 30, 40, 20]);
  });

  it("a promoted prefetch becomes a demand read: it passes the other prefetches, its latency counts from the promotion", () => {
    const d = device(ONE, "priority");
    const busy = d.submit("writeBack", 0, 0);
    const p1 = d.submit("prefetch", 2, 0);
    const p2 = d.submit("prefetch", 4, 0);
    d.promote(p2, 5_000);
    expect(p2).toMatchObject({ type: "demand", promoted: true, arrivalNs: 5_000 });
    expect(doneUs(d, busy, p2, p1)).toEqual([10, 20, 30]);
    expect(d.latenciesNs.demand).toEqual([15_000]);
    expect(d.latenciesNs.prefetch).toEqual([30_000]);
    expect(d.log.map((e) => [e.type, e.slot, e.dropped])).toEqual([["writeBack", 0, false], ["prefetch", 2, false], ["prefetch", 4, true], ["demand", 4, false]]);
  });

  it("fifo: a promoted prefetch keeps its place", () => {
    const d = device(ONE, "fifo");
    const busy = d.submit("writeBack", 0, 0);
    const p1 = d.submit("prefetch", 2, 0);
    const p2 = d.submit("prefetch", 4, 0);
    d.promote(p2, 0);
    expect(doneUs(d, busy, p1, p2)).toEqual([10, 20, 30]);
  });

  it("a queued prefetch can be cancelled (never served, dropped from the log); one at the device cannot", () => {
    const d = device(ONE, "priority");
    const started = d.submit("prefetch", 0, 0);
    const queued = d.submit("prefetch", 2, 0);
    expect(d.cancel(started)).toBe(false);
    expect(d.cancel(queued)).toBe(true);
    expect(d.pending("prefetch")).toBe(1);
    d.advanceTo(1e9);
    expect(queued.state).toBe("cancelled");
    expect(d.latenciesNs.prefetch).toEqual([10_000]);
    expect(d.log[1].dropped).toBe(true);
  });

  it("records the deepest queue per interval, and demand reads that arrive under a write-back burst", () => {
    const d = new SimulatedDevice(SMALL, "priority", 20_000, { completed: () => {}, framesLow: () => false });
    for (let i = 0; i < 6; i++) d.submit("writeBack", 2 * i, 0);
    const dem = d.submit("demand", 50, 0);
    d.advanceTo(100_000);
    d.finish();
    // Idle intervals are skipped: the series is sparse (each sample says when).
    expect(d.depthSamples.map((s) => [s.atNs, s.writeBack, s.demand])).toEqual([[0, 6, 1], [20_000, 5, 0], [40_000, 3, 0], [60_000, 1, 0], [100_000, 0, 0]]);
    expect(dem.doneNs).toBe(10_000);
    expect(d.demandUnderBurstNs).toEqual([10_000]);
  });
});

describe("swap figures", () => {
  it("nearest-rank percentiles and power-of-two histogram buckets", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => (i + 1) * 1000);
    expect(percentile(hundred, 0.5)).toBe(50_000);
    expect(percentile(hundred, 0.99)).toBe(99_000);
    expect(percentile(hundred, 0.999)).toBe(100_000);
    const f = latencyFigures([500, 1_500, 1_600, 3_000, 10_000]);
    expect(f).toMatchObject({ count: 5, p50Ns: 1_600, maxNs: 10_000, meanNs: 16_600 / 5 });
    expect(f.histogram).toEqual([{ upToNs: 1_000, count: 1 }, { upToNs: 2_000, count: 2 }, { upToNs: 4_000, count: 1 }, { upToNs: 8_000, count: 0 }, { upToNs: 16_000, count: 1 }]);
    expect(latencyFigures([])).toMatchObject({ count: 0, p99Ns: 0, histogram: [] });
  });
});
