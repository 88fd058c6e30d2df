// Plain models of the cluster schedulers' rules, written from Kubernetes' and
// the VM layer's definitions without any index or running sum: every check
// scans every placed pod, every score is recomputed from scratch. The tests
// hold the incremental implementations (src/cluster) to them.
import type { ClusterHost } from "../../src/cluster/hosts.js";
import { nodeTermMatches, selectorMatches } from "../../src/cluster/labels.js";
import type { Pod, PodAffinityTerm } from "../../src/cluster/pod.js";
import type { PodVmSize } from "../../src/cluster/podvm.js";

export interface Placed {
  readonly pod: Pod;
  readonly host: number;
}

const termMatches = (term: PodAffinityTerm, pod: Pod): boolean =>
  (term.namespaces === null || term.namespaces.includes(pod.namespace)) && selectorMatches(term.selector, pod.template.labels);

/** kube-scheduler's InterPodAffinity filter for `pod` on host `h`: 0 passes, 1 affinity, 2 anti-affinity, 3 existing pods' anti-affinity. */
export function naiveAffinity(hosts: readonly ClusterHost[], placed: readonly Placed[], pod: Pod, h: number): number {
  const labels = hosts[h].labels;
  const terms = pod.template.podAffinity;
  if (terms.length > 0) {
    if (terms.some((t) => labels[t.topologyKey] === undefined)) return 1;
    const matchingAll = placed.filter((p) => terms.every((t) => termMatches(t, p.pod)));
    const counted = matchingAll.filter((p) => terms.some((t) => hosts[p.host].labels[t.topologyKey] !== undefined));
    const satisfied = terms.every((t) => matchingAll.some((p) => hosts[p.host].labels[t.topologyKey] === labels[t.topologyKey]));
    const first = counted.length === 0 && terms.every((t) => termMatches(t, pod));
    if (!satisfied && !first) return 1;
  }
  for (const t of pod.template.podAntiAffinity) {
    const value = labels[t.topologyKey];
    if (value === undefined) continue;
    if (placed.some((p) => hosts[p.host].labels[t.topologyKey] === value && termMatches(t, p.pod))) return 2;
  }
  for (const p of placed) {
    for (const t of p.pod.template.podAntiAffinity) {
      const value = hosts[p.host].labels[t.topologyKey];
      if (value !== undefined && labels[t.topologyKey] === value && termMatches(t, pod)) return 3;
    }
  }
  return 0;
}

/** nodeSelector and required node affinity. */
export function naiveNodeAllowed(host: ClusterHost, pod: Pod): boolean {
  const t = pod.template;
  if (!Object.entries(t.nodeSelector).every(([k, v]) => host.labels[k] === v)) return false;
  return t.nodeAffinity === null || t.nodeAffinity.some((term) => nodeTermMatches(term, host.name, host.labels));
}

export interface NaiveVm {
  readonly host: number;
  readonly size: PodVmSize;
}

/** Reserved memory and millicores of each host: its plain VMs plus `vms`. */
export function naiveReserved(hosts: readonly ClusterHost[], vms: readonly NaiveVm[]): { memory: number[]; milli: number[]; count: number[] } {
  const memory = hosts.map((h) => h.vms.reduce((s, v) => s + v.memoryBytes, 0));
  const milli = hosts.map((h) => h.vms.reduce((s, v) => s + v.milliCpu, 0));
  const count = hosts.map(() => 0);
  for (const v of vms) {
    memory[v.host] += v.size.memoryBytes;
    milli[v.host] += v.size.milliCpu;
    count[v.host]++;
  }
  return { memory, milli, count };
}

/** The VM layer's admission control, from scratch. */
export function naiveAdmits(hosts: readonly ClusterHost[], vms: readonly NaiveVm[], headroom: number, h: number, size: PodVmSize): boolean {
  const r = naiveReserved(hosts, vms);
  const host = hosts[h];
  return r.memory[h] + size.memoryBytes <= host.memoryBytes * (1 - headroom)
    && r.milli[h] + size.milliCpu <= host.cpus * 1000 * (1 - headroom)
    && r.count[h] < host.maxPods
    && size.vcpus <= host.cpus;
}

const variance = (xs: readonly number[]): number => {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
};

/** var(memory use) + var(CPU use) over the hosts if `size` went to host `h`. */
export function naiveImbalance(hosts: readonly ClusterHost[], vms: readonly NaiveVm[], h: number, size: PodVmSize): number {
  const r = naiveReserved(hosts, [...vms, { host: h, size }]);
  return variance(hosts.map((x, i) => r.memory[i] / x.memoryBytes)) + variance(hosts.map((x, i) => r.milli[i] / (x.cpus * 1000)));
}

/** The hosts the VM scheduler may choose for `pod`: admitted, allowed by labels and by affinity. */
export function naiveCandidates(hosts: readonly ClusterHost[], vms: readonly NaiveVm[], placed: readonly Placed[], headroom: number, pod: Pod, size: PodVmSize): number[] {
  return hosts.map((_, h) => h).filter((h) =>
    naiveAdmits(hosts, vms, headroom, h, size) && naiveNodeAllowed(hosts[h], pod) && naiveAffinity(hosts, placed, pod, h) === 0);
}
