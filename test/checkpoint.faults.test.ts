// Bad input and faults of checkpointing: a checkpoint stream damaged, cut,
// reordered or replayed leaves the backup at its last commit (byte for byte)
// with a typed error; absurd options are refused naming the value; a backup
// without the memory refuses the protection before it starts; the
// acknowledgement's checks fail on a damaged one.
import { describe, expect, it } from "vitest";
import { decodeCheckpointAck, encodeCheckpointAck } from "../src/checkpoint/ack.js";
import { Backup } from "../src/checkpoint/backup.js";
import { resolveFtOptions } from "../src/checkpoint/options.js";
import { protect, type FtTraceEvent } from "../src/checkpoint/protect.js";
import { createHost } from "../src/host/host.js";
import { HypermemError } from "../src/errors.js";
import { firstDifference, rig } from "./checkpoint-helpers.js";
import { thrownCode } from "./helpers.js";

/** One protected run's wire: the chunks in order (header first), the checkpoint each belongs to, and the memory at each commit. */
async function recordedStream() {
  const r = rig(1, { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.8 }, 21, 30_000);
  const chunks: { bytes: Uint8Array; checkpoint: number }[] = [];
  const atCommit = new Map<number, Uint8Array>();
  const epochOf = new Map<number, number>();
  await protect(r.vm, r.backup, {
    workload: r.workload, durationMs: 60, epochMs: 10, chunkPayloadBytes: 16384, diffs: false, onPause: r.onPause,
    onCommit: (epoch, vm) => { atCommit.set(atCommit.size, vm.read(0, vm.memoryBytes)); epochOf.set(epochOf.size, epoch); },
  }, (e: FtTraceEvent) => { if (e.type === "chunk") chunks.push({ bytes: e.bytes.slice(), checkpoint: e.checkpoint }); });
  return { chunks, atCommit, snapshots: r.snapshots, epochOf };
}

/** Feeds `stream` to a fresh backup; returns it with the commits it made. */
function replay(stream: Uint8Array[]): Backup {
  const backup = new Backup(createHost({ memoryMiB: 64 }), 256);
  for (const bytes of stream) backup.receive(bytes);
  return backup;
}

describe("a damaged checkpoint stream leaves the backup at its last commit", async () => {
  const { chunks, atCommit, snapshots, epochOf } = await recordedStream();
  const bytes = chunks.map((c) => c.bytes);
  // The first chunk of checkpoint 3 (whole pages only: its records span several 16 KiB chunks).
  const target = chunks.findIndex((c) => c.checkpoint === 3);

  const expectAt = (backup: Backup, checkpoint: number): void => {
    expect(backup.committed).toBe(checkpoint);
    const vm = backup.vm!;
    expect(firstDifference(vm.read(0, vm.memoryBytes), atCommit.get(checkpoint)!)).toBe(-1);
    expect(firstDifference(vm.read(0, vm.memoryBytes), snapshots.get(epochOf.get(checkpoint)!)!)).toBe(-1);
  };

  it("the whole stream commits every checkpoint (the baseline)", () => {
    expect(target).toBeGreaterThan(0);
    expect(chunks[target + 1].checkpoint).toBe(3);
    const backup = replay(bytes);
    expect(backup.error).toBeNull();
    expectAt(backup, atCommit.size - 1);
  });

  it("damaged: one payload bit flipped", () => {
    const damaged = bytes.map((b, i) => (i === target ? (() => { const c = b.slice(); c[c.length - 100] ^= 0x10; return c; })() : b));
    const backup = replay(damaged);
    expect(backup.error?.code).toBe("ERR_STREAM_CORRUPT");
    expectAt(backup, 2);
  });

  it("cut: the stream stops in the middle of a chunk", () => {
    const cut = [...bytes.slice(0, target), bytes[target].subarray(0, 1000)];
    const backup = replay(cut);
    expect(backup.error).toBeNull();
    expectAt(backup, 2);
    const taken = backup.activate()!;
    expect(taken.checkpoint).toBe(2);
    expect(firstDifference(taken.vm.read(0, taken.vm.memoryBytes), atCommit.get(2)!)).toBe(-1);
  });

  it("reordered: two chunks swapped", () => {
    const reordered = [...bytes];
    [reordered[target], reordered[target + 1]] = [reordered[target + 1], reordered[target]];
    const backup = replay(reordered);
    expect(backup.error?.code).toBe("ERR_STREAM_CORRUPT");
    expect(backup.error?.message).toMatch(/expected|sequence/);
    expectAt(backup, 2);
  });

  it("replayed: a chunk sent twice", () => {
    const replayed = [...bytes.slice(0, target + 1), bytes[target], ...bytes.slice(target + 1)];
    const backup = replay(replayed);
    expect(backup.error?.code).toBe("ERR_STREAM_CORRUPT");
    expectAt(backup, 2);
  });

  it("replayed: a whole committed checkpoint sent again after its commit", () => {
    const first3 = chunks.findIndex((c) => c.checkpoint === 3);
    const cp2 = chunks.filter((c) => c.checkpoint === 2).map((c) => c.bytes);
    const backup = replay([...bytes.slice(0, first3), ...cp2]);
    expect(backup.error?.code).toBe("ERR_STREAM_CORRUPT");
    expectAt(backup, 2);
  });
});

