// `hypermem demo`, the flagship: a 1 GiB guest with a hot/cold workload is
// live-migrated over a 10 Gbit link twice, plainly and with XBZRLE plus
// auto-converge, and the two `info migrate` results are printed side by
// side. `hypermem demo host` shows the host alone: a Zipf write workload on
// a 1 GiB guest for one simulated second, then the dirty log.
import { createHost } from "../host/host.js";
import type { MigrationOptions } from "../migration/options.js";
import type { ScenarioOptions } from "../migration/scenario.js";
import type { MigrationResult } from "../migration/stats.js";
import { runMigration } from "./migrate.js";
import { formatColumns, infoMigrateRows } from "./report.js";
import { formatBytes, formatCount } from "./units.js";

export interface DemoOptions {
  readonly guestMiB: number;
  readonly seconds: number;
  readonly ratePerSec: number;
  readonly zipfS: number;
  readonly seed: number;
}

export const DEMO_DEFAULTS: DemoOptions = Object.freeze({ guestMiB: 1024, seconds: 1, ratePerSec: 2_000_000, zipfS: 1.1, seed: 1 });

/** Runs the demo and returns the lines it prints. */
export function runHostDemo(o: DemoOptions = DEMO_DEFAULTS): string[] {
  const started = performance.now();
  const host = createHost({ memoryMiB: o.guestMiB + 256 });
  const vm = host.createVm({ memoryMiB: o.guestMiB });
  const workload = vm.startWorkload({ kind: "zipf", s: o.zipfS, ratePerSec: o.ratePerSec, writeFraction: 1, writeBytes: 64, seed: o.seed });
  const runStart = performance.now();
  const run = workload.runFor(o.seconds * 1e9);
  const runMs = performance.now() - runStart;
  workload.close();
  const harvestStart = performance.now();
  const dirty = vm.harvestDirty();
  const harvestMs = performance.now() - harvestStart;
  const accessed = vm.harvestAccessed();
  const stats = host.stats();
  const c = vm.counters;
  const line = (k: string, v: string): string => `  ${k.padEnd(16)}${v}`;
  return [
    `hypermem demo: Zipf (s=${o.zipfS}) writes on a ${formatBytes(vm.memoryBytes)} guest for ${o.seconds} simulated second(s)`,
    line("host", `${formatBytes(host.memoryMiB * 2 ** 20)} of frames allocated on demand (${formatCount(host.maxFrames)} frames max)`),
    line("workload", `${formatCount(o.ratePerSec)} accesses/s, 100% writes of 64 B, seed ${o.seed}`),
    line("accesses", `${formatCount(run.accesses)} (${formatCount(c.writes)} writes) in ${runMs.toFixed(0)} ms wall = ${(run.accesses / runMs / 1e3).toFixed(1)} M accesses per wall second`),
    line("faults", `not-present ${formatCount(c.faults["not-present"])}, cow ${formatCount(c.faults.cow)} (first touch: a private frame each)`),
    line("frames", `${formatCount(stats.usedFrames)} in use (${formatBytes(stats.usedFrames * 4096)}): guest pages, page tables, bitmaps, the zero frame`),
    line("dirty log", `${formatCount(dirty.count())} pages dirty (${formatBytes(dirty.count() * 4096)}, ${(100 * dirty.count() / vm.pages).toFixed(1)}% of the guest), harvested in ${harvestMs.toFixed(2)} ms`),
    line("accessed", `${formatCount(accessed.count())} pages`),
    line("wall time", `${(performance.now() - started).toFixed(0)} ms in all`),
  ];
}

/** The flagship scenario: what both runs of the migration demo share. */
export const MIGRATION_DEMO: { scenario: ScenarioOptions; migration: MigrationOptions } = Object.freeze({
  scenario: { guestMiB: 1024, workload: { kind: "hotcold", hotFraction: 0.4, hotProbability: 0.95 }, ratePerSec: 1_500_000, writeFraction: 0.5, writeBytes: 64, seed: 1 },
  migration: { bandwidthBytesPerSec: 1.25e9, downtimeLimitNs: 300e6, maxTotalTimeNs: 3e9 },
});

/** Runs the migration demo: plain, then XBZRLE + auto-converge. Returns the printed text. */
export async function runMigrationDemo(progress: boolean): Promise<{ text: string; results: MigrationResult[] }> {
  const runs: Array<[string, MigrationOptions]> = [
    ["plain", MIGRATION_DEMO.migration],
    ["xbzrle + auto-converge", { ...MIGRATION_DEMO.migration, xbzrleCacheBytes: 512 * 2 ** 20, autoConverge: true }],
  ];
  const results: MigrationResult[] = [];
  for (const [title, migration] of runs) {
    if (progress) process.stderr.write(`migrating (${title})\n`);
    results.push(await runMigration({ scenario: MIGRATION_DEMO.scenario, migration, json: false }, progress));
  }
  const s = MIGRATION_DEMO.scenario;
  const head = [
    `hypermem demo: live migration of a ${s.guestMiB / 1024} GiB guest over a 10 Gbit link (300 ms downtime limit, give up after 3 simulated seconds)`,
    `guest workload: hot/cold, 40% of pages get 95% of ${formatCount(s.ratePerSec ?? 0)} accesses/s, half of them 64-byte writes`,
  ].join("\n");
  return { text: `${head}\n\n${formatColumns(runs.map(([t]) => t), results.map(infoMigrateRows))}`, results };
}
