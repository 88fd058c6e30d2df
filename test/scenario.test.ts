// buildScenario (src/migration/scenario.ts): the hosts' default size, the
// prefill (which pages hold data, none left dirty), the memory errors it
// injects (how many, known first then latent, distinct prefilled pages
// chosen by mulberry32(seed ^ 0x5eed)), the workload it starts with the
// options given, and the typed errors for counts the prefill cannot hold.
import { describe, expect, it } from "vitest";
import { thrownError as thrown } from "./helpers.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordTrace } from "../src/index.js";
import { buildScenario } from "../src/migration/scenario.js";
import { mulberry32 } from "../src/sim/prng.js";

const PAGE = 4096;
const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** The pfns the scenario must pick: distinct draws of mulberry32(seed ^ 0x5eed) mod the prefilled pages. */
function chosenPfns(seed: number, prefilledPages: number, count: number): number[] {
  const rng = mulberry32(seed ^ 0x5eed);
  const out: number[] = [];
  while (out.length < count) {
    const pfn = rng() % prefilledPages;
    if (!out.includes(pfn)) out.push(pfn);
  }
  return out;
}

describe("buildScenario", () => {
  it("prefills the first share of the guest, leaves the rest untouched and nothing dirty; hosts sized guest prefill + extra + 256 MiB", () => {
    const s = buildScenario({ guestMiB: 4, prefill: 0.5, extraHostMiB: 3, workload: { kind: "uniform" }, ratePerSec: 1000, writeFraction: 0.25, seed: 9 });
    expect([s.source.memoryMiB, s.destination.memoryMiB]).toEqual([2 + 3 + 256, 2 + 3 + 256]);
    expect([s.vm.pages, s.prefilledPages]).toEqual([1024, 512]);
    expect(isZero(s.vm.read(0, PAGE))).toBe(false);
    expect(isZero(s.vm.read(511 * PAGE, PAGE))).toBe(false);
    expect(isZero(s.vm.read(512 * PAGE, 512 * PAGE))).toBe(true);
    expect(s.vm.harvestDirty().count()).toBe(0);
    expect(s.injected).toEqual([]);
    expect([s.workload.vm === s.vm, s.workload.ratePerSec]).toEqual([true, 1000]);
    expect(s.workload.generator.options).toMatchObject({ spec: { kind: "uniform" }, writeFraction: 0.25, seed: 9n });
  });

  it("the prefill is whole by default, a fractional guest size rounds the host up, and the default host is at most 4096 MiB", () => {
    const whole = buildScenario({ guestMiB: 2, workload: { kind: "uniform" }, ratePerSec: 1 });
    expect([whole.prefilledPages, whole.source.memoryMiB]).toEqual([512, 258]);
    expect(isZero(whole.vm.read(511 * PAGE, PAGE))).toBe(false);
    const none = buildScenario({ guestMiB: 3, prefill: 0.1, workload: { kind: "uniform" }, ratePerSec: 1 });
    // 0.3 MiB prefilled rounds up to 1 MiB of host.
    expect([none.prefilledPages, none.source.memoryMiB]).toEqual([Math.round(0.1 * 768), 257]);
    const capped = buildScenario({ guestMiB: 1, prefill: 0, extraHostMiB: 5000, workload: { kind: "uniform" }, ratePerSec: 1 });
    expect([capped.prefilledPages, capped.source.memoryMiB, capped.destination.memoryMiB]).toEqual([0, 4096, 4096]);
    expect(isZero(capped.vm.read(0, 256 * PAGE))).toBe(true);
    expect(buildScenario({ guestMiB: 1, hostMiB: 300, workload: { kind: "uniform" }, ratePerSec: 1 }).source.memoryMiB).toBe(300);
  });

  it("injects the known errors first, then the latent ones, into distinct prefilled pages drawn from the seed", () => {
    const s = buildScenario({ guestMiB: 1, prefill: 0.25, workload: { kind: "uniform" }, ratePerSec: 1, seed: 77, injectErrors: 3, latentErrors: 2 });
    expect(s.prefilledPages).toBe(64);
    expect(s.injected.map((e) => e.pfn)).toEqual(chosenPfns(77, 64, 5));
    expect(s.injected.map((e) => e.latent)).toEqual([false, false, false, true, true]);
    expect(s.injected.every((e) => e.vm === s.vm)).toBe(true);
    // The default seed is 1.
    const d = buildScenario({ guestMiB: 1, workload: { kind: "uniform" }, ratePerSec: 1, injectErrors: 2 });
    expect(d.injected.map((e) => e.pfn)).toEqual(chosenPfns(1, 256, 2));
    // Every prefilled page can take an error.
    const all = buildScenario({ guestMiB: 1, prefill: 16 / 256, workload: { kind: "uniform" }, ratePerSec: 1, injectErrors: 10, latentErrors: 6 });
    expect(all.injected.map((e) => e.pfn).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it("a trace replay takes its rate from the trace and none of the generator options given for other workloads", () => {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-scenario-"));
    const path = join(dir, "t.hmtr");
    try {
      recordTrace(path, { kind: "uniform", ratePerSec: 5000, seed: 2 }, 256, 100);
      const s = buildScenario({ guestMiB: 1, workload: { kind: "trace", path }, writeFraction: 0.5, writeBytes: 64, seed: 3 });
      expect([s.workload.ratePerSec, s.workload.generator.options.spec]).toEqual([5000, { kind: "trace", path }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("more errors than prefilled pages, or a prefill outside [0, 1], are typed errors naming the option", () => {
    const base = { guestMiB: 1, prefill: 0.25, workload: { kind: "uniform" as const }, ratePerSec: 1 };
    expect(thrown(() => buildScenario({ ...base, injectErrors: 65 }))).toEqual({
      code: "ERR_BAD_OPTION", message: "injectErrors must be an integer in [0, 64], got 65", details: { option: "injectErrors", value: 65 },
    });
    expect(thrown(() => buildScenario({ ...base, injectErrors: 60, latentErrors: 5 }))).toEqual({
      code: "ERR_BAD_OPTION", message: "latentErrors must be an integer in [0, 4], got 5", details: { option: "latentErrors", value: 5 },
    });
    expect(thrown(() => buildScenario({ ...base, prefill: 1.01 }))).toEqual({
      code: "ERR_BAD_OPTION", message: "prefill must be a number in [0, 1], got 1.01", details: { option: "prefill", value: 1.01 },
    });
  });
});