describe("the checkpoint acknowledgement", () => {
  it("round-trips, and a damaged one is refused", () => {
    const ack = encodeCheckpointAck(77);
    expect(decodeCheckpointAck(ack)).toBe(77);
    const bad = ack.slice();
    bad[12] ^= 1;
    expect(thrownCode(() => decodeCheckpointAck(bad))).toBe("ERR_STREAM_CORRUPT");
  });
});

describe("absurd options are refused naming the value", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ epochMs: 0 }, "0"],
    [{ epochMs: -5 }, "-5"],
    [{ epochMs: Number.NaN }, "NaN"],
    [{ epochMs: 1e9 }, "1000000000"],
    [{ durationMs: 5, epochMs: 25 }, "5"],
    [{ inFlight: "sometimes" }, "sometimes"],
    [{ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 20 }, "20"],
    [{ failAtMs: -1 }, "-1"],
    [{ failAtMs: 5000, durationMs: 1000 }, "5000"],
    [{ ackLossRate: 1 }, "1"],
    [{ packetsPerSec: -3 }, "-3"],
    [{ link: { bandwidthBytesPerSec: 0 } }, "0"],
    [{ chunkPayloadBytes: 10 }, "10"],
    [{ diffs: "yes" }, "yes"],
  ];
  for (const [options, value] of cases) {
    it(`${JSON.stringify(options)}`, () => {
      let caught: unknown;
      try {
        resolveFtOptions(options as never);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(HypermemError);
      expect((caught as HypermemError).code).toBe("ERR_BAD_OPTION");
      expect((caught as HypermemError).message).toContain(value);
    });
  }

  it("an unknown key", () => {
    expect(thrownCode(() => resolveFtOptions({ epochsMs: 25 } as never))).toBe("ERR_UNKNOWN_OPTION");
  });
});

describe("a backup without the memory refuses the protection before it starts", () => {
  it("ERR_BACKUP_MEMORY naming the sizes; the primary is untouched", async () => {
    const primary = createHost({ memoryMiB: 128 });
    const vm = primary.createVm({ memoryMiB: 64 });
    const small = createHost({ memoryMiB: 32 });
    let caught: HypermemError | null = null;
    try {
      await protect(vm, small, { durationMs: 50 });
    } catch (err) {
      caught = err as HypermemError;
    }
    expect(caught?.code).toBe("ERR_BACKUP_MEMORY");
    expect(caught?.message).toContain("16384-page guest");
    expect(vm.dirtyLog.readers).toEqual([]);
    expect(vm.paused).toBe(false);
  });
});

describe("the failover check can fail", () => {
  it("a backup guest altered after its commits fails the failover check: ERR_FAILOVER_MISMATCH naming the checkpoint and both digests", async () => {
    const r = rig(1, { kind: "uniform" }, 8);
    const out = await protect(r.vm, r.backup, {
      workload: r.workload, durationMs: 100, epochMs: 10, failAtMs: 55,
      onCommit: (_epoch, vm) => { vm.write(4096 * 5 + 100, new Uint8Array([0x5a, 0xa5, 0x5a, 0xa5, 0x01, 0x02, 0x03, 0x04])); },
    });
    expect(out.status).toBe("failed-over");
    expect(out.failover!.checkpoint).toBeGreaterThan(0);
    expect(out.failover!.verified).toBe(false);
    const error = out.failover!.error!;
    expect(error.code).toBe("ERR_FAILOVER_MISMATCH");
    expect(error.message).toContain(`resumed from checkpoint ${out.failover!.checkpoint} has digest ${out.failover!.digest}`);
    expect(error.message).not.toContain(`had ${out.failover!.digest}`);
  });

  it("an unaltered backup passes the same check, with no error", async () => {
    const r = rig(1, { kind: "uniform" }, 8);
    const out = await protect(r.vm, r.backup, { workload: r.workload, durationMs: 100, epochMs: 10, failAtMs: 55 });
    expect(out.failover!.verified).toBe(true);
    expect(out.failover!.error).toBeNull();
  });
});
