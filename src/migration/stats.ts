// The figures a migration reports, named and meant as QEMU's `info migrate`
// (QMP query-migrate; docs/migration.md maps each field to its QMP name),
// plus per-round records, poisoned pages and the verification result.
import type { Verification } from "../stream/verify.js";

export type { Verification };

export type MigrationStatus = "completed" | "failed" | "cancelled";

export interface RamStats {
  /** Bytes put on the wire: records, headers, chunk framing. */
  transferred: number;
  /** Bytes of guest pages still dirty when the migration ended (0 when completed). */
  remaining: number;
  /** Guest RAM size in bytes. */
  total: number;
  /** Zero pages sent as ZERO records ("duplicate" in QEMU). */
  duplicate: number;
  /** Pages sent whole. */
  normal: number;
  /** Bytes of the pages sent whole. */
  normalBytes: number;
  /** Dirty-bitmap syncs (one per round, plus the final one). */
  dirtySyncCount: number;
  /** Pages sent per second over the last round. */
  pagesPerSecond: number;
  /** Pages dirtied per second over the last period. */
  dirtyPagesRate: number;
  /** Throughput over the whole migration, Mbit/s. */
  mbps: number;
  /** Bytes sent while the guest ran. */
  precopyBytes: number;
  /** Bytes sent during stop-and-copy. */
  downtimeBytes: number;
}

export interface XbzrleStats {
  /** Cache size in bytes. */
  cacheSize: number;
  /** Encoded bytes sent as XBZRLE records. */
  bytes: number;
  /** Pages sent as XBZRLE records. */
  pages: number;
  /** Pages looked up and not found in the cache. */
  cacheMiss: number;
  /** cacheMiss / pages looked up. */
  cacheMissRate: number;
  /** Page bytes encoded / XBZRLE bytes sent. */
  encodingRate: number;
  /** Encodings that did not fit a page and went whole. */
  overflow: number;
}

export interface RoundRecord {
  /** 0 is the bulk pass over all pages. */
  round: number;
  pagesSent: number;
  bytes: number;
  durationMs: number;
  /** Pages the guest dirtied during the round (found by the sync that ends it). */
  pagesDirtied: number;
  /** Throttle applied during the round, %. */
  throttlePct: number;
}

export interface MigrationResult {
  status: MigrationStatus;
  /** Simulated ms from start to end. */
  totalTime: number;
  setupTime: number;
  /** Ms the guest was stopped: from the stop to the last byte (over TCP, less digestTime). */
  downtime: number;
  /**
   * Ms the source spent on the END_STREAM digest of its whole memory (the
   * verification, not part of a hypervisor's downtime); 0 in simulated time.
   */
  digestTime: number;
  /** Remaining bytes / bandwidth at the last round, ms. */
  expectedDowntime: number;
  ram: RamStats;
  xbzrleCache: XbzrleStats | null;
  cpuThrottlePercentage: number;
  rounds: RoundRecord[];
  /** POISON records sent (pages with uncorrectable errors, never their bytes). */
  poisonedPagesSent: number;
  /** Latent errors the exception-safe reads found during the migration. */
  latentErrorsFound: number;
  /** Why the policy stopped precopy, or why it failed. */
  stopReason: string;
  verification: Verification | null;
  error: { code: string; message: string } | null;
  /** Wall-clock ms the simulation took. */
  wallTimeMs: number;
}

export interface MigrationProgress {
  readonly phase: "precopy" | "stop-and-copy";
  readonly round: number;
  readonly remainingBytes: number;
  readonly transferredBytes: number;
  readonly dirtyPagesRate: number;
  readonly throttlePct: number;
  readonly elapsedMs: number;
}
