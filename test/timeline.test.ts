// The clocks (src/sim): what this file proves.
// - Timeline: events fire in time order, ties in scheduling order; cancel;
//   runUntil / advance / runUntilIdle; processes run in quanta of at most
//   quantumNs that sum exactly to the time advanced, split at event times;
//   advancing from inside a process or an event, and bad arguments, are
//   typed errors.
// - Several VMs on one host, each with its own workload kind and seed,
//   interleave on one Timeline deterministically: each issues exactly
//   rate × time accesses, their slices alternate A, B, C, A, B, C..., two
//   fresh runs give byte-identical guests, each guest equals the same guest
//   run alone, and a paused VM skips its turns.
// - WallClock: settle() runs attached processes for the real time elapsed;
//   schedule / cancel are timers.
// - SimulatedLink: transmit costs bytes / rate (or minNs), the cap and
//   unlimit(), endPeriod's measured rate, propagate(trips); MeasuredLink
//   with a cap waits so the rate holds.
import { describe, expect, it, vi } from "vitest";
import {
  createHost, guestDigest, MeasuredLink, SimulatedLink, Timeline, WallClock,
  type TimelineProcess, type Vm, type WorkloadOptions,
} from "../src/index.js";
import { thrownCode } from "./helpers.js";

const MS = 1e6;

