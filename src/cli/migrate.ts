// `hypermem migrate`: builds a guest (prefilled, running a workload, with
// injected memory errors if asked), live-migrates it to a second host over a
// simulated link, and prints QEMU's `info migrate` figures (or JSON).
import { parseArgs } from "node:util";
import { parseWorkload } from "../host/workload.js";
import type { MigrationOptions } from "../migration/options.js";
import { migrate } from "../migration/migrate.js";
import { buildScenario, type ScenarioOptions } from "../migration/scenario.js";
import type { MigrationResult } from "../migration/stats.js";
import { ErrorCode, HypermemError } from "../errors.js";
import { ProgressReporter } from "./progress.js";
import { formatColumns, infoMigrateRows, roundRows } from "./report.js";
import { formatCount, parseDuration, parseNumber, parseRate, parseSize } from "./units.js";
import { loadToken } from "../net/handshake.js";
import { migrateOverTcp, parseHostPort, type TcpMigrationResult, type TcpTransfer } from "../migration/tcp.js";

export const MIGRATE_USAGE = `hypermem migrate [options]
  --guest SIZE            guest memory (1GiB)
  --host-memory SIZE      memory of each host (guest x prefill + XBZRLE cache + 256MiB, at most 4GiB)
  --prefill FRACTION      share of guest pages written with seeded data first (1)
  --workload SPEC         uniform | zipf:S | hotcold:F,P | sequential | trace:FILE (hotcold:0.1,0.9)
  --rate N                guest accesses per second: simulated, or wall-clock with --to (1000000)
  --write-fraction F      share of accesses that write (0.3)
  --write-size BYTES      bytes per access, 8..4096, a power of two (64)
  --bandwidth RATE        simulated link rate, e.g. 10Gbit, 1GiB/s (10Gbit; not with --to)
  --latency DURATION      simulated one-way link latency (100us; not with --to)
  --downtime-limit DUR    QEMU downtime-limit (300ms)
  --max-bandwidth RATE    QEMU max-bandwidth cap on migration traffic (none)
  --policy qemu|xen       stop rule (qemu)
  --xbzrle                XBZRLE delta compression of re-sent pages
  --xbzrle-cache SIZE     XBZRLE cache size, a power-of-two number of pages (64MiB)
  --auto-converge         throttle the guest while it dirties faster than the link drains
  --inject-errors N       known uncorrectable memory errors in guest pages (0)
  --latent-errors N       latent uncorrectable memory errors (0)
  --max-rounds N          give up after N rounds, leaving the source running
  --max-time DURATION     give up after this much time (simulated, or wall-clock with --to)
  --seed N                seed of the prefill, workload and error placement (1)
  --json                  print one JSON object instead of the table
  --to HOST:PORT          migrate over TCP to a hypermem listen destination instead of in-process
  --token-file FILE       shared secret for --to (required with it)
  --idle-timeout DUR      with --to: fail after this long without socket activity (10s)`;

const OPTIONS = {
  guest: { type: "string" }, "host-memory": { type: "string" }, prefill: { type: "string" }, workload: { type: "string" },
  rate: { type: "string" }, "write-fraction": { type: "string" }, "write-size": { type: "string" },
  bandwidth: { type: "string" }, latency: { type: "string" }, "downtime-limit": { type: "string" },
  "max-bandwidth": { type: "string" }, policy: { type: "string" }, xbzrle: { type: "boolean" },
  "xbzrle-cache": { type: "string" }, "auto-converge": { type: "boolean" }, "inject-errors": { type: "string" },
  "latent-errors": { type: "string" }, "max-rounds": { type: "string" }, "max-time": { type: "string" },
  seed: { type: "string" }, json: { type: "boolean" },
  to: { type: "string" }, "token-file": { type: "string" }, "idle-timeout": { type: "string" },
} as const;

export interface MigrateCommand {
  readonly scenario: ScenarioOptions;
  readonly migration: MigrationOptions;
  readonly json: boolean;
  /** Migrate over TCP to this destination (with --to). */
  readonly to?: { host: string; port: number; tokenFile: string; idleTimeoutMs: number | undefined } | null;
}

