// The Kubernetes scheduling framework's extension points, as kube-scheduler
// runs them for one pod (one scheduling cycle, then the binding cycle):
//
//   QueueSort ─► PreFilter ─► Filter ─► (PostFilter) ─► PreScore ─► Score ─► NormalizeScore
//        ─► Reserve ─► Permit ─┬─► PreBind ─► Bind ─► PostBind
//                              └─ any failure: Unreserve, the pod goes back to the queue
//
// A plugin implements the points it needs. Statuses are null (success) or the
// reason a node or the pod is refused, in kube-scheduler's words. PreFilter
// may narrow the nodes to evaluate (kube-scheduler's PreFilterResult): that is
// how the unified flow limits the container scheduler to the host the VM
// scheduler selected. PostFilter (preemption) and PreScore have no plugin
// here: preemption is not modelled.
import type { PodAffinityCheck } from "./affinity-index.js";
import type { Pod } from "./pod.js";
import type { PodRequests } from "./podvm.js";

/** Data shared by the plugins during one pod's cycle (kube-scheduler's CycleState). */
export class CycleState {
  readonly pod: Pod;
  /** The unified flow's host selection: the only node this pod may be bound to; null in the baseline. */
  readonly selectedHost: number | null;
  /** Set by NodeResourcesFit's PreFilter. */
  requests: PodRequests | null = null;
  /** Set by NodeAffinity's PreFilter: 1 for allowed nodes; null when unconstrained. */
  nodeMask: Uint8Array | null = null;
  /** Set by InterPodAffinity's PreFilter; null when no rule applies. */
  affinity: PodAffinityCheck | null = null;

  constructor(pod: Pod, selectedHost: number | null) {
    this.pod = pod;
    this.selectedHost = selectedHost;
  }
}

/** null: success; a string: why not. */
export type Status = string | null;

export interface PreFilterPlugin {
  readonly name: string;
  /** A reason refuses the pod outright; a list of nodes narrows the Filter to them; null lets every node through. */
  preFilter(state: CycleState): Status | readonly number[];
}

export interface FilterPlugin {
  readonly name: string;
  filter(state: CycleState, node: number): Status;
}

export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  /** 0..100 (MaxNodeScore). */
  score(state: CycleState, node: number): number;
}

export interface ReservePlugin {
  readonly name: string;
  reserve(state: CycleState, node: number): Status;
  unreserve(state: CycleState, node: number): void;
}

export interface PermitPlugin {
  readonly name: string;
  permit(state: CycleState, node: number): Status;
}

export interface BindPlugin {
  readonly name: string;
  /** null: bound; a reason: the bind failed (the pod is unreserved and goes back to the queue). */
  bind(state: CycleState, node: number): Status;
}

/** A scheduler profile: the plugins enabled at each extension point, in order. */
export interface Profile {
  readonly name: string;
  readonly queueSort: (a: QueuedPod, b: QueuedPod) => number;
  readonly preFilter: readonly PreFilterPlugin[];
  readonly filter: readonly FilterPlugin[];
  readonly score: readonly ScorePlugin[];
  readonly reserve: readonly ReservePlugin[];
  readonly permit: readonly PermitPlugin[];
  readonly bind: readonly BindPlugin[];
}

/** A pod in the scheduling queue: its arrival order breaks priority ties. */
export interface QueuedPod {
  readonly pod: Pod;
  readonly seq: number;
}

/** PrioritySort: higher priority first, then earlier arrival. */
export function prioritySort(a: QueuedPod, b: QueuedPod): number {
  return b.pod.template.priority - a.pod.template.priority || a.seq - b.seq;
}