/** A process that records the slice durations it was given, and the time it saw when given each. */
function recorder(timeline?: Timeline): TimelineProcess & { slices: number[]; seenAtNs: number[] } {
  const slices: number[] = [];
  const seenAtNs: number[] = [];
  return {
    slices,
    seenAtNs,
    advance(durationNs: number) {
      slices.push(durationNs);
      if (timeline) seenAtNs.push(timeline.nowNs);
    },
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe("Timeline events", () => {
  it("fire in time order, ties in the order they were scheduled, each at its own time", () => {
    const tl = new Timeline();
    const fired: string[] = [];
    const at = (name: string, t: number) => tl.schedule(t, () => fired.push(`${name}@${tl.nowNs}`));
    at("c", 30);
    at("a1", 10);
    at("b", 20);
    at("a2", 10);
    at("a3", 10);
    expect(tl.pendingEvents).toBe(5);
    tl.advance(25);
    expect(fired).toEqual(["a1@10", "a2@10", "a3@10", "b@20"]);
    expect(tl.nowNs).toBe(25);
    tl.advance(5);
    expect(fired).toEqual(["a1@10", "a2@10", "a3@10", "b@20", "c@30"]);
    expect(tl.pendingEvents).toBe(0);
  });

  it("an event scheduled in the past fires at now, on the next advance (even of 0)", () => {
    const tl = new Timeline();
    tl.advance(100);
    const fired: number[] = [];
    tl.schedule(40, () => fired.push(tl.nowNs));
    expect(fired).toEqual([]);
    tl.advance(0);
    expect(fired).toEqual([100]);
  });

  it("cancel removes exactly that event, idempotently", () => {
    const tl = new Timeline();
    const fired: string[] = [];
    tl.schedule(10, () => fired.push("keep1"));
    const cancel = tl.schedule(10, () => fired.push("gone"));
    tl.schedule(10, () => fired.push("keep2"));
    cancel();
    cancel();
    expect(tl.pendingEvents).toBe(2);
    tl.advance(10);
    expect(fired).toEqual(["keep1", "keep2"]);
    cancel();
    expect(tl.pendingEvents).toBe(0);
  });

  it("runUntil advances to a time and does nothing for a time passed", () => {
    const tl = new Timeline();
    const p = recorder();
    tl.attach(p);
    tl.runUntil(7 * MS);
    expect(tl.nowNs).toBe(7 * MS);
    tl.runUntil(3 * MS);
    expect(tl.nowNs).toBe(7 * MS);
    expect(sum(p.slices)).toBe(7 * MS);
  });

  it("runUntilIdle fires events scheduled by events, runs processes meanwhile, and returns the time reached", () => {
    const tl = new Timeline();
    const p = recorder();
    tl.attach(p);
    const fired: number[] = [];
    tl.schedule(2 * MS, () => {
      fired.push(tl.nowNs);
      tl.schedule(tl.nowNs + 3.5 * MS, () => fired.push(tl.nowNs));
    });
    expect(tl.runUntilIdle()).toBe(5.5 * MS);
    expect(fired).toEqual([2 * MS, 5.5 * MS]);
    expect(sum(p.slices)).toBe(5.5 * MS);
    expect(tl.runUntilIdle()).toBe(5.5 * MS);
  });
});

describe("Timeline quanta", () => {
  it("a process gets slices of at most quantumNs summing exactly to the time advanced", () => {
    const tl = new Timeline({ quantumNs: 1 * MS });
    const p = recorder(tl);
    tl.attach(p);
    tl.advance(3.25 * MS);
    expect(p.slices).toEqual([MS, MS, MS, 0.25 * MS]);
    tl.advance(0.5 * MS);
    expect(p.slices.slice(4)).toEqual([0.5 * MS]);
    expect(sum(p.slices)).toBe(3.75 * MS);
    expect(tl.nowNs).toBe(3.75 * MS);
  });

  it("within a quantum every process runs in attach order, and time moves after the quantum", () => {
    const tl = new Timeline({ quantumNs: 2 * MS });
    const order: string[] = [];
    const named = (name: string): TimelineProcess => ({ advance: (ns) => order.push(`${name}:${ns / MS}@${tl.nowNs / MS}`) });
    tl.attach(named("A"));
    const detachB = tl.attach(named("B"));
    tl.attach(named("C"));
    tl.advance(5 * MS);
    expect(order).toEqual(["A:2@0", "B:2@0", "C:2@0", "A:2@2", "B:2@2", "C:2@2", "A:1@4", "B:1@4", "C:1@4"]);
    detachB();
    detachB();
    order.length = 0;
    tl.advance(1 * MS);
    expect(order).toEqual(["A:1@5", "C:1@5"]);
  });

  it("an event splits an advance: processes get exactly the time up to it, then the rest", () => {
    const tl = new Timeline({ quantumNs: 1 * MS });
    const p = recorder();
    tl.attach(p);
    let givenAtEvent = -1;
    tl.schedule(1.5 * MS, () => { givenAtEvent = sum(p.slices); });
    tl.advance(3 * MS);
    expect(givenAtEvent).toBe(1.5 * MS);
    expect(p.slices).toEqual([MS, 0.5 * MS, MS, 0.5 * MS]);
  });

  it("advancing from inside a process or an event is a typed error, and the timeline stays usable", () => {
    const tl = new Timeline();
    const inner = tl.attach({ advance: () => tl.advance(1) });
    expect(() => tl.advance(MS)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringMatching(/already advancing/) }));
    inner();
    tl.schedule(tl.nowNs + 10, () => tl.runUntil(tl.nowNs + 100));
    expect(() => tl.advance(20)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringMatching(/already advancing/) }));
    const before = tl.nowNs;
    tl.advance(5);
    expect(tl.nowNs).toBe(before + 5);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, "1"])("quantumNs %s is a typed error naming it", (q) => {
    expect(() => new Timeline({ quantumNs: q as number })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringContaining(String(q)) }));
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, "5"])("advance(%s) is a typed error naming it, and time does not move", (d) => {
    const tl = new Timeline();
    tl.advance(10);
    expect(() => tl.advance(d as number)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringContaining(String(d)) }));
    expect(tl.nowNs).toBe(10);
  });

  it.each([Number.NaN, "7", undefined])("schedule(%s) is a typed error", (t) => {
    const tl = new Timeline();
    expect(thrownCode(() => tl.schedule(t as number, () => {}))).toBe("ERR_BAD_OPTION");
    expect(tl.pendingEvents).toBe(0);
  });
});

const RATES = { A: 50_000, B: 30_000, C: 70_000 } as const;
type Name = keyof typeof RATES;
const NAMES: readonly Name[] = ["A", "B", "C"];

