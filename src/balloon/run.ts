// One overcommit run: a host, several VMs (each with a workload, or idle),
// the memory scheduler, all on one simulated timeline for a given time.
// The result is the scheduler's time series and each VM's final figures;
// a run that over-commits the host stops there and says so (the error is
// kept, not thrown: the figures up to it are the point).
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost, type Host } from "../host/host.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import type { WorkloadOptions } from "../host/workload.js";
import type { Vm } from "../host/vm.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { Clock } from "../sim/clock.js";
import { Timeline } from "../sim/timeline.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import type { ConditionOptions } from "./condition.js";
import type { SchedulerOptions } from "./options.js";
import type { ReclaimStep } from "./reclaim.js";
import { MemoryScheduler, type ManagedVm } from "./scheduler.js";
import type { HostSample, VmSample } from "./series.js";

export interface OvercommitVmConfig {
  /** Guest memory, 4 KiB pages. */
  pages: number;
  /** @default 1000 */
  shares?: number;
  /** @default 0 */
  reservationPages?: number;
  /** @default pages */
  limitPages?: number;
  /** What the guest's vCPU touches, or "idle" for a guest that touches nothing. */
  workload: WorkloadOptions | "idle";
  /** Fraction of the guest written at boot (before the scheduler starts), 0..1. @default 0 */
  prefill?: number;
}

export interface OvercommitRunOptions {
  hostMemoryMiB: number;
  vms: readonly OvercommitVmConfig[];
  durationNs: number;
  scheduler?: SchedulerOptions;
  condition?: ConditionOptions;
  /** Steps after ballooning (hypervisor swap...), in order. */
  reclaimSteps?: readonly ReclaimStep[];
  /**
   * Steps after ballooning that need the run's host and VMs (hypervisor
   * swap: src/swap/reclaim-step.ts), made once the VMs exist and before
   * the scheduler starts; they run after `reclaimSteps`.
   */
  makeReclaimSteps?: (ctx: ReclaimStepContext) => readonly ReclaimStep[];
  /** Called once a simulated second. */
  onProgress?: (atNs: number) => void;
}

/** What makeReclaimSteps is given: the run's host, timeline and VMs (in --vm order), and the scheduler's makeRoom. */
export interface ReclaimStepContext {
  readonly host: Host;
  readonly clock: Clock;
  readonly vms: readonly Vm[];
  makeRoom(frames: number): void;
}

export interface VmOutcome {
  readonly vm: number;
  readonly shares: number;
  /** QMP `actual`: the guest's memory after ballooning, bytes. */
  readonly actual: number;
  readonly allocationPages: number;
  readonly balloonPages: number;
  readonly residentPages: number;
  readonly activeEstimate: number;
  readonly activeTrue: number;
  readonly accesses: number;
  readonly majorFaults: number;
  readonly minorFaults: number;
  readonly stallNs: number;
  /** Accesses per second once the stalls of guest paging are taken out. */
  readonly throughputPerSec: number;
}

export interface OvercommitResult {
  readonly hostFrames: number;
  readonly durationNs: number;
  readonly vms: readonly VmOutcome[];
  readonly vmSamples: readonly VmSample[];
  readonly hostSamples: readonly HostSample[];
  readonly movedFrames: number;
  /** ERR_HOST_OVERCOMMITTED's message and time, when the run stopped on it. */
  readonly overcommitted: { readonly message: string; readonly atNs: number } | null;
}

function checkVm(c: OvercommitVmConfig, i: number): void {
  rejectUnknown(c, ["pages", "shares", "reservationPages", "limitPages", "workload", "prefill"], `vm ${i + 1}`);
  requireInt(`vm ${i + 1} pages`, c.pages, 1, 2 ** 20);
  requireNumber(`vm ${i + 1} prefill`, c.prefill ?? 0, 0, 1);
  if (c.workload !== "idle" && (typeof c.workload !== "object" || c.workload === null)) {
    throw new HypermemError(ErrorCode.BadOption, `vm ${i + 1}: workload must be a workload's options or "idle", got ${JSON.stringify(c.workload)}`, { option: "workload", value: c.workload });
  }
}

