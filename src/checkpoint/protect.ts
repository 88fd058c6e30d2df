// Fault tolerance by frequent checkpointing (Remus, NSDI'08; QEMU
// micro-checkpointing; the seed T10), in-process on a simulated link. Every
// epoch the primary pauses the guest, takes the pages dirtied since the last
// pause from its own dirty-log reader ("checkpoint"), copies them to
// staging, resumes the guest, and sends the checkpoint while the next epoch
// runs; the backup stages it and applies it at its COMMIT, then
// acknowledges; held output is released on the acknowledgement. Deltas go
// only against versions the backup confirmed (confirmed-bases.ts), stable
// pages go early (early-send.ts). The primary can fail at any instant; the
// backup notices by a heartbeat timeout and resumes from its last commit,
// whose memory must equal the primary's at that pause (digest recorded at
// the pause). Time passes only through the Timeline and the SimulatedLink.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { PageLogReader } from "../host/page-log.js";
import { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { SimulatedLink } from "../sim/link.js";
import { mulberry32 } from "../sim/prng.js";
import { Timeline } from "../sim/timeline.js";
import { guestDigest } from "../stream/fingerprints.js";
import { decodeCheckpointAck, encodeCheckpointAck } from "./ack.js";
import { Backup } from "./backup.js";
import { ConfirmedBases } from "./confirmed-bases.js";
import { EarlyProtection, ModificationHistory, takeStable } from "./early-send.js";
import { addCounts, CheckpointEncoder, type RecordKind } from "./encoder.js";
import { resolveFtOptions, type FtOptions, type ResolvedFtOptions } from "./options.js";
import { OutputBuffer, PacketSource, type ReleasedPacket } from "./output.js";
import { PendingCheckpoint } from "./pending.js";
import { percentiles, type CheckpointRecord, type EpochRecord, type FailoverRecord, type FtResult } from "./result.js";
import { StagingArea, takeAll } from "./staging.js";
import { checkTakeover, hexDigest } from "./verify.js";

/** Step of simulated time while waiting for an acknowledgement with nothing to send. */
const IDLE_STEP_NS = 1e6;
/** Longest the initial synchronisation may take beyond the run's duration. */
const INITIAL_SYNC_LIMIT_NS = 600e9;

/** What the tests' oracles observe on the wire and the feedback path. */
export type FtTraceEvent =
  | { type: "chunk"; checkpoint: number; bytes: Uint8Array; atNs: number }
  | { type: "record"; pfn: number; kind: RecordKind; checkpoint: number; atNs: number }
  | { type: "ack"; checkpoint: number; atNs: number }
  | { type: "commit"; checkpoint: number; atNs: number };

/** A message on the wire: the bytes, how many are on it so far, the checkpoint it belongs to. */
interface WireMessage {
  readonly bytes: Uint8Array;
  sent: number;
  readonly checkpoint: number;
  readonly commit: boolean;
}

export interface FtOutcome extends FtResult {
  /** The backup's guest (after a failover: the running guest; else the copy, at its last commit). */
  backupVm: Vm | null;
  /** Packets released to the outside, in order. */
  released: ReleasedPacket[];
}

class Protection {
  readonly vm: Vm;
  readonly o: ResolvedFtOptions;
  readonly timeline: Timeline;
  readonly link: SimulatedLink;
  readonly reader: PageLogReader;
  readonly list: PfnList;
  readonly bases: ConfirmedBases;
  readonly encoder: CheckpointEncoder;
  readonly backup: Backup;
  readonly output = new OutputBuffer();
  readonly packets: PacketSource;
  readonly history: ModificationHistory;
  readonly early: EarlyProtection;
  readonly staging: StagingArea;
  readonly startNs: number;
  readonly #rng: () => number;
  readonly #trace: ((e: FtTraceEvent) => void) | null;
  /** Checkpoints closed and not yet wholly on the wire, oldest first; then the open one (last). */
  readonly queue: PendingCheckpoint[] = [];
  open: PendingCheckpoint;
  #nextSeq = 0;
  #msg: WireMessage | null = null;
  readonly #wireQueue: WireMessage[] = [];
  alive = true;
  detectedNs: number | null = null;
  readonly digests = new Map<number, bigint>();
  readonly pauseEpochOf = new Map<number, number>();
  readonly epochs: EpochRecord[] = [];
  readonly checkpoints = new Map<number, CheckpointRecord>();
  readonly #cancels: Array<() => void> = [];
  #watchdog: (() => void) | null = null;
  epoch = 0;
  /** When the initial copy ended: the protected run's figures start there. */
  protectedFromNs = -1;
  busyNs = 0;
  pausedNs = 0;

  constructor(vm: Vm, backupHost: Host, o: ResolvedFtOptions, trace: ((e: FtTraceEvent) => void) | null) {
    this.vm = vm;
    this.o = o;
    this.#trace = trace;
    const attached = o.workload?.clock ?? null;
    if (o.workload && o.workload.vm !== vm) {
      throw new HypermemError(ErrorCode.BadOption, `the workload runs on vm ${o.workload.vm.id}, not on the protected vm ${vm.id}`, { option: "workload" });
    }
    if (attached !== null && o.timeline !== null && attached !== o.timeline) {
      throw new HypermemError(ErrorCode.BadOption, "the workload is attached to another clock than the timeline given", { option: "timeline" });
    }
    if (attached !== null && !(attached instanceof Timeline)) {
      throw new HypermemError(ErrorCode.BadOption, "the workload is attached to the wall clock: in-process protection runs on a Timeline", { option: "workload" });
    }
    this.timeline = o.timeline ?? (attached as Timeline | null) ?? new Timeline();
    this.backup = new Backup(backupHost, vm.pages);
    this.link = new SimulatedLink(this.timeline, o.link);
    this.startNs = this.timeline.nowNs;
    this.#rng = mulberry32(o.seed ^ 0xac4);
    this.bases = new ConfirmedBases(o.diffCachePages);
    this.encoder = new CheckpointEncoder(this.bases, o.diffs, o.chunkPayloadBytes);
    if (trace) this.encoder.onRecord = (pfn, kind, checkpoint) => trace({ type: "record", pfn, kind, checkpoint, atNs: this.nowNs });
    this.history = new ModificationHistory(vm.pages, o.stableEpochs);
    this.reader = vm.dirtyLog.open("checkpoint", { initial: "all" });
    this.list = new PfnList(vm.host.kernels, Math.ceil(vm.pages / 64) * 64);
    this.early = new EarlyProtection(vm);
    this.staging = new StagingArea(vm);
    this.packets = new PacketSource(vm, this.timeline, this.startNs, this.output, o.packetsPerSec, o.packetBytes, o.seed);
    this.open = new PendingCheckpoint(this.#nextSeq++);
    this.queue.push(this.open);
  }

  get nowNs(): number { return this.timeline.nowNs - this.startNs; }

  /** When the primary fails, ns since start: failAt counts from the end of the initial synchronisation. */
  get failNs(): number { return this.o.failAtNs === null || this.protectedFromNs < 0 ? Infinity : this.protectedFromNs + this.o.failAtNs; }
  #ms(ns: number): number { return ns / 1e6; }

  release(): void {
    for (const c of this.#cancels) c();
    this.#watchdog?.();
    this.packets.stopped = true;
    this.early.close();
    this.staging.close();
    this.list.free();
    this.reader.close();
  }

  /** Starts the guest's processes, the heartbeats and the backup's watchdog, and puts the stream header on the wire. */
  start(): void {
    this.o.workload?.attach(this.timeline);
    this.#cancels.push(this.timeline.attach(this.packets));
    this.#wireQueue.push({ bytes: this.encoder.header(this.vm.pages, this.vm.id), sent: 0, checkpoint: -1, commit: false });
    this.#heartbeat();
    this.#heard();
  }

  #heartbeat(): void {
    if (!this.alive) return;
    this.#cancels.push(this.timeline.schedule(this.timeline.nowNs + this.o.link.latencyNs, () => this.#heard()));
    this.#cancels.push(this.timeline.schedule(this.timeline.nowNs + this.o.heartbeatIntervalNs, () => this.#heartbeat()));
  }

  /** The backup heard from the primary: the watchdog starts again. */
  #heard(): void {
    if (this.detectedNs !== null) return;
    this.#watchdog?.();
    this.#watchdog = this.timeline.schedule(this.timeline.nowNs + this.o.heartbeatTimeoutNs, () => { this.detectedNs = this.nowNs; });
  }

  /** The next message for the wire: the header, then the head checkpoint's chunks. */
  #nextMessage(): WireMessage | null {
    const queued = this.#wireQueue.shift();
    if (queued) return queued;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const chunk = this.encoder.next(head);
      if (chunk) {
        const rec = this.#record(head);
        addCounts(rec, chunk.counts);
        if (!head.closed) rec.earlyPages += chunk.counts.fullPages + chunk.counts.deltaPages + chunk.counts.zeroPages;
        if (chunk.commit) this.staging.recycle(this.queue.shift()!);
        return { bytes: chunk.bytes, sent: 0, checkpoint: head.seq, commit: chunk.commit };
      }
      return null;
    }
    return null;
  }

  #record(cp: PendingCheckpoint): CheckpointRecord {
    let rec = this.checkpoints.get(cp.seq);
    if (!rec) {
      rec = {
        checkpoint: cp.seq, epochs: cp.epochs, fullPages: 0, zeroPages: 0, deltaPages: 0, deltaBytes: 0, unchangedPages: 0, earlyPages: 0,
        wireBytes: 0, sentMs: null, committedMs: null, ackedMs: null, verified: null,
      };
      this.checkpoints.set(cp.seq, rec);
    }
    return rec;
  }

  /**
   * Lets time run to `targetNs` (since start), the wire sending meanwhile;
   * stops early at the primary's failure, or when `until()` holds after a
   * message left.
   */
  async runWire(targetNs: number, until?: () => boolean): Promise<void> {
    const failNs = this.failNs;
    const endNs = Math.min(targetNs, failNs);
    const rate = this.link.effectiveRate;
    while (this.alive && this.nowNs < endNs) {
      if (until?.()) return;
      this.#msg ??= this.#nextMessage();
      const msg = this.#msg;
      const fit = Math.floor(((endNs - this.nowNs) * rate) / 1e9);
      if (!msg || fit <= 0) {
        if (!until || fit <= 0) {
          this.timeline.runUntil(this.startNs + endNs);
          break;
        }
        this.timeline.runUntil(this.startNs + Math.min(endNs, this.nowNs + IDLE_STEP_NS));
        continue;
      }
      const n = Math.min(msg.bytes.length - msg.sent, fit);
      const before = this.timeline.nowNs;
      await this.link.transmit(n);
      this.busyNs += this.timeline.nowNs - before;
      msg.sent += n;
      if (msg.sent === msg.bytes.length) {
        this.#msg = null;
        this.#deliver(msg, msg.bytes);
      }
    }
    if (this.alive && this.nowNs >= failNs) this.#fail();
  }

  /** The primary dies now: the message being sent is cut where it is, held output is lost. */
  #fail(): void {
    this.alive = false;
    if (this.#msg && this.#msg.sent > 0) this.#deliver(this.#msg, this.#msg.bytes.subarray(0, this.#msg.sent));
    this.#msg = null;
    this.vm.pause();
    this.packets.stopped = true;
    this.o.workload?.detach();
    this.output.dropAll();
  }

  /** The bytes reach the backup one latency later; a COMMIT there is acknowledged (the ack may be lost or delayed). */
  #deliver(msg: WireMessage, bytes: Uint8Array): void {
    const sentNs = this.nowNs;
    if (msg.commit) this.checkpoints.get(msg.checkpoint)!.sentMs = this.#ms(sentNs);
    this.#trace?.({ type: "chunk", checkpoint: msg.checkpoint, bytes, atNs: sentNs });
    this.timeline.schedule(this.timeline.nowNs + this.o.link.latencyNs, () => {
      if (this.detectedNs !== null) return;
      this.#heard();
      for (const cp of this.backup.receive(bytes)) this.#committed(cp);
    });
  }

  #committed(cp: number): void {
    const rec = this.checkpoints.get(cp)!;
    rec.committedMs = this.#ms(this.nowNs);
    this.#trace?.({ type: "commit", checkpoint: cp, atNs: this.nowNs });
    const pauseEpoch = this.pauseEpochOf.get(cp)!;
    const backupVm = this.backup.vm!;
    if (this.o.verify) rec.verified = guestDigest(backupVm).digest === this.digests.get(cp);
    this.o.onCommit?.(pauseEpoch, backupVm);
    this.digests.delete(cp - 1);
    if (this.#rng() / 2 ** 32 < this.o.ackLossRate) return;
    const ack = encodeCheckpointAck(cp);
    this.timeline.schedule(this.timeline.nowNs + this.o.link.latencyNs + this.o.ackDelayNs, () => this.#acknowledged(ack));
  }

  #acknowledged(ack: Uint8Array): void {
    if (!this.alive) return;
    const cp = decodeCheckpointAck(ack);
    this.#trace?.({ type: "ack", checkpoint: cp, atNs: this.nowNs });
    const rec = this.checkpoints.get(cp)!;
    if (rec.ackedMs === null) rec.ackedMs = this.#ms(this.nowNs);
    this.bases.acknowledge(cp);
    this.output.releaseUpTo(this.pauseEpochOf.get(cp)!, this.nowNs);
  }

  /** The checkpoint before the open one still has bytes to put on the wire (or its COMMIT in transit). */
  get inFlight(): boolean {
    return this.queue.length > 1 || (this.#msg !== null && this.#msg.checkpoint !== this.open.seq);
  }

  /** A mid-epoch scan of the early send. */
  earlyScan(): number {
    const stable = takeStable(this.reader, this.list, this.history, this.epoch);
    if (stable.length === 0) return 0;
    this.staging.stage(stable, this.open);
    this.history.written(stable, this.epoch);
    this.early.protect(stable);
    return stable.length;
  }

  /** The pause at the end of the epoch: copy to staging, close (or merge) the checkpoint, resume after the modelled pause. */
  async pause(rec: EpochRecord, merge: boolean): Promise<void> {
    this.vm.pause();
    rec.earlyRewritten = this.early.endEpoch();
    this.reader.sync();
    const dirty = takeAll(this.reader, this.list);
    const staged = this.staging.stage(dirty, this.open);
    this.history.written(dirty, this.epoch);
    rec.dirtyPages = dirty.length;
    rec.copiedPages = staged.copiedPages;
    const cp = this.open;
    cp.epochs.push(this.epoch);
    cp.closed = true;
    const target = merge ? this.queue.find((q) => q !== cp && q.closed && !q.commitQueued) : undefined;
    if (target) {
      target.absorb(cp);
      this.queue.splice(this.queue.indexOf(cp), 1);
      this.#nextSeq--;
      rec.inFlight = "merged";
    }
    const committed = target ?? cp;
    rec.checkpoint = committed.seq;
    this.#record(committed).epochs = committed.epochs;
    this.pauseEpochOf.set(committed.seq, this.epoch);
    if (this.o.verify) this.digests.set(committed.seq, guestDigest(this.vm).digest);
    this.o.onPause?.(this.epoch, this.vm);
    this.open = new PendingCheckpoint(this.#nextSeq++);
    this.queue.push(this.open);
    const pauseNs = this.o.pauseFixedNs + (staged.copiedPages * 4096 * 1e9) / this.o.copyBytesPerSec;
    const pausedAt = this.nowNs;
    await this.runWire(pausedAt + pauseNs);
    rec.pauseMs = this.#ms(this.nowNs - pausedAt);
    if (rec.epoch > 0) this.pausedNs += this.nowNs - pausedAt;
    if (this.alive) this.vm.resume();
  }

  /** One epoch: the guest runs (early scans meanwhile), the in-flight policy, the pause. */
  async runEpoch(): Promise<EpochRecord> {
    const epoch = ++this.epoch;
    this.packets.epoch = epoch;
    const startNs = this.nowNs;
    const rec: EpochRecord = {
      epoch, startMs: this.#ms(startNs), runMs: 0, pauseMs: 0, dirtyPages: 0, copiedPages: 0, earlyPages: 0, earlyRewritten: 0,
      inFlight: "none", waitMs: 0, checkpoint: -1, packets: 0,
    };
    this.epochs.push(rec);
    const emittedBefore = this.output.emitted;
    const scans = this.o.earlySend ? this.o.earlyScansPerEpoch : 0;
    for (let i = 1; i <= scans && this.alive; i++) {
      await this.runWire(startNs + (i * this.o.epochNs) / (scans + 1));
      if (this.alive) rec.earlyPages += this.earlyScan();
    }
    await this.runWire(startNs + this.o.epochNs);
    let merge = false;
    if (this.alive && this.inFlight) {
      if (this.o.inFlight === "wait") {
        const waitFrom = this.nowNs;
        await this.runWire(this.o.durationNs, () => !this.inFlight);
        rec.inFlight = "waited";
        rec.waitMs = this.#ms(this.nowNs - waitFrom);
      } else merge = true;
    }
    rec.runMs = this.#ms(this.nowNs - startNs);
    rec.packets = this.output.emitted - emittedBefore;
    if (this.alive) await this.pause(rec, merge);
    return rec;
  }

  /**
   * Epoch 0: the initial synchronisation. Every page is copied with the
   * guest paused, and the guest stays paused until the backup acknowledged
   * it (a stop-and-copy of the whole guest; Remus starts from a live
   * migration instead): the epochs start from a backup that holds the guest.
   */
  async initialCopy(): Promise<EpochRecord> {
    const rec: EpochRecord = {
      epoch: 0, startMs: 0, runMs: 0, pauseMs: 0, dirtyPages: 0, copiedPages: 0, earlyPages: 0, earlyRewritten: 0,
      inFlight: "none", waitMs: 0, checkpoint: 0, packets: 0,
    };
    this.epochs.push(rec);
    this.vm.pause();
    await this.pause(rec, false);
    this.vm.pause();
    await this.runWire(this.o.durationNs + INITIAL_SYNC_LIMIT_NS, () => this.bases.ackedCheckpoint >= 0);
    rec.pauseMs = this.#ms(this.nowNs);
    if (this.alive) this.vm.resume();
    return rec;
  }

  /** After the run (no failure): the guest stops; the closed checkpoints finish and their acknowledgements come back. */
  async drain(): Promise<void> {
    this.vm.pause();
    this.packets.stopped = true;
    this.o.workload?.detach();
    const closed = this.queue.filter((q) => q.closed);
    this.queue.splice(0, this.queue.length, ...closed);
    const limitNs = this.nowNs + 60e9;
    await this.runWire(limitNs, () => this.queue.length === 0);
    for (const c of this.#cancels) c();
    this.#watchdog?.();
    this.timeline.runUntilIdle();
  }

  /** Failover: waits for the backup's watchdog, then takes its guest as the last commit left it and checks it. */
  failover(failAtNs: number): FailoverRecord {
    while (this.detectedNs === null) this.timeline.advance(this.o.heartbeatIntervalNs);
    const detectedNs = this.detectedNs;
    const taken = this.backup.activate();
    const base = { failAtMs: this.#ms(failAtNs), detectedMs: this.#ms(detectedNs), failoverTimeMs: this.#ms(detectedNs - failAtNs) };
    if (!taken) return { ...base, checkpoint: -1, pauseEpoch: -1, verified: null, digest: "", error: null };
    const expected = this.digests.get(taken.checkpoint);
    const check = this.o.verify && expected !== undefined ? checkTakeover(taken.vm, taken.checkpoint, expected) : null;
    return {
      ...base, checkpoint: taken.checkpoint, pauseEpoch: this.pauseEpochOf.get(taken.checkpoint) ?? -1,
      verified: check ? check.verified : null, digest: check ? check.digest : hexDigest(guestDigest(taken.vm).digest),
      error: check?.error ? { code: check.error.code, message: check.error.message } : null,
    };
  }

  progress(lastNs: number): number {
    if (!this.o.onProgress || this.nowNs - lastNs < 1e9) return lastNs;
    this.o.onProgress({
      elapsedMs: this.#ms(this.nowNs), epoch: this.epoch, committedEpoch: this.backup.committed,
      bytesSent: this.link.bytesSent, packetsHeld: this.output.heldPackets,
    });
    return this.nowNs - (this.nowNs % 1e9);
  }
}

/**
 * Protects `vm` with a backup on `backupHost` for `durationMs` of simulated
 * time (or until it fails, `failAtMs`). Resolves with the figures, the
 * released packets and the backup's guest.
 */
export async function protect(vm: Vm, backupHost: Host, options: FtOptions = {}, trace?: (e: FtTraceEvent) => void): Promise<FtOutcome> {
  const o = resolveFtOptions(options);
  const p = new Protection(vm, backupHost, o, trace ?? null);
  let failover: FailoverRecord | null = null;
  try {
    p.start();
    await p.initialCopy();
    p.protectedFromNs = p.nowNs;
    let lastProgressNs = 0;
    while (p.alive && p.nowNs - p.protectedFromNs < o.durationNs) {
      await p.runEpoch();
      lastProgressNs = p.progress(lastProgressNs);
    }
    if (!p.alive) failover = p.failover(p.failNs);
    else await p.drain();
  } finally {
    p.release();
  }
  return summarise(p, failover);
}

function summarise(p: Protection, failover: FailoverRecord | null): FtOutcome {
  const runNs = Math.max(1, (failover ? p.failNs : p.nowNs) - p.protectedFromNs);
  const epochs = p.epochs.filter((e) => e.epoch > 0 && e.checkpoint >= 0);
  const records = [...p.checkpoints.values()].filter((c) => c.checkpoint >= 0);
  const committed = records.filter((c) => c.committedMs !== null);
  const pagesOf = (c: CheckpointRecord): number => c.fullPages + c.zeroPages + c.deltaPages;
  const sum = (f: (c: CheckpointRecord) => number): number => committed.reduce((n, c) => n + f(c), 0);
  const deltaPages = records.reduce((n, c) => n + c.deltaPages, 0);
  const deltaBytes = records.reduce((n, c) => n + c.deltaBytes, 0);
  const released = p.output.released;
  const backupVm = failover ? null : p.backup.vm;
  let backupVerified: boolean | null = null;
  if (p.o.verify && backupVm && p.backup.committed >= 0 && p.digests.has(p.backup.committed)) {
    backupVerified = guestDigest(backupVm).digest === p.digests.get(p.backup.committed);
  }
  const takenVm = failover && failover.checkpoint >= 0 ? p.backup.receiver.vm : null;
  return {
    status: failover ? "failed-over" : p.backup.error ? "unprotected" : "protected",
    durationMs: runNs / 1e6,
    epochMs: p.o.epochNs / 1e6,
    initialSyncMs: p.epochs[0]?.pauseMs ?? 0,
    epochs: epochs.length,
    checkpointsCommitted: committed.length,
    checkpointsPerSec: committed.length / (runNs / 1e9),
    pauseMs: percentiles(epochs.map((e) => e.pauseMs)),
    pagesPerCheckpoint: committed.length ? sum(pagesOf) / committed.length : 0,
    bytesPerCheckpoint: committed.length ? sum((c) => c.wireBytes) / committed.length : 0,
    deltaPages,
    deltaRatio: deltaPages ? deltaBytes / (deltaPages * 4096) : 0,
    earlyPages: epochs.reduce((n, e) => n + e.earlyPages, 0),
    earlyRewritten: epochs.reduce((n, e) => n + e.earlyRewritten, 0),
    inFlight: {
      policy: p.o.inFlight,
      waited: epochs.filter((e) => e.inFlight === "waited").length,
      waitMs: epochs.reduce((n, e) => n + e.waitMs, 0),
      merged: epochs.filter((e) => e.inFlight === "merged").length,
    },
    packets: { emitted: p.output.emitted, released: released.length, heldAtEnd: p.output.heldPackets, dropped: p.output.dropped },
    packetLatencyMs: percentiles(released.map((r) => (r.releasedNs - r.emittedNs) / 1e6)),
    pausedShare: p.pausedNs / runNs,
    linkUtilisation: p.busyNs / runNs,
    bytesSent: p.link.bytesSent,
    failover,
    backupError: p.backup.error ? { code: p.backup.error.code, message: p.backup.error.message } : null,
    backupVerified,
    epochRecords: p.epochs,
    checkpointRecords: records,
    backupVm: takenVm ?? backupVm,
    released,
  };
}
