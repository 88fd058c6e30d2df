// The primary side of a protection stream over TCP (hypermem ft --to): the
// epochs of protect.ts in wall-clock time, to a backup in another process.
// The guest's workload runs on a Timeline advanced one epoch per epoch (its
// accesses happen at once, then the rest of the epoch passes in wall time);
// the pause takes the dirty pages from the checkpoint dirty-log reader,
// gathers them to staging (staging.ts), records the guest's digest, and the
// checkpoint goes out (DIGEST, then its chunks, then COMMIT: tcp-format.ts)
// while the next epoch runs. The backup's acknowledgements confirm delta
// bases (confirmed-bases.ts) exactly as in-process. A heartbeat goes every
// heartbeatIntervalMs. At the end an END message, then CLOSE: the backup
// does not fail over.
//
// Output commit as in-process (output.ts): the guest's packets, emitted on
// the timeline during an epoch's run, are held and released when the
// backup acknowledges the checkpoint of that epoch's pause. An epoch's
// accesses run at once when it starts (wall time W, timeline time T), so a
// packet emitted at timeline time t is counted as emitted at wall time
// W + (t - T); its added latency runs from there to the acknowledgement.
//
// Early send as in-process (early-send.ts): an epoch's run is cut into
// earlyScansPerEpoch + 1 slices; after each but the last, the pages
// written so far that the modification history predicts stable are staged
// into the open checkpoint, put on the wire at once (records without a
// COMMIT) and write-protected. A later slice's write to one of them faults,
// lifts the protection and sets its D bit, so the pause copies it again.
import { ErrorCode, HypermemError } from "../errors.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import { PfnList } from "../host/page-set.js";
import { EarlyProtection, ModificationHistory, takeStable } from "./early-send.js";
import { FT_DEFAULTS } from "./options.js";
import type { Vm } from "../host/vm.js";
import type { SecureChannel } from "../net/secure-channel.js";
import { Timeline } from "../sim/timeline.js";
import { guestDigest } from "../stream/fingerprints.js";
import { CHECKPOINT_ACK, decodeCheckpointAck } from "./ack.js";
import { ConfirmedBases } from "./confirmed-bases.js";
import { CheckpointEncoder } from "./encoder.js";
import { PendingCheckpoint } from "./pending.js";
import { StagingArea, takeAll } from "./staging.js";
import { encodeDigest, encodeMessage, MessageKind, PROTECTION_HELLO } from "./tcp-format.js";
import { OutputBuffer, PacketSource, type ReleasedPacket } from "./output.js";
import { percentiles, type Percentiles } from "./result.js";
import { hexDigest } from "./verify.js";

export interface TcpProtectionOptions {
  epochMs: number;
  durationMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  diffs: boolean;
  /** Send stable pages while the guest runs (default true). */
  earlySend?: boolean;
  /** Output packets the guest emits per second of its run (0: none). */
  packetsPerSec?: number;
  /** Bytes of guest memory each packet carries. */
  packetBytes?: number;
  /** Seed of the packets' addresses. */
  seed?: number;
  /** Called for each packet released, with the acknowledged checkpoint that released it. */
  onRelease?: (packet: ReleasedPacket, checkpoint: number) => void;
  /** Called at every pause with the checkpoint closed and the guest's digest there. */
  onPause?: (checkpoint: number, digest: string) => void;
  /** Called when the backup acknowledged a checkpoint. */
  onAck?: (checkpoint: number) => void;
}

