// Runs one after another on one pair of hosts (src/cli/migrate-run.ts, as
// the demo runs them): the hosts are sized for the largest run, each run
// leaves no guest behind, and a run on reused hosts gives the figures a run
// on fresh hosts gives, with its destination verified equal to its source.
import { describe, expect, it } from "vitest";
import { hostsFor, runMigration } from "../src/cli/migrate-run.js";
import type { MigrationOptions } from "../src/migration/options.js";
import type { ScenarioOptions } from "../src/migration/scenario.js";
import type { MigrationResult } from "../src/migration/stats.js";
import { TEST_LIMITS } from "./helpers.js";

const SCENARIO: ScenarioOptions = {
  guestMiB: 16, workload: { kind: "hotcold", hotFraction: 0.2, hotProbability: 0.9 }, ratePerSec: 50_000, writeFraction: 0.5, seed: 9,
};
const PLAIN: MigrationOptions = { ...TEST_LIMITS, bandwidthBytesPerSec: 1.25e8, downtimeLimitNs: 100e6 };
const XBZRLE: MigrationOptions = { ...PLAIN, xbzrleCacheBytes: 8 << 20, autoConverge: true };

/** The result without its wall-clock time, which no two runs share. */
const figures = ({ wallTimeMs: _wall, ...rest }: MigrationResult): Omit<MigrationResult, "wallTimeMs"> => rest;

describe("runMigration on reused hosts", () => {
  it("sizes the hosts for the largest run: the guest, the XBZRLE cache and 256 MiB", () => {
    const hosts = hostsFor([[SCENARIO, PLAIN], [SCENARIO, XBZRLE]]);
    expect(hosts.source.memoryMiB).toBe(16 + 8 + 256);
    expect(hosts.destination.memoryMiB).toBe(16 + 8 + 256);
    expect(hostsFor([[SCENARIO, PLAIN]]).source.memoryMiB).toBe(16 + 256);
  });

  it("gives the figures of fresh hosts, verified, and leaves no guest on either host", async () => {
    const hosts = hostsFor([[SCENARIO, PLAIN], [SCENARIO, XBZRLE]]);
    const used = (): [number, number] => [hosts.source.stats().usedFrames, hosts.destination.stats().usedFrames];
    const idle = used();
    for (const options of [XBZRLE, PLAIN, XBZRLE]) {
      const reused = await runMigration(SCENARIO, options, { progress: null, hosts });
      expect(used()).toEqual(idle);
      expect(hosts.source.stats().peakUsedFrames).toBeGreaterThan(4096); // the guest lived on these hosts
      expect(hosts.destination.stats().peakUsedFrames).toBeGreaterThan(4096);

      const fresh = await runMigration(SCENARIO, options, { progress: null });
      expect(reused.status).toBe("completed");
      expect(reused.verification).toMatchObject({ ok: true, firstMismatchPfn: null });
      expect(figures(reused)).toEqual(figures(fresh));
      // The run's options and workload reached the migration: its cache, its link, a guest dirtying pages.
      expect(reused.xbzrleCache?.cacheSize ?? null).toBe(options.xbzrleCacheBytes ?? null);
      expect(reused.ram.mbps).toBeLessThanOrEqual(1000);
      expect(reused.ram.dirtySyncCount).toBeGreaterThan(1);
      expect(reused.rounds.some((r) => r.pagesDirtied > 0)).toBe(true);
    }
  }, 120_000);

  it("a cancelled run returns its result, keeps no destination and leaves no guest", async () => {
    const hosts = hostsFor([[SCENARIO, PLAIN]]);
    const idle = [hosts.source.stats().usedFrames, hosts.destination.stats().usedFrames];
    const cancel = new AbortController();
    cancel.abort();
    const r = await runMigration(SCENARIO, PLAIN, { progress: null, hosts, signal: cancel.signal });
    expect(r.status).toBe("cancelled");
    expect([hosts.source.stats().usedFrames, hosts.destination.stats().usedFrames]).toEqual(idle);
  }, 60_000);
});
