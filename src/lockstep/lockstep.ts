// Quasi-lockstep fault tolerance (the seed T9; QEMU COLO; Dong et al.,
// SoCC'13): a primary VM and a secondary VM on two hosts run the same guest
// from the same memory, with the same workload and seed, on one timeline.
// Their output packets are compared per connection (comparator.ts); the
// primary's packet leaves as soon as the secondary produced the same one.
// Only when they disagree (or a counterpart is late, or a queue fills, or
// x-checkpoint-delay passed) are both copies stopped and the secondary
// resynchronised from the primary by a checkpoint (resync.ts), while the
// primary's output is held; then the held output is released. The primary
// can fail at any instant: the secondary notices by a heartbeat timeout,
// takes over, and releases what it produced that the outside has not seen.
//
//  t ──►  both run ── packets compared ── mismatch ─┐ stop both ── checkpoint ── commit ── flush ── verify ─┐ resume
//                                                   └ primary output held ────────────────────────────────┴► released
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import type { Vm } from "../host/vm.js";
import { percentiles } from "../checkpoint/result.js";
import { Timeline } from "../sim/timeline.js";
import { fingerprintRange } from "../stream/fingerprints.js";
import { Comparator, Outside, type CheckpointCause, type ReleasedPacket } from "./comparator.js";
import { NondeterminismSource, type NondeterministicEvent } from "./nondeterminism.js";
import { resolveLockstepOptions, type LockstepOptions, type ResolvedLockstepOptions } from "./options.js";
import { ReplySource, type Packet, type Side } from "./output.js";
import type { LockstepFailover, LockstepResult, ResyncRecord } from "./result.js";
import { checkSecondaryHost, ResyncChannel, type ResyncPlan } from "./resync.js";

/** Longest the initial synchronisation, or the last resync at the end, may take, ns of simulated time. */
const SETTLE_LIMIT_NS = 600e9;

/** What the tests' oracles observe. */
export type LockstepTraceEvent =
  | { type: "emit"; packet: Packet }
  | { type: "nondeterminism"; event: NondeterministicEvent }
  | { type: "resync"; phase: "start" | "committed" | "done" | "failed"; attempt: number; cause: CheckpointCause; atNs: number; secondary: Vm }
  | { type: "fail"; atNs: number }
  | { type: "takeover"; atNs: number };

export interface LockstepOutcome extends LockstepResult {
  /** The secondary's guest (after a failover: the running guest). */
  secondaryVm: Vm;
  /** Packets the outside received, in order. */
  released: ReleasedPacket[];
}

interface PendingResync {
  readonly cause: CheckpointCause;
  readonly triggerNs: number;
  cancel: (() => void) | null;
}

class Lockstep {
  readonly o: ResolvedLockstepOptions;
  readonly timeline = new Timeline();
  readonly primary: Vm;
  readonly secondary: Vm;
  readonly workloads: Record<Side, GuestWorkload>;
  readonly sources: Record<Side, ReplySource>;
  readonly nondeterminism: NondeterminismSource;
  readonly outside: Outside;
  readonly comparator: Comparator;
  readonly channel: ResyncChannel;
  readonly #trace: ((e: LockstepTraceEvent) => void) | null;
  /** Per connection: what the secondary produced (or adopted at a resync) that the outside may not have seen. */
  readonly log: Packet[][];
  readonly records: ResyncRecord[] = [];
  readonly #cancels: Array<() => void> = [];
  pending: PendingResync | null = null;
  #attempt = 0;
  #newStream = true;
  #periodic: (() => void) | null = null;
  alive = true;
  takenOver = false;
  failover: LockstepFailover | null = null;
  protectedFromNs = -1;
  emitted = 0;
  bytesSent = 0;
  pausedNs = 0;

