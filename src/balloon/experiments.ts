// The two experiments of issue 15, each a pair of runs on the same seed:
//
// idleTax    Waldspurger OSDI'02 §5.3 (Figure 7): two VMs of equal shares
//            and size, one idle (its memory written at boot, then untouched),
//            one running a workload whose working set is larger than an even
//            split; τ = 0 and τ = 75 %. Reports each VM's final allocation
//            (QMP `actual`) and the active VM's guest page faults and
//            throughput after the stalls of guest paging.
// condition  seed T12: a guest whose application keeps a cache, beside a
//            busy VM that takes memory from it; the application follows the
//            memory condition ("signal") or sees only the guest's free memory
//            ("free-memory"). Reports the cache's hit rate, guest paging and
//            the cache pages the balloon had to take.
import { createHost } from "../host/host.js";
import { rejectUnknown, requireInt } from "../options.js";
import { Timeline } from "../sim/timeline.js";
import { AppCache, type AppCacheFigures, type CachePolicy } from "./app-cache.js";
import { runOvercommit, type VmOutcome } from "./run.js";
import { MemoryScheduler } from "./scheduler.js";

export interface ExperimentOptions {
  /** Simulated time of each run. @default 300e9 (5 min) */
  durationNs?: number;
  /** Guest size of each VM, pages. @default 16384 (64 MiB) */
  vmPages?: number;
  /** @default 1 */
  seed?: number;
  /** Working-set sampling period (scaled down for quick runs). @default 30e9 */
  samplePeriodNs?: number;
  /** Reallocation period. @default 15e9 */
  reallocPeriodNs?: number;
}

function resolve(o: ExperimentOptions): Required<ExperimentOptions> {
  rejectUnknown(o, ["durationNs", "vmPages", "seed", "samplePeriodNs", "reallocPeriodNs"], "experiment");
  return {
    durationNs: requireInt("durationNs", o.durationNs ?? 300e9, 1e9, 24 * 3600e9),
    vmPages: requireInt("vmPages", o.vmPages ?? 16384, 1024, 1 << 18),
    seed: requireInt("seed", o.seed ?? 1, 0, 2 ** 32 - 1),
    samplePeriodNs: requireInt("samplePeriodNs", o.samplePeriodNs ?? 30e9, 1e9, 3600e9),
    reallocPeriodNs: requireInt("reallocPeriodNs", o.reallocPeriodNs ?? 15e9, 1e9, 3600e9),
  };
}

/** The host for two VMs of `vmPages`: three quarters of their memory (4 KiB pages → MiB). */
function hostMiBFor(vmPages: number): number { return Math.ceil((2 * vmPages * 0.75) / 256); }

export interface IdleTaxRow {
  readonly idleTax: number;
  readonly idle: VmOutcome;
  readonly active: VmOutcome;
  readonly movedFrames: number;
  readonly hostFrames: number;
}

/** Waldspurger's idle-memory-tax experiment, τ = 0 then τ = 0.75. */
export function idleTaxExperiment(options: ExperimentOptions = {}): IdleTaxRow[] {
  const o = resolve(options);
  return [0, 0.75].map((idleTax): IdleTaxRow => {
    const r = runOvercommit({
      hostMemoryMiB: hostMiBFor(o.vmPages), durationNs: o.durationNs,
      scheduler: { idleTax, seed: o.seed, samplePeriodNs: o.samplePeriodNs, reallocPeriodNs: o.reallocPeriodNs },
      vms: [
        { pages: o.vmPages, workload: "idle", prefill: 1 },
        { pages: o.vmPages, workload: { kind: "uniform", ratePerSec: 5000, pageCount: Math.floor(o.vmPages * 0.75), seed: o.seed } },
      ],
    });
    return Object.freeze({ idleTax, idle: r.vms[0], active: r.vms[1], movedFrames: r.movedFrames, hostFrames: r.hostFrames });
  });
}

export interface ConditionRow {
  readonly policy: CachePolicy;
  readonly cache: AppCacheFigures;
  readonly majorFaults: number;
  readonly minorFaults: number;
  readonly swapInPages: number;
  readonly swapOutPages: number;
  readonly stallNs: number;
  /** The cache VM's final allocation (QMP `actual`), bytes. */
  readonly actual: number;
}

/** The memory-condition experiment: the same run with an application that follows the signal and one that sees free memory only. */
export function conditionExperiment(options: ExperimentOptions = {}): ConditionRow[] {
  const o = resolve(options);
  return (["signal", "free-memory"] as const).map((policy): ConditionRow => {
    const host = createHost({ memoryMiB: hostMiBFor(o.vmPages) });
    const timeline = new Timeline();
    const scheduler = new MemoryScheduler(host, timeline, { seed: o.seed, samplePeriodNs: o.samplePeriodNs, reallocPeriodNs: o.reallocPeriodNs });
    const cacheVm = scheduler.manage(host.createVm({ pages: o.vmPages }));
    const busy = scheduler.manage(host.createVm({ pages: o.vmPages }));
    const cache = new AppCache(cacheVm, { policy, firstPage: 0, maxPages: Math.floor(o.vmPages * 0.6), keys: o.vmPages * 4, lookupsPerSec: 200, seed: o.seed });
    scheduler.start();
    timeline.attach(cache);
    const work = busy.vm.startWorkload({ kind: "uniform", ratePerSec: 5000, pageCount: Math.floor(o.vmPages * 0.9), seed: o.seed });
    work.attach(timeline);
    try {
      timeline.advance(o.durationNs);
    } finally {
      work.close();
    }
    const c = cacheVm.driver.counters;
    return Object.freeze({
      policy, cache: cache.figures(), majorFaults: c.majorFaults, minorFaults: c.minorFaults, swapInPages: c.swapInPages,
      swapOutPages: c.swapOutPages, stallNs: c.stallNs, actual: (o.vmPages - cacheVm.driver.actualPages) * 4096,
    });
  });
}
