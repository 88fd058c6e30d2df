// The scheduler's time series: one point per VM and one for the host at
// every reallocation and at the end of a run. VM points carry QEMU's balloon
// names (`actual`, `target`: the guest's memory after ballooning, bytes;
// `stat-*`: the guest's virtio-balloon statistics) beside the scheduler's own
// figures (shares, ρ, the active fraction estimated and true, balloon size).
import { PAGE_SIZE } from "../wasm/codes.js";
import type { MemoryLevel } from "./condition.js";
import type { BalloonStats } from "./guest-stats.js";
import { stateLevel, type ReclaimState } from "./reclaim.js";
import type { ManagedVm, MemoryScheduler } from "./scheduler.js";

export interface VmSample extends BalloonStats {
  readonly atNs: number;
  readonly vm: number;
  readonly shares: number;
  /** ρ = S / (P (f + k (1 − f))) with the allocation and the f the last reallocation used. */
  readonly rho: number;
  readonly allocationPages: number;
  readonly activeEstimate: number;
  readonly activeTrue: number;
  readonly balloonPages: number;
  readonly balloonTargetPages: number;
  /** Host frames holding the VM's pages. */
  readonly residentPages: number;
  readonly level: MemoryLevel;
  readonly availablePages: number;
  readonly someAvg10: number;
  readonly someAvg60: number;
}

export interface HostSample {
  readonly atNs: number;
  readonly freeFrames: number;
  readonly freeFraction: number;
  readonly state: ReclaimState;
  /** 0 high, 1 soft, 2 hard, 3 low. */
  readonly stateLevel: number;
  /** Frames moved from one VM's balloon into another VM so far. */
  readonly movedFrames: number;
}

export function snapshotHost(s: MemoryScheduler, atNs: number): HostSample {
  const freeFrames = s.freeFrames;
  return Object.freeze({ atNs, freeFrames, freeFraction: freeFrames / s.host.maxFrames, state: s.state, stateLevel: stateLevel(s.state), movedFrames: s.pool.movedFrames });
}

export function snapshotVm(m: ManagedVm, atNs: number, rho: number): VmSample {
  const d = m.driver;
  const c = d.counters;
  const free = m.guestFreePages;
  const info = m.condition.info;
  return Object.freeze({
    atNs, vm: m.vm.id, shares: m.options.shares, rho,
    allocationPages: m.allocationPages, activeEstimate: m.sampler.estimate, activeTrue: m.sampler.trueFraction,
    balloonPages: d.actualPages, balloonTargetPages: d.targetPages, residentPages: m.vm.states.counts().privateFrames,
    level: info?.level ?? "normal", availablePages: info?.availablePages ?? free,
    someAvg10: info?.psi.someAvg10 ?? 0, someAvg60: info?.psi.someAvg60 ?? 0,
    actual: (m.vm.pages - d.actualPages) * PAGE_SIZE,
    target: (m.vm.pages - d.targetPages) * PAGE_SIZE,
    "stat-swap-in": c.swapInPages,
    "stat-swap-out": c.swapOutPages,
    "stat-major-faults": c.majorFaults,
    "stat-minor-faults": c.minorFaults,
    "stat-free-memory": free * PAGE_SIZE,
    "stat-total-memory": (m.vm.pages - d.actualPages) * PAGE_SIZE,
    "stat-available-memory": free * PAGE_SIZE,
  });
}