function wholeMiB(option: string, bytes: number): number {
  const mib = bytes / 2 ** 20;
  if (!Number.isInteger(mib * 256) || mib <= 0) {
    throw new HypermemError(ErrorCode.BadOption, `${option}: ${bytes} bytes is not a positive whole number of 4 KiB pages`, { option, value: bytes });
  }
  return mib;
}

/** Parses `hypermem migrate` arguments into scenario and migration options. */
export function parseMigrateArgs(args: string[]): MigrateCommand {
  const { values: v } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false });
  const policy = v.policy ?? "qemu";
  if (policy !== "qemu" && policy !== "xen") {
    throw new HypermemError(ErrorCode.BadOption, `--policy: expected qemu or xen, got ${JSON.stringify(policy)}`, { option: "--policy", value: policy });
  }
  const int = (name: string, text: string | undefined, min: number, max: number): number | undefined =>
    text === undefined ? undefined : parseNumber(name, text, min, max);
  const scenario: ScenarioOptions = {
    guestMiB: wholeMiB("--guest", parseSize("--guest", v.guest ?? "1GiB")),
    hostMiB: v["host-memory"] === undefined ? undefined : wholeMiB("--host-memory", parseSize("--host-memory", v["host-memory"])),
    prefill: int("--prefill", v.prefill, 0, 1),
    workload: parseWorkload(v.workload ?? "hotcold:0.1,0.9"),
    ratePerSec: int("--rate", v.rate, 1, 2 ** 32 - 1),
    writeFraction: int("--write-fraction", v["write-fraction"], 0, 1),
    writeBytes: v["write-size"] === undefined ? undefined : parseSize("--write-size", v["write-size"]),
    seed: int("--seed", v.seed, 0, Number.MAX_SAFE_INTEGER),
    injectErrors: int("--inject-errors", v["inject-errors"], 0, 2 ** 28),
    latentErrors: int("--latent-errors", v["latent-errors"], 0, 2 ** 28),
  };
  for (const option of ["bandwidth", "latency"] as const) {
    if (v.to !== undefined && v[option] !== undefined) {
      throw new HypermemError(ErrorCode.BadOption, `--${option} sets the simulated link of an in-process migration; with --to the link is real (--max-bandwidth caps the rate)`, { option: `--${option}` });
    }
  }
  const migration: MigrationOptions = {
    ...(v.to === undefined ? {
      bandwidthBytesPerSec: parseRate("--bandwidth", v.bandwidth ?? "10Gbit"),
      latencyNs: parseDuration("--latency", v.latency ?? "100us"),
    } : {}),
    downtimeLimitNs: parseDuration("--downtime-limit", v["downtime-limit"] ?? "300ms"),
    maxBandwidthBytesPerSec: v["max-bandwidth"] === undefined ? null : parseRate("--max-bandwidth", v["max-bandwidth"]),
    policy,
    xbzrleCacheBytes: v.xbzrle || v["xbzrle-cache"] !== undefined ? parseSize("--xbzrle-cache", v["xbzrle-cache"] ?? "64MiB") : false,
    autoConverge: v["auto-converge"] ?? false,
    maxRounds: int("--max-rounds", v["max-rounds"], 1, 1e6) ?? null,
    maxTotalTimeNs: v["max-time"] === undefined ? null : parseDuration("--max-time", v["max-time"]),
  };
  if (migration.xbzrleCacheBytes) scenario.extraHostMiB = migration.xbzrleCacheBytes / 2 ** 20;
  if (v.to === undefined && (v["token-file"] !== undefined || v["idle-timeout"] !== undefined)) {
    throw new HypermemError(ErrorCode.BadOption, "--token-file and --idle-timeout need --to HOST:PORT", { option: "--to" });
  }
  if (v.to !== undefined && v["token-file"] === undefined) {
    throw new HypermemError(ErrorCode.BadOption, "--to needs --token-file FILE (the destination's shared secret)", { option: "--token-file" });
  }
  const to = v.to === undefined ? null : {
    ...parseHostPort("--to", v.to),
    tokenFile: v["token-file"]!,
    idleTimeoutMs: v["idle-timeout"] === undefined ? undefined : parseDuration("--idle-timeout", v["idle-timeout"]) / 1e6,
  };
  return { scenario, migration, json: v.json ?? false, to };
}

