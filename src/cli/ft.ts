// `hypermem ft`: protects a guest with a backup on a second simulated host
// by frequent checkpointing (Remus), in-process on a simulated link, and
// prints the figures Remus and QEMU micro-checkpointing users look at (or
// JSON with a record per epoch). --fail-at makes the primary fail: the
// backup takes over and its memory is checked against the primary's at the
// pause of the checkpoint it resumed from. --sweep-epoch runs once per epoch
// length and prints the overhead and latency curve. Exit status 0 when the
// backup verified, 1 otherwise. --to protects over TCP instead (ft-tcp.ts).
import { protect, type FtOutcome } from "../checkpoint/protect.js";
import type { FtOptions } from "../checkpoint/options.js";
import { buildScenario } from "../migration/scenario.js";
import { ExitStatus } from "./failure.js";
import { FT_OPTIONS, FT_RULES } from "./ft-options.js";
import { runOverTcp } from "./ft-tcp.js";
import { defineCommand, type CommandContext, type Values } from "./registry.js";
import { formatColumns } from "./report.js";
import { formatBytes, spellDuration } from "./units.js";

type FtValues = Values<typeof FT_OPTIONS>;

const ms = (v: number): string => `${v.toFixed(2)} ms`;

/** The figures of one run, as table rows. */
export function ftRows(r: FtOutcome): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ["status", r.status],
    ["epoch", ms(r.epochMs)],
    ["initial sync", ms(r.initialSyncMs)],
    ["epochs", String(r.epochs)],
    ["checkpoints committed", String(r.checkpointsCommitted)],
    ["checkpoints per second", r.checkpointsPerSec.toFixed(1)],
    ["pause p50 / p99 / max", `${ms(r.pauseMs.p50)} / ${ms(r.pauseMs.p99)} / ${ms(r.pauseMs.max)}`],
    ["pages per checkpoint", r.pagesPerCheckpoint.toFixed(0)],
    ["bytes per checkpoint", formatBytes(r.bytesPerCheckpoint)],
    ["pages sent as deltas", String(r.deltaPages)],
    ["delta ratio", r.deltaRatio.toFixed(3)],
    ["pages sent early", `${r.earlyPages} (${r.earlyRewritten} written again)`],
    ["in-flight policy", `${r.inFlight.policy}: waited ${r.inFlight.waited} (${ms(r.inFlight.waitMs)}), merged ${r.inFlight.merged}`],
    ["packets emitted / released", `${r.packets.emitted} / ${r.packets.released}`],
    ["packets held at end / dropped", `${r.packets.heldAtEnd} / ${r.packets.dropped}`],
    ["added packet latency p50 / p99", `${ms(r.packetLatencyMs.p50)} / ${ms(r.packetLatencyMs.p99)}`],
    ["guest time paused", `${(r.pausedShare * 100).toFixed(2)} %`],
    ["link utilisation", `${(r.linkUtilisation * 100).toFixed(2)} %`],
    ["bytes sent", formatBytes(r.bytesSent)],
  ];
  if (r.failover) {
    const f = r.failover;
    rows.push(["failed at", ms(f.failAtMs)], ["failover time", ms(f.failoverTimeMs)],
      ["resumed from", f.checkpoint < 0 ? "nothing committed" : `checkpoint ${f.checkpoint} (pause of epoch ${f.pauseEpoch})`],
      ["backup verified", f.verified === null ? "not checked" : f.verified ? `yes, digest ${f.digest}` : "NO"]);
    if (f.error) rows.push(["failover error", `${f.error.code}: ${f.error.message}`]);
  } else rows.push(["backup verified", r.backupVerified === null ? "not checked" : r.backupVerified ? "yes" : "NO"]);
  if (r.backupError) rows.push(["backup stream error", `${r.backupError.code}: ${r.backupError.message}`]);
  return rows;
}

