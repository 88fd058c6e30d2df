// A cluster: hosts, a VM layer, one placement flow (unified or independent),
// and the pods over time. Pods are submitted and deleted at the time of its
// clock (a Timeline: a scenario schedules its events on it); every attempt is
// one scheduling cycle, timed on the wall clock (the scheduling latency; the
// time to make a podVM real with materialize is counted apart).
//
// The queue works as kube-scheduler's does at this grain: a batch of pods is
// tried in PrioritySort order (priority, then arrival); a pod that cannot be
// placed (refused, or its bind failed) waits, and every waiting pod is tried
// again when the cluster changes (pods deleted, or new pods submitted).
// Preemption is not modelled.
import { ErrorCode, HypermemError } from "../errors.js";
import { Timeline } from "../sim/timeline.js";
import { prioritySort } from "./framework.js";
import { IndependentFlow, UnifiedFlow, type ClusterMode, type Flow, type Placement } from "./flows.js";
import { HostLedger } from "./host-ledger.js";
import type { ClusterHost } from "./hosts.js";
import { Materializer } from "./materialize.js";
import { podsNamed } from "./names.js";
import { resolveClusterOptions, type ClusterEvent, type ClusterOptions, type ResolvedClusterOptions } from "./options.js";
import type { Pod } from "./pod.js";
import { Topology } from "./topology.js";
import { VmLayer } from "./vm-layer.js";

/** What the cluster knows of one pod. */
export interface PodRecord {
  readonly pod: Pod;
  /** Arrival order. */
  readonly seq: number;
  status: "pending" | "running" | "deleted";
  /** Host index while running (and the last host after deletion); -1 when never placed. */
  host: number;
  /** The VM scheduler's selection and the container scheduler's bind, for the placement (unified); null in the baseline. */
  selectedHost: number | null;
  boundNode: number;
  attempts: number;
  bindFailures: number;
  /** Wall time of the last scheduling attempt, µs (making its podVM real, with materialize, left out). */
  latencyUs: number;
  /** Why the last attempt failed; null once placed. */
  reason: string | null;
}

/** kube-scheduler's FitError wording: "0/3 nodes are available: 2 Insufficient memory, 1 ...". */
export function describeRefusal(hosts: number, placement: Placement & { outcome: "refused" }): string {
  const parts = [...placement.reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([why, n]) => `${n} ${why}`);
  const what = placement.by === "vm-scheduler" ? "VM scheduler: 0" : "container scheduler: 0";
  return `${what}/${hosts} ${placement.by === "vm-scheduler" ? "hosts admit the podVM" : "nodes are available"}: ${parts.join(", ")}`;
}

export class Cluster {
  readonly hosts: readonly ClusterHost[];
  readonly options: ResolvedClusterOptions;
  readonly clock = new Timeline();
  readonly vmLayer: VmLayer;
  readonly flow: Flow;
  readonly #records: PodRecord[] = [];
  readonly #live = new Map<string, PodRecord>();
  readonly #livePods = new Map<string, Pod>();
  #pending: PodRecord[] = [];
  readonly #events: ClusterEvent[] = [];
  #seq = 0;
  #bindFailures = 0;

  constructor(hosts: readonly ClusterHost[], options: ClusterOptions = {}) {
    if (!Array.isArray(hosts) || hosts.length === 0) throw new HypermemError(ErrorCode.BadOption, "a cluster needs at least one host", { option: "hosts" });
    this.options = resolveClusterOptions(options);
    this.hosts = Object.freeze([...hosts]);
    const topology = new Topology(this.hosts);
    const materializer = this.options.materialize ? new Materializer(this.hosts) : null;
    this.vmLayer = new VmLayer(new HostLedger(this.hosts, this.options.headroom), this.options.sizing, materializer);
    const schedulerOptions = { seed: this.options.seed, percentageOfNodesToScore: this.options.percentageOfNodesToScore };
    this.flow = this.options.mode === "unified" ? new UnifiedFlow(topology, this.vmLayer, schedulerOptions) : new IndependentFlow(topology, this.vmLayer, schedulerOptions);
  }

