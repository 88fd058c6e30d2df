// Policies side by side on one run of events (seed, workload, errors, times
// and pages the same): Linux's refills clean file pages only, the seed's
// also rebuilds from parity; the counts agree with each other and with the
// guests' machine checks; the patrol scrubber finds a latent error exactly
// when its sweep reaches the page; corrected errors retire a frame at the
// threshold, within the window, moving the page off it intact.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, enableRas, runRasScenario, SCRUB_STEP_NS, Timeline, type RasReport, type RasScenarioOptions } from "../src/index.js";
import { mulberry32 } from "../src/sim/prng.js";

const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), "hypermem-ras-policy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function backingFile(pages: number): string {
  const rng = mulberry32(42);
  const path = join(dir, "backing.bin");
  writeFileSync(path, new Uint8Array(pages * PAGE).map(() => rng() & 0xff));
  return path;
}

/** The report without wall-clock figures (those differ from run to run). */
function simulated(r: RasReport): unknown {
  return { ...r, parity: r.parity && { ...r.parity, updateWallNs: 0, meanRebuildWallNs: 0 } };
}

function consistent(r: RasReport, machineChecks: number): void {
  expect(r.linux.Recovered).toBe(r.recoveredByRefill + r.recoveredByParity);
  expect(r.linux.Failed + r.linux.Delayed).toBe(r.pagesLost);
  expect(r.linux.Recovered + r.linux.Failed + r.linux.Delayed + r.undetectedLatent).toBe(r.errors.uncorrectable);
  expect(r.errors.known + r.errors.latent).toBe(r.errors.uncorrectable);
  const types = Object.values(r.pageTypes);
  expect(types.reduce((n, t) => n + t.errors, 0)).toBe(r.errors.uncorrectable);
  expect(types.reduce((n, t) => n + t.recovered, 0)).toBe(r.linux.Recovered);
  expect(types.reduce((n, t) => n + t.lost, 0)).toBe(r.pagesLost);
  expect(r.machineChecks).toBe(machineChecks);
  expect(r.retired.uncorrectable).toBe(r.errors.uncorrectable - r.undetectedLatent);
}

describe("policies side by side", () => {
  const base: RasScenarioOptions = {
    guestMiB: 2, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }, ratePerSec: 200_000, durationNs: 200e6,
    knownErrors: 24, latentErrors: 16, correctableErrors: 30, ceThreshold: 10, scrubPagesPerSec: 4096, policy: "linux", seed: 9,
  };

  it("the same errors on the same run: Linux recovers the clean file pages only, parity those and the covered ones; every repaired page is byte-exact", () => {
    const options = { ...base, backingFile: backingFile(128) };
    const linux = runRasScenario({ ...options, policy: "linux" });
    const parity = runRasScenario({ ...options, policy: "parity" });
    for (const run of [linux, parity]) {
      expect(run.mappedPages).toBe(128);
      expect(run.check.mismatched).toEqual([]);
      expect(run.check.verified).toBe(run.report.linux.Recovered);
    }
    expect(linux.report.errors).toEqual(parity.report.errors);
    expect(linux.report.pageTypes.cleanFile.errors).toBe(parity.report.pageTypes.cleanFile.errors);
    expect(linux.report.pageTypes.cleanFile.errors).toBeGreaterThan(0);
    // Linux: a clean file page that was found is recovered, nothing else is.
    const found = (r: RasReport) => r.pageTypes.cleanFile.errors - r.pageTypes.cleanFile.recovered - r.pageTypes.cleanFile.lost;
    expect(linux.report.recoveredByRefill).toBe(linux.report.pageTypes.cleanFile.errors - found(linux.report));
    expect([linux.report.recoveredByParity, linux.report.pageTypes.anonymous.recovered, linux.report.pageTypes.dirtyFile.recovered]).toEqual([0, 0, 0]);
    expect(linux.report.parity).toBe(null);
    expect(parity.report.recoveredByRefill).toBe(linux.report.recoveredByRefill);
    expect(parity.report.recoveredByParity).toBeGreaterThan(0);
    expect(parity.report.pagesLost).toBeLessThan(linux.report.pagesLost);
    expect(parity.report.parity).toMatchObject({ groupSizePages: 8 });
    expect(parity.report.correctable.framesRetired).toBe(3);
    expect(linux.report.correctable.framesRetired).toBe(3);
    for (const run of [linux, parity]) expect(run.report.retired.correctable).toBe(3);
  });

  it("the counts agree with each other and with the machine checks the guest got", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 64 });
    vm.write(0, new Uint8Array(64 * PAGE).fill(3));
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { policy: "linux" });
    for (const p of [1, 2, 3]) ras.inject({ vm, gpa: p * PAGE });
    for (const p of [10, 11]) ras.inject({ vm, gpa: p * PAGE }, { kind: "latent" });
    expect(ras.inject({ vm, gpa: 1 * PAGE })).toMatchObject({ kind: "ignored" });
    vm.run([{ op: "read", gpa: PAGE }, { op: "read", gpa: PAGE }, { op: "read", gpa: 10 * PAGE }]);
    const r = ras.report();
    expect(r).toMatchObject({
      // pages 1 (two checks) and 10 Failed; 2 and 3 lost but not touched yet: Delayed; 11 undetected
      pagesLost: 4, machineChecks: 3, undetectedLatent: 1,
      linux: { Recovered: 0, Failed: 2, Delayed: 2, Ignored: 1 },
      detection: { report: 3, guest: 1, scrubber: 0 },
    });
    consistent(r, vm.machineChecks);
  });

  it("is deterministic: the same options give the same figures", () => {
    const a = runRasScenario({ ...base, policy: "parity" });
    const b = runRasScenario({ ...base, policy: "parity" });
    expect(simulated(b.report)).toEqual(simulated(a.report));
    consistent(a.report, a.report.machineChecks);
  });
});