/** Each VM's workload: a different kind and seed, and its own rate (accesses per simulated second). */
const WORKLOADS: Record<Name, WorkloadOptions> = {
  A: { kind: "uniform", ratePerSec: RATES.A, writeFraction: 0.5, writeBytes: 64, seed: 11 },
  B: { kind: "zipf", s: 1.2, ratePerSec: RATES.B, writeFraction: 0.7, writeBytes: 128, seed: 22 },
  C: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9, ratePerSec: RATES.C, writeFraction: 0.4, writeBytes: 256, seed: 33 },
};
const GUEST_PAGES = 512;

/** The three VMs on one host; `between(name)` is attached right after each VM's workload. */
function threeOnOneHost(between?: (name: Name, vms: readonly Vm[]) => TimelineProcess): { timeline: Timeline; vms: Vm[] } {
  const host = createHost({ memoryMiB: 32 });
  const timeline = new Timeline({ quantumNs: MS });
  const vms = NAMES.map(() => host.createVm({ pages: GUEST_PAGES }));
  NAMES.forEach((name, i) => {
    vms[i].startWorkload(WORKLOADS[name]).attach(timeline);
    if (between) timeline.attach(between(name, vms));
  });
  return { timeline, vms };
}

/** One VM alone on its own host and timeline, run for `durationNs`. */
function alone(name: Name, durationNs: number): Vm {
  const host = createHost({ memoryMiB: 16 });
  const timeline = new Timeline({ quantumNs: MS });
  const vm = host.createVm({ pages: GUEST_PAGES });
  vm.startWorkload(WORKLOADS[name]).attach(timeline);
  timeline.advance(durationNs);
  return vm;
}

const memoryOf = (vm: Vm): Buffer => Buffer.from(vm.read(0, vm.memoryBytes));
/** Accesses a VM of `name` issues in `ms` of simulated time. */
const accessesIn = (name: Name, ms: number): number => (RATES[name] * ms) / 1000;

describe("three VMs on one timeline", () => {
  it("(a) each issues exactly rate × 20 ms accesses, and touched its memory", () => {
    const { timeline, vms } = threeOnOneHost();
    timeline.advance(20 * MS);
    NAMES.forEach((name, i) => {
      expect(vms[i].counters.accesses, name).toBe(accessesIn(name, 20));
      expect(vms[i].counters.writes, name).toBeGreaterThan(accessesIn(name, 20) * 0.2);
      expect(vms[i].harvestDirty().count(), name).toBeGreaterThan(0);
    });
  });

  it("(b) their slices interleave A, B, C, A, B, C..., one quantum each", () => {
    // A logger attached after each workload records every VM's count at that point of the quantum.
    const rows: string[] = [];
    const { timeline } = threeOnOneHost((name, vms) => ({
      advance: () => { rows.push(`${name}:${vms.map((v) => v.counters.accesses).join(",")}`); },
    }));
    timeline.advance(20 * MS);
    const expected: string[] = [];
    for (let k = 1; k <= 20; k++) {
      const [a, b, c] = NAMES.map((n) => accessesIn(n, k));
      const [b0, c0] = [accessesIn("B", k - 1), accessesIn("C", k - 1)];
      expected.push(`A:${a},${b0},${c0}`, `B:${a},${b},${c0}`, `C:${a},${b},${c}`);
    }
    expect(rows).toEqual(expected);
  });

  it("(c) is deterministic: two fresh runs give byte-identical guests", () => {
    const run = (): { digests: bigint[]; memory: Buffer[] } => {
      const { timeline, vms } = threeOnOneHost();
      timeline.advance(20 * MS);
      return { digests: vms.map((vm) => guestDigest(vm).digest), memory: vms.map(memoryOf) };
    };
    const first = run();
    const second = run();
    const untouched = guestDigest(createHost({ memoryMiB: 1 }).createVm({ pages: GUEST_PAGES })).digest;
    expect(second.digests).toEqual(first.digests);
    expect(new Set(first.digests).size).toBe(3);
    expect(first.digests).not.toContain(untouched);
    first.memory.forEach((bytes, i) => expect(Buffer.compare(bytes, second.memory[i]), NAMES[i]).toBe(0));
  });

  it("(d) interleaving does not change a VM's own result: each equals the same VM run alone", () => {
    const { timeline, vms } = threeOnOneHost();
    timeline.advance(20 * MS);
    NAMES.forEach((name, i) => {
      const solo = alone(name, 20 * MS);
      expect(vms[i].counters, name).toEqual(solo.counters);
      expect(guestDigest(vms[i]).digest, name).toBe(guestDigest(solo).digest);
      expect(Buffer.compare(memoryOf(vms[i]), memoryOf(solo)), name).toBe(0);
    });
  });

  it("(e) a paused VM skips its turns: its workload issues nothing and its memory stays as it was", () => {
    const { timeline, vms } = threeOnOneHost();
    const [a, b, c] = vms;
    timeline.advance(10 * MS);
    b.pause();
    const bytesB = memoryOf(b);
    const digestB = guestDigest(b).digest;
    timeline.advance(5 * MS);
    expect([a.counters.accesses, b.counters.accesses, c.counters.accesses]).toEqual([accessesIn("A", 15), accessesIn("B", 10), accessesIn("C", 15)]);
    expect(guestDigest(b).digest).toBe(digestB);
    expect(Buffer.compare(memoryOf(b), bytesB)).toBe(0);
    b.resume();
    timeline.advance(5 * MS);
    expect([a.counters.accesses, b.counters.accesses, c.counters.accesses]).toEqual([accessesIn("A", 20), accessesIn("B", 15), accessesIn("C", 20)]);
  });
});