  constructor(primary: Vm, secondaryHost: Host, o: ResolvedLockstepOptions, trace: ((e: LockstepTraceEvent) => void) | null) {
    this.o = o;
    this.#trace = trace;
    this.primary = primary;
    const ringsPages = o.connections * o.ringPages;
    if (ringsPages > primary.pages) {
      throw new HypermemError(ErrorCode.BadOption,
        `connections × ringPages (${o.connections} × ${o.ringPages} = ${ringsPages} pages of transmit rings) do not fit the ${primary.pages}-page guest`,
        { option: "connections", value: o.connections });
    }
    checkSecondaryHost(secondaryHost, primary.pages);
    this.secondary = secondaryHost.createVm({ pages: primary.pages });
    this.workloads = { primary: primary.startWorkload(o.workload), secondary: this.secondary.startWorkload(o.workload) };
    const layout = { connections: o.connections, ringPages: o.ringPages, packetBytes: o.packetBytes };
    this.sources = {
      primary: new ReplySource("primary", primary, this.timeline, layout, o.packetsPerSec, o.seed, (p) => this.#fromPrimary(p)),
      secondary: new ReplySource("secondary", this.secondary, this.timeline, layout, o.packetsPerSec, o.seed, (p) => this.#fromSecondary(p)),
    };
    this.nondeterminism = new NondeterminismSource(this.timeline, o.nondeterminismPerSec, o.seed, this.sources, o.connections);
    if (trace) this.nondeterminism.onEvent = (event) => trace({ type: "nondeterminism", event });
    this.outside = new Outside(o.connections);
    this.log = Array.from({ length: o.connections }, () => []);
    this.comparator = new Comparator(this.timeline, o, this.outside, (cause) => this.#trigger(cause));
    this.channel = new ResyncChannel(primary, this.secondary, secondaryHost, o);
  }

  get nowNs(): number { return this.timeline.nowNs; }

  start(): void {
    for (const side of ["primary", "secondary"] as const) this.workloads[side].attach(this.timeline);
    this.#cancels.push(this.timeline.attach(this.sources.primary), this.timeline.attach(this.sources.secondary), this.timeline.attach(this.nondeterminism));
    this.comparator.requestCheckpoint("initial");
  }

  release(): void {
    for (const c of this.#cancels) c();
    this.#periodic?.();
    this.pending?.cancel?.();
    for (const side of ["primary", "secondary"] as const) this.workloads[side].close();
    this.channel.close();
  }

  #fromPrimary(p: Packet): void {
    this.emitted++;
    this.#trace?.({ type: "emit", packet: p });
    this.comparator.pushPrimary(p);
  }

  #fromSecondary(p: Packet): void {
    this.#trace?.({ type: "emit", packet: p });
    if (this.takenOver) {
      this.outside.release(p, "secondary", this.nowNs);
      return;
    }
    const log = this.log[p.connection];
    while (log.length > 0 && log[0].seq < this.outside.nextOn(p.connection)) log.shift();
    log.push(p);
    if (this.comparator.dead) return;
    const generation = this.comparator.generation;
    this.timeline.schedule(p.emittedNs + this.o.link.latencyNs, () => this.comparator.pushSecondary(p, generation));
  }

  /** A checkpoint is needed: both copies stop now; it starts at once. */
  #trigger(cause: CheckpointCause): void {
    if (!this.alive || this.pending) return;
    this.primary.pause();
    this.secondary.pause();
    this.pending = { cause, triggerNs: this.nowNs, cancel: null };
    this.pending.cancel = this.timeline.schedule(this.nowNs, () => this.#startAttempt());
  }

  /** The pause on the primary: the checkpoint is encoded and goes on the wire (with the held packets, the guest's unacknowledged output). */
  #startAttempt(): void {
    const pending = this.pending!;
    const attempt = this.#attempt++;
    const rec: ResyncRecord = {
      attempt, cause: pending.cause, startMs: pending.triggerNs / 1e6, pauseMs: null, full: false, dirtyPages: 0, fullPages: 0, zeroPages: 0,
      deltaPages: 0, wireBytes: 0, flushedPages: 0, divergedPages: 0, releasedPackets: 0, verified: null, error: null,
    };
    this.records.push(rec);
    this.#trace?.({ type: "resync", phase: "start", attempt, cause: pending.cause, atNs: this.nowNs, secondary: this.secondary });
    const plan = this.channel.prepare(attempt, this.#newStream, this.o.damageResyncs.has(attempt));
    rec.full = plan.full;
    rec.dirtyPages = plan.pfns.length;
    rec.fullPages = plan.counts.fullPages;
    rec.zeroPages = plan.counts.zeroPages;
    rec.deltaPages = plan.counts.deltaPages;
    const heldBytes = this.comparator.held().reduce((n, p) => n + p.payload.length + 16, 0);
    rec.wireBytes = plan.wireBytes + heldBytes;
    this.bytesSent += rec.wireBytes;
    const copyNs = this.o.pauseFixedNs + (plan.copiedPages * 4096 * 1e9) / this.o.copyBytesPerSec;
    const wireNs = (rec.wireBytes * 1e9) / this.o.link.bandwidthBytesPerSec;
    pending.cancel = this.timeline.schedule(this.nowNs + copyNs + wireNs + this.o.link.latencyNs, () => this.#delivered(plan, rec));
  }

  /** The checkpoint reached the secondary's host: commit, flush, verify; or a damaged stream and a new attempt. */
  #delivered(plan: ResyncPlan, rec: ResyncRecord): void {
    const pending = this.pending!;
    const outcome = this.channel.deliver(plan, this.o.onFlushed ? (vm) => this.o.onFlushed!(plan.attempt, vm) : null);
    if (!outcome.ok) {
      rec.error = { code: outcome.error.code, message: outcome.error.message };
      this.#trace?.({ type: "resync", phase: "failed", attempt: plan.attempt, cause: pending.cause, atNs: this.nowNs, secondary: this.secondary });
      this.#newStream = true;
      pending.cancel = this.timeline.schedule(this.nowNs, () => this.#startAttempt());
      return;
    }
    this.#newStream = false;
    this.#trace?.({ type: "resync", phase: "committed", attempt: plan.attempt, cause: pending.cause, atNs: this.nowNs, secondary: this.secondary });
    rec.flushedPages = outcome.flushedPages;
    rec.divergedPages = outcome.divergedPages;
    rec.verified = outcome.verified;
    if (outcome.error) rec.error = { code: outcome.error.code, message: outcome.error.message };
    for (let c = 0; c < this.log.length; c++) this.log[c].length = 0;
    for (const p of this.comparator.held()) this.log[p.connection].push({ ...p, side: "secondary" });
    this.sources.secondary.adopt(this.sources.primary);
    this.workloads.secondary.restore(this.workloads.primary.save());
    const flushNs = (outcome.flushedPages * 4096 * 1e9) / this.o.copyBytesPerSec;
    pending.cancel = this.timeline.schedule(this.nowNs + flushNs + this.o.link.latencyNs, () => this.#done(rec));
  }

  /** The primary heard the secondary is synchronised: held output leaves, both copies run again. */
  #done(rec: ResyncRecord): void {
    const pending = this.pending!;
    rec.releasedPackets = this.comparator.checkpointDone(this.nowNs);
    for (const log of this.log) while (log.length > 0 && log[0].seq < this.outside.nextOn(log[0].connection)) log.shift();
    rec.pauseMs = (this.nowNs - pending.triggerNs) / 1e6;
    if (pending.cause !== "initial") this.pausedNs += this.nowNs - pending.triggerNs;
    this.pending = null;
    this.#trace?.({ type: "resync", phase: "done", attempt: rec.attempt, cause: pending.cause, atNs: this.nowNs, secondary: this.secondary });
    this.primary.resume();
    this.secondary.resume();
    this.#schedulePeriodic();
  }

  #schedulePeriodic(): void {
    this.#periodic?.();
    this.#periodic = this.timeline.schedule(this.nowNs + this.o.checkpointDelayNs, () => {
      if (this.alive && !this.pending) this.comparator.requestCheckpoint("periodic");
    });
  }