describe("the patrol scrubber", () => {
  it("finds a latent error when its sweep reaches the page, before the guest does", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 256 });
    vm.write(0, new Uint8Array(256 * PAGE).fill(1));
    const timeline = new Timeline();
    const rate = 20_000; // 20 pages per 1 ms step
    const ras = enableRas(host, timeline, { policy: "linux", scrubPagesPerSec: rate });
    ras.inject({ vm, gpa: 150 * PAGE }, { kind: "latent" });
    ras.inject({ vm, gpa: 19 * PAGE }, { kind: "latent" });
    timeline.advance(20e6);
    const perStep = rate * SCRUB_STEP_NS / 1e9;
    const when = (pfn: number) => Math.ceil((pfn + 1) / perStep) * SCRUB_STEP_NS;
    expect(ras.log.entries().map((e) => [e.pfn, e.detectedBy, e.detectedNs])).toEqual([[150, "scrubber", when(150)], [19, "scrubber", when(19)]]);
    expect(vm.pteInfo(150)).toMatchObject({ latentError: false, poisoned: true });
    expect(ras.report().detection.meanScrubLatencyNs).toBe((when(150) + when(19)) / 2);
    expect(ras.report().scrubber).toMatchObject({ pagesScanned: 20 * perStep, fullPasses: 1, latentFound: 2 });
    expect(ras.report().linux).toMatchObject({ Delayed: 2, Failed: 0 });
  });

  it("with parity, the page the scrubber found is rebuilt before the guest reads it", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 64 });
    vm.write(0, new Uint8Array(64 * PAGE).map((_, i) => i % 251));
    const copy = vm.read(40 * PAGE, PAGE);
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { scrubPagesPerSec: 64_000 });
    ras.inject({ vm, gpa: 40 * PAGE }, { kind: "latent", corrupt: true });
    timeline.advance(1e6);
    expect(ras.log.entries()).toEqual([expect.objectContaining({ detectedBy: "scrubber", outcome: "parity" })]);
    expect(Buffer.compare(vm.read(40 * PAGE, PAGE), copy)).toBe(0);
    expect(vm.machineChecks).toBe(0);
  });
});

describe("corrected errors", () => {
  it("retire a frame at the threshold within the window: the page moves off it intact, the store records the count", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 8 });
    vm.write(0, new Uint8Array(8 * PAGE).map((_, i) => (i * 7) & 0xff));
    const copy = vm.read(5 * PAGE, PAGE);
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { policy: "linux", ceThreshold: 4, ceWindowNs: 10e6 });
    const frame = vm.pteInfo(5).hfn;
    for (let i = 0; i < 3; i++) expect(ras.inject({ vm, gpa: 5 * PAGE }, { kind: "correctable" })).toMatchObject({ count: i + 1, retired: false });
    timeline.advance(10e6); // the window slides past all three
    for (let i = 0; i < 3; i++) expect(ras.inject({ vm, gpa: 5 * PAGE }, { kind: "correctable" })).toMatchObject({ count: i + 1, retired: false });
    expect(vm.pteInfo(5).hfn).toBe(frame);
    expect(ras.inject({ vm, gpa: 5 * PAGE }, { kind: "correctable" })).toMatchObject({ hfn: frame, count: 4, retired: true });
    expect(vm.pteInfo(5).hfn).not.toBe(frame);
    expect(Buffer.compare(vm.read(5 * PAGE, PAGE), copy)).toBe(0);
    expect(host.frameInfo(frame).flags).toContain("retired");
    expect(host.retired.list()).toEqual([expect.objectContaining({ hfn: frame, cause: "correctable", errorCount: 4 })]);
    expect(ras.report()).toMatchObject({ errors: { correctable: 7, uncorrectable: 0 }, correctable: { framesRetired: 1 }, pagesLost: 0 });
  });

  it("warns when retired frames pass 90 % of the limit", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 16 });
    vm.write(0, new Uint8Array(16 * PAGE).fill(9));
    const ras = enableRas(host, new Timeline(), { policy: "linux", retiredLimit: 10 });
    for (let p = 0; p < 9; p++) ras.inject({ vm, gpa: p * PAGE });
    expect(ras.report().retired.warning).toBe(null);
    ras.inject({ vm, gpa: 9 * PAGE });
    expect(ras.report().retired.warning).toBe("10 retired frames of a limit of 10 (100 %): at or past the limit; the memory is failing, replace it (then clear the store)");
  });
});
