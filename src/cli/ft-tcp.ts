// `hypermem ft --to HOST:PORT --token-file F`: protects a guest from this
// process with a backup in a `hypermem listen` process (src/checkpoint/
// tcp-primary.ts), in wall-clock epochs. A line per pause on stderr (the
// checkpoint and the guest's digest there, what the backup checks at a
// failover) and per acknowledgement; the figures at the end, with the
// pages sent early and the output packets held until their checkpoint was
// acknowledged.
import { protectOverTcp } from "../checkpoint/tcp-primary.js";
import { connectMigrationChannel } from "../migration/tcp.js";
import { buildScenario } from "../migration/scenario.js";
import type { FT_OPTIONS } from "./ft-options.js";
import { ExitStatus } from "./failure.js";
import type { CommandContext, Values } from "./registry.js";
import { formatColumns } from "./report.js";
import { printWarnings, readTokenFile } from "./token-file.js";
import { formatBytes } from "./units.js";

/** Heartbeat of the primary over TCP, ms (as in-process). */
const HEARTBEAT_INTERVAL_MS = 10;

export async function runOverTcp(v: Values<typeof FT_OPTIONS>, ctx: CommandContext): Promise<number> {
  const tokenFile = await readTokenFile(v["token-file"]!);
  printWarnings("ft", tokenFile.warnings, ctx.stderr);
  const s = buildScenario({
    guestMiB: v.guest / 2 ** 20, prefill: v.prefill, workload: v.workload.spec, ratePerSec: v.rate, writeFraction: v["write-fraction"], seed: v.seed,
  });
  const sc = await connectMigrationChannel({ host: v.to!.host, port: v.to!.port, token: tokenFile.token });
  const r = await protectOverTcp(s.vm, s.workload, sc, {
    epochMs: v.epoch / 1e6, durationMs: v.duration / 1e6, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: v["heartbeat-timeout"] / 1e6,
    diffs: !v["no-diffs"], earlySend: !v["no-early-send"], packetsPerSec: v["packets-per-sec"], packetBytes: v["packet-size"], seed: v.seed,
    onPause: (cp, digest) => { ctx.stderr.write(`ft: checkpoint ${cp} paused, digest ${digest}\n`); },
    onAck: (cp) => { ctx.stderr.write(`ft: checkpoint ${cp} acknowledged\n`); },
  });
  const rows: Array<[string, string]> = [
    ["backup", `${v.to!.host}:${v.to!.port}`], ["checkpoints", String(r.checkpoints)], ["acknowledged", String(r.acknowledged + 1)],
    ["pause p50 / max", `${r.pauseMs.p50.toFixed(2)} / ${r.pauseMs.max.toFixed(2)} ms`], ["bytes sent", formatBytes(r.bytesSent)],
    ["pages sent early", `${r.earlyPages} (${r.earlyRewritten} written again)`],
    ["packets emitted / released / held at end", `${r.packets.emitted} / ${r.packets.released} / ${r.packets.heldAtEnd}`],
    ["added packet latency p50 / p99", `${r.packetLatencyMs.p50.toFixed(1)} / ${r.packetLatencyMs.p99.toFixed(1)} ms`],
    ["wall time", `${(r.wallMs / 1e3).toFixed(2)} s`],
  ];
  ctx.stdout.write(v.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatColumns(["result"], [rows])}\n`);
  return r.acknowledged + 1 === r.checkpoints ? ExitStatus.ok : ExitStatus.failed;
}
