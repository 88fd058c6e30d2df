// Shared set-up and oracles of the checkpoint tests: a protected guest with
// a seeded workload, snapshots of the primary's memory at every pause (the
// plain model the backup must equal), and the feedback-rule oracle.
import { createHost, type Host } from "../src/host/host.js";
import type { GuestWorkload } from "../src/host/guest-workload.js";
import type { Vm } from "../src/host/vm.js";
import type { WorkloadSpec } from "../src/host/workload.js";
import type { FtTraceEvent } from "../src/checkpoint/protect.js";

export interface Rig {
  readonly primary: Host;
  readonly backup: Host;
  readonly vm: Vm;
  readonly workload: GuestWorkload;
  /** pause epoch -> the primary's whole memory at that pause. */
  readonly snapshots: Map<number, Uint8Array>;
  readonly onPause: (epoch: number, vm: Vm) => void;
}

export function rig(guestMiB: number, spec: WorkloadSpec, seed: number, ratePerSec = 20_000, writeFraction = 0.5): Rig {
  const primary = createHost({ memoryMiB: guestMiB * 2 + 32 });
  const backup = createHost({ memoryMiB: guestMiB * 3 + 32 });
  const vm = primary.createVm({ memoryMiB: guestMiB });
  const fill = vm.startWorkload({ kind: "sequential", ratePerSec: vm.pages, writeFraction: 1, writeBytes: 4096, seed, pageCount: vm.pages / 2 });
  fill.runFor(1e9);
  fill.close();
  const workload = vm.startWorkload({ ...spec, ratePerSec, writeFraction, writeBytes: 64, seed } as never);
  const snapshots = new Map<number, Uint8Array>();
  const onPause = (epoch: number, v: Vm): void => { snapshots.set(epoch, v.read(0, v.memoryBytes)); };
  return { primary, backup, vm, workload, snapshots, onPause };
}

/** First differing byte offset of two buffers, or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(a, b) === 0) return -1;
  let i = 0;
  while (a[i] === b[i]) i++;
  return i;
}

/**
 * The feedback rule, from the trace alone: every delta record of a page
 * went after an acknowledgement of (at least) the checkpoint that last
 * carried the page had reached the primary. Returns the violations.
 */
export function deltasWithoutConfirmedBase(trace: readonly FtTraceEvent[]): string[] {
  const lastCarried = new Map<number, number>();
  let acked = -1;
  const bad: string[] = [];
  for (const e of trace) {
    if (e.type === "ack") acked = Math.max(acked, e.checkpoint);
    if (e.type !== "record") continue;
    if (e.kind === "delta") {
      const base = lastCarried.get(e.pfn);
      if (base === undefined || base > acked) bad.push(`pfn ${e.pfn} delta in checkpoint ${e.checkpoint} against checkpoint ${base} (acknowledged: ${acked})`);
    }
    lastCarried.set(e.pfn, e.checkpoint);
  }
  return bad;
}
