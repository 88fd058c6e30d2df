// The figures of a protected run, named as Remus and QEMU micro-checkpointing
// users name them: per epoch (pause time, dirty pages, pages sent early,
// what the in-flight policy did) and per checkpoint (pages, bytes, deltas,
// when it was sent, committed, acknowledged), and the summary a table or
// --json shows.
import type { InFlightPolicy } from "./options.js";

export interface EpochRecord {
  epoch: number;
  /** When the epoch's run began, ms since protection started. */
  startMs: number;
  /** Guest running time of the epoch, ms (longer than the epoch under "wait"). */
  runMs: number;
  /** Guest paused at its end, ms. */
  pauseMs: number;
  /** Pages the pause found dirty (copied to staging, or staged as zero). */
  dirtyPages: number;
  /** Pages copied during the pause. */
  copiedPages: number;
  /** Pages sent early this epoch (copied while the guest ran, write-protected). */
  earlyPages: number;
  /** Of those, pages the guest wrote again (the write-protect fault): they went again at the pause. */
  earlyRewritten: number;
  /** The previous checkpoint was still on the wire at the epoch's end: what the policy did. */
  inFlight: "none" | "waited" | "merged";
  /** Time the guest ran on waiting for it, ms. */
  waitMs: number;
  /** The checkpoint holding this pause's state. */
  checkpoint: number;
  /** Output packets the epoch produced. */
  packets: number;
}

export interface CheckpointRecord {
  checkpoint: number;
  /** Pause epochs it holds (more than one when merged); the last is the state it commits. */
  epochs: number[];
  fullPages: number;
  zeroPages: number;
  deltaPages: number;
  deltaBytes: number;
  unchangedPages: number;
  /** Of the pages, those that went while the guest ran (early send). */
  earlyPages: number;
  wireBytes: number;
  /** Its COMMIT left the primary, ms (null: never). */
  sentMs: number | null;
  /** The backup applied it, ms (null: never). */
  committedMs: number | null;
  /** Its acknowledgement reached the primary, ms (null: never, or lost). */
  ackedMs: number | null;
  /** The backup's guest equalled the primary's memory at the pause (null: not checked). */
  verified: boolean | null;
}

export interface Percentiles { p50: number; p99: number; max: number }

export interface FailoverRecord {
  failAtMs: number;
  /** The backup's heartbeat timeout fired, ms. */
  detectedMs: number;
  /** From the failure to the backup guest taking over, ms. */
  failoverTimeMs: number;
  /** The checkpoint the backup resumed from (-1: none committed, no takeover). */
  checkpoint: number;
  /** Its pause epoch. */
  pauseEpoch: number;
  /** The backup guest's memory digest equals the primary's at that pause (null: not checked, verify off or nothing committed). */
  verified: boolean | null;
  digest: string;
  /** ERR_FAILOVER_MISMATCH (src/checkpoint/verify.ts) when the check failed, else null. */
  error: { code: string; message: string } | null;
}

export interface FtResult {
  status: "protected" | "failed-over" | "unprotected";
  durationMs: number;
  epochMs: number;
  /** Epoch 0: the initial copy of the whole guest (paused), ms; not in the pause figures. */
  initialSyncMs: number;
  epochs: number;
  checkpointsCommitted: number;
  checkpointsPerSec: number;
  pauseMs: Percentiles;
  pagesPerCheckpoint: number;
  bytesPerCheckpoint: number;
  deltaPages: number;
  /** Delta bytes / (delta pages × 4096). */
  deltaRatio: number;
  earlyPages: number;
  earlyRewritten: number;
  inFlight: { policy: InFlightPolicy; waited: number; waitMs: number; merged: number };
  packets: { emitted: number; released: number; heldAtEnd: number; dropped: number };
  /** Added latency of released packets, ms. */
  packetLatencyMs: Percentiles;
  /** Share of guest time spent paused. */
  pausedShare: number;
  /** Link busy share. */
  linkUtilisation: number;
  bytesSent: number;
  failover: FailoverRecord | null;
  /** The backup's stream failed (the guest ran on unprotected). */
  backupError: { code: string; message: string } | null;
  /** The backup's guest equalled the primary at its last commit (end of run). */
  backupVerified: boolean | null;
  epochRecords: EpochRecord[];
  checkpointRecords: CheckpointRecord[];
}

/** p50, p99 and max of `values` (nearest rank); zeros when empty. */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return { p50: rank(0.5), p99: rank(0.99), max: sorted[sorted.length - 1] };
}