export interface TcpProtectionResult {
  checkpoints: number;
  acknowledged: number;
  bytesSent: number;
  pauseMs: { p50: number; max: number };
  /** Pages sent while the guest ran, and those of them written again before the pause (sent again). */
  earlyPages: number;
  earlyRewritten: number;
  /** Output packets: emitted while the guest ran, released on acknowledgements, still held at the end. */
  packets: { emitted: number; released: number; heldAtEnd: number };
  /** Latency the output commit added to each released packet, ms (wall clock). */
  packetLatencyMs: Percentiles;
  wallMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Protects `vm` (its workload, if any, attached to a Timeline here) over `sc` until durationMs of wall time passed. */
export async function protectOverTcp(vm: Vm, workload: GuestWorkload | null, sc: SecureChannel, o: TcpProtectionOptions): Promise<TcpProtectionResult> {
  const started = performance.now();
  const timeline = new Timeline();
  workload?.attach(timeline);
  const bases = new ConfirmedBases(65_536);
  const encoder = new CheckpointEncoder(bases, o.diffs, 1 << 20);
  const reader = vm.dirtyLog.open("checkpoint", { initial: "all" });
  const list = new PfnList(vm.host.kernels, Math.ceil(vm.pages / 64) * 64);
  const staging = new StagingArea(vm);
  const earlySend = o.earlySend ?? true;
  const history = new ModificationHistory(vm.pages, FT_DEFAULTS.stableEpochs);
  const early = new EarlyProtection(vm);
  let earlyPages = 0;
  let earlyRewritten = 0;
  const output = new OutputBuffer();
  const packets = new PacketSource(vm, timeline, timeline.nowNs, output, o.packetsPerSec ?? 0, o.packetBytes ?? 256, o.seed ?? 1);
  const detachPackets = timeline.attach(packets);
  /** Per epoch (the checkpoint its pause makes): wall ns minus timeline ns when its run started. */
  const wallOffsetNs = new Map<number, number>();
  const wallNs = (): number => (performance.now() - started) * 1e6;
  let bytesSent = 0;
  let acknowledged = -1;
  let failed: Error | null = null;
  const send = (bytes: Uint8Array): Promise<void> => { bytesSent += bytes.length; return sc.send(bytes); };
  const acks = (async () => {
    let pending = new Uint8Array(0);
    for (;;) {
      const bytes = await sc.receive();
      if (bytes === null) return;
      pending = new Uint8Array(Buffer.concat([pending, bytes]));
      while (pending.length >= CHECKPOINT_ACK.byteLength) {
        acknowledged = decodeCheckpointAck(pending.subarray(0, CHECKPOINT_ACK.byteLength));
        bases.acknowledge(acknowledged);
        o.onAck?.(acknowledged);
        const releasedBefore = output.released.length;
        output.releaseUpTo(acknowledged, wallNs());
        for (const r of output.released.slice(releasedBefore)) o.onRelease?.(r, acknowledged);
        pending = pending.subarray(CHECKPOINT_ACK.byteLength);
      }
    }
  })().catch((err: Error) => { failed = err; });
  const heartbeat = setInterval(() => { void send(encodeMessage(MessageKind.Heartbeat)).catch(() => undefined); }, o.heartbeatIntervalMs);
  const pauses: number[] = [];
  let seq = 0;
  /** The checkpoint the next pause closes (it already holds the pages sent early in this epoch). */
  let open = new PendingCheckpoint(seq++);
  const sendReady = async (cp: PendingCheckpoint): Promise<void> => {
    for (let chunk = encoder.next(cp); chunk; chunk = chunk.commit ? null : encoder.next(cp)) {
      await send(encodeMessage(MessageKind.Stream, chunk.bytes));
    }
  };
  try {
    await send(PROTECTION_HELLO.encode({ guestPages: vm.pages, heartbeatTimeoutMs: Math.round(o.heartbeatTimeoutMs) }));
    await send(encodeMessage(MessageKind.Stream, encoder.header(vm.pages, vm.id)));
    for (let epochStart = performance.now(); ; epochStart += o.epochMs) {
      if (failed) throw failed;
      const pausedAt = performance.now();
      earlyRewritten += early.endEpoch();
      reader.sync();
      const cp = open;
      const dirty = takeAll(reader, list);
      staging.stage(dirty, cp);
      history.written(dirty, cp.seq);
      cp.epochs.push(cp.seq);
      cp.closed = true;
      const digest = guestDigest(vm).digest;
      pauses.push(performance.now() - pausedAt);
      o.onPause?.(cp.seq, hexDigest(digest));
      await send(encodeDigest(cp.seq, digest));
      await sendReady(cp);
      staging.recycle(cp);
      if (performance.now() - started >= o.durationMs) break;
      open = new PendingCheckpoint(seq++);
      packets.epoch = open.seq;
      wallOffsetNs.set(open.seq, wallNs() - timeline.nowNs);
      const slices = earlySend ? FT_DEFAULTS.earlyScansPerEpoch + 1 : 1;
      for (let i = 1; i <= slices; i++) {
        timeline.advance((o.epochMs * 1e6) / slices);
        if (i === slices) break;
        const stable = takeStable(reader, list, history, open.seq);
        if (stable.length === 0) continue;
        staging.stage(stable, open);
        history.written(stable, open.seq);
        early.protect(stable);
        earlyPages += stable.length;
        await sendReady(open);
      }
      await sleep(epochStart + o.epochMs - performance.now());
    }
    const lastSeq = seq - 1;
    const deadline = performance.now() + 10_000;
    while (acknowledged < lastSeq && !failed && performance.now() < deadline) await sleep(5);
    if (failed) throw failed;
    await send(encodeMessage(MessageKind.End));
    sc.close();
  } catch (err) {
    sc.destroy();
    throw err instanceof HypermemError ? err : new HypermemError(ErrorCode.MigrationFailed, String((err as Error).message ?? err));
  } finally {
    clearInterval(heartbeat);
    detachPackets();
    early.close();
    staging.close();
    workload?.detach();
    list.free();
    reader.close();
  }
  await acks;
  pauses.sort((a, b) => a - b);
  const latenciesMs = output.released.map((r) => (r.releasedNs - (r.emittedNs + wallOffsetNs.get(r.epoch)!)) / 1e6);
  return {
    checkpoints: seq, acknowledged, bytesSent,
    pauseMs: { p50: pauses[Math.floor(pauses.length / 2)] ?? 0, max: pauses[pauses.length - 1] ?? 0 },
    earlyPages, earlyRewritten,
    packets: { emitted: output.emitted, released: output.released.length, heldAtEnd: output.heldPackets },
    packetLatencyMs: percentiles(latenciesMs),
    wallMs: performance.now() - started,
  };
}
