// One swap run: a guest larger than its frame limit runs a workload on its
// vCPUs (each waiting on its own swap-ins) while its swap device works;
// every `burstPeriodNs` the limit drops by `burstPages` for half a period
// (what a memory scheduler taking frames back and returning them does): a
// burst of write-backs each time. compareQueues() runs the same workload
// and seed under each arbitration. The figures come from the simulated
// device; with io "real" the run's requests are then replayed against the
// swap file with asynchronous I/O.
import { createHost } from "../host/host.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import type { WorkloadCommonOptions, WorkloadSpec } from "../host/workload.js";
import { requireInt, requireNumber } from "../options.js";
import { Timeline } from "../sim/timeline.js";
import { latencyFigures, maxDepth, perTypeLatency, type LatencyFigures, type SwapFigures } from "./figures.js";
import type { SwapOptions } from "./options.js";
import { QUEUE_MODES, type QueueMode } from "./queues.js";
import { replayOnFile, type ReplayResult } from "./real-io.js";
import { HostSwap } from "./swap-device.js";
import { DEFAULT_SLICE_NS, SwapVcpu } from "./vcpu.js";

export type SwapIo = "simulated" | "real";

export interface SwapScenarioOptions {
  /** Guest memory, 4 KiB pages. */
  guestPages: number;
  /** Frames the guest may hold. */
  frameLimitPages: number;
  /** vCPU i runs this workload with seed + i. */
  workload: WorkloadSpec & WorkloadCommonOptions;
  /** vCPUs of the guest, 1..64. @default 4 */
  vcpus?: number;
  /** Simulated time the guest runs, ns. */
  durationNs: number;
  /** Pages the limit drops by at each burst (0: none). @default frameLimitPages / 4 */
  burstPages?: number;
  /** Time between bursts, ns; the limit comes back half a period after each. @default durationNs / 4 */
  burstPeriodNs?: number;
  /** The swap device (path, device, queues, page cluster...); capacity defaults to the guest's size. */
  swap?: SwapOptions;
  /** "real": replay the run's requests against the swap file with asynchronous I/O. @default "simulated" */
  io?: SwapIo;
  /** Called when the simulated run ends, before a replay (progress). */
  onSimulated?: (requests: number) => void;
}

export interface SwapRunResult extends SwapFigures {
  readonly queues: QueueMode;
  readonly device: string;
  readonly pageCluster: number;
  readonly guestPages: number;
  readonly frameLimitPages: number;
  readonly vcpus: number;
  readonly bursts: number;
  readonly burstPages: number;
  readonly simulatedNs: number;
  /** Guest accesses issued, and the share of the vCPUs' time spent waiting on swap-ins. */
  readonly accesses: number;
  readonly stallNs: number;
  readonly stallFraction: number;
  /** Demand reads that arrived while at least `parallelism` write-backs were queued or at the device. */
  readonly demandUnderBurst: LatencyFigures;
  /** Requests the device received (submissions; a promotion is not a new one). */
  readonly requests: number;
  /** With io "real": the replay's wall-clock latencies; else null. */
  readonly real: ReplayResult | null;
}

/** Runs one scenario and closes everything it made (the swap file is removed). */
export async function runSwapScenario(o: SwapScenarioOptions): Promise<SwapRunResult> {
  const guestPages = requireInt("guestPages", o.guestPages, 1, 3 * 2 ** 18);
  const limit = requireInt("frameLimitPages", o.frameLimitPages, 1, guestPages);
  const durationNs = requireNumber("durationNs", o.durationNs, 1e3, 3600e9);
  const vcpus = requireInt("vcpus", o.vcpus ?? 4, 1, 64);
  const burstPages = requireInt("burstPages", o.burstPages ?? Math.floor(limit / 4), 0, limit - 1);
  const periodNs = requireNumber("burstPeriodNs", o.burstPeriodNs ?? durationNs / 4, 1e3, 3600e9);
  const host = createHost({ memoryMiB: Math.min(4096, Math.ceil(guestPages / 256) + 64) });
  const vm = host.createVm({ pages: guestPages });
  const timeline = new Timeline({ quantumNs: DEFAULT_SLICE_NS });
  const swap = new HostSwap(host, timeline, { capacityPages: guestPages, recordRequests: o.io === "real", ...o.swap });
  const workloads: GuestWorkload[] = [];
  try {
    const guest = swap.attach(vm, { frameLimitPages: limit });
    const seed = BigInt(o.workload.seed ?? 1);
    const cpus = Array.from({ length: vcpus }, (_, i) => {
      workloads.push(vm.startWorkload(o.workload.kind === "trace" ? o.workload : { ...o.workload, seed: seed + BigInt(i) }));
      return new SwapVcpu(guest, workloads[i], timeline, swap.device);
    });
    let bursts = 0;
    if (burstPages > 0) {
      for (let at = periodNs / 2; at < durationNs; at += periodNs) {
        timeline.schedule(at, () => { bursts++; swap.setFrameLimit(vm, limit - burstPages); });
        timeline.schedule(at + periodNs / 2, () => { swap.setFrameLimit(vm, limit); });
      }
    }
    timeline.advance(durationNs);
    for (const cpu of cpus) cpu.close();
    swap.device.advanceTo(timeline.nowNs);
    swap.device.finish();
    const requests = swap.device.requests;
    o.onSimulated?.(requests);
    const real = (o.io ?? "simulated") === "real"
      ? await replayOnFile(swap.file.path, swap.device.log, { queues: swap.options.queues, device: swap.options.device, capacitySlots: swap.file.capacitySlots })
      : null;
    const depth = swap.device.depthSamples;
    const stallNs = cpus.reduce((sum, c) => sum + c.stallNs, 0);
    return Object.freeze({
      queues: swap.options.queues,
      device: swap.options.device.name,
      pageCluster: swap.options.pageCluster,
      guestPages,
      frameLimitPages: limit,
      vcpus,
      bursts,
      burstPages,
      simulatedNs: durationNs,
      accesses: cpus.reduce((sum, c) => sum + c.accesses, 0),
      stallNs,
      stallFraction: Math.min(1, stallNs / (durationNs * vcpus)),
      demandUnderBurst: latencyFigures(swap.device.demandUnderBurstNs),
      requests,
      latency: perTypeLatency(swap.device.latenciesNs),
      depth,
      maxDepth: maxDepth(depth),
      prefetch: swap.prefetch,
      counters: guest.snapshot(),
      real,
    });
  } finally {
    for (const w of workloads) w.close();
    swap.close();
  }
}

/** The same scenario under each arbitration (priority, then fifo), same workload and seed. */
export async function compareQueues(o: SwapScenarioOptions): Promise<readonly SwapRunResult[]> {
  const runs: SwapRunResult[] = [];
  for (const queues of QUEUE_MODES) runs.push(await runSwapScenario({ ...o, swap: { ...o.swap, queues } }));
  return runs;
}
