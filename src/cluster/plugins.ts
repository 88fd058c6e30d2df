// The plugins of the container scheduler's profiles, after kube-scheduler's:
//
//   NodeResourcesFit  PreFilter: the pod's requests (+ overhead); Filter: pod count,
//                     CPU and memory against allocatable ("Insufficient memory");
//                     Score: LeastAllocated, the default strategy:
//                       per resource (capacity - requested) × 100 / capacity,
//                       requested = node's non-zero requests + the pod's,
//                       averaged over cpu and memory with weights 1 and 1
//   NodeAffinity      nodeSelector and required node affinity
//   InterPodAffinity  required pod affinity and anti-affinity (affinity-index.ts)
//   SelectedHost      the unified flow's limit: PreFilter narrows the nodes to the
//                     host the VM scheduler selected, Filter refuses every other
//   binders           the baseline's bind asks the VM layer to create the podVM on
//                     the chosen node (which may refuse); the unified flow's bind
//                     creates it on the selected host and refuses, with
//                     ERR_BIND_OFF_HOST, to bind anywhere else
import { ErrorCode, HypermemError } from "../errors.js";
import { AFFINITY_MESSAGES, AffinityVerdict } from "./affinity-index.js";
import type { BindPlugin, CycleState, FilterPlugin, PreFilterPlugin, ScorePlugin, Status } from "./framework.js";
import { NODE_AFFINITY_MESSAGE, NodeConstraints } from "./node-constraints.js";
import type { NodeCache } from "./node-cache.js";
import type { Pod } from "./pod.js";

/** kube-scheduler's MaxNodeScore. */
export const MAX_NODE_SCORE = 100;

/** The VM layer's answer to "create this pod's podVM on that host": null when created. */
export type CreatePodVm = (pod: Pod, host: number) => Status;

function leastAllocated(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

export class NodeResourcesFit implements PreFilterPlugin, FilterPlugin, ScorePlugin {
  readonly name = "NodeResourcesFit";
  readonly weight = 1;
  readonly #cache: NodeCache;

  constructor(cache: NodeCache) {
    this.#cache = cache;
  }

  preFilter(state: CycleState): Status {
    state.requests = this.#cache.requestsOf(state.pod);
    return null;
  }

  filter(state: CycleState, node: number): Status {
    const c = this.#cache;
    const r = state.requests!;
    if (c.pods[node] + 1 > c.hosts[node].maxPods) return "Too many pods";
    if (r.milliCpu > 0 && r.milliCpu > c.allocatableMilli[node] - c.requestedMilli[node]) return "Insufficient cpu";
    if (r.memoryBytes > 0 && r.memoryBytes > c.allocatableMemory[node] - c.requestedMemory[node]) return "Insufficient memory";
    return null;
  }

  score(state: CycleState, node: number): number {
    const c = this.#cache;
    const r = state.requests!;
    const cpu = leastAllocated(c.nonzeroMilli[node] + r.scoreMilliCpu, c.allocatableMilli[node]);
    const memory = leastAllocated(c.nonzeroMemory[node] + r.scoreMemoryBytes, c.allocatableMemory[node]);
    return Math.floor((cpu + memory) / 2);
  }
}

export class NodeAffinity implements PreFilterPlugin, FilterPlugin {
  readonly name = "NodeAffinity";
  readonly #constraints: NodeConstraints;

  constructor(cache: NodeCache) {
    this.#constraints = new NodeConstraints(cache.hosts);
  }

  preFilter(state: CycleState): Status {
    state.nodeMask = this.#constraints.mask(state.pod.template);
    return null;
  }

  filter(state: CycleState, node: number): Status {
    return state.nodeMask === null || state.nodeMask[node] === 1 ? null : NODE_AFFINITY_MESSAGE;
  }
}

export class InterPodAffinity implements PreFilterPlugin, FilterPlugin {
  readonly name = "InterPodAffinity";
  readonly #cache: NodeCache;

  constructor(cache: NodeCache) {
    this.#cache = cache;
  }

  preFilter(state: CycleState): Status {
    state.affinity = this.#cache.affinity.prepare(state.pod);
    return null;
  }

  filter(state: CycleState, node: number): Status {
    if (state.affinity === null) return null;
    const v = state.affinity.check(node);
    return v === AffinityVerdict.Ok ? null : AFFINITY_MESSAGES[v];
  }
}

/** The unified flow's limit: only the host the VM scheduler selected is a candidate. */
export class SelectedHost implements PreFilterPlugin, FilterPlugin {
  readonly name = "SelectedHost";

  preFilter(state: CycleState): Status | readonly number[] {
    return state.selectedHost === null ? "no host selection from the VM scheduler" : [state.selectedHost];
  }

  filter(state: CycleState, node: number): Status {
    return node === state.selectedHost ? null : "node(s) are not the host the VM scheduler selected";
  }
}

/** The baseline's bind: the VM layer creates the podVM on the node Kubernetes chose, or refuses. */
export class VmLayerBinder implements BindPlugin {
  readonly name = "DefaultBinder";
  readonly #create: CreatePodVm;

  constructor(create: CreatePodVm) {
    this.#create = create;
  }

  bind(state: CycleState, node: number): Status {
    return this.#create(state.pod, node);
  }
}

/** The unified flow's bind: to the selected host only; the podVM is created there. */
export class SelectedHostBinder implements BindPlugin {
  readonly name = "SelectedHostBinder";
  readonly #create: CreatePodVm;
  readonly #cache: NodeCache;

  constructor(create: CreatePodVm, cache: NodeCache) {
    this.#create = create;
    this.#cache = cache;
  }

  bind(state: CycleState, node: number): Status {
    if (node !== state.selectedHost) {
      const name = (h: number | null): string => (h === null ? "none" : this.#cache.hosts[h]?.name ?? `#${h}`);
      throw new HypermemError(ErrorCode.BindOffHost, `pod ${state.pod.key}: bind to node ${name(node)} refused: the VM scheduler selected host ${name(state.selectedHost)}`, {
        pod: state.pod.key, node: name(node), selectedHost: name(state.selectedHost),
      });
    }
    return this.#create(state.pod, node);
  }
}