/** Runs the scenario; see OvercommitResult. */
export function runOvercommit(options: OvercommitRunOptions): OvercommitResult {
  rejectUnknown(options, ["hostMemoryMiB", "vms", "durationNs", "scheduler", "condition", "reclaimSteps", "makeReclaimSteps", "onProgress"], "runOvercommit");
  if (!Array.isArray(options.vms) || options.vms.length === 0) throw new HypermemError(ErrorCode.BadOption, "runOvercommit needs at least one VM", { option: "vms" });
  options.vms.forEach(checkVm);
  const durationNs = requireInt("durationNs", options.durationNs, 0, 24 * 3600e9);
  const host = createHost({ memoryMiB: options.hostMemoryMiB });
  const timeline = new Timeline();
  const scheduler = new MemoryScheduler(host, timeline, options.scheduler, options.condition);
  const workloads: Array<GuestWorkload | null> = [];
  const managed: ManagedVm[] = [];
  try {
    for (const r of options.reclaimSteps ?? []) scheduler.addReclaimStep(r);
    for (const c of options.vms) {
      const vm = host.createVm({ pages: c.pages });
      const prefilled = Math.floor((c.prefill ?? 0) * c.pages);
      if (prefilled > 0) vm.fillPages(0, prefilled, (into, first) => { for (let at = 0; at < into.length; at += PAGE_SIZE) into.fill((first + at / PAGE_SIZE) & 0xff, at, at + PAGE_SIZE); });
      managed.push(scheduler.manage(vm, { shares: c.shares, reservationPages: c.reservationPages, limitPages: c.limitPages }));
    }
    const made = options.makeReclaimSteps?.({ host, clock: timeline, vms: managed.map((m) => m.vm), makeRoom: (frames) => scheduler.makeRoom(frames) }) ?? [];
    for (const r of made) scheduler.addReclaimStep(r);
    scheduler.start();
    for (const [i, c] of options.vms.entries()) {
      const w = c.workload === "idle" ? null : managed[i].vm.startWorkload(c.workload);
      w?.attach(timeline);
      workloads.push(w);
    }
    let overcommitted: OvercommitResult["overcommitted"] = null;
    try {
      for (let at = 0; at < durationNs; at += 1e9) {
        timeline.advance(Math.min(1e9, durationNs - at));
        options.onProgress?.(timeline.nowNs);
      }
    } catch (err) {
      if (!(err instanceof HypermemError) || err.code !== ErrorCode.HostOvercommitted) throw err;
      overcommitted = { message: err.message, atNs: timeline.nowNs };
    }
    if (scheduler.hostSamples.at(-1)?.atNs !== timeline.nowNs) scheduler.record();
    const ranNs = timeline.nowNs;
    const vms = managed.map((m, i): VmOutcome => {
      const last = scheduler.vmSamples.filter((s) => s.vm === m.vm.id).at(-1)!;
      const c = m.driver.counters;
      const accesses = workloads[i]?.generator.generated ?? 0;
      const stallShare = ranNs === 0 ? 0 : Math.min(1, c.stallNs / ranNs);
      return Object.freeze({
        vm: m.vm.id, shares: m.options.shares, actual: last.actual, allocationPages: m.allocationPages, balloonPages: m.driver.actualPages,
        residentPages: last.residentPages, activeEstimate: last.activeEstimate, activeTrue: last.activeTrue, accesses,
        majorFaults: c.majorFaults, minorFaults: c.minorFaults, stallNs: c.stallNs,
        throughputPerSec: ranNs === 0 ? 0 : (accesses / (ranNs / 1e9)) * (1 - stallShare),
      });
    });
    return Object.freeze({
      hostFrames: host.maxFrames, durationNs: ranNs, vms: Object.freeze(vms), vmSamples: scheduler.vmSamples, hostSamples: scheduler.hostSamples,
      movedFrames: scheduler.pool.movedFrames, overcommitted,
    });
  } finally {
    // The host goes with the run: the balloons are not given back (that
    // would read every page back from the guests' swap for nothing).
    for (const w of workloads) w?.close();
  }
}
