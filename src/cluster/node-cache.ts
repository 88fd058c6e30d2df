// The container scheduler's view of its nodes (kube-scheduler's cache of
// NodeInfo): each node's allocatable memory and CPU, what its pods request,
// the non-zero requests scoring uses, its pod count and capacity, and the
// placed pods for inter-pod affinity. A pod is "assumed" on its node at
// Reserve and forgotten at Unreserve or deletion.
import { AffinityIndex } from "./affinity-index.js";
import type { ClusterHost } from "./hosts.js";
import type { Pod } from "./pod.js";
import { podRequests, type PodRequests } from "./podvm.js";
import type { Topology } from "./topology.js";

export class NodeCache {
  readonly hosts: readonly ClusterHost[];
  readonly allocatableMemory: Float64Array;
  readonly allocatableMilli: Float64Array;
  readonly requestedMemory: Float64Array;
  readonly requestedMilli: Float64Array;
  readonly nonzeroMemory: Float64Array;
  readonly nonzeroMilli: Float64Array;
  readonly pods: Int32Array;
  readonly affinity: AffinityIndex;
  readonly #assumed = new Map<string, { readonly node: number; readonly r: PodRequests }>();
  readonly #requests = new WeakMap<Pod["template"], PodRequests>();

  /**
   * `seesPlainVms`: whether node allocatable excludes the VMs outside
   * Kubernetes (the unified flow shares the VM layer's accounting; a
   * Kubernetes scheduler on its own sees the whole machine).
   */
  constructor(hosts: readonly ClusterHost[], topology: Topology, seesPlainVms: boolean) {
    this.hosts = hosts;
    const n = hosts.length;
    const plain = (h: ClusterHost, r: "memoryBytes" | "milliCpu"): number => (seesPlainVms ? h.vms.reduce((s, vm) => s + vm[r], 0) : 0);
    this.allocatableMemory = Float64Array.from(hosts, (h) => h.memoryBytes - plain(h, "memoryBytes"));
    this.allocatableMilli = Float64Array.from(hosts, (h) => h.cpus * 1000 - plain(h, "milliCpu"));
    this.requestedMemory = new Float64Array(n);
    this.requestedMilli = new Float64Array(n);
    this.nonzeroMemory = new Float64Array(n);
    this.nonzeroMilli = new Float64Array(n);
    this.pods = new Int32Array(n);
    this.affinity = new AffinityIndex(topology);
  }

  /** What the scheduler accounts for `pod` (cached per template). */
  requestsOf(pod: Pod): PodRequests {
    let r = this.#requests.get(pod.template);
    if (r === undefined) this.#requests.set(pod.template, (r = podRequests(pod.template)));
    return r;
  }

  #add(node: number, r: PodRequests, sign: number): void {
    this.requestedMemory[node] += sign * r.memoryBytes;
    this.requestedMilli[node] += sign * r.milliCpu;
    this.nonzeroMemory[node] += sign * r.scoreMemoryBytes;
    this.nonzeroMilli[node] += sign * r.scoreMilliCpu;
    this.pods[node] += sign;
  }

  /** Counts `pod` on `node` (Reserve). */
  assume(pod: Pod, node: number): void {
    const r = this.requestsOf(pod);
    this.#assumed.set(pod.key, { node, r });
    this.#add(node, r, 1);
    this.affinity.place(pod, node);
  }

  /** Forgets `pod` (Unreserve, or the pod was deleted); returns its node or -1. */
  forget(pod: Pod): number {
    const a = this.#assumed.get(pod.key);
    if (a === undefined) return -1;
    this.#assumed.delete(pod.key);
    this.#add(a.node, a.r, -1);
    this.affinity.remove(pod);
    return a.node;
  }
}
