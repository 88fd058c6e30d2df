// Lockstep beside plain checkpointing, on the same guest, workload, packet
// rate and seed: each run gets fresh hosts and a guest prefilled the same
// way. Checkpointing (src/checkpoint, 25 ms epochs) does not care about
// nondeterminism, so one run of it is the flat line the lockstep curve
// (--sweep-nondeterminism) is drawn against: lockstep wins while the copies
// rarely disagree, checkpointing once they disagree more often than it
// checkpoints.
import { protect, type FtOutcome } from "../checkpoint/protect.js";
import type { Percentiles } from "../checkpoint/result.js";
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost, type Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { requireNumber } from "../options.js";
import { runLockstep, type LockstepOutcome } from "./lockstep.js";
import { LOCKSTEP_DEFAULTS, type LockstepOptions } from "./options.js";

/** Epoch of the checkpointing side of the comparison (Remus's 40 per second). */
export const COMPARE_EPOCH_MS = 25;

export interface LockstepScenario extends LockstepOptions {
  /** Guest memory, MiB. */
  guestMiB: number;
  /** Share of guest pages written with seeded data first. @default 1 */
  prefill?: number;
}

/** The figures both techniques report, side by side. */
export interface TechniqueFigures {
  readonly technique: "lockstep" | "checkpointing";
  readonly nondeterminismPerSec: number | null;
  readonly checkpoints: number;
  readonly checkpointsPerSec: number;
  readonly bytesSent: number;
  readonly pauseMs: Percentiles;
  readonly heldOutputLatencyMs: Percentiles;
  readonly pausedShare: number;
  readonly packetsReleased: number;
}

function hosts(guestMiB: number): { primary: Vm; secondaryHost: Host } {
  requireNumber("guestMiB", guestMiB, 1, 1024);
  const hostMiB = Math.min(4096, 3 * guestMiB + 64);
  const primaryHost = createHost({ memoryMiB: hostMiB });
  return { primary: primaryHost.createVm({ memoryMiB: guestMiB }), secondaryHost: createHost({ memoryMiB: hostMiB }) };
}

function prefill(vm: Vm, share: number, seed: number): void {
  const pages = Math.round(requireNumber("prefill", share, 0, 1) * vm.pages);
  if (pages === 0) return;
  vm.prefillPages(0, pages, seed);
  vm.harvestDirty();
}

function split(s: LockstepScenario): { guestMiB: number; share: number; options: LockstepOptions } {
  if (typeof s !== "object" || s === null) throw new HypermemError(ErrorCode.BadOption, `a lockstep scenario must be an object, got ${String(s)}`, { option: "scenario" });
  const { guestMiB, prefill: share = 1, ...options } = s;
  return { guestMiB, share, options };
}

/** Lockstep on fresh hosts: a guest of `guestMiB`, prefilled, with the scenario's options. */
export async function runLockstepScenario(s: LockstepScenario): Promise<LockstepOutcome> {
  const { guestMiB, share, options } = split(s);
  const { primary, secondaryHost } = hosts(guestMiB);
  prefill(primary, share, options.seed ?? 1);
  return runLockstep(primary, secondaryHost, options);
}

/** Plain checkpointing (Remus, 25 ms epochs) of the same guest, workload, packets, link and seed. */
export async function runCheckpointingScenario(s: LockstepScenario): Promise<FtOutcome> {
  const { guestMiB, share, options } = split(s);
  const { primary, secondaryHost } = hosts(guestMiB);
  prefill(primary, share, options.seed ?? 1);
  const workload = primary.startWorkload(options.workload ?? LOCKSTEP_DEFAULTS.workload);
  try {
    return await protect(primary, secondaryHost, {
      epochMs: COMPARE_EPOCH_MS, durationMs: options.durationMs ?? LOCKSTEP_DEFAULTS.durationMs, workload,
      packetsPerSec: options.packetsPerSec ?? LOCKSTEP_DEFAULTS.packetsPerSec, packetBytes: options.packetBytes ?? LOCKSTEP_DEFAULTS.packetBytes,
      link: { bandwidthBytesPerSec: options.link?.bandwidthBytesPerSec ?? LOCKSTEP_DEFAULTS.bandwidthBytesPerSec, latencyNs: options.link?.latencyNs ?? LOCKSTEP_DEFAULTS.latencyNs },
      seed: options.seed ?? 1, failAtMs: options.failAtMs ?? null,
    });
  } finally {
    workload.close();
  }
}

export function lockstepFigures(r: LockstepOutcome): TechniqueFigures {
  return {
    technique: "lockstep", nondeterminismPerSec: r.nondeterminism.perSec, checkpoints: r.checkpoints.total, checkpointsPerSec: r.checkpoints.perSec,
    bytesSent: r.resyncBytes.total, pauseMs: r.pauseMs, heldOutputLatencyMs: r.heldOutputLatencyMs, pausedShare: r.pausedShare, packetsReleased: r.packets.released,
  };
}

export function checkpointingFigures(r: FtOutcome): TechniqueFigures {
  return {
    technique: "checkpointing", nondeterminismPerSec: null, checkpoints: r.checkpointsCommitted, checkpointsPerSec: r.checkpointsPerSec,
    bytesSent: r.bytesSent, pauseMs: r.pauseMs, heldOutputLatencyMs: r.packetLatencyMs, pausedShare: r.pausedShare, packetsReleased: r.packets.released,
  };
}

/** The nondeterminism curve: lockstep once per rate, checkpointing once (it does not depend on the rate). */
export async function sweepNondeterminism(s: LockstepScenario, ratesPerSec: readonly number[]): Promise<{ lockstep: LockstepOutcome[]; checkpointing: FtOutcome }> {
  if (!Array.isArray(ratesPerSec) || ratesPerSec.length === 0) {
    throw new HypermemError(ErrorCode.BadOption, `the sweep needs at least one nondeterminism rate, got ${JSON.stringify(ratesPerSec)}`, { option: "ratesPerSec" });
  }
  const lockstep: LockstepOutcome[] = [];
  for (const rate of ratesPerSec) lockstep.push(await runLockstepScenario({ ...s, nondeterminismPerSec: rate }));
  return { lockstep, checkpointing: await runCheckpointingScenario(s) };
}
