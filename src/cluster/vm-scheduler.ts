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
    let best = -1;
    let bestScore = Infinity;
    let refused: Map<string, number> | null = null;
    const refuse = (why: string): void => {
      refused ??= new Map();
      refused.set(why, (refused.get(why) ?? 0) + 1);
    };
    for (let h = 0; h < n; h++) {
      const admission = l.refusal(h, size);
      if (admission !== null) {
        refuse(`admission control: ${admission}`);
        continue;
      }
      if (mask !== null && mask[h] === 0) {
        refuse(NODE_AFFINITY_MESSAGE);
        continue;
      }
      const verdict = affinity === null ? AffinityVerdict.Ok : affinity.check(h);
      if (verdict !== AffinityVerdict.Ok) {
        refuse(AFFINITY_MESSAGES[verdict]);
        continue;
      }
      const dm = size.memoryBytes / l.memoryCapacity[h];
      const dc = size.milliCpu / l.milliCapacity[h];
      const um = l.memoryReserved[h] / l.memoryCapacity[h];
      const uc = l.milliReserved[h] / l.milliCapacity[h];
      const score = (qm + 2 * um * dm + dm * dm) / n - ((sm + dm) / n) ** 2 + (qc + 2 * uc * dc + dc * dc) / n - ((sc + dc) / n) ** 2;
      if (score < bestScore) {
        bestScore = score;
        best = h;
      }
    }
    return best >= 0 ? { host: best } : { host: -1, reasons: refused ?? new Map() };
  }

  /** Counts `pod` on `host` for later affinity rules. */
  placed(pod: Pod, host: number): void {
    this.#affinity.place(pod, host);
  }

  removed(pod: Pod): void {
    this.#affinity.remove(pod);
  }
}
