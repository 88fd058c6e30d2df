// `hypermem demo`, the flagship: a 1 GiB guest with a hot/cold workload is
// live-migrated over a 10 Gbit link twice, plainly and with XBZRLE plus
// auto-converge, and the two `info migrate` results are printed side by side.
import type { MigrationOptions } from "../migration/options.js";
import type { ScenarioOptions } from "../migration/scenario.js";
import type { MigrationResult } from "../migration/stats.js";
import { hostsFor, runMigration } from "./migrate-run.js";
import { defineCommand, type TextSink } from "./registry.js";
import { formatColumns, infoMigrateRows } from "./report.js";
import { formatCount } from "./units.js";

/** The XBZRLE cache of the second run, bytes: 512 MiB holds the hot set; `migrate --xbzrle` defaults to QEMU's 64 MiB. */
const DEMO_XBZRLE_CACHE_BYTES = 512 * 2 ** 20;

/** The flagship scenario: what both runs of the migration demo share. */
const MIGRATION_DEMO: { scenario: ScenarioOptions; migration: MigrationOptions } = Object.freeze({
  scenario: { guestMiB: 1024, workload: { kind: "hotcold", hotFraction: 0.4, hotProbability: 0.95 }, ratePerSec: 1_500_000, writeFraction: 0.5, writeBytes: 64, seed: 1 },
  migration: { bandwidthBytesPerSec: 1.25e9, downtimeLimitNs: 300e6, maxTotalTimeNs: 3e9 },
});

/** Runs the migration demo: plain, then XBZRLE + auto-converge, with progress on `progress`. Returns the printed text. */
async function runMigrationDemo(progress: TextSink | null): Promise<{ text: string; results: MigrationResult[] }> {
  const runs: Array<[string, MigrationOptions]> = [
    ["plain", MIGRATION_DEMO.migration],
    ["xbzrle + auto-converge", { ...MIGRATION_DEMO.migration, xbzrleCacheBytes: DEMO_XBZRLE_CACHE_BYTES, autoConverge: true }],
  ];
  const results: MigrationResult[] = [];
  // One pair of hosts for both runs: the second guest gets frames the first touched, not fresh memory the OS faults in.
  const hosts = hostsFor(runs.map(([, migration]) => [MIGRATION_DEMO.scenario, migration] as const));
  for (const [title, migration] of runs) {
    progress?.write(`migrating (${title})\n`);
    results.push(await runMigration(MIGRATION_DEMO.scenario, migration, { progress, hosts }));
  }
  const s = MIGRATION_DEMO.scenario;
  const head = [
    `hypermem demo: live migration of a ${s.guestMiB / 1024} GiB guest over a 10 Gbit link (300 ms downtime limit, give up after 3 simulated seconds)`,
    `guest workload: hot/cold, 40% of pages get 95% of ${formatCount(s.ratePerSec ?? 0)} accesses/s, half of them 64-byte writes`,
    `second run: XBZRLE with a ${DEMO_XBZRLE_CACHE_BYTES / 2 ** 20} MiB cache (migrate --xbzrle defaults to 64 MiB, as QEMU) and auto-converge`,
  ].join("\n");
  return { text: `${head}\n\n${formatColumns(runs.map(([t]) => t), results.map(infoMigrateRows))}`, results };
}

export const demoCommand = defineCommand({
  name: "demo",
  summary: "the flagship: live-migrate a 1 GiB guest over 10 Gbit, plainly and with XBZRLE + auto-converge, and compare the two",
  description: "Live-migrates a 1 GiB guest whose hot/cold workload (40% of pages get 95% of 1,500,000 accesses/s, half " +
    "of them 64-byte writes) dirties memory faster than a 10 Gbit link drains it: once plainly, once with XBZRLE (a 512 MiB " +
    "cache) and auto-converge, and prints QEMU's `info migrate` figures side by side. `npm start` runs it.",
  options: {},
  examples: ["hypermem demo"],
  async run(_values, ctx) {
    ctx.stdout.write(`${(await runMigrationDemo(ctx.stderr)).text}\n`);
    return 0;
  },
});