describe("WallClock", () => {
  it("settle runs attached processes for the real time since the last settle (not the time before attach)", async () => {
    const clock = new WallClock();
    const busyUntil = performance.now() + 20;
    while (performance.now() < busyUntil);
    const p = recorder();
    clock.attach(p);
    clock.settle();
    expect(sum(p.slices)).toBeLessThan(15 * MS);
    const given = sum(p.slices);
    await new Promise((resolve) => setTimeout(resolve, 30));
    clock.settle();
    expect(sum(p.slices) - given).toBeGreaterThanOrEqual(25 * MS);
    expect(sum(p.slices) - given).toBeLessThanOrEqual(200 * MS);
    expect(p.slices.every((ns) => ns > 0)).toBe(true);
  });

  it("sleep waits for real and settles; a detached process gets nothing more", async () => {
    const clock = new WallClock();
    const p = recorder();
    const detach = clock.attach(p);
    const start = clock.nowNs;
    await clock.sleep(30 * MS);
    expect(clock.nowNs - start).toBeGreaterThanOrEqual(25 * MS);
    expect(sum(p.slices)).toBeGreaterThanOrEqual(25 * MS);
    expect(sum(p.slices)).toBeLessThanOrEqual(200 * MS);
    detach();
    const given = p.slices.length;
    await clock.sleep(5 * MS);
    expect(p.slices.length).toBe(given);
  });

  it("schedule fires at its time; a cancelled event never fires; a bad time is a typed error", async () => {
    const clock = new WallClock();
    const fired: string[] = [];
    let firedAtNs = 0;
    clock.schedule(clock.nowNs + 20 * MS, () => { fired.push("kept"); firedAtNs = clock.nowNs; });
    const cancel = clock.schedule(clock.nowNs + 10 * MS, () => fired.push("cancelled"));
    cancel();
    cancel();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fired).toEqual(["kept"]);
    expect(firedAtNs).toBeGreaterThanOrEqual(18 * MS);
    expect(thrownCode(() => clock.schedule(Number.NaN, () => {}))).toBe("ERR_BAD_OPTION");
  });
});

