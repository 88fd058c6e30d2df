// Sizing: what each layer accounts for a pod.
//
// The podVM (the VM the pod runs in, sized before it starts, as vSphere Pods
// and Kata's static sandbox sizing do):
//
//   containers  = Σ over app containers of (limit, or the request where there is no limit)
//   init        = max over init containers of the same (they run one at a time, before the app)
//   memory      = max(containers, init) + RuntimeClass overhead.podFixed.memory
//   millicores  = max(containers, init) + RuntimeClass overhead.podFixed.cpu
//   vCPUs       = max(1, ceil(millicores / 1000))
//
// Kata sizes a sandbox VM as the sum of its containers' limits on top of a
// base (default_memory, default_vcpus); Kubernetes' pod overhead adds
// RuntimeClass.overhead.podFixed, and the kubelet sizes the pod cgroup as the
// sum of the limits plus that overhead. Here the overhead is the base, and a
// container without a limit counts its request (the rule). A pod
// whose containers state no memory at all gets Kata's default_memory (2 GiB);
// none with CPU, Kata's default_vcpus (1). See docs/cluster.md.
//
// The Kubernetes scheduler's view (NodeResourcesFit, computePodResourceRequest):
//
//   requests = max(Σ app requests, max init request) + overhead.podFixed
//
// and for scoring only, a container without a request counts 100m CPU and
// 200 MiB (the scheduler's non-zero defaults), so empty pods still spread.
import type { ContainerSpec, PodTemplate } from "./pod.js";

export interface PodVmSize {
  readonly memoryBytes: number;
  readonly milliCpu: number;
  readonly vcpus: number;
  /** The RuntimeClass overhead included above. */
  readonly overheadMemoryBytes: number;
  readonly overheadMilliCpu: number;
  /** Memory the guest touches in the model: overhead + Σ container requests (what --materialize writes). */
  readonly workingSetBytes: number;
}

export interface PodRequests {
  readonly memoryBytes: number;
  readonly milliCpu: number;
  /** For scoring: zero requests replaced by the non-zero defaults. */
  readonly scoreMemoryBytes: number;
  readonly scoreMilliCpu: number;
}

export interface SizingDefaults {
  /** Memory of a podVM whose containers state none. @default 2 GiB (Kata default_memory) */
  readonly memoryBytes: number;
  /** Millicores of a podVM whose containers state none. @default 1000 (Kata default_vcpus = 1) */
  readonly milliCpu: number;
}

export const KATA_DEFAULTS: SizingDefaults = Object.freeze({ memoryBytes: 2048 * 2 ** 20, milliCpu: 1000 });
/** kube-scheduler's DefaultMilliCPURequest and DefaultMemoryRequest (pkg/scheduler/util). */
export const NON_ZERO_MILLI_CPU = 100;
export const NON_ZERO_MEMORY_BYTES = 200 * 2 ** 20;

type Pick = (c: ContainerSpec) => number | null;

const sizeOf = (c: ContainerSpec, r: "memoryBytes" | "milliCpu"): number => c.limits[r] ?? c.requests[r] ?? 0;
const requestOf = (c: ContainerSpec, r: "memoryBytes" | "milliCpu"): number => c.requests[r] ?? 0;

/** max(Σ app, max init) of `pick`. */
function podTotal(t: PodTemplate, pick: Pick): number {
  let sum = 0;
  for (const c of t.containers) sum += pick(c) ?? 0;
  let init = 0;
  for (const c of t.initContainers) init = Math.max(init, pick(c) ?? 0);
  return Math.max(sum, init);
}

/** The podVM of a pod of template `t`. */
export function podVmSize(t: PodTemplate, defaults: SizingDefaults = KATA_DEFAULTS): PodVmSize {
  const overheadMemoryBytes = t.runtimeClass?.overhead.memoryBytes ?? 0;
  const overheadMilliCpu = t.runtimeClass?.overhead.milliCpu ?? 0;
  const memory = podTotal(t, (c) => sizeOf(c, "memoryBytes"));
  const milli = podTotal(t, (c) => sizeOf(c, "milliCpu"));
  const memoryBytes = (memory > 0 ? memory : defaults.memoryBytes) + overheadMemoryBytes;
  const milliCpu = (milli > 0 ? milli : defaults.milliCpu) + overheadMilliCpu;
  let touched = 0;
  for (const c of t.containers) touched += requestOf(c, "memoryBytes");
  return Object.freeze({
    memoryBytes, milliCpu, vcpus: Math.max(1, Math.ceil(milliCpu / 1000)), overheadMemoryBytes, overheadMilliCpu,
    workingSetBytes: overheadMemoryBytes + Math.min(touched, memoryBytes - overheadMemoryBytes),
  });
}

/** What the Kubernetes scheduler accounts for a pod of template `t`. */
export function podRequests(t: PodTemplate): PodRequests {
  const overheadMemory = t.runtimeClass?.overhead.memoryBytes ?? 0;
  const overheadMilli = t.runtimeClass?.overhead.milliCpu ?? 0;
  return Object.freeze({
    memoryBytes: podTotal(t, (c) => c.requests.memoryBytes) + overheadMemory,
    milliCpu: podTotal(t, (c) => c.requests.milliCpu) + overheadMilli,
    scoreMemoryBytes: podTotal(t, (c) => c.requests.memoryBytes ?? NON_ZERO_MEMORY_BYTES) + overheadMemory,
    scoreMilliCpu: podTotal(t, (c) => c.requests.milliCpu ?? NON_ZERO_MILLI_CPU) + overheadMilli,
  });
}
