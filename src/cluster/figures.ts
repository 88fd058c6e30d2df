// The figures of a cluster run: per host, per pod, and the totals compared
// between the two flows.
//
//   placed          pods running at the end
//   refused         pods still waiting at the end (never placed, or placed after none of their tries)
//   bind failures   binds the VM layer refused (baseline: the layers disagreed); the unified flow has none
//   fragmentation   share of the free memory (capacity × (1 - headroom) - reserved) that sits on hosts
//                   where admission control would refuse a podVM of the median size of this run's pods
//                   (short of memory, CPU or pod slots there): free memory no typical pod can use
//   balance         standard deviation over hosts of memory use (reserved / capacity), and of CPU use
//   memory used     the guests' working sets in the model (RuntimeClass overhead + container requests,
//                   plus the whole memory of VMs outside Kubernetes), or with materialize the host
//                   frames really in use
import type { Cluster, PodRecord } from "./cluster.js";
import type { ClusterMode } from "./flows.js";
import type { ClusterEvent } from "./options.js";
import { podRequests, type PodVmSize } from "./podvm.js";

export interface HostFigures {
  readonly name: string;
  readonly podVms: number;
  /** VMs outside Kubernetes (hosts file). */
  readonly otherVms: number;
  readonly memoryBytes: number;
  readonly memoryReservedBytes: number;
  readonly memoryUsedBytes: number;
  /** What the container scheduler's cache says the pods here request (its view of the host). */
  readonly kubernetesRequestedBytes: number;
  readonly cpus: number;
  readonly milliCpuReserved: number;
  readonly vcpus: number;
}

export interface PodFigures {
  readonly pod: string;
  readonly owner: string | null;
  readonly status: "running" | "pending" | "deleted";
  /** Where it runs (or ran, when deleted); null when never placed. */
  readonly host: string | null;
  /** The VM scheduler's selection (unified flow). */
  readonly selectedHost: string | null;
  readonly podVm: { readonly memoryBytes: number; readonly milliCpu: number; readonly vcpus: number };
  /** What Kubernetes accounts: requests + overhead. */
  readonly requests: { readonly memoryBytes: number; readonly milliCpu: number };
  readonly attempts: number;
  readonly bindFailures: number;
  /** Wall time of the pod's last scheduling attempt, µs. */
  readonly schedulingLatencyUs: number;
  readonly reason: string | null;
}

export interface ClusterTotals {
  readonly hosts: number;
  /** Pods submitted over the run. */
  readonly pods: number;
  readonly placed: number;
  readonly refused: number;
  readonly deleted: number;
  readonly bindFailures: number;
  readonly memoryBytes: number;
  readonly memoryReservedBytes: number;
  readonly memoryUsedBytes: number;
  readonly memoryUsed: "model" | "measured";
  readonly milliCpu: number;
  readonly milliCpuReserved: number;
  /** 0..1 (see the header). */
  readonly fragmentation: number;
  /** Standard deviation of host memory use (reserved / capacity), 0..1. */
  readonly memoryBalanceStdDev: number;
  readonly cpuBalanceStdDev: number;
  readonly schedulingLatencyUs: { readonly p50: number; readonly p99: number; readonly max: number; readonly total: number };
  /** Wall time spent making podVMs real (materialize: Vms created, working sets written), ms; 0 otherwise. */
  readonly materializeWallMs: number;
}

export interface ClusterReport {
  readonly mode: ClusterMode;
  readonly totals: ClusterTotals;
  readonly hosts: readonly HostFigures[];
  readonly pods: readonly PodFigures[];
  readonly events: readonly ClusterEvent[];
}

