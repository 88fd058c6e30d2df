// Where a pod may go by node labels: its nodeSelector (every pair must be a
// label of the host) AND its required node affinity (any of its terms must
// select the host). Evaluated once per template over all hosts into a mask.
import type { ClusterHost } from "./hosts.js";
import { nodeTermMatches } from "./labels.js";
import type { PodTemplate } from "./pod.js";

export const NODE_AFFINITY_MESSAGE = "node(s) didn't match Pod's node affinity/selector";

export class NodeConstraints {
  readonly #hosts: readonly ClusterHost[];
  readonly #masks = new WeakMap<PodTemplate, Uint8Array | null>();

  constructor(hosts: readonly ClusterHost[]) {
    this.#hosts = hosts;
  }

  /** 1 for each host the template's pods may run on; null when the template has no node constraint. */
  mask(t: PodTemplate): Uint8Array | null {
    let m = this.#masks.get(t);
    if (m === undefined) {
      const selector = Object.entries(t.nodeSelector);
      const terms = t.nodeAffinity;
      if (selector.length === 0 && terms === null) {
        m = null;
      } else {
        m = new Uint8Array(this.#hosts.length);
        this.#hosts.forEach((h, i) => {
          const bySelector = selector.every(([k, v]) => h.labels[k] === v);
          const byAffinity = terms === null || terms.some((term) => nodeTermMatches(term, h.name, h.labels));
          m![i] = bySelector && byAffinity ? 1 : 0;
        });
      }
      this.#masks.set(t, m);
    }
    return m;
  }
}