  get mode(): ClusterMode { return this.options.mode; }
  /** Every pod ever submitted, in arrival order. */
  get records(): readonly PodRecord[] { return this.#records; }
  get events(): readonly ClusterEvent[] { return this.#events; }
  /** Binds that failed (baseline: the VM layer refused the node Kubernetes chose). */
  get bindFailures(): number { return this.#bindFailures; }

  #emit(kind: ClusterEvent["kind"], pod: Pod, host: number, reason: string | null): void {
    const event: ClusterEvent = Object.freeze({ atNs: this.clock.nowNs, mode: this.mode, kind, pod: pod.key, host: host >= 0 ? this.hosts[host].name : null, reason });
    this.#events.push(event);
    this.options.onEvent?.(event);
  }

  #attempt(r: PodRecord): void {
    const started = performance.now();
    const materializing = this.vmLayer.materializeWallMs;
    const placement = this.flow.place(r.pod);
    r.latencyUs = (performance.now() - started - (this.vmLayer.materializeWallMs - materializing)) * 1000;
    r.attempts++;
    if (placement.outcome === "placed") {
      r.status = "running";
      r.host = placement.host;
      r.selectedHost = placement.selectedHost;
      r.boundNode = placement.boundNode;
      r.reason = null;
      this.#emit("placed", r.pod, r.host, null);
      return;
    }
    if (placement.outcome === "bind-failed") {
      r.bindFailures++;
      this.#bindFailures++;
      r.reason = placement.reason;
      this.#emit("bind-failed", r.pod, placement.node, r.reason);
    } else {
      r.reason = describeRefusal(this.hosts.length, placement);
      this.#emit("refused", r.pod, -1, r.reason);
    }
    this.#pending.push(r);
  }

  #retryPending(): void {
    const queue = this.#pending.sort(prioritySort);
    this.#pending = [];
    for (const r of queue) this.#attempt(r);
  }

  /** Adds `pods` now and schedules them, with every pod still waiting. */
  submit(pods: readonly Pod[]): void {
    const batch = new Set<string>();
    for (const pod of pods) {
      if (this.#live.has(pod.key) || batch.has(pod.key)) {
        throw new HypermemError(ErrorCode.Scenario, `pod ${pod.key} already exists at ${this.clock.nowNs / 1e9} s (delete it first)`, { pod: pod.key });
      }
      batch.add(pod.key);
    }
    for (const pod of pods) {
      const r: PodRecord = { pod, seq: this.#seq++, status: "pending", host: -1, selectedHost: null, boundNode: -1, attempts: 0, bindFailures: 0, latencyUs: 0, reason: null };
      this.#records.push(r);
      this.#live.set(pod.key, r);
      this.#livePods.set(pod.key, pod);
      this.#pending.push(r);
    }
    this.#retryPending();
  }

  /** Deletes the pods `names` stand for (names.ts: a pod, else a Deployment's replicas), then retries the waiting pods; returns the keys deleted. */
  delete(names: readonly string[]): string[] {
    const doomed = new Map<string, PodRecord>();
    for (const name of names) {
      const found = podsNamed(name, this.#livePods).map((p) => this.#live.get(p.key)!);
      if (found.length === 0) {
        throw new HypermemError(ErrorCode.Scenario, `delete ${JSON.stringify(name)}: no pod or Deployment of that name exists at ${this.clock.nowNs / 1e9} s`, { pod: name });
      }
      for (const r of found) doomed.set(r.pod.key, r);
    }
    for (const r of doomed.values()) {
      if (r.status === "running") this.flow.remove(r.pod);
      else this.#pending = this.#pending.filter((p) => p !== r);
      r.status = "deleted";
      this.#live.delete(r.pod.key);
      this.#livePods.delete(r.pod.key);
      this.#emit("deleted", r.pod, r.host, null);
    }
    this.#retryPending();
    return [...doomed.keys()];
  }

  /** Destroys the real Vms (materialize); the figures stay readable. */
  close(): void {
    this.vmLayer.materializer?.close();
  }
}
