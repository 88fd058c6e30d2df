// Proportional share with the idle-memory tax (src/balloon/allocation.ts):
// the closed form equals min-funding revocation page by page (the oracle,
// test/reference/overcommit.ts), reservations and limits always hold, the
// known cases come out as the formula says, and the scheduler's allocation,
// fed the true active fraction, is exactly the closed form's.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, createHost, idleCost, MemoryScheduler, sharesPerPage, Timeline } from "../src/index.js";
import { thrownError } from "./helpers.js";
import { revokeByLowestRho } from "./reference/overcommit.js";

const vmArb = fc.record({
  shares: fc.integer({ min: 1, max: 5000 }),
  activeFraction: fc.oneof(fc.constantFrom(0, 1, 0.5), fc.double({ min: 0, max: 1, noNaN: true })),
  minPages: fc.integer({ min: 0, max: 300 }),
  extra: fc.integer({ min: 0, max: 600 }),
}).map((v) => ({ shares: v.shares, activeFraction: v.activeFraction, minPages: v.minPages, maxPages: v.minPages + v.extra }));

describe("allocate: the closed form", () => {
  it("equals page-by-page revocation from the lowest ρ, and keeps every reservation and limit", () => {
    fc.assert(fc.property(fc.array(vmArb, { minLength: 1, maxLength: 6 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.5, 0.75, 0.9), (vms, share, tax) => {
      const min = vms.reduce((s, v) => s + v.minPages, 0);
      const max = vms.reduce((s, v) => s + v.maxPages, 0);
      const available = Math.floor(min + share * (max - min));
      const pages = allocate(vms, available, tax);
      expect(pages).toEqual(revokeByLowestRho(vms, available, tax));
      expect(pages.reduce((a, b) => a + b, 0)).toBe(Math.min(available, max));
      pages.forEach((p, i) => {
        expect(p).toBeGreaterThanOrEqual(vms[i].minPages);
        expect(p).toBeLessThanOrEqual(vms[i].maxPages);
      });
    }), { numRuns: 300 });
  });

  it("splits by shares alone with no tax, and gives an active VM k = 1/(1-τ) times an idle one's per share", () => {
    const vm = (shares: number, f: number) => ({ shares, activeFraction: f, minPages: 0, maxPages: 100_000 });
    expect(allocate([vm(1000, 0), vm(1000, 1)], 10_000, 0)).toEqual([5000, 5000]);
    expect(allocate([vm(1000, 0), vm(3000, 0)], 10_000, 0)).toEqual([2500, 7500]);
    // τ = 0.75: k = 4, an idle page costs four active ones: 2000 and 8000 pages.
    expect(allocate([vm(1000, 0), vm(1000, 1)], 10_000, 0.75)).toEqual([2000, 8000]);
    expect(idleCost(0, 0.75)).toBe(4);
    expect(idleCost(0.5, 0.75)).toBe(2.5);
    expect(sharesPerPage(1000, 2000, 0, 0.75)).toBe(0.125);
  });

  it("gives every VM its maximum when they fit, and refuses reservations above what is available (ERR_ADMISSION)", () => {
    expect(allocate([{ shares: 1, activeFraction: 0, minPages: 0, maxPages: 10 }, { shares: 9, activeFraction: 1, minPages: 0, maxPages: 20 }], 30, 0.75)).toEqual([10, 20]);
    const err = thrownError(() => allocate([{ shares: 1, activeFraction: 0, minPages: 600, maxPages: 700 }], 500, 0.75));
    expect(err).toMatchObject({ code: "ERR_ADMISSION", details: { reservedPages: 600, availablePages: 500 } });
  });
});

describe("the scheduler's targets", () => {
  it("equal the closed form exactly when the sampled f is replaced by the true f", () => {
    const host = createHost({ memoryMiB: 40 });
    const timeline = new Timeline();
    const s = new MemoryScheduler(host, timeline, { trueActiveFraction: true, samplePeriodNs: 5e9, reallocPeriodNs: 5e9, idleTax: 0.75 });
    const specs = [{ shares: 1000, pageCount: 512 }, { shares: 2000, pageCount: 3000 }, { shares: 500, pageCount: 0 }];
    const managed = specs.map((x, i) => s.manage(host.createVm({ pages: 4096 }), { shares: x.shares, reservationPages: i === 2 ? 1500 : 0, limitPages: i === 1 ? 3500 : 4096 }));
    specs.forEach((x, i) => { if (x.pageCount > 0) managed[i].vm.startWorkload({ kind: "sequential", ratePerSec: 20_000, pageCount: x.pageCount, writeBytes: 4096, seed: i }).attach(timeline); });
    s.start();
    timeline.advance(10.5e9);
    const inputs = managed.map((m) => ({ shares: m.options.shares, activeFraction: m.sampler.trueFraction, minPages: m.options.reservationPages, maxPages: m.options.limitPages }));
    expect(managed.map((m) => m.activeFraction)).toEqual(inputs.map((v) => v.activeFraction));
    expect(inputs[2].activeFraction).toBe(0);
    expect(inputs[0].activeFraction).toBeGreaterThan(0.1);
    s.reallocate();
    const expected = revokeByLowestRho(inputs, s.availablePages(), 0.75);
    expect(managed.map((m) => m.allocationPages)).toEqual(expected);
    expect(expected.reduce((a, b) => a + b, 0)).toBe(s.availablePages());
    expect(expected[2]).toBeGreaterThanOrEqual(1500);
    expect(expected[1]).toBeLessThanOrEqual(3500);
  });
});