  /** The primary dies now: its held output is lost, a resync under way is cut before its COMMIT. */
  fail(): void {
    this.alive = false;
    this.#trace?.({ type: "fail", atNs: this.nowNs });
    this.primary.pause();
    this.sources.primary.stopped = true;
    this.nondeterminism.live.delete("primary");
    this.#periodic?.();
    const resyncInterrupted = this.pending !== null;
    this.pending?.cancel?.();
    const heldDropped = this.comparator.die();
    const failNs = this.nowNs;
    const sinceStart = failNs - this.protectedFromNs;
    const lastHeartbeatNs = failNs - (sinceStart % this.o.heartbeatIntervalNs);
    const detectNs = lastHeartbeatNs + this.o.heartbeatTimeoutNs;
    this.failover = { failAtMs: sinceStart / 1e6, detectedMs: -1, failoverTimeMs: -1, resyncInterrupted, heldDropped, releasedAtTakeover: 0 };
    this.#cancels.push(this.timeline.schedule(detectNs, () => this.#takeover(failNs)));
  }

  /** The secondary takes over: what it produced that the outside has not seen goes out, in order; it runs on alone. */
  #takeover(failNs: number): void {
    const f = this.failover!;
    f.detectedMs = (this.nowNs - this.protectedFromNs) / 1e6;
    f.failoverTimeMs = (this.nowNs - failNs) / 1e6;
    this.pending = null;
    this.takenOver = true;
    for (const log of this.log) {
      for (const p of log.splice(0)) {
        if (p.seq < this.outside.nextOn(p.connection)) continue;
        this.outside.release(p, "secondary", this.nowNs);
        f.releasedAtTakeover++;
      }
    }
    this.#trace?.({ type: "takeover", atNs: this.nowNs });
    this.secondary.resume();
  }

  /** Advances in scheduler ticks (a triggered checkpoint starts at the end of the tick) until `untilNs`, or `done()`. */
  advanceTo(untilNs: number, done?: () => boolean): void {
    while (this.nowNs < untilNs && !(done?.() ?? false)) {
      this.timeline.advance(Math.min(this.timeline.quantumNs, untilNs - this.nowNs));
    }
  }

  /** Pages where the two copies differ now (by page fingerprints). */
  divergedPagesNow(): number {
    let n = 0;
    const a = fingerprintRange(this.primary, 0, this.primary.pages).bytes;
    const b = fingerprintRange(this.secondary, 0, this.secondary.pages).bytes;
    for (let i = 0; i < a.length; i += 8) if (Buffer.compare(a.subarray(i, i + 8), b.subarray(i, i + 8)) !== 0) n++;
    return n;
  }
}

