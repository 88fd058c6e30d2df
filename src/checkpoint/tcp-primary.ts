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
// does not fail over. Output packets and the early send are in-process
// only.
import { ErrorCode, HypermemError } from "../errors.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import { PfnList } from "../host/page-set.js";
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
import { hexDigest } from "./verify.js";

export interface TcpProtectionOptions {
  epochMs: number;
  durationMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  diffs: boolean;
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
        pending = pending.subarray(CHECKPOINT_ACK.byteLength);
      }
    }
  })().catch((err: Error) => { failed = err; });
  const heartbeat = setInterval(() => { void send(encodeMessage(MessageKind.Heartbeat)).catch(() => undefined); }, o.heartbeatIntervalMs);
  const pauses: number[] = [];
  let seq = 0;
  try {
    await send(PROTECTION_HELLO.encode({ guestPages: vm.pages, heartbeatTimeoutMs: Math.round(o.heartbeatTimeoutMs) }));
    await send(encodeMessage(MessageKind.Stream, encoder.header(vm.pages, vm.id)));
    for (let epochStart = performance.now(); ; epochStart += o.epochMs) {
      if (failed) throw failed;
      const pausedAt = performance.now();
      reader.sync();
      const cp = new PendingCheckpoint(seq++);
      staging.stage(takeAll(reader, list), cp);
      cp.epochs.push(cp.seq);
      cp.closed = true;
      const digest = guestDigest(vm).digest;
      pauses.push(performance.now() - pausedAt);
      o.onPause?.(cp.seq, hexDigest(digest));
      await send(encodeDigest(cp.seq, digest));
      for (let chunk = encoder.next(cp); chunk; chunk = chunk.commit ? null : encoder.next(cp)) {
        await send(encodeMessage(MessageKind.Stream, chunk.bytes));
      }
      staging.recycle(cp);
      if (performance.now() - started >= o.durationMs) break;
      timeline.advance(o.epochMs * 1e6);
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
    workload?.detach();
    list.free();
    reader.close();
  }
  await acks;
  pauses.sort((a, b) => a - b);
  return {
    checkpoints: seq, acknowledged, bytesSent,
    pauseMs: { p50: pauses[Math.floor(pauses.length / 2)] ?? 0, max: pauses[pauses.length - 1] ?? 0 },
    wallMs: performance.now() - started,
  };
}
