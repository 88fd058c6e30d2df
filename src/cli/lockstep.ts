// `hypermem lockstep`: runs a guest in quasi-lockstep (COLO) with a
// secondary on a second simulated host: both copies run the same workload,
// their output packets are compared per connection, and a mismatch, a
// timeout, a full queue or the periodic delay resynchronises the secondary
// from the primary by a checkpoint while the primary's output is held.
// Prints COLO's figures (or JSON); --compare-checkpointing adds plain
// checkpointing at 25 ms epochs on the same workload and seed;
// --sweep-nondeterminism runs once per rate and prints the curve. Exit
// status 0 when every resync verified and the outside saw every packet once,
// in order; 1 otherwise.
import type { FtOutcome } from "../checkpoint/protect.js";
import {
  checkpointingFigures, lockstepFigures, runCheckpointingScenario, runLockstepScenario, sweepNondeterminism,
  type LockstepScenario, type TechniqueFigures,
} from "../lockstep/compare.js";
import type { LockstepOutcome } from "../lockstep/lockstep.js";
import { ExitStatus } from "./failure.js";
import { LOCKSTEP_OPTIONS } from "./lockstep-options.js";
import { optionError } from "./option-error.js";
import { defineCommand, type CommandContext, type Values } from "./registry.js";
import { formatColumns } from "./report.js";
import { formatBytes } from "./units.js";

type LockstepValues = Values<typeof LOCKSTEP_OPTIONS>;

const ms = (v: number): string => `${v.toFixed(2)} ms`;

/** The figures of one lockstep run, as table rows. */
export function lockstepRows(r: LockstepOutcome): Array<[string, string]> {
  const c = r.checkpoints;
  const rows: Array<[string, string]> = [
    ["status", r.status],
    ["initial sync", ms(r.initialSyncMs)],
    ["nondeterministic events", `${r.nondeterminism.events} (timer ${r.nondeterminism.timer}, interrupt ${r.nondeterminism.interrupt}, io-completion ${r.nondeterminism["io-completion"]})`],
    ["outputs compared / matched", `${r.outputs.compared} / ${r.outputs.matched}`],
    ["mismatched / timed out / queue full", `${r.outputs.mismatched} / ${r.outputs.timedOut} / ${r.outputs.queueFull}`],
    ["checkpoints", `${c.total} (${c.perSec.toFixed(1)}/s)`],
    ["  by cause", `mismatch ${c.mismatch}, timeout ${c.timeout}, queue full ${c.queueFull}, periodic ${c.periodic}`],
    ["  damaged streams retried", String(c.retries)],
    ["resync bytes total / p50 / p99", `${formatBytes(r.resyncBytes.total)} / ${formatBytes(r.resyncBytes.p50)} / ${formatBytes(r.resyncBytes.p99)}`],
    ["pause p50 / p99", `${ms(r.pauseMs.p50)} / ${ms(r.pauseMs.p99)}`],
    ["held-output latency p50 / p99", `${ms(r.heldOutputLatencyMs.p50)} / ${ms(r.heldOutputLatencyMs.p99)}`],
    ["time paused", `${(r.pausedShare * 100).toFixed(2)} %`],
    ["pages repaired on the secondary", String(r.divergedPages)],
    ["resyncs verified", `${r.resyncsVerified} of ${r.resyncRecords.length}`],
    ["packets emitted / released", `${r.packets.emitted} / ${r.packets.released}`],
    ["packets held at end", String(r.packets.heldAtEnd)],
  ];
  if (r.endDivergedPages !== null) rows.push(["pages differing at end", String(r.endDivergedPages)]);
  if (r.failover) {
    const f = r.failover;
    rows.push(["failed at", ms(f.failAtMs)], ["failover time", ms(f.failoverTimeMs)],
      ["resync interrupted", f.resyncInterrupted ? "yes" : "no"], ["held packets dropped", String(f.heldDropped)],
      ["released at takeover", String(f.releasedAtTakeover)]);
  }
  for (const e of r.resyncErrors) rows.push([`resync ${e.attempt} error`, `${e.code}: ${e.message}`]);
  return rows;
}

function figureRows(f: TechniqueFigures): Array<[string, string]> {
  return [
    ["checkpoints", `${f.checkpoints} (${f.checkpointsPerSec.toFixed(1)}/s)`],
    ["bytes sent", formatBytes(f.bytesSent)],
    ["pause p50 / p99", `${ms(f.pauseMs.p50)} / ${ms(f.pauseMs.p99)}`],
    ["held-output latency p50 / p99", `${ms(f.heldOutputLatencyMs.p50)} / ${ms(f.heldOutputLatencyMs.p99)}`],
    ["time paused", `${(f.pausedShare * 100).toFixed(2)} %`],
    ["packets released", String(f.packetsReleased)],
  ];
}

