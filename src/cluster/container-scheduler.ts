// The container scheduler: kube-scheduler's scheduling and binding cycles
// over a profile of plugins (framework.ts, plugins.ts).
//
//   PreFilter   each plugin; a reason refuses the pod; node lists intersect
//   Filter      nodes from a rotating start index (nextStartNodeIndex), until
//               numFeasibleNodesToFind pass: all nodes under 100, otherwise
//               max(100, n × p / 100) with p = percentageOfNodesToScore, or
//               adaptively p = max(5, 50 - n / 125)
//   Score       skipped for a single feasible node; Σ plugin score × weight
//   selectHost  the highest total; ties broken by reservoir sampling (seeded)
//   Reserve     the pod is assumed on the node (NodeCache), then the plugins
//   Permit, Bind  a failure unreserves and forgets the pod
import { mulberry32 } from "../sim/prng.js";
import { CycleState, prioritySort, type BindPlugin, type Profile, type Status } from "./framework.js";
import type { NodeCache } from "./node-cache.js";
import { InterPodAffinity, NodeAffinity, NodeResourcesFit, SelectedHost, SelectedHostBinder, VmLayerBinder, type CreatePodVm } from "./plugins.js";
import type { Pod } from "./pod.js";

export type ScheduleOutcome =
  | { readonly kind: "bound"; readonly node: number; readonly feasibleNodes: number }
  | { readonly kind: "unschedulable"; readonly reasons: ReadonlyMap<string, number> }
  | { readonly kind: "bind-failed"; readonly node: number; readonly reason: string };

export interface ContainerSchedulerOptions {
  /** Seed of the tie-break among equally scored nodes. */
  readonly seed: number;
  /** 1..100, or 0 for kube-scheduler's adaptive default. */
  readonly percentageOfNodesToScore: number;
}

const MIN_FEASIBLE_NODES = 100;
const MIN_FEASIBLE_PERCENTAGE = 5;

/** kube-scheduler's numFeasibleNodesToFind. */
export function numFeasibleNodesToFind(percentage: number, nodes: number): number {
  if (nodes < MIN_FEASIBLE_NODES) return nodes;
  let p = percentage;
  if (p <= 0) p = Math.max(MIN_FEASIBLE_PERCENTAGE, 50 - Math.floor(nodes / 125));
  const n = Math.floor((nodes * p) / 100);
  return Math.min(nodes, Math.max(MIN_FEASIBLE_NODES, n));
}

function profile(name: string, cache: NodeCache, bind: BindPlugin, limitToSelection: boolean): Profile {
  const fit = new NodeResourcesFit(cache);
  const nodeAffinity = new NodeAffinity(cache);
  const podAffinity = new InterPodAffinity(cache);
  const selected = limitToSelection ? [new SelectedHost()] : [];
  return Object.freeze({
    name,
    queueSort: prioritySort,
    preFilter: [...selected, fit, nodeAffinity, podAffinity],
    filter: [...selected, fit, nodeAffinity, podAffinity],
    score: [fit],
    reserve: [],
    permit: [],
    bind: [bind],
  });
}

/** kube-scheduler's default profile; Bind asks the VM layer for the podVM (the baseline). */
export function defaultProfile(cache: NodeCache, create: CreatePodVm): Profile {
  return profile("default-scheduler", cache, new VmLayerBinder(create), false);
}

/** The unified flow's profile: the default plugins plus SelectedHost, and the bind limited to the selected host. */
export function boundToSelectionProfile(cache: NodeCache, create: CreatePodVm): Profile {
  return profile("podvm-scheduler", cache, new SelectedHostBinder(create, cache), true);
}

export class ContainerScheduler {
  readonly cache: NodeCache;
  readonly profile: Profile;
  readonly #percentage: number;
  readonly #random: () => number;
  #nextStartNode = 0;

  constructor(cache: NodeCache, profile: Profile, options: ContainerSchedulerOptions) {
    this.cache = cache;
    this.profile = profile;
    this.#percentage = options.percentageOfNodesToScore;
    this.#random = mulberry32(options.seed);
  }

  #filter(state: CycleState, node: number): Status {
    for (const p of this.profile.filter) {
      const s = p.filter(state, node);
      if (s !== null) return s;
    }
    return null;
  }

  /** The feasible nodes, or the reasons (how many nodes gave each). */
  #feasible(state: CycleState, only: readonly number[] | null): number[] | Map<string, number> {
    const total = this.cache.hosts.length;
    const reasons = new Map<string, number>();
    const feasible: number[] = [];
    const refuse = (s: string): void => { reasons.set(s, (reasons.get(s) ?? 0) + 1); };
    if (only !== null) {
      for (const node of only) {
        const s = this.#filter(state, node);
        if (s === null) feasible.push(node);
        else refuse(s);
      }
    } else {
      const want = numFeasibleNodesToFind(this.#percentage, total);
      let processed = 0;
      for (; processed < total && feasible.length < want; processed++) {
        const node = (this.#nextStartNode + processed) % total;
        const s = this.#filter(state, node);
        if (s === null) feasible.push(node);
        else refuse(s);
      }
      this.#nextStartNode = (this.#nextStartNode + processed) % total;
    }
    return feasible.length > 0 ? feasible : reasons;
  }

  #select(state: CycleState, feasible: readonly number[]): number {
    if (feasible.length === 1) return feasible[0];
    let best = -1;
    let bestScore = -Infinity;
    let ties = 0;
    for (const node of feasible) {
      let total = 0;
      for (const p of this.profile.score) total += p.score(state, node) * p.weight;
      if (total > bestScore) {
        bestScore = total;
        best = node;
        ties = 1;
      } else if (total === bestScore) {
        ties++;
        if (this.#random() % ties === 0) best = node;
      }
    }
    return best;
  }

  /** One scheduling and binding cycle for `pod`; `selectedHost` is the unified flow's host selection. */
  schedule(pod: Pod, selectedHost: number | null = null): ScheduleOutcome {
    const state = new CycleState(pod, selectedHost);
    let only: readonly number[] | null = null;
    for (const p of this.profile.preFilter) {
      const r = p.preFilter(state);
      if (typeof r === "string") return { kind: "unschedulable", reasons: new Map([[r, this.cache.hosts.length]]) };
      if (r !== null) only = only === null ? r : only.filter((n) => r.includes(n));
    }
    const feasible = this.#feasible(state, only);
    if (!Array.isArray(feasible)) return { kind: "unschedulable", reasons: feasible };
    const node = this.#select(state, feasible);
    this.cache.assume(pod, node);
    let failed: Status;
    try {
      failed = this.#reserveAndBind(state, node);
    } catch (err) {
      this.cache.forget(pod);
      throw err;
    }
    if (failed !== null) {
      for (const p of this.profile.reserve) p.unreserve(state, node);
      this.cache.forget(pod);
      return { kind: "bind-failed", node, reason: failed };
    }
    return { kind: "bound", node, feasibleNodes: feasible.length };
  }

  #reserveAndBind(state: CycleState, node: number): Status {
    for (const p of this.profile.reserve) {
      const s = p.reserve(state, node);
      if (s !== null) return s;
    }
    for (const p of this.profile.permit) {
      const s = p.permit(state, node);
      if (s !== null) return s;
    }
    for (const p of this.profile.bind) {
      const s = p.bind(state, node);
      if (s !== null) return s;
    }
    return null;
  }

  /** The pod was deleted: its node's requests and affinity counts drop it. */
  remove(pod: Pod): void {
    this.cache.forget(pod);
  }
}