describe("WallClock steal time", () => {
  /** A process whose simulation costs `costFactor` times the time it is given (busy-waits). */
  const costly = (costFactor: number): TimelineProcess & { givenNs: number } => ({
    givenNs: 0,
    advance(ns: number) {
      this.givenNs += ns;
      const until = performance.now() + (ns * costFactor) / 1e6;
      while (performance.now() < until);
    },
  });

  it("a guest that costs twice real time gets its share of the wall time; the rest is steal", async () => {
    const clock = new WallClock({ guestCpuShare: 0.5 });
    const p = costly(2);
    clock.attach(p);
    const until = performance.now() + 300;
    while (performance.now() < until) await clock.sleep(2 * MS);
    const { grantedNs, stolenNs, busyNs } = clock.steal;
    expect(grantedNs).toBe(p.givenNs);
    expect(stolenNs).toBeGreaterThan(0);
    const attachedNs = grantedNs + stolenNs;
    expect(busyNs / attachedNs).toBeGreaterThan(0.3);
    // At most its share, plus what the one slice that crossed it cost.
    expect(busyNs).toBeLessThanOrEqual(0.5 * attachedNs + 2 * 60 * MS);
  });

  it("a cheap guest is given all the time; one settle gives at most maxSliceNs", async () => {
    const cheap = new WallClock({ maxSliceNs: 10 * MS });
    const p = recorder();
    cheap.attach(p);
    await new Promise((resolve) => setTimeout(resolve, 40));
    cheap.settle();
    expect(p.slices.at(-1)).toBe(10 * MS);
    expect(cheap.steal.stolenNs).toBeGreaterThanOrEqual(25 * MS);
    const generous = new WallClock({ maxSliceNs: 10e9 });
    const q = recorder();
    generous.attach(q);
    for (let i = 0; i < 5; i++) await generous.sleep(5 * MS);
    expect(generous.steal.stolenNs).toBe(0);
    expect(sum(q.slices)).toBe(generous.steal.grantedNs);
  });

  it("a share outside (0, 1] or a slice that is not a positive number is a typed error naming it", () => {
    for (const guestCpuShare of [0, -0.5, 1.5, Number.NaN]) {
      expect(() => new WallClock({ guestCpuShare })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", details: { option: "guestCpuShare", value: guestCpuShare } }));
    }
    for (const maxSliceNs of [0, -1, Number.POSITIVE_INFINITY]) {
      expect(() => new WallClock({ maxSliceNs })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", details: { option: "maxSliceNs", value: maxSliceNs } }));
    }
  });
});

describe("SimulatedLink", () => {
  const model = { bandwidthBytesPerSec: 1e9, latencyNs: 50_000, maxBandwidthBytesPerSec: null };

  it("transmit lets bytes / rate pass (or minNs when longer), with the guests running meanwhile", async () => {
    const tl = new Timeline();
    const p = recorder();
    tl.attach(p);
    const link = new SimulatedLink(tl, model);
    await link.transmit(4_000_000);
    expect(tl.nowNs).toBeCloseTo(4 * MS, 3);
    await link.transmit(1000, 2 * MS);
    expect(tl.nowNs).toBeCloseTo(6 * MS, 3);
    await link.transmit(3_000_000, 1 * MS);
    expect(tl.nowNs).toBeCloseTo(9 * MS, 3);
    expect(link.bytesSent).toBe(7_001_000);
    expect(sum(p.slices)).toBeCloseTo(tl.nowNs, 3);
  });

  it("the cap limits the rate until unlimit()", async () => {
    const tl = new Timeline();
    const link = new SimulatedLink(tl, { ...model, maxBandwidthBytesPerSec: 1e8 });
    expect(link.effectiveRate).toBe(1e8);
    await link.transmit(1_000_000);
    expect(tl.nowNs).toBeCloseTo(10 * MS, 3);
    link.unlimit();
    expect(link.effectiveRate).toBe(1e9);
    await link.transmit(1_000_000);
    expect(tl.nowNs).toBeCloseTo(11 * MS, 3);
    const above = new SimulatedLink(new Timeline(), { ...model, maxBandwidthBytesPerSec: 5e9 });
    expect(above.effectiveRate).toBe(1e9);
  });

  it("endPeriod measures the rate of the period; a period with nothing sent keeps the last one", async () => {
    const tl = new Timeline();
    const link = new SimulatedLink(tl, model);
    expect(link.bandwidthBytesPerSec).toBe(1e9);
    await link.transmit(1_000_000, 4 * MS);
    expect(link.endPeriod()).toBeCloseTo(2.5e8, 0);
    expect(link.bandwidthBytesPerSec).toBeCloseTo(2.5e8, 0);
    tl.advance(3 * MS);
    await link.transmit(500_000);
    expect(link.endPeriod()).toBeCloseTo(500_000 / 3.5e-3, 0);
    tl.advance(MS);
    expect(link.endPeriod()).toBeCloseTo(500_000 / 3.5e-3, 0);
  });

  it("propagate(trips) lets trips × latency pass", async () => {
    const tl = new Timeline();
    const link = new SimulatedLink(tl, model);
    await link.propagate(2);
    expect(tl.nowNs).toBe(100_000);
    await link.propagate(1);
    expect(tl.nowNs).toBe(150_000);
    expect(link.latencyNs).toBe(50_000);
  });
});

describe("MeasuredLink", () => {
  it("with a cap, waits until the bytes sent so far fit the rate; unlimit() stops the waiting", async () => {
    const clock = new WallClock();
    const p = recorder();
    clock.attach(p);
    const link = new MeasuredLink(clock, 1e6);
    const start = clock.nowNs;
    await link.transmit(20_000);
    expect(clock.nowNs - start).toBeLessThan(15 * MS);
    await link.transmit(10_000);
    await link.transmit(10_000);
    // 30 000 bytes were on the link before the last transmit: at 1 MB/s, 30 ms must have passed.
    expect(clock.nowNs - start).toBeGreaterThanOrEqual(28 * MS);
    expect(link.bytesSent).toBe(40_000);
    const rate = link.endPeriod();
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(40_000 / 28e-3);
    expect(sum(p.slices)).toBeGreaterThanOrEqual(28 * MS);
    link.unlimit();
    const before = clock.nowNs;
    await link.transmit(1_000_000);
    await link.transmit(1);
    // Capped, the second would have waited until 1.04 s after the start.
    expect(clock.nowNs - before).toBeLessThan(200 * MS);
  });
});

describe("bad arguments the clocks and links accept today", () => {
  it.each([Number.NaN, "5"])("Timeline.runUntil(%s) is a typed error naming it", (target) => {
    const tl = new Timeline();
    tl.advance(10);
    expect(() => tl.runUntil(target as number)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringContaining(String(target)) }));
    expect(tl.nowNs).toBe(10);
  });

  it.each([-100, Number.NaN, Number.POSITIVE_INFINITY])("SimulatedLink.transmit(%s) is a typed error naming it, the meter and the clock unchanged", async (bytes) => {
    const tl = new Timeline();
    const link = new SimulatedLink(tl, { bandwidthBytesPerSec: 1e9, latencyNs: 10, maxBandwidthBytesPerSec: null });
    await link.transmit(1000);
    await expect(link.transmit(bytes)).rejects.toMatchObject({ code: "ERR_BAD_OPTION", message: expect.stringContaining(String(bytes)) });
    expect(link.bytesSent).toBe(1000);
    expect(tl.nowNs).toBe(1000);
  });
});

