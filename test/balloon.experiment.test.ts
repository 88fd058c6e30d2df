// The two experiments on small guests (16 MiB each, sampling every 10 s):
// Waldspurger's idle-memory tax (τ = 0: equal memory; τ = 75 %: memory moves
// to the active VM, by frames handed from one balloon to the other, and its
// guest page faults fall while its throughput rises) and the memory
// condition (the application that follows it loses no cache page to the
// balloon and does no guest paging; the one that sees free memory only does).
import { describe, expect, it } from "vitest";
import { conditionExperiment, idleTaxExperiment } from "../src/index.js";

const SMALL = { vmPages: 4096, durationNs: 60e9, samplePeriodNs: 10e9, reallocPeriodNs: 5e9 };

describe("the idle-tax experiment (Waldspurger OSDI'02 §5.3)", () => {
  it("gives equal memory with τ = 0 and moves memory to the active VM with τ = 75 %", () => {
    const [noTax, tax] = idleTaxExperiment(SMALL);
    expect(noTax.idleTax).toBe(0);
    expect(noTax.idle.actual).toBe(noTax.active.actual);
    expect(noTax.movedFrames).toBe(0);
    expect(tax.idleTax).toBe(0.75);
    expect(tax.active.actual).toBe(4096 * 4096);
    expect(tax.idle.actual).toBeLessThan(noTax.idle.actual * 0.75);
    expect(tax.movedFrames).toBeGreaterThan(1000);
    expect(tax.active.majorFaults).toBeLessThan(noTax.active.majorFaults / 2);
    expect(tax.active.throughputPerSec).toBeGreaterThan(noTax.active.throughputPerSec * 1.1);
  }, 120_000);
});

describe("the memory-condition experiment (seed T12)", () => {
  it("compares an application following the condition with one seeing free memory only, on the same run", () => {
    const [signal, free] = conditionExperiment(SMALL);
    expect(signal.policy).toBe("signal");
    expect(free.policy).toBe("free-memory");
    expect(signal.cache.lookups).toBe(free.cache.lookups);
    expect(signal.cache.notifications).toBeGreaterThan(0);
    expect(free.cache.notifications).toBe(0);
    expect(signal.cache.pagesTakenByBalloon).toBeLessThan(free.cache.pagesTakenByBalloon);
    expect(signal.majorFaults).toBeLessThan(free.majorFaults);
    expect(signal.cache.hitRate).toBeGreaterThan(0.5);
    expect(free.cache.hitRate).toBeGreaterThan(0.5);
  }, 120_000);
});
