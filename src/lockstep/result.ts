// The figures of a lockstep run, named as COLO's users name them where a
// name exists: packets compared, matched, mismatched, timed out; checkpoints
// by cause (mismatch, timeout, queue full, periodic); what each resync sent
// and how long both copies stood still; how long output was held.
import type { Percentiles } from "../checkpoint/result.js";
import type { CheckpointCause } from "./comparator.js";
import type { NondeterminismKind } from "./nondeterminism.js";

export interface ResyncRecord {
  /** Attempt number: 0 is the initial synchronisation; a retry after a damaged stream is a new attempt. */
  attempt: number;
  cause: CheckpointCause;
  /** When the checkpoint was triggered (both copies stopped), ms since the run began. */
  startMs: number;
  /** Both copies stopped until the secondary was flushed and the primary heard so, ms (null: did not finish). */
  pauseMs: number | null;
  /** A new stream carrying the whole guest. */
  full: boolean;
  /** Primary pages dirtied since the last sync (all pages for a new stream). */
  dirtyPages: number;
  fullPages: number;
  zeroPages: number;
  deltaPages: number;
  wireBytes: number;
  /** Pages the secondary's flush compared (dirty on either side). */
  flushedPages: number;
  /** Of those, pages where the secondary differed from the primary: the divergence the resync repaired. */
  divergedPages: number;
  /** Held primary packets released when it finished. */
  releasedPackets: number;
  /** The secondary's digest equalled the primary's at the pause (null: not reached). */
  verified: boolean | null;
  /** ERR_STREAM_CORRUPT (damaged stream) or ERR_LOCKSTEP_DIVERGED, else null. */
  error: { code: string; message: string } | null;
}

export interface LockstepFailover {
  failAtMs: number;
  /** The secondary's heartbeat timeout fired, ms. */
  detectedMs: number;
  failoverTimeMs: number;
  /** A resync was under way when the primary failed (its uncommitted checkpoint was dropped). */
  resyncInterrupted: boolean;
  /** Primary packets held at the failure: never released. */
  heldDropped: number;
  /** Packets the secondary had produced that the outside had not seen, released at the takeover. */
  releasedAtTakeover: number;
}

export interface LockstepResult {
  status: "protected" | "failed-over";
  durationMs: number;
  initialSyncMs: number;
  nondeterminism: { perSec: number; events: number } & Record<NondeterminismKind, number>;
  outputs: { compared: number; matched: number; mismatched: number; timedOut: number; queueFull: number };
  checkpoints: { total: number; perSec: number; mismatch: number; timeout: number; queueFull: number; periodic: number; retries: number };
  resyncBytes: { total: number } & Percentiles;
  pauseMs: Percentiles;
  heldOutputLatencyMs: Percentiles;
  /** Share of the run both copies stood still for checkpoints. */
  pausedShare: number;
  /** Pages repaired on the secondary over all resyncs. */
  divergedPages: number;
  resyncsVerified: number;
  resyncErrors: Array<{ attempt: number; code: string; message: string }>;
  packets: { emitted: number; released: number; heldAtEnd: number; secondaryDropped: number; outOfOrder: number };
  /** Pages where the two copies differ at the end (no failover; null after one). */
  endDivergedPages: number | null;
  bytesSent: number;
  failover: LockstepFailover | null;
  resyncRecords: ResyncRecord[];
}
