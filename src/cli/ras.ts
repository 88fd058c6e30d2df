// `hypermem ras`: a guest running a workload while uncorrectable (known and
// latent) and corrected memory errors arrive at seeded times, under Linux's
// recovery policy, the seed's parity groups, or both on the same run of
// events; prints what each recovered, lost and cost, side by side (or
// JSON). Exit status 1 when a repaired page is not byte for byte what it
// held before its error.
import { runRasScenario, type RasScenarioResult } from "../ras/scenario.js";
import type { RasReport } from "../ras/report.js";
import { ExitStatus } from "./failure.js";
import { planRas, RAS_OPTIONS } from "./ras-options.js";
import { defineCommand } from "./registry.js";
import { formatColumns } from "./report.js";
import { formatBytes, formatCount, spellDuration } from "./units.js";

export { rasRetiredCommand } from "./ras-retired.js";

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const ms = (ns: number): string => `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 0)} ms`;
const us = (ns: number): string => `${(ns / 1e3).toFixed(1)} µs`;

/** The rows of one run (label, value). */
function rasRows(result: RasScenarioResult, wallMs: number): Array<[string, string]> {
  const r: RasReport = result.report;
  const typeRow = (t: { errors: number; recovered: number; lost: number }): string => `${t.errors} hit: ${t.recovered} recovered, ${t.lost} lost`;
  const rows: Array<[string, string]> = [
    ["guest", `${formatBytes(result.guestPages * 4096)}: ${formatCount(result.mappedPages)} pages from the backing file, ${formatCount(result.prefilledPages)} prefilled`],
    ["errors", `${r.errors.known} known, ${r.errors.latent} latent, ${r.errors.correctable} corrected`],
    ["recovered by refill", formatCount(r.recoveredByRefill)],
    ["recovered by parity", formatCount(r.recoveredByParity)],
    ["machine checks delivered", formatCount(r.machineChecks)],
    ["pages lost", formatCount(r.pagesLost)],
    ["Recovered", formatCount(r.linux.Recovered)],
    ["Failed", formatCount(r.linux.Failed)],
    ["Ignored", formatCount(r.linux.Ignored)],
    ["Delayed", formatCount(r.linux.Delayed)],
    ["latent, not found yet", formatCount(r.undetectedLatent)],
    ["clean file pages", typeRow(r.pageTypes.cleanFile)],
    ["dirty file pages", typeRow(r.pageTypes.dirtyFile)],
    ["anonymous pages", typeRow(r.pageTypes.anonymous)],
    ["found by", `report ${r.detection.report}, guest ${r.detection.guest}, hypervisor ${r.detection.hypervisor}, scrubber ${r.detection.scrubber}, rebuild ${r.detection.rebuild}`],
  ];
  if (r.scrubber) {
    rows.push(
      ["scrubber", `${formatCount(r.scrubber.pagesPerSec)} pages/s: ${formatCount(r.scrubber.pagesScanned)} read, ${r.scrubber.fullPasses} full passes`],
      ["latent error to scrubber", r.detection.meanScrubLatencyNs === null ? "-" : `${ms(r.detection.meanScrubLatencyNs)} mean`],
    );
  }
  if (r.parity) {
    const p = r.parity;
    rows.push(
      ["parity groups", `${formatCount(p.groups)} of ${p.groupSizePages} pages`],
      ["parity frames", `${formatCount(p.parityFrames)} (${pct(p.overheadFraction)} of ${formatCount(p.memberPages)} member pages; 1/k = ${pct(1 / p.groupSizePages)})`],
      ["pages covered", `${formatCount(p.coveredPages)} now (${formatCount(p.openPages)} open), ${pct(p.meanCoveredFraction)} on average`],
      ["parity write faults", `${formatCount(p.writeFaults)} (${formatCount(p.writeFaultsPerSec)}/s), ${formatCount(p.rejoins)} rejoins`],
      ["parity update time", `${ms(p.updateWallNs)} wall`],
      ["rebuild time per page", p.meanRebuildWallNs === null ? "-" : `${us(p.meanRebuildWallNs)} wall (${p.rebuilds} rebuilds)`],
    );
  }
  rows.push(
    ["corrected-error retirements", `${r.correctable.framesRetired} frames (threshold ${r.correctable.threshold} per ${r.correctable.windowNs % 3600e9 === 0 ? `${r.correctable.windowNs / 3600e9} h` : spellDuration(r.correctable.windowNs)})`],
    ["retired frames", `${r.retired.frames}: ${r.retired.uncorrectable} uncorrectable, ${r.retired.correctable} corrected`],
  );
  if (result.storeLoad) {
    const s = result.storeLoad;
    rows.push(["retired-frame store", `${r.retired.store}: ${s.records} records at start (${s.reserved} frames kept out of use, ${s.dropped} damaged parts dropped)`]);
  }
  if (r.retired.warning) rows.push(["warning", r.retired.warning]);
  const c = result.check;
  rows.push(
    ["repaired pages checked", c.mismatched.length === 0 ? `${c.verified} of ${c.repaired} equal, byte for byte, to the page before its error` : `MISMATCH: ${c.mismatched.join(", ")}`],
    ["simulation wall time", `${wallMs.toFixed(0)} ms`],
  );
  return rows;
}

export const rasCommand = defineCommand({
  name: "ras",
  summary: "memory-error recovery: Linux's policy beside parity groups, on one run of errors",
  description: "Runs a guest (its first pages loaded from --backing-file, the rest prefilled) under a workload while " +
    "uncorrectable errors (known, and latent ones found by the patrol scrubber or the next read) and corrected errors " +
    "arrive at seeded times. Policy linux refills clean file pages from their file, as mm/memory-failure.c does; " +
    "parity also rebuilds pages of parity groups of K pages from the XOR parity and the survivors. Prints, per policy: " +
    "errors, recoveries, machine checks, pages lost, Linux's results and page types, what parity costs, retired frames. " +
    "With --store, retired frames are appended to a store that later hosts avoid (see `hypermem ras retired`).",
  options: RAS_OPTIONS,
  examples: [
    "hypermem ras --guest 16MiB --errors 8 --latent 4 --correctable 20 --duration 200ms",
    "hypermem ras --guest 16MiB --policy parity --group-size 4 --scrub-rate 100000 --json",
  ],
  validate: planRas,
  run(plan, ctx) {
    const results = plan.runs.map((options) => {
      ctx.stderr.write(`ras: policy ${options.policy}: ${(options.durationNs / 1e9).toFixed(3)} s of guest time on ${formatBytes(options.guestMiB * 2 ** 20)}\n`);
      const started = performance.now();
      const result = runRasScenario(options);
      return { result, wallMs: performance.now() - started };
    });
    for (const { result } of results) if (result.report.retired.warning) ctx.stderr.write(`ras: warning: ${result.report.retired.warning}\n`);
    if (plan.json) {
      ctx.stdout.write(`${JSON.stringify({ runs: results.map(({ result, wallMs }) => ({ ...result, wallMs })) }, null, 2)}\n`);
    } else {
      ctx.stdout.write(`${formatColumns(results.map(({ result }) => result.report.policy), results.map(({ result, wallMs }) => rasRows(result, wallMs)))}\n`);
    }
    return results.every(({ result }) => result.check.mismatched.length === 0) ? ExitStatus.ok : ExitStatus.failed;
  },
});