function libraryOptions(v: FtValues, epochNs: number, onProgress: FtOptions["onProgress"] | undefined): FtOptions {
  return {
    epochMs: epochNs / 1e6, durationMs: v.duration / 1e6, inFlight: v["in-flight"],
    link: { bandwidthBytesPerSec: v.bandwidth, latencyNs: v.latency },
    diffs: !v["no-diffs"], earlySend: !v["no-early-send"], packetsPerSec: v["packets-per-sec"], packetBytes: v["packet-size"],
    failAtMs: v["fail-at"] === undefined ? null : v["fail-at"] / 1e6, heartbeatTimeoutMs: v["heartbeat-timeout"] / 1e6,
    seed: v.seed, ...(onProgress ? { onProgress } : {}),
  };
}

async function runOnce(v: FtValues, epochNs: number, ctx: CommandContext): Promise<FtOutcome> {
  const s = buildScenario({
    guestMiB: v.guest / 2 ** 20, prefill: v.prefill, workload: v.workload.spec, ratePerSec: v.rate, writeFraction: v["write-fraction"], seed: v.seed,
  });
  const progress: FtOptions["onProgress"] = v.json ? undefined : (p) => {
    ctx.stderr.write(`ft: ${(p.elapsedMs / 1000).toFixed(0)}s epoch ${p.epoch}, committed ${p.committedEpoch}, sent ${formatBytes(p.bytesSent)}, packets held ${p.packetsHeld}\n`);
  };
  return protect(s.vm, s.destination, { ...libraryOptions(v, epochNs, progress), workload: s.workload });
}

const verified = (r: FtOutcome): boolean => (r.failover ? r.failover.verified === true : r.backupVerified === true);

/** The JSON of a run: the figures, a record per epoch and per checkpoint (no guest, no packet list). */
function toJson(r: FtOutcome): object {
  const { backupVm: _vm, released: _released, ...rest } = r;
  return rest;
}

async function run(v: FtValues, ctx: CommandContext): Promise<number> {
  if (v.to) return runOverTcp(v, ctx);
  const sweep = v["sweep-epoch"];
  if (!sweep) {
    const r = await runOnce(v, v.epoch, ctx);
    ctx.stdout.write(v.json ? `${JSON.stringify(toJson(r), null, 2)}\n` : `${formatColumns(["result"], [ftRows(r)])}\n`);
    return verified(r) ? ExitStatus.ok : ExitStatus.failed;
  }
  const results: FtOutcome[] = [];
  for (const epochNs of sweep) results.push(await runOnce(v, epochNs, ctx));
  if (v.json) ctx.stdout.write(`${JSON.stringify(results.map(toJson), null, 2)}\n`);
  else ctx.stdout.write(`${formatColumns(sweep.map((ns) => `epoch ${spellDuration(ns)}`), results.map(ftRows))}\n`);
  return results.every(verified) ? ExitStatus.ok : ExitStatus.failed;
}

export const ftCommand = defineCommand({
  name: "ft",
  summary: "protect a guest with a backup by frequent checkpointing (Remus), with output commit and failover",
  description: "Builds a guest (prefilled with seeded data, running a workload that emits output packets) and a backup " +
    "on a second simulated host, copies it whole, then checkpoints it every epoch: the pause copies the dirty pages to " +
    "staging, the checkpoint goes while the next epoch runs (pages as XBZRLE deltas only against versions the backup " +
    "confirmed, stable pages early under write protection), the backup applies it at its commit and acknowledges, and " +
    "held packets are released. With --fail-at the primary fails and the backup takes over from its last commit, checked " +
    "against the primary's memory at that pause. Progress (per simulated second) goes to stderr.",
  options: FT_OPTIONS,
  rules: { notWith: [["sweep-epoch", "epoch", "the sweep sets the epoch of each run"], ...FT_RULES.notWith], needs: FT_RULES.needs },
  examples: [
    "hypermem ft --guest 64MiB --epoch 25ms --duration 2s",
    "hypermem ft --guest 64MiB --fail-at 500ms --json",
    "hypermem ft --guest 32MiB --duration 1s --sweep-epoch 10ms,25ms,50ms,100ms,200ms",
  ],
  run,
});