/**
 * Runs `primary` in quasi-lockstep with a secondary on `secondaryHost` for
 * `durationMs` of simulated time after the initial synchronisation (or
 * until it fails, `failAtMs`, and then on the secondary). Resolves with the
 * figures, the packets the outside received and the secondary's guest.
 */
export async function runLockstep(primary: Vm, secondaryHost: Host, options: LockstepOptions = {}, trace?: (e: LockstepTraceEvent) => void): Promise<LockstepOutcome> {
  const o = resolveLockstepOptions(options);
  const l = new Lockstep(primary, secondaryHost, o, trace ?? null);
  let endDivergedPages: number | null = null;
  try {
    l.start();
    l.advanceTo(SETTLE_LIMIT_NS, () => l.pending === null);
    l.protectedFromNs = l.nowNs;
    const endNs = l.protectedFromNs + o.durationNs;
    if (o.failAtNs !== null) l.timeline.schedule(l.protectedFromNs + o.failAtNs, () => l.fail());
    let nextProgressNs = l.protectedFromNs + 1e9;
    while (l.nowNs < endNs) {
      l.advanceTo(Math.min(endNs, nextProgressNs));
      if (l.nowNs >= nextProgressNs) {
        o.onProgress?.({ elapsedMs: (l.nowNs - l.protectedFromNs) / 1e6, checkpoints: l.records.length - 1, compared: l.comparator.counts.compared, released: l.outside.released.length });
        nextProgressNs += 1e9;
      }
    }
    if (l.alive) l.advanceTo(endNs + SETTLE_LIMIT_NS, () => l.pending === null);
    else l.advanceTo(endNs + SETTLE_LIMIT_NS, () => l.takenOver);
    l.primary.pause();
    l.secondary.pause();
    if (l.alive) endDivergedPages = l.divergedPagesNow();
  } finally {
    l.release();
  }
  return summarise(l, endDivergedPages);
}

function summarise(l: Lockstep, endDivergedPages: number | null): LockstepOutcome {
  const runNs = Math.max(1, l.nowNs - l.protectedFromNs);
  const records = l.records;
  const later = records.filter((r) => r.cause !== "initial");
  const finished = later.filter((r) => r.pauseMs !== null);
  const byCause = (cause: CheckpointCause): number => finished.filter((r) => r.cause === cause).length;
  const c = l.comparator.counts;
  const released = l.outside.released;
  const nd = l.nondeterminism.counts;
  const resyncWire = records.filter((r) => r.cause !== "initial").map((r) => r.wireBytes);
  return {
    status: l.failover ? "failed-over" : "protected",
    durationMs: runNs / 1e6,
    initialSyncMs: records[0]?.pauseMs ?? 0,
    nondeterminism: { perSec: l.o.nondeterminismPerSec, events: l.nondeterminism.total, ...nd },
    outputs: { compared: c.compared, matched: c.matched, mismatched: c.mismatched, timedOut: c.timedOut, queueFull: c.queueFull },
    checkpoints: {
      total: finished.length, perSec: finished.length / (runNs / 1e9),
      mismatch: byCause("mismatch"), timeout: byCause("timeout"), queueFull: byCause("queue-full"), periodic: byCause("periodic"),
      retries: records.filter((r) => r.error?.code === "ERR_STREAM_CORRUPT").length,
    },
    resyncBytes: { total: resyncWire.reduce((n, b) => n + b, 0), ...percentiles(resyncWire) },
    pauseMs: percentiles(finished.map((r) => r.pauseMs!)),
    heldOutputLatencyMs: percentiles(released.filter((r) => r.origin !== "secondary").map((r) => (r.releasedNs - r.emittedNs) / 1e6)),
    pausedShare: l.pausedNs / runNs,
    divergedPages: later.reduce((n, r) => n + r.divergedPages, 0),
    resyncsVerified: records.filter((r) => r.verified === true).length,
    resyncErrors: records.filter((r) => r.error).map((r) => ({ attempt: r.attempt, code: r.error!.code, message: r.error!.message })),
    packets: { emitted: l.emitted, released: released.length, heldAtEnd: l.comparator.heldPackets, secondaryDropped: c.secondaryDropped, outOfOrder: l.outside.outOfOrder },
    endDivergedPages,
    bytesSent: l.bytesSent,
    failover: l.failover,
    resyncRecords: records,
    secondaryVm: l.secondary,
    released,
  };
}
