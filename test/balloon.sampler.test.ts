// Working-set sampling (src/balloon/sampler.ts): with the guest touching a
// known set of pages each period, the sampled fraction t/n is a binomial
// draw around the true fraction: each period within 4.5 standard errors,
// the mean of many periods within 4.5 standard errors of the mean; the
// estimate is the largest of the slow and fast averages and the current
// value, so it rises at once and falls slowly; the true fraction is exact.
import { describe, expect, it } from "vitest";
import { createHost, WorkingSetSampler, type Vm } from "../src/index.js";

const PAGES = 4096;

function touch(vm: Vm, pfns: readonly number[]): void {
  vm.run(pfns.map((pfn) => ({ op: "read" as const, gpa: pfn * 4096 })));
}

describe("WorkingSetSampler", () => {
  it("converges to the true active fraction within its binomial error", () => {
    const vm = createHost({ memoryMiB: 32 }).createVm({ pages: PAGES });
    const n = 100;
    const f = 0.25;
    const active = Array.from({ length: PAGES * f }, (_, i) => (i * 7919) % PAGES);
    expect(new Set(active).size).toBe(PAGES * f);
    const sampler = new WorkingSetSampler(vm, { samplePages: n, fastGain: 0.5, slowGain: 0.125, seed: 42 });
    const sigma = Math.sqrt(f * (1 - f) / n);
    const currents: number[] = [];
    for (let period = 0; period < 200; period++) {
      touch(vm, active);
      const s = sampler.endPeriod();
      expect(s.trueFraction).toBe(f);
      expect(s.sampled).toBe(n);
      expect(Math.abs(s.current - f)).toBeLessThan(4.5 * sigma);
      currents.push(s.current);
    }
    const mean = currents.reduce((a, b) => a + b, 0) / currents.length;
    expect(Math.abs(mean - f)).toBeLessThan(4.5 * sigma / Math.sqrt(currents.length));
    // Samples differ from period to period (fresh pages each time), so the spread is binomial, not zero.
    const sd = Math.sqrt(currents.reduce((a, c) => a + (c - mean) ** 2, 0) / currents.length);
    expect(sd).toBeGreaterThan(sigma / 2);
    expect(sd).toBeLessThan(sigma * 2);
  });

  it("estimates max(slow, fast, current): up at once, down slowly", () => {
    const vm = createHost({ memoryMiB: 32 }).createVm({ pages: PAGES });
    const sampler = new WorkingSetSampler(vm, { samplePages: 200, fastGain: 0.5, slowGain: 0.125, seed: 7 });
    expect(sampler.estimate).toBe(1);
    const all = Array.from({ length: PAGES }, (_, i) => i);
    expect(sampler.endPeriod()).toMatchObject({ current: 0, estimate: 0, trueFraction: 0 });
    touch(vm, all);
    expect(sampler.endPeriod()).toMatchObject({ current: 1, estimate: 1, trueFraction: 1 });
    // Idle again: fast went 0 -> 0.5 -> 0.25, slow 0 -> 0.125 -> 0.109375.
    const idle = sampler.endPeriod();
    expect(idle.current).toBe(0);
    expect(idle.estimate).toBeCloseTo(0.25, 12);
    const later = sampler.endPeriod();
    expect(later.estimate).toBeCloseTo(Math.max(0.125, 0.125 * 0.875 * 0.875), 12);
  });

  it("does not count pages ballooned since the period began", () => {
    const vm = createHost({ memoryMiB: 32 }).createVm({ pages: PAGES });
    const sampler = new WorkingSetSampler(vm, { samplePages: PAGES, fastGain: 0.5, slowGain: 0.125, seed: 3 });
    const half = Array.from({ length: PAGES / 2 }, (_, i) => i);
    touch(vm, half);
    for (const pfn of half) vm.states.balloon(pfn);
    const s = sampler.endPeriod();
    expect(s.touched).toBe(0);
    expect(s.sampled).toBeLessThan(PAGES);
    expect(s.sampled).toBeGreaterThan(PAGES / 4);
  });
});
