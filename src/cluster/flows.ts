// The two ways to place a pod, side by side.
//
// Unified (the seed, as vSphere Pods do it):
//
//   pod ─► podVM size ─► VM scheduler (DRS-like) selects host H
//                      ─► container scheduler (Kubernetes framework) limited to H:
//                         PreFilter {H} ─► Filter ─► Score ─► Reserve ─► Bind to H only
//                      ─► VM layer creates the podVM on H, the containers start inside it
//
// Independent (the baseline, a stack without the seed):
//
//   pod ─► container scheduler picks node N among all nodes, with its own view
//          (requests, not podVM sizes; no VMs outside Kubernetes)
//       ─► Bind: the VM layer must fit the podVM on N; if its admission control
//          refuses, the bind fails (the two layers disagreed) and the pod waits
import { ContainerScheduler, boundToSelectionProfile, defaultProfile, type ContainerSchedulerOptions } from "./container-scheduler.js";
import { NodeCache } from "./node-cache.js";
import type { Pod } from "./pod.js";
import type { Topology } from "./topology.js";
import type { VmLayer } from "./vm-layer.js";
import { VmScheduler } from "./vm-scheduler.js";

export type ClusterMode = "unified" | "independent";

export type Placement =
  | {
    readonly outcome: "placed";
    readonly host: number;
    /** The VM scheduler's selection (unified), or null (baseline). */
    readonly selectedHost: number | null;
    /** The node the container scheduler bound the pod to. */
    readonly boundNode: number;
  }
  | { readonly outcome: "refused"; readonly by: "vm-scheduler" | "container-scheduler"; readonly reasons: ReadonlyMap<string, number> }
  | { readonly outcome: "bind-failed"; readonly node: number; readonly reason: string };

export interface Flow {
  readonly mode: ClusterMode;
  readonly containerScheduler: ContainerScheduler;
  place(pod: Pod): Placement;
  remove(pod: Pod): void;
}

export class UnifiedFlow implements Flow {
  readonly mode = "unified" as const;
  readonly containerScheduler: ContainerScheduler;
  readonly vmScheduler: VmScheduler;
  readonly #vmLayer: VmLayer;

  constructor(topology: Topology, vmLayer: VmLayer, options: ContainerSchedulerOptions) {
    this.#vmLayer = vmLayer;
    this.vmScheduler = new VmScheduler(vmLayer.ledger, topology);
    const cache = new NodeCache(topology.hosts, topology, true);
    this.containerScheduler = new ContainerScheduler(cache, boundToSelectionProfile(cache, (pod, host) => vmLayer.create(pod, host)), options);
  }

  place(pod: Pod): Placement {
    const selection = this.vmScheduler.select(pod, this.#vmLayer.size(pod));
    if (selection.host < 0) return { outcome: "refused", by: "vm-scheduler", reasons: "reasons" in selection ? selection.reasons : new Map() };
    const out = this.containerScheduler.schedule(pod, selection.host);
    if (out.kind === "unschedulable") return { outcome: "refused", by: "container-scheduler", reasons: out.reasons };
    if (out.kind === "bind-failed") return { outcome: "bind-failed", node: out.node, reason: out.reason };
    this.vmScheduler.placed(pod, out.node);
    return { outcome: "placed", host: out.node, selectedHost: selection.host, boundNode: out.node };
  }

  remove(pod: Pod): void {
    this.containerScheduler.remove(pod);
    this.vmScheduler.removed(pod);
    this.#vmLayer.delete(pod);
  }
}

export class IndependentFlow implements Flow {
  readonly mode = "independent" as const;
  readonly containerScheduler: ContainerScheduler;
  readonly #vmLayer: VmLayer;

  constructor(topology: Topology, vmLayer: VmLayer, options: ContainerSchedulerOptions) {
    this.#vmLayer = vmLayer;
    const cache = new NodeCache(topology.hosts, topology, false);
    this.containerScheduler = new ContainerScheduler(cache, defaultProfile(cache, (pod, host) => vmLayer.create(pod, host)), options);
  }

  place(pod: Pod): Placement {
    const out = this.containerScheduler.schedule(pod);
    if (out.kind === "unschedulable") return { outcome: "refused", by: "container-scheduler", reasons: out.reasons };
    if (out.kind === "bind-failed") return { outcome: "bind-failed", node: out.node, reason: out.reason };
    return { outcome: "placed", host: out.node, selectedHost: null, boundNode: out.node };
  }

  remove(pod: Pod): void {
    this.containerScheduler.remove(pod);
    this.#vmLayer.delete(pod);
  }
}
