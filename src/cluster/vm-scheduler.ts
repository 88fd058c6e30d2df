// The VM scheduler (DRS-like initial placement) of the unified flow: it picks
// the host of a podVM. For each host, in order:
//
//   1. admission control against reservations (host-ledger.ts): memory, CPU,
//      podVM count, vCPUs, with the configured headroom;
//   2. VM-host rules from the pod's nodeSelector and required node affinity;
//   3. VM-VM rules from the pod's required affinity and anti-affinity terms;
//   4. the load-balancing score: the cluster's imbalance after the placement,
//      var(memory use) + var(CPU use) over all hosts, use = reserved / capacity.
//
// The host with the lowest imbalance wins (the first one on a tie). Placing on
// host h adds d = size / capacity_h to its use u_h, so with S = Σu, Q = Σu²
// over n hosts the new variance is
//
//   var' = (Q + 2·u_h·d + d²) / n - ((S + d) / n)²
//
// computed in O(1) per host from the ledger's running sums.
import { AffinityIndex, AFFINITY_MESSAGES, AffinityVerdict } from "./affinity-index.js";
import type { HostLedger } from "./host-ledger.js";
import { NODE_AFFINITY_MESSAGE, NodeConstraints } from "./node-constraints.js";
import type { Pod } from "./pod.js";
import type { PodVmSize } from "./podvm.js";
import type { Topology } from "./topology.js";

/** Why hosts were refused, in the order they are checked. */
const REASONS: readonly string[] = [
  "admission control: memory", "admission control: cpu", "admission control: pods", "admission control: vcpus",
  NODE_AFFINITY_MESSAGE, AFFINITY_MESSAGES[1], AFFINITY_MESSAGES[2], AFFINITY_MESSAGES[3],
];

export type VmSelection =
  | { readonly host: number }
  | { readonly host: -1; readonly reasons: ReadonlyMap<string, number> };

export class VmScheduler {
  readonly #ledger: HostLedger;
  readonly #constraints: NodeConstraints;
  readonly #affinity: AffinityIndex;

  constructor(ledger: HostLedger, topology: Topology) {
    this.#ledger = ledger;
    this.#constraints = new NodeConstraints(ledger.hosts);
    this.#affinity = new AffinityIndex(topology);
  }

  /** The host for `pod`'s podVM of `size`, or the count of hosts refused per reason. */
  select(pod: Pod, size: PodVmSize): VmSelection {
    const l = this.#ledger;
    const n = l.hosts.length;
    const mask = this.#constraints.mask(pod.template);
    const affinity = this.#affinity.prepare(pod);
    const { memorySum: sm, memorySquares: qm, cpuSum: sc, cpuSquares: qc } = l;
    const { memoryReserved, milliReserved, memoryLimit, milliLimit, memoryCapacity, milliCapacity, podVms, maxPods, cpus } = l;
    const memory = size.memoryBytes;
    const milli = size.milliCpu;
    const refused = new Int32Array(REASONS.length);
    let best = -1;
    let bestScore = Infinity;
    for (let h = 0; h < n; h++) {
      if (memoryReserved[h] + memory > memoryLimit[h]) { refused[0]++; continue; }
      if (milliReserved[h] + milli > milliLimit[h]) { refused[1]++; continue; }
      if (podVms[h] >= maxPods[h]) { refused[2]++; continue; }
      if (size.vcpus > cpus[h]) { refused[3]++; continue; }
      if (mask !== null && mask[h] === 0) { refused[4]++; continue; }
      const verdict = affinity === null ? AffinityVerdict.Ok : affinity.check(h);
      if (verdict !== AffinityVerdict.Ok) { refused[4 + verdict]++; continue; }
      const dm = memory / memoryCapacity[h];
      const dc = milli / milliCapacity[h];
      const um = memoryReserved[h] / memoryCapacity[h];
      const uc = milliReserved[h] / milliCapacity[h];
      const score = (qm + 2 * um * dm + dm * dm) / n - ((sm + dm) / n) ** 2 + (qc + 2 * uc * dc + dc * dc) / n - ((sc + dc) / n) ** 2;
      if (score < bestScore) {
        bestScore = score;
        best = h;
      }
    }
    if (best >= 0) return { host: best };
    const reasons = new Map<string, number>();
    REASONS.forEach((why, i) => { if (refused[i] > 0) reasons.set(why, refused[i]); });
    return { host: -1, reasons };
  }

  /** Counts `pod` on `host` for later affinity rules. */
  placed(pod: Pod, host: number): void {
    this.#affinity.place(pod, host);
  }

  removed(pod: Pod): void {
    this.#affinity.remove(pod);
  }
}