/** Runs one scenario's migration with progress on stderr. */
export async function runMigration(cmd: MigrateCommand, progress: boolean): Promise<MigrationResult> {
  const cache = cmd.migration.xbzrleCacheBytes;
  const s = buildScenario(cache ? { extraHostMiB: cache / 2 ** 20, ...cmd.scenario } : cmd.scenario);
  const reporter = progress ? new ProgressReporter(s.vm.memoryBytes) : null;
  const result = await migrate(s.vm, s.destination, {
    ...cmd.migration,
    workload: s.workload,
    verify: true,
    onProgress: reporter ? (p) => reporter.update(p) : null,
  });
  reporter?.done();
  s.workload.close();
  const { destination: _destination, ...plain } = result;
  return plain;
}

/**
 * Runs one scenario's migration over TCP to `cmd.to` (the scenario's own
 * destination host is unused). Connect and handshake errors throw.
 */
export async function runTcpMigration(cmd: MigrateCommand, progress: boolean, signal?: AbortSignal): Promise<TcpMigrationResult> {
  if (!cmd.to) throw new HypermemError(ErrorCode.BadOption, "runTcpMigration needs --to", { option: "--to" });
  const token = await loadToken(cmd.to.tokenFile);
  const cache = cmd.migration.xbzrleCacheBytes;
  const s = buildScenario(cache ? { extraHostMiB: cache / 2 ** 20, ...cmd.scenario } : cmd.scenario);
  const reporter = progress ? new ProgressReporter(s.vm.memoryBytes) : null;
  try {
    return await migrateOverTcp(s.vm, {
      ...cmd.migration,
      workload: s.workload,
      onProgress: reporter ? (p) => reporter.update(p) : null,
    }, { host: cmd.to.host, port: cmd.to.port, token, idleTimeoutMs: cmd.to.idleTimeoutMs, signal });
  } finally {
    reporter?.done();
    s.workload.close();
  }
}

/** The wall-clock rows of a TCP migration. */
export function tcpRows(t: TcpTransfer): Array<[string, string]> {
  return [
    ["destination", t.peer],
    ["handshake (wall)", `${t.handshakeMs.toFixed(1)} ms`],
    ["transfer (wall)", `${t.wallMs.toFixed(0)} ms`],
    ["bytes on socket", `${formatCount(t.bytesSent / 1024)} kbytes`],
    ["wall-clock rate", `${t.mibPerSec.toFixed(0)} MiB/s`],
  ];
}

/** `hypermem migrate`: returns the exit status. */
export async function migrateCommand(args: string[]): Promise<number> {
  const cmd = parseMigrateArgs(args);
  if (cmd.to) {
    const abort = new AbortController();
    const onSigint = (): void => abort.abort();
    process.once("SIGINT", onSigint);
    let tcp: TcpMigrationResult;
    try {
      tcp = await runTcpMigration(cmd, !cmd.json, abort.signal);
    } finally {
      process.off("SIGINT", onSigint);
    }
    if (cmd.json) {
      process.stdout.write(`${JSON.stringify(tcp, null, 2)}\n`);
    } else {
      const { tcp: transfer, ...result } = tcp;
      console.log(formatColumns(["result"], [[...infoMigrateRows(result), ...tcpRows(transfer)]]));
      console.log(`\n${roundRows(result)}`);
    }
    if (abort.signal.aborted) return 130;
    return tcp.status === "completed" && tcp.verification?.ok === true ? 0 : 1;
  }
  const result = await runMigration(cmd, true);
  if (cmd.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    console.log(formatColumns(["result"], [infoMigrateRows(result)]));
    console.log(`\n${roundRows(result)}`);
  }
  return result.status === "completed" && result.verification?.ok !== false ? 0 : 1;
}
