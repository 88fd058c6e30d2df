// `hypermem remote`: a guest with part of its memory in a region on a memory
// host (a worker thread), epochs of write-back with published dirty lists,
// periodic baselines, the compute host's failure at --fail-at and the
// failover's recovery: what it recovered (checked byte for byte against the
// guest at the recovery point), what was lost, how long it took, beside a
// full copy of the region and the baseline alone. Exit status 1 when the
// recovered memory is not the recovery point's.
import { runRemoteScenario, type RemoteScenarioResult } from "../remote/scenario.js";
import { ExitStatus } from "./failure.js";
import { defineCommand } from "./registry.js";
import { formatColumns } from "./report.js";
import { planRemote, REMOTE_OPTIONS } from "./remote-options.js";
import { formatBytes, formatCount } from "./units.js";

const ms = (ns: number): string => `${(ns / 1e6).toFixed(ns < 1e7 ? 3 : 1)} ms`;

function remoteRows(r: RemoteScenarioResult): Array<[string, string]> {
  const rec = r.recovery;
  return [
    ["guest", `${formatBytes(r.guestPages * 4096)}: ${formatCount(r.localPages)} pages in DRAM, the rest in a ${formatBytes(r.regionBytes)} region (${r.options.link.name})`],
    ["guest accesses", `${formatCount(r.run.guestAccesses)}; ${formatCount(r.run.remoteFaults)} remote faults (${ms(r.run.faultStallNs)} stalled), ${formatCount(r.run.evictions)} evictions`],
    ["write-back", `${formatCount(r.run.pagesWrittenBack)} pages in ${formatCount(r.run.epochsPublished)} published epochs; ${r.run.baselines} baselines (${formatBytes(r.run.baselineBytes)})`],
    ["failure", `at ${ms(r.failure.atNs)}; write-back in flight: ${r.failure.writeBack}; last list published at ${ms(r.failure.lastPublishNs)} (epoch ${r.failure.lastPublishedEpoch})`],
    ["recovery", rec.mode === "baseline+lists" ? `baseline generation ${rec.generation} + ${rec.listsRead} dirty lists (${formatCount(rec.entriesRead)} entries)` : `baseline generation ${rec.generation} alone: ${rec.fallbackReason}`],
    ["pages copied one-sided", `${formatCount(rec.pagesCopied)} (${formatCount(rec.pagesFromStaging)} from staging), ${formatBytes(rec.oneSidedBytesRead)} read in ${formatCount(rec.oneSidedReads)} reads`],
    ["memory host's thread", `${r.memoryHostRequestsDuringRecovery} requests served during recovery`],
    ["recovery time (RTO)", `${ms(rec.recoveryNs)} simulated: baseline ${ms(rec.storageNs)} + one-sided ${ms(rec.oneSidedNs)}; ${rec.wallMs.toFixed(1)} ms wall here`],
    ["recovery point (RPO)", `epoch ${rec.recoveredEpoch}: ${formatCount(r.check.pagesLost)} pages lost, written in the last ${ms(r.check.lostWindowNs)}`],
    ["check", r.check.equalsRecoveryPoint ? "recovered memory equals the guest at the recovery point, byte for byte" : `${formatCount(r.check.pagesDifferingFromRecoveryPoint)} pages differ from the guest at the last published list`],
    ["full copy instead", `${ms(r.compare.fullCopyNs)}, ${formatBytes(r.compare.fullCopyBytes)} read one-sided`],
    ["baseline alone instead", `${ms(r.compare.baselineOnlyNs)}, ${formatCount(r.compare.baselineOnlyPagesLost)} pages lost`],
  ];
}

export const remoteCommand = defineCommand({
  name: "remote",
  summary: "remote memory: a compute host fails, a failover rebuilds the region from a baseline and dirty lists read one-sided",
  description: "Runs a guest whose memory lives in a region on a memory host (a worker thread owning a SharedArrayBuffer), " +
    "with --remote-fraction of its pages kept only there. Every --epoch the compute host writes the guest's dirty pages back " +
    "(staged, then a dirty list published with versions and XXH3-64s, then home); every --baseline-every it writes a baseline " +
    "to a file. At --fail-at the compute host fails; a failover host loads the baseline, reads the lists and the listed pages " +
    "one-sided, and checks the result byte for byte against the guest at the last published list.",
  options: REMOTE_OPTIONS,
  examples: [
    "hypermem remote --guest 8MiB --fail-at 300ms --baseline-every 100ms",
    "hypermem remote --guest 8MiB --fail-at 300ms --memory-host-down --json",
  ],
  validate: planRemote,
  async run(plan, ctx) {
    const o = plan.options;
    ctx.stderr.write(`remote: ${(o.failAtNs ?? 0) / 1e9} s of guest time on ${formatBytes(o.guestMiB * 2 ** 20)}, then a failure and a recovery\n`);
    const result = await runRemoteScenario(o);
    if (plan.json) ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else ctx.stdout.write(`${formatColumns([o.memoryHostUnreachable ? "memory host down too" : "memory host up"], [remoteRows(result)])}\n`);
    const ok = result.recovery.mode === "baseline-only" || result.check.equalsRecoveryPoint;
    return ok ? ExitStatus.ok : ExitStatus.failed;
  },
});
