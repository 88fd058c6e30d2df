// `hypermem nvm`: a guest whose memory is an NVM region with DRAM in front
// and a storage file behind; cold blocks purged by free-NVM watermarks
// through virtblock entries (or by rewriting every mapping, the baseline;
// --compare runs both on the same seed). Prints the purge rate, fetch
// latency, NVM hit ratio, write amplification, NVM bytes written and the
// page-table updates and shootdowns, side by side (or JSON). Exit status 1
// when the guest's memory differs from the same run with all of it in DRAM.
import { runNvmScenario, type NvmReport } from "../nvm/scenario.js";
import { ExitStatus } from "./failure.js";
import { NVM_OPTIONS, planNvm } from "./nvm-options.js";
import { defineCommand } from "./registry.js";
import { formatColumns } from "./report.js";
import { formatBytes, formatCount } from "./units.js";

const us = (ns: number | null): string => (ns === null ? "-" : `${(ns / 1e3).toFixed(1)} µs`);
const pct = (x: number | null): string => (x === null ? "-" : `${(100 * x).toFixed(1)} %`);

function nvmRows(r: NvmReport): Array<[string, string]> {
  return [
    ["guest", `${formatBytes(r.guestPages * 4096)}: ${formatCount(r.dramPages)} pages of DRAM, ${formatCount(r.nvmDataBlocks)} NVM blocks, ${r.snapshots} snapshots`],
    ["guest accesses", formatCount(r.guestAccesses)],
    ["purged blocks", `${formatCount(r.purges)} (${formatCount(Math.round(r.purgesPerSec))}/s simulated; ${r.purgeWallMs.toFixed(0)} ms of file writes here), ${formatCount(r.emergencyPurges)} on demand`],
    ["fetches from storage", `${formatCount(r.fetches)}: p50 ${us(r.fetchP50Ns)}, p99 ${us(r.fetchP99Ns)}`],
    ["NVM hit ratio", `${pct(r.nvmHitRatio)} of ${formatCount(r.promotions)} faults into DRAM`],
    ["demotions to NVM", formatCount(r.demotions)],
    ["NVM bytes written", `${formatBytes(r.nvmBytesWritten)} (most-written block: ${formatCount(r.maxBlockWrites)} writes)`],
    ["write amplification", r.writeAmplification === null ? "-" : `${r.writeAmplification.toFixed(2)}x the guest's dirty bytes`],
    ["page-table updates", formatCount(r.pteUpdates)],
    ["TLB shootdowns", formatCount(r.tlbShootdowns)],
    ["storage written", formatBytes(r.storageBytesWritten)],
    ["free NVM at the end", pct(r.freeNvmFraction)],
    ["check", r.equalsOracle ? "guest memory equals the all-DRAM run, byte for byte" : "MISMATCH with the all-DRAM run"],
  ];
}

export const nvmCommand = defineCommand({
  name: "nvm",
  summary: "NVM regions: cold blocks purged to a storage file through virtblocks, beside rewriting every mapping",
  description: "Runs a guest whose memory is an NVM region (an NVM device modelled on Optane PMem, DRAM in front, a " +
    "storage file behind). Every 10 ms an age histogram from the accessed log demotes DRAM pages and, below the low " +
    "free-NVM watermark, purges the oldest blocks to the file up to the high one (rate-limited). With virtblocks only " +
    "each block's virtblock entry changes; with --no-virtblocks (or the second run of --compare) every page-table entry " +
    "mapping the block, in the VM and its snapshots, is rewritten, each with a TLB shootdown.",
  options: NVM_OPTIONS,
  examples: [
    "hypermem nvm --guest 4MiB --nvm 3MiB --dram 2MiB --duration 100ms --compare",
    "hypermem nvm --guest 4MiB --nvm 3MiB --dram 1MiB --watermarks 0.2,0.4 --duration 100ms --json",
  ],
  validate: planNvm,
  run(plan, ctx) {
    const reports = plan.runs.map((options) => {
      ctx.stderr.write(`nvm: ${options.virtblocks ? "virtblocks" : "direct mappings"}: ${((options.durationNs ?? 0) / 1e9).toFixed(3)} s of guest time\n`);
      return runNvmScenario(options);
    });
    if (plan.json) ctx.stdout.write(`${JSON.stringify({ runs: reports }, null, 2)}\n`);
    else ctx.stdout.write(`${formatColumns(reports.map((r) => (r.virtblocks ? "virtblocks" : "direct")), reports.map(nvmRows))}\n`);
    return reports.every((r) => r.equalsOracle) ? ExitStatus.ok : ExitStatus.failed;
  },
});