// Behaviour a mutation run of src/sim found untested (docs/contributing.md, "Mutation scores").
describe("the clocks' edges", () => {
  it("detaching the first process attached leaves the others running, and a second detach removes nothing", () => {
    const tl = new Timeline({ quantumNs: MS });
    const a = recorder();
    const b = recorder();
    const detachA = tl.attach(a);
    tl.attach(b);
    detachA();
    detachA();
    tl.advance(2 * MS);
    expect(a.slices).toEqual([]);
    expect(b.slices).toEqual([MS, MS]);
  });

  it("Timeline.sleep lets the time pass like advance (processes run, events fire); settle changes nothing", async () => {
    const tl = new Timeline({ quantumNs: MS });
    const p = recorder();
    tl.attach(p);
    const fired: number[] = [];
    tl.schedule(1.5 * MS, () => fired.push(tl.nowNs));
    await tl.sleep(2 * MS);
    expect([tl.nowNs, sum(p.slices), fired]).toEqual([2 * MS, 2 * MS, [1.5 * MS]]);
    tl.settle();
    expect([tl.nowNs, sum(p.slices)]).toEqual([2 * MS, 2 * MS]);
    expect([tl.kind, new WallClock().kind]).toEqual(["simulated", "wall"]);
  });

  it("runUntil(now) is no advance: an event due now waits for the next advance", () => {
    const tl = new Timeline();
    tl.advance(10);
    const fired: number[] = [];
    tl.schedule(10, () => fired.push(tl.nowNs));
    tl.runUntil(10);
    expect(fired).toEqual([]);
    tl.advance(0);
    expect(fired).toEqual([10]);
  });

  it("the clocks' typed errors carry the option and the value", () => {
    const tl = new Timeline();
    const details = (fn: () => unknown): unknown => {
      try { fn(); } catch (err) { return { code: (err as { code: string }).code, message: (err as Error).message, details: (err as { details: unknown }).details }; }
      return "none";
    };
    expect(details(() => new Timeline({ quantumNs: -2 }))).toEqual({ code: "ERR_BAD_OPTION", message: "quantumNs must be a positive number of ns, got -2", details: { option: "quantumNs", value: -2 } });
    expect(details(() => tl.schedule(Number.NaN, () => {}))).toEqual({ code: "ERR_BAD_OPTION", message: "an event time must be a number of ns, got NaN", details: { option: "atNs", value: Number.NaN } });
    expect(details(() => tl.advance(-3))).toEqual({ code: "ERR_BAD_OPTION", message: "a timeline advances by a finite number of ns >= 0, got -3", details: { option: "durationNs", value: -3 } });
    expect(details(() => tl.runUntil(Number.NaN))).toEqual({ code: "ERR_BAD_OPTION", message: "runUntil takes a time in ns, got NaN", details: { option: "targetNs", value: Number.NaN } });
    expect(details(() => new WallClock().schedule("9" as unknown as number, () => {}))).toEqual({ code: "ERR_BAD_OPTION", message: "an event time must be a number of ns, got 9", details: { option: "atNs", value: "9" } });
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, "2"])("SimulatedLink.transmit(bytes, minNs %s) is a typed error naming minNs; nothing is metered", async (minNs) => {
    const tl = new Timeline();
    const link = new SimulatedLink(tl, { bandwidthBytesPerSec: 1e9, latencyNs: 10, maxBandwidthBytesPerSec: null });
    await expect(link.transmit(100, minNs as number)).rejects.toMatchObject({
      code: "ERR_BAD_OPTION", message: `minNs must be a finite number of ns >= 0, got ${String(minNs)}`, details: { option: "minNs", value: minNs },
    });
    await expect(link.transmit("5" as unknown as number)).rejects.toMatchObject({
      code: "ERR_BAD_OPTION", message: "a link transmits a finite number of bytes >= 0, got 5", details: { option: "bytes", value: "5" },
    });
    expect([link.bytesSent, tl.nowNs]).toEqual([0, 0]);
    await link.transmit(0, 0);
    expect([link.bytesSent, tl.nowNs]).toEqual([0, 0]);
  });

  it("MeasuredLink: 0 before anything is sent, then the rate so far until a 100 ms window closes, then that window's rate", async () => {
    const clock = new WallClock();
    const link = new MeasuredLink(clock, null);
    expect(link.bandwidthBytesPerSec).toBe(0);
    expect(link.latencyNs).toBe(0);
    const start = clock.nowNs;
    const busyUntil = performance.now() + 20;
    while (performance.now() < busyUntil);
    await link.transmit(1_000_000);
    const soFar = link.bandwidthBytesPerSec;
    // Bytes over the time since the link was made: at least 20 ms ago, so at most 50 MB/s, and not the window's yet.
    expect(soFar).toBeGreaterThan(0);
    expect(soFar).toBeLessThanOrEqual(1_000_000 / 19e-3);
    // Still the rate so far: it falls as time passes with nothing sent.
    const atEnd = link.endPeriod();
    expect(atEnd).toBeGreaterThan(0);
    expect(atEnd).toBeLessThanOrEqual(soFar);
    while (clock.nowNs - start < 110 * MS) await new Promise((resolve) => setTimeout(resolve, 10));
    await link.transmit(500_000);
    const windowRate = link.bandwidthBytesPerSec;
    const elapsedNs = clock.nowNs - start;
    // The window closed at this transmit: 1.5 MB over its 110+ ms.
    expect(windowRate).toBeLessThanOrEqual(1_500_000 / 0.109);
    expect(windowRate).toBeGreaterThanOrEqual((1_500_000 * 1e9) / (elapsedNs + 1e6));
    await link.transmit(10);
    expect(link.bandwidthBytesPerSec).toBe(windowRate);
    expect(link.bytesSent).toBe(1_500_010);
  });

  it("MeasuredLink: a transmit and a propagate bring the clock's processes up to now", async () => {
    const clock = new WallClock();
    const link = new MeasuredLink(clock, null);
    const p = recorder();
    clock.attach(p);
    let busyUntil = performance.now() + 20;
    while (performance.now() < busyUntil);
    await link.transmit(1000);
    expect(sum(p.slices)).toBeGreaterThanOrEqual(19 * MS);
    const given = sum(p.slices);
    busyUntil = performance.now() + 20;
    while (performance.now() < busyUntil);
    await link.propagate();
    expect(sum(p.slices) - given).toBeGreaterThanOrEqual(19 * MS);
  });
});