function scenario(v: LockstepValues, ctx: CommandContext): LockstepScenario {
  if (v.workload.spec.kind === "trace") throw optionError("--workload", v.workload.text, "lockstep needs a generated workload (both copies replay the same seed)");
  return {
    guestMiB: v.guest / 2 ** 20, prefill: v.prefill,
    workload: { ...v.workload.spec, ratePerSec: v.rate, writeFraction: v["write-fraction"], seed: v.seed },
    durationMs: v.duration / 1e6, nondeterminismPerSec: v.nondeterminism, packetsPerSec: v["packets-per-sec"], packetBytes: v["packet-size"],
    connections: v.connections, compareTimeoutMs: v["compare-timeout"] / 1e6, maxQueuePackets: v["max-queue"], checkpointDelayMs: v["checkpoint-delay"] / 1e6,
    failAtMs: v["fail-at"] === undefined ? null : v["fail-at"] / 1e6, link: { bandwidthBytesPerSec: v.bandwidth, latencyNs: v.latency }, seed: v.seed,
    ...(v.json ? {} : { onProgress: (p) => ctx.stderr.write(`lockstep: ${(p.elapsedMs / 1000).toFixed(0)}s, ${p.checkpoints} checkpoints, ${p.compared} compared, ${p.released} released\n`) }),
  };
}

const healthy = (r: LockstepOutcome): boolean => r.packets.outOfOrder === 0 && r.resyncRecords.every((x) => x.verified !== false);

function toJson(r: LockstepOutcome): object {
  const { secondaryVm: _vm, released: _released, ...rest } = r;
  return rest;
}

async function run(v: LockstepValues, ctx: CommandContext): Promise<number> {
  const s = scenario(v, ctx);
  const sweep = v["sweep-nondeterminism"];
  if (sweep) {
    const { lockstep, checkpointing } = await sweepNondeterminism(s, sweep);
    const figures = [...lockstep.map(lockstepFigures), checkpointingFigures(checkpointing)];
    if (v.json) ctx.stdout.write(`${JSON.stringify({ lockstep: lockstep.map(toJson), checkpointing: figures[figures.length - 1] }, null, 2)}\n`);
    else ctx.stdout.write(`${formatColumns([...sweep.map((r) => `lockstep ${r}/s`), "checkpointing 25ms"], figures.map(figureRows))}\n`);
    return lockstep.every(healthy) ? ExitStatus.ok : ExitStatus.failed;
  }
  const r = await runLockstepScenario(s);
  let cp: FtOutcome | null = null;
  if (v["compare-checkpointing"]) cp = await runCheckpointingScenario(s);
  if (v.json) {
    ctx.stdout.write(`${JSON.stringify(cp ? { lockstep: toJson(r), checkpointing: checkpointingFigures(cp) } : toJson(r), null, 2)}\n`);
  } else if (cp) {
    ctx.stdout.write(`${formatColumns(["lockstep", "checkpointing 25ms"], [figureRows(lockstepFigures(r)), figureRows(checkpointingFigures(cp))])}\n\n`);
    ctx.stdout.write(`${formatColumns(["lockstep details"], [lockstepRows(r)])}\n`);
  } else ctx.stdout.write(`${formatColumns(["result"], [lockstepRows(r)])}\n`);
  return healthy(r) ? ExitStatus.ok : ExitStatus.failed;
}

export const lockstepCommand = defineCommand({
  name: "lockstep",
  summary: "run a guest in quasi-lockstep with a secondary (COLO): outputs compared, resync by checkpoint on mismatch",
  description: "Builds a guest (prefilled with seeded data) and a secondary on a second simulated host; both run the same " +
    "workload with the same seed and emit packets read from guest memory. Packets are compared per connection: a match " +
    "releases the primary's at once; a mismatch, a packet without counterpart for --compare-timeout, a full queue, or " +
    "--checkpoint-delay since the last one stops both copies, resynchronises the secondary from the primary by a " +
    "checkpoint (dirty pages, XBZRLE deltas, staged commit) verified by page hashes, then releases the held output. " +
    "--nondeterminism makes the copies diverge at that rate. With --fail-at the primary fails and the secondary takes " +
    "over. Progress (per simulated second) goes to stderr.",
  options: LOCKSTEP_OPTIONS,
  rules: {
    notWith: [
      ["sweep-nondeterminism", "nondeterminism", "the sweep sets the rate of each run"],
      ["sweep-nondeterminism", "compare-checkpointing", "the sweep always prints checkpointing beside the curve"],
      ["sweep-nondeterminism", "fail-at", "the sweep compares runs without failure"],
    ],
  },
  examples: [
    "hypermem lockstep --guest 16MiB --nondeterminism 10 --duration 1s",
    "hypermem lockstep --guest 16MiB --nondeterminism 100 --compare-checkpointing",
    "hypermem lockstep --guest 16MiB --fail-at 500ms --json",
    "hypermem lockstep --guest 8MiB --duration 500ms --sweep-nondeterminism 0,1,10,100,1000",
  ],
  run,
});