function stdDev(values: Float64Array): number {
  const n = values.length;
  let sum = 0;
  let squares = 0;
  for (const v of values) {
    sum += v;
    squares += v * v;
  }
  return Math.sqrt(Math.max(0, squares / n - (sum / n) ** 2));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The podVM of the median memory among `sizes`, or null when there are none. */
function medianPodVm(sizes: readonly PodVmSize[]): PodVmSize | null {
  if (sizes.length === 0) return null;
  return [...sizes].sort((a, b) => a.memoryBytes - b.memoryBytes || a.milliCpu - b.milliCpu)[Math.floor((sizes.length - 1) / 2)];
}

/** Share of the free memory on hosts that cannot admit `reference`. */
export function fragmentation(cluster: Cluster, reference: PodVmSize | null): number {
  const l = cluster.vmLayer.ledger;
  let free = 0;
  let stranded = 0;
  for (let h = 0; h < l.hosts.length; h++) {
    const f = Math.max(0, l.memoryCapacity[h] * (1 - l.headroom) - l.memoryReserved[h]);
    free += f;
    if (reference !== null && l.refusal(h, reference) !== null) stranded += f;
  }
  return free === 0 ? 0 : stranded / free;
}

function podFigures(cluster: Cluster, r: PodRecord): PodFigures {
  const size = cluster.vmLayer.size(r.pod);
  const req = podRequests(r.pod.template);
  const name = (h: number | null): string | null => (h === null || h < 0 ? null : cluster.hosts[h].name);
  return {
    pod: r.pod.key, owner: r.pod.owner, status: r.status, host: name(r.host), selectedHost: name(r.selectedHost),
    podVm: { memoryBytes: size.memoryBytes, milliCpu: size.milliCpu, vcpus: size.vcpus },
    requests: { memoryBytes: req.memoryBytes, milliCpu: req.milliCpu },
    attempts: r.attempts, bindFailures: r.bindFailures, schedulingLatencyUs: r.latencyUs, reason: r.reason,
  };
}

/** Every figure of `cluster` now. */
export function clusterReport(cluster: Cluster): ClusterReport {
  const l = cluster.vmLayer.ledger;
  const m = cluster.vmLayer.materializer;
  const cache = cluster.flow.containerScheduler.cache;
  const hosts: HostFigures[] = cluster.hosts.map((h, i) => ({
    name: h.name, podVms: l.podVms[i], otherVms: h.vms.length, memoryBytes: h.memoryBytes,
    memoryReservedBytes: l.memoryReserved[i], memoryUsedBytes: m ? m.usedBytes(i) : l.workingSet[i],
    kubernetesRequestedBytes: cache.requestedMemory[i], cpus: h.cpus, milliCpuReserved: l.milliReserved[i], vcpus: l.vcpus[i],
  }));
  const records = cluster.records;
  const latencies = records.filter((r) => r.attempts > 0).map((r) => r.latencyUs).sort((a, b) => a - b);
  const memoryUse = Float64Array.from(hosts, (h) => h.memoryReservedBytes / h.memoryBytes);
  const cpuUse = Float64Array.from(hosts, (h) => h.milliCpuReserved / (h.cpus * 1000));
  const sum = (f: (h: HostFigures) => number): number => hosts.reduce((s, h) => s + f(h), 0);
  const count = (status: PodRecord["status"]): number => records.filter((r) => r.status === status).length;
  const totals: ClusterTotals = {
    hosts: hosts.length, pods: records.length, placed: count("running"), refused: count("pending"), deleted: count("deleted"),
    bindFailures: cluster.bindFailures,
    memoryBytes: sum((h) => h.memoryBytes), memoryReservedBytes: sum((h) => h.memoryReservedBytes), memoryUsedBytes: sum((h) => h.memoryUsedBytes),
    memoryUsed: m ? "measured" : "model",
    milliCpu: sum((h) => h.cpus * 1000), milliCpuReserved: sum((h) => h.milliCpuReserved),
    fragmentation: fragmentation(cluster, medianPodVm(records.map((r) => cluster.vmLayer.size(r.pod)))),
    memoryBalanceStdDev: stdDev(memoryUse), cpuBalanceStdDev: stdDev(cpuUse),
    schedulingLatencyUs: {
      p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0, total: latencies.reduce((s, x) => s + x, 0),
    },
    materializeWallMs: cluster.vmLayer.materializeWallMs,
  };
  return { mode: cluster.mode, totals, hosts, pods: records.map((r) => podFigures(cluster, r)), events: cluster.events };
}