describe("the clocks' edges, continued", () => {
  it("runUntil from a later time advances by the difference", () => {
    const tl = new Timeline({ quantumNs: MS });
    const p = recorder();
    tl.attach(p);
    tl.advance(10 * MS);
    tl.runUntil(25 * MS);
    expect([tl.nowNs, sum(p.slices)]).toEqual([25 * MS, 25 * MS]);
  });

  it("WallClock: detaching one process twice leaves the others attached", async () => {
    const clock = new WallClock();
    const a = recorder();
    const b = recorder();
    const detachA = clock.attach(a);
    clock.attach(b);
    detachA();
    detachA();
    const given = a.slices.length;
    await clock.sleep(5 * MS);
    expect(a.slices.length).toBe(given);
    expect(sum(b.slices)).toBeGreaterThanOrEqual(4 * MS);
  });

  it("WallClock: an event fires after (its time - now), however long the clock has run", async () => {
    const clock = new WallClock();
    await new Promise((resolve) => setTimeout(resolve, 400));
    // The delay handed to the timer, not the time it took to fire (a loaded machine can hold a timer back for long).
    const delays: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return realSetTimeout(fn, ms);
    }) as typeof setTimeout);
    try {
      const scheduledAtNs = clock.nowNs;
      const fired = new Promise<void>((resolve) => { clock.schedule(scheduledAtNs + 5 * MS, resolve); });
      expect(delays).toHaveLength(1);
      // (its time - now): at most 5 ms; not (its time + now), which would be over 400 ms.
      expect(delays[0]).toBeGreaterThan(4);
      expect(delays[0]).toBeLessThanOrEqual(5);
      await fired;
    } finally {
      spy.mockRestore();
    }
  });

  it("MeasuredLink with a cap waits only until the bytes sent so far fit, counting the time already spent", async () => {
    const clock = new WallClock();
    const link = new MeasuredLink(clock, 1e6);
    await link.transmit(400_000);
    const busyUntil = performance.now() + 200;
    while (performance.now() < busyUntil);
    await link.transmit(1);
    // 400 kB at 1 MB/s: 400 ms from the clock's start, of which 200 ms had passed.
    expect(clock.nowNs).toBeGreaterThanOrEqual(395 * MS);
    expect(clock.nowNs).toBeLessThan(600 * MS);
  });

  it("SimulatedLink: a transmit too short to move the clock measures no rate (the model's stays), never an infinite one", async () => {
    // At 10^15 ns a double moves in steps of 1/8 ns: 1 byte at 10^15 B/s (10^-6 ns) leaves it where it is.
    const tl = new Timeline({ quantumNs: 1e15 });
    tl.advance(1e15);
    const link = new SimulatedLink(tl, { bandwidthBytesPerSec: 1e15, latencyNs: 0, maxBandwidthBytesPerSec: null });
    await link.transmit(1);
    expect(tl.nowNs).toBe(1e15);
    expect(link.endPeriod()).toBe(1e15);
    await link.transmit(1e6);
    expect(link.endPeriod()).toBeCloseTo(1e15, -3);
  });
});
