// Running a planned migration: in-process between two simulated hosts, or over
// TCP to a `hypermem listen` destination, with progress on a text sink. Used
// by `hypermem migrate` and by the demo.
import { migrate } from "../migration/migrate.js";
import type { MigrationOptions } from "../migration/options.js";
import { buildScenario, hostPair, scenarioHostMiB, type Scenario, type ScenarioHosts, type ScenarioOptions } from "../migration/scenario.js";
import type { MigrationResult } from "../migration/stats.js";
import { migrateOverTcp, type TcpMigrationResult, type TcpTransfer } from "../migration/tcp.js";
import type { TcpPlan } from "./migrate-plan.js";
import { ProgressReporter } from "./progress.js";
import type { TextSink } from "./registry.js";
import { formatCount } from "./units.js";

/** The scenario's options, with room in its default host size for the XBZRLE cache. */
function sized(scenario: ScenarioOptions, migration: MigrationOptions): ScenarioOptions {
  const cache = migration.xbzrleCacheBytes;
  return cache ? { extraHostMiB: cache / 2 ** 20, ...scenario } : scenario;
}

/** Hosts big enough for every one of `runs` (a scenario and its migration options), to run them one after another. */
export function hostsFor(runs: ReadonlyArray<readonly [ScenarioOptions, MigrationOptions]>): ScenarioHosts {
  return hostPair(Math.max(...runs.map(([scenario, migration]) => scenarioHostMiB(sized(scenario, migration)))));
}

function build(scenario: ScenarioOptions, migration: MigrationOptions, hosts?: ScenarioHosts): Scenario {
  return buildScenario(sized(scenario, migration), hosts);
}

/** How runMigration runs: where progress goes, what cancels it, on which hosts. */
export interface RunOptions {
  /** Progress lines (none when null). */
  progress: TextSink | null;
  /** Cancels the migration (the result then says cancelled). */
  signal?: AbortSignal;
  /** Hosts to run on (see hostsFor), new ones sized for the scenario when not given. */
  hosts?: ScenarioHosts;
}

/**
 * Runs one scenario's migration in-process. Both guests are destroyed
 * afterwards, so a next run on the same hosts reuses their frames.
 */
export async function runMigration(scenario: ScenarioOptions, migration: MigrationOptions, run: RunOptions): Promise<MigrationResult> {
  const { progress, signal, hosts } = run;
  const s = build(scenario, migration, hosts);
  const reporter = progress ? new ProgressReporter(s.vm.memoryBytes, progress) : null;
  try {
    const result = await migrate(s.vm, s.destination, {
      ...migration,
      workload: s.workload,
      verify: true,
      signal,
      onProgress: reporter ? (p) => reporter.update(p) : null,
    });
    const { destination, ...plain } = result;
    destination?.destroy();
    return plain;
  } finally {
    reporter?.done();
    s.workload.close();
    s.vm.destroy();
  }
}

/**
 * Runs one scenario's migration over TCP to `to` (the scenario's own
 * destination host is unused). Connect and handshake errors throw; `signal`
 * cancels the migration (the result then says cancelled).
 */
export async function runTcpMigration(
  scenario: ScenarioOptions, migration: MigrationOptions, to: TcpPlan, progress: TextSink | null, signal?: AbortSignal,
): Promise<TcpMigrationResult> {
  const s = build(scenario, migration);
  const reporter = progress ? new ProgressReporter(s.vm.memoryBytes, progress) : null;
  try {
    return await migrateOverTcp(s.vm, {
      ...migration,
      workload: s.workload,
      onProgress: reporter ? (p) => reporter.update(p) : null,
    }, { host: to.host, port: to.port, token: to.token, encryption: to.encryption, idleTimeoutMs: to.idleTimeoutMs, signal });
  } finally {
    reporter?.done();
    s.workload.close();
  }
}

/** The wall-clock rows of a TCP migration. */
export function tcpRows(t: TcpTransfer): Array<[string, string]> {
  return [
    ["destination", t.peer],
    ["protection", t.protection === "aes-256-gcm" ? "encrypted and authenticated (AES-256-GCM)" : "authenticated only (GMAC, --no-encryption)"],
    ["handshake (wall)", `${t.handshakeMs.toFixed(1)} ms`],
    ["transfer (wall)", `${t.wallMs.toFixed(0)} ms`],
    ["bytes on socket", `${formatCount(t.bytesSent / 1024)} kbytes`],
    ["wall-clock rate", `${t.mibPerSec.toFixed(0)} MiB/s`],
    ["guest steal time", `${t.guestStealMs.toFixed(0)} ms (${t.guestStealPct.toFixed(1)}%)`],
  ];
}
