// The figures a finished migration reports (QEMU's `info migrate`), built
// from the source engine's counters.
import type { PackStats } from "../stream/packer.js";
import type { MigrationResult, RoundRecord } from "./stats.js";

/** What the source engine counted (PrecopySource has these). */
export interface SourceCounters {
  readonly totals: PackStats;
  readonly nowNs: number;
  readonly setupNs: number;
  readonly lastExpectedDowntimeNs: number;
  readonly transferred: number;
  readonly remainingPages: number;
  readonly digestNs: number;
  readonly generation: number;
  readonly bytesAtStop: number | null;
  readonly rounds: readonly RoundRecord[];
  readonly vm: { readonly memoryBytes: number };
  readonly o: { readonly xbzrleCacheBytes: number | null };
  readonly sync: { readonly throttlePct: number; readonly dirtyPagesRate: number };
}

/** The result of `src`'s migration, ended with `status` for `reason`. */
export function buildResult(src: SourceCounters, status: MigrationResult["status"], reason: string, downtimeNs: number, wallMs: number): MigrationResult {
  const t = src.totals;
  const totalMs = src.nowNs / 1e6;
  const last = src.rounds.filter((r) => r.durationMs > 0).at(-1);
  const lookups = t.xbzrlePages + t.xbzrleCacheMiss + t.xbzrleOverflow + t.xbzrleUnchanged;
  return {
    status,
    totalTime: totalMs,
    setupTime: src.setupNs / 1e6,
    downtime: downtimeNs / 1e6,
    digestTime: src.digestNs / 1e6,
    expectedDowntime: src.lastExpectedDowntimeNs / 1e6,
    ram: {
      transferred: src.transferred,
      remaining: status === "completed" ? 0 : src.remainingPages * 4096,
      total: src.vm.memoryBytes,
      duplicate: t.zeroPages,
      normal: t.normalPages,
      normalBytes: t.normalBytes,
      dirtySyncCount: src.generation - 1,
      pagesPerSecond: last ? last.pagesSent / (last.durationMs / 1e3) : 0,
      dirtyPagesRate: src.sync.dirtyPagesRate,
      mbps: totalMs > 0 ? (src.transferred * 8) / (totalMs / 1e3) / 1e6 : 0,
      precopyBytes: src.bytesAtStop ?? src.transferred,
      downtimeBytes: src.transferred - (src.bytesAtStop ?? src.transferred),
    },
    xbzrleCache: src.o.xbzrleCacheBytes === null ? null : {
      cacheSize: src.o.xbzrleCacheBytes,
      bytes: t.xbzrleBytes,
      pages: t.xbzrlePages,
      cacheMiss: t.xbzrleCacheMiss,
      cacheMissRate: lookups > 0 ? t.xbzrleCacheMiss / lookups : 0,
      encodingRate: t.xbzrleBytes > 0 ? (t.xbzrlePages * 4096) / t.xbzrleBytes : 0,
      overflow: t.xbzrleOverflow,
    },
    cpuThrottlePercentage: src.sync.throttlePct,
    rounds: [...src.rounds],
    poisonedPagesSent: t.poisonedPages,
    latentErrorsFound: t.latentFound,
    stopReason: reason,
    verification: null,
    error: null,
    wallTimeMs: wallMs,
  };
}
