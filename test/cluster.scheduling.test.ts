// The two schedulers: the VM scheduler's choice against a plain model
// (admission, labels, affinity, the imbalance after placement recomputed from
// scratch); the container scheduler bound to that choice (it never binds
// elsewhere, over random clusters and pods, even when its own score prefers
// another node; without the SelectedHost limit the bind guard fires);
// affinity and anti-affinity honoured in both flows; kube-scheduler's
// numFeasibleNodesToFind, LeastAllocated score and PrioritySort.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AffinityIndex } from "../src/cluster/affinity-index.js";
import { Cluster } from "../src/cluster/cluster.js";
import { boundToSelectionProfile, ContainerScheduler, numFeasibleNodesToFind } from "../src/cluster/container-scheduler.js";
import type { ScorePlugin } from "../src/cluster/framework.js";
import { UnifiedFlow } from "../src/cluster/flows.js";
import { HostLedger } from "../src/cluster/host-ledger.js";
import type { ClusterHost } from "../src/cluster/hosts.js";
import { NodeCache } from "../src/cluster/node-cache.js";
import type { Pod } from "../src/cluster/pod.js";
import { KATA_DEFAULTS, podVmSize } from "../src/cluster/podvm.js";
import { Topology } from "../src/cluster/topology.js";
import { VmLayer } from "../src/cluster/vm-layer.js";
import { arbHosts, arbPods, GI, host, MI, podOf, replicas, template, term } from "./cluster.fixtures.js";
import { thrownCode } from "./helpers.js";
import { naiveAffinity, naiveCandidates, naiveImbalance, type NaiveVm, type Placed } from "./reference/cluster.js";

const ZONE = "topology.kubernetes.io/zone";
const HOSTNAME = "kubernetes.io/hostname";

/** A unified flow whose binds are recorded: [pod, host] per podVM the VM layer created. */
function recordedUnified(hosts: readonly ClusterHost[], headroom = 0) {
  const topology = new Topology(hosts);
  const binds: Array<[string, number]> = [];
  const layer = new VmLayer(new HostLedger(hosts, headroom), KATA_DEFAULTS, null);
  const create = layer.create.bind(layer);
  layer.create = (pod: Pod, h: number) => {
    binds.push([pod.key, h]);
    return create(pod, h);
  };
  const flow = new UnifiedFlow(topology, layer, { seed: 1, percentageOfNodesToScore: 0 });
  return { flow, binds, layer };
}

const hostsOf = (c: Cluster, mode: "running"): Record<string, string> =>
  Object.fromEntries(c.records.filter((r) => r.status === mode).map((r) => [r.pod.key, c.hosts[r.host].name]));

describe("the VM scheduler against the plain model", () => {
  it("places each pod on a host the model admits with the least imbalance, or refuses when the model finds none (property)", () => {
    fc.assert(fc.property(arbHosts, arbPods, fc.constantFrom(0, 0.25), (hosts, pods, headroom) => {
      const { flow } = recordedUnified(hosts, headroom);
      const vms: NaiveVm[] = [];
      const placed: Placed[] = [];
      for (const pod of pods) {
        const size = podVmSize(pod.template);
        const candidates = naiveCandidates(hosts, vms, placed, headroom, pod, size);
        const out = flow.place(pod);
        if (candidates.length === 0) {
          expect(out.outcome).toBe("refused");
          continue;
        }
        expect(out.outcome).toBe("placed");
        if (out.outcome !== "placed") continue;
        expect(candidates).toContain(out.host);
        const best = Math.min(...candidates.map((h) => naiveImbalance(hosts, vms, h, size)));
        expect(naiveImbalance(hosts, vms, out.host, size)).toBeLessThanOrEqual(best + 1e-12);
        vms.push({ host: out.host, size });
        placed.push({ pod, host: out.host });
      }
    }), { numRuns: 150 });
  });

  it("the incremental affinity index gives the plain scan's verdict on every host, as pods come and go (property)", () => {
    fc.assert(fc.property(arbHosts, arbPods, fc.array(fc.nat(), { maxLength: 30 }), (hosts, pods, ops) => {
      const index = new AffinityIndex(new Topology(hosts));
      const placed: Placed[] = [];
      let next = 0;
      for (const op of ops) {
        if (op % 3 === 0 && placed.length > 0) {
          const [gone] = placed.splice(op % placed.length, 1);
          index.remove(gone.pod);
        } else if (next < pods.length) {
          const pod = pods[next++];
          const check = index.prepare(pod);
          for (let h = 0; h < hosts.length; h++) expect(check?.check(h) ?? 0).toBe(naiveAffinity(hosts, placed, pod, h));
          const h = op % hosts.length;
          index.place(pod, h);
          placed.push({ pod, host: h });
        }
      }
    }), { numRuns: 200 });
  });

  it("picks the host whose placement leaves the cluster most balanced (hand-computed)", () => {
    // h0: 8 GiB, 4 GiB reserved by a VM; h1: 4 GiB empty; h2: 16 GiB, 12 GiB reserved. A 1 GiB podVM:
    // memory use after: h0 (5/8, 0, 12/16), h1 (4/8, 1/4, 12/16), h2 (4/8, 0, 13/16): h1 gives the lowest variance.
    const hosts = [
      host("h0", 8, 8, {}, { vms: [{ name: "v", memoryBytes: 4 * GI, milliCpu: 0 }] }),
      host("h1", 4, 8),
      host("h2", 16, 8, {}, { vms: [{ name: "v", memoryBytes: 12 * GI, milliCpu: 0 }] }),
    ];
    const { flow } = recordedUnified(hosts);
    expect(flow.place(podOf("p", template({ limitMi: 1024, limitMilli: 100 })))).toMatchObject({ outcome: "placed", host: 1 });
  });

  it("admission control: memory with headroom, CPU, pod slots and vCPUs refuse, with the numbers", () => {
    const one = (extra: Partial<ClusterHost>, headroom = 0) => recordedUnified([host("h", 4, 2, {}, extra)], headroom).flow;
    const refusal = (flow: UnifiedFlow, pod: Pod): string => {
      const out = flow.place(pod);
      expect(out.outcome).toBe("refused");
      return out.outcome === "refused" ? [...out.reasons.keys()].join(";") : "";
    };
    expect(refusal(one({}, 0.5), podOf("p", template({ limitMi: 2049, limitMilli: 100 })))).toBe("admission control: memory");
    expect(one({}, 0.5).place(podOf("p", template({ limitMi: 2048, limitMilli: 100 }))).outcome).toBe("placed");
    expect(refusal(one({}), podOf("p", template({ limitMi: 64, limitMilli: 2001 })))).toBe("admission control: cpu");
    const full = one({ maxPods: 1 });
    expect(full.place(podOf("a", template({ limitMi: 64, limitMilli: 100 }))).outcome).toBe("placed");
    expect(refusal(full, podOf("b", template({ limitMi: 64, limitMilli: 100 })))).toBe("admission control: pods");
    const ledger = new HostLedger([host("h", 4, 2)], 0);
    const size = podVmSize(template({ limitMi: 3 * 1024, limitMilli: 100 }));
    ledger.reserve(0, podOf("x", template()), podVmSize(template({ limitMi: 2048, limitMilli: 100 })));
    expect(ledger.explain(0, size, ledger.refusal(0, size)!)).toBe("h has 2.00 GiB of memory unreserved, the podVM needs 3.00 GiB");
  });
});

describe("the container scheduler is bound to the VM scheduler's host", () => {
  it("never binds off the selected host, over random clusters and pods (property)", () => {
    fc.assert(fc.property(arbHosts, arbPods, (hosts, pods) => {
      const { flow, binds } = recordedUnified(hosts);
      const selections: number[] = [];
      const select = flow.vmScheduler.select.bind(flow.vmScheduler);
      flow.vmScheduler.select = (pod, size) => {
        const s = select(pod, size);
        selections.push(s.host);
        return s;
      };
      for (const pod of pods) {
        const before = binds.length;
        const out = flow.place(pod);
        const selected = selections.at(-1)!;
        if (out.outcome === "placed") {
          expect(out.boundNode).toBe(selected);
          expect(out.host).toBe(selected);
          expect(binds.slice(before)).toEqual([[pod.key, selected]]);
        } else {
          expect(binds.length).toBe(before);
        }
      }
    }), { numRuns: 150 });
  });

  it("binds to the selected host even when its own score would prefer another node", () => {
    const hosts = [host("h0", 8, 4), host("h1", 8, 4), host("h2", 8, 4)];
    const cache = new NodeCache(hosts, new Topology(hosts), true);
    const bound: number[] = [];
    const base = boundToSelectionProfile(cache, (_pod, h) => { bound.push(h); return null; });
    const preferH0: ScorePlugin = { name: "PreferH0", weight: 1000, score: (_s, node) => (node === 0 ? 100 : 0) };
    const scheduler = new ContainerScheduler(cache, { ...base, score: [...base.score, preferH0] }, { seed: 1, percentageOfNodesToScore: 0 });
    expect(scheduler.schedule(podOf("p", template({ requestMi: 64 })), 2)).toEqual({ kind: "bound", node: 2, feasibleNodes: 1 });
    expect(bound).toEqual([2]);
  });

  it("when the selected host fails its Filter, the pod is refused, not bound elsewhere", () => {
    const hosts = [host("h0", 8, 4), host("h1", 8, 4, {}, { maxPods: 0 })];
    const cache = new NodeCache(hosts, new Topology(hosts), true);
    const scheduler = new ContainerScheduler(cache, boundToSelectionProfile(cache, () => null), { seed: 1, percentageOfNodesToScore: 0 });
    expect(scheduler.schedule(podOf("p", template({ requestMi: 64 })), 1)).toEqual({ kind: "unschedulable", reasons: new Map([["Too many pods", 1]]) });
    expect(cache.pods[0] + cache.pods[1]).toBe(0);
  });

  it("without the SelectedHost limit, the bind guard refuses the other node with ERR_BIND_OFF_HOST (the guard can fire)", () => {
    const hosts = [host("h0", 8, 4), host("h1", 8, 4)];
    const cache = new NodeCache(hosts, new Topology(hosts), true);
    const base = boundToSelectionProfile(cache, () => null);
    const unlimited = { ...base, preFilter: base.preFilter.filter((p) => p.name !== "SelectedHost"), filter: base.filter.filter((p) => p.name !== "SelectedHost") };
    const preferH0: ScorePlugin = { name: "PreferH0", weight: 1000, score: (_s, node) => (node === 0 ? 100 : 0) };
    const scheduler = new ContainerScheduler(cache, { ...unlimited, score: [preferH0] }, { seed: 1, percentageOfNodesToScore: 0 });
    expect(thrownCode(() => scheduler.schedule(podOf("p", template({ requestMi: 64 })), 1))).toBe("ERR_BIND_OFF_HOST");
    expect(cache.pods[0]).toBe(0); // the assumed pod is forgotten
  });
});

describe("affinity and anti-affinity are honoured by both flows", () => {
  for (const mode of ["unified", "independent"] as const) {
    it(`${mode}: one web replica per host; the others wait and take a host freed by a deletion`, () => {
      const c = new Cluster([host("a", 8, 4), host("b", 8, 4), host("c", 8, 4)], { mode });
      const web = template({ labels: { app: "web" }, limitMi: 256, limitMilli: 100, podAntiAffinity: [term({ app: "web" }, HOSTNAME)] });
      c.submit(replicas("web", 5, web));
      const running = hostsOf(c, "running");
      expect(Object.keys(running)).toHaveLength(3);
      expect(new Set(Object.values(running)).size).toBe(3);
      const waiting = c.records.filter((r) => r.status === "pending");
      expect(waiting.map((r) => r.reason)).toEqual([
        `${mode === "unified" ? "VM scheduler: 0/3 hosts admit the podVM" : "container scheduler: 0/3 nodes are available"}: 3 node(s) didn't match pod anti-affinity rules`,
        `${mode === "unified" ? "VM scheduler: 0/3 hosts admit the podVM" : "container scheduler: 0/3 nodes are available"}: 3 node(s) didn't match pod anti-affinity rules`,
      ]);
      const freed = running["default/web-1"];
      c.delete(["web-1"]);
      expect(hostsOf(c, "running")["default/web-3"]).toBe(freed);
      expect(c.records.filter((r) => r.status === "pending").map((r) => r.pod.key)).toEqual(["default/web-4"]);
    });

    it(`${mode}: zone anti-affinity spreads db over zones; web's affinity follows db into its zone`, () => {
      const hosts = [host("a1", 8, 4, { [ZONE]: "a" }), host("a2", 8, 4, { [ZONE]: "a" }), host("b1", 8, 4, { [ZONE]: "b" }), host("n", 8, 4)];
      const c = new Cluster(hosts, { mode });
      c.submit(replicas("db", 3, template({ labels: { app: "db" }, limitMi: 512, limitMilli: 100, podAntiAffinity: [term({ app: "db" }, ZONE)] })));
      const db = hostsOf(c, "running");
      const zoneOf = (h: string): string | undefined => hosts.find((x) => x.name === h)!.labels[ZONE];
      // Two zones: two replicas, one per zone; the host without a zone label has no domain, so the third goes there.
      expect(Object.values(db).map(zoneOf).sort()).toEqual(["a", "b", undefined]);
      c.delete(["db"]);
      const web = template({ labels: { app: "web" }, limitMi: 256, limitMilli: 100, podAffinity: [term({ app: "db" }, ZONE)] });
      // A db on the host without a zone: web has no domain to follow, it waits.
      c.submit([podOf("db-0", template({ labels: { app: "db" }, limitMi: 512, limitMilli: 100, nodeSelector: { [HOSTNAME]: "n" } }))]);
      c.submit(replicas("web", 2, web));
      expect(Object.keys(hostsOf(c, "running"))).toEqual(["default/db-0"]);
      // A db in zone b: the waiting web replicas follow it there, and so do new ones.
      c.submit([podOf("db-1", template({ labels: { app: "db" }, limitMi: 512, limitMilli: 100, nodeSelector: { [ZONE]: "b" } }))]);
      c.submit([podOf("web-2", web), podOf("web-3", web)]);
      const running = hostsOf(c, "running");
      for (let i = 0; i < 4; i++) expect(zoneOf(running[`default/web-${i}`])).toBe("b");
    });

    it(`${mode}: the first pod of a self-affine series goes anywhere labelled; an existing pod's anti-affinity keeps others away`, () => {
      const c = new Cluster([host("a", 8, 4, { [ZONE]: "a" }), host("b", 8, 4, { [ZONE]: "b" })], { mode });
      c.submit(replicas("cache", 2, template({ labels: { app: "cache" }, limitMi: 256, limitMilli: 100, podAffinity: [term({ app: "cache" }, ZONE)] })));
      const caches = Object.values(hostsOf(c, "running"));
      expect(caches).toHaveLength(2);
      expect(caches[0]).toBe(caches[1]);
      // A loner that repels app=noisy from its host; then a noisy pod cannot share it.
      const c2 = new Cluster([host("a", 8, 4), host("b", 8, 4)], { mode });
      c2.submit([podOf("loner", template({ labels: { app: "loner" }, limitMi: 256, limitMilli: 100, podAntiAffinity: [term({ app: "noisy" }, HOSTNAME)] }))]);
      c2.submit(replicas("noisy", 2, template({ labels: { app: "noisy" }, limitMi: 256, limitMilli: 100 })));
      const placed = hostsOf(c2, "running");
      expect(placed["default/noisy-0"]).not.toBe(placed["default/loner"]);
      expect(placed["default/noisy-1"]).not.toBe(placed["default/loner"]);
    });

    it(`${mode}: nodeSelector and node affinity (In, NotIn, Gt, matchFields) choose the hosts`, () => {
      const hosts = [host("s1", 8, 4, { disk: "ssd", gen: "3" }), host("s2", 8, 4, { disk: "ssd", gen: "5" }), host("h1", 8, 4, { disk: "hdd", gen: "5" })];
      const c = new Cluster(hosts, { mode });
      const base = { limitMi: 128, limitMilli: 100 };
      c.submit([
        podOf("sel", template({ ...base, nodeSelector: { disk: "ssd", gen: "5" } })),
        podOf("notin", template({ ...base, nodeAffinity: [{ matchExpressions: [{ key: "disk", operator: "NotIn", values: ["ssd"] }], matchFields: [] }] })),
        podOf("gt", template({ ...base, nodeAffinity: [{ matchExpressions: [{ key: "gen", operator: "Gt", values: ["4"] }, { key: "disk", operator: "In", values: ["ssd"] }], matchFields: [] }] })),
        podOf("field", template({ ...base, nodeAffinity: [{ matchExpressions: [], matchFields: [{ key: "metadata.name", operator: "In", values: ["s1"] }] }] })),
        podOf("none", template({ ...base, nodeSelector: { disk: "nvme" } })),
      ]);
      expect(hostsOf(c, "running")).toEqual({ "default/sel": "s2", "default/notin": "h1", "default/gt": "s2", "default/field": "s1" });
      expect(c.records.find((r) => r.pod.name === "none")!.reason).toMatch(/3 node\(s\) didn't match Pod's node affinity\/selector$/);
    });
  }
});

describe("kube-scheduler's rules", () => {
  it("numFeasibleNodesToFind: all under 100 nodes, then the adaptive percentage with a floor of 100 nodes and 5 %", () => {
    expect([50, 99, 100, 200, 1000, 5000, 100_000].map((n) => numFeasibleNodesToFind(0, n))).toEqual([50, 99, 100, 100, 420, 500, 5000]);
    expect(numFeasibleNodesToFind(30, 1000)).toBe(300);
    expect(numFeasibleNodesToFind(100, 1000)).toBe(1000);
    expect(numFeasibleNodesToFind(1, 1000)).toBe(100);
  });

  it("LeastAllocated: ((capacity - requested) × 100 / capacity) per resource, averaged, integer division (hand-computed)", () => {
    const hosts = [host("h0", 4, 4), host("h1", 4, 4)];
    const cache = new NodeCache(hosts, new Topology(hosts), false);
    cache.assume(podOf("old", template({ requestMi: 1024, requestMilli: 1000 })), 0);
    const scheduler = new ContainerScheduler(cache, boundToSelectionProfile(cache, () => null), { seed: 1, percentageOfNodesToScore: 0 });
    const fit = scheduler.profile.score[0];
    const state = { pod: podOf("p", template({ requestMi: 512, requestMilli: 250 })), selectedHost: null, requests: cache.requestsOf(podOf("p", template({ requestMi: 512, requestMilli: 250 }))), nodeMask: null, affinity: null };
    // h0: cpu (4000 - 1250) × 100 / 4000 = 68 (68.75), memory (4096 - 1536) × 100 / 4096 = 62 (62.5): (68 + 62) / 2 = 65.
    expect(fit.score(state, 0)).toBe(65);
    // h1: cpu (4000 - 250) × 100 / 4000 = 93 (93.75), memory (4096 - 512) × 100 / 4096 = 87 (87.5): 90.
    expect(fit.score(state, 1)).toBe(90);
  });

  it("PrioritySort: in one batch, the higher priority pod takes the only room, whatever the order of submission", () => {
    for (const mode of ["unified", "independent"] as const) {
      const c = new Cluster([host("h", 1, 4)], { mode });
      c.submit([podOf("low", template({ limitMi: 700, limitMilli: 100, priority: 1 })), podOf("high", template({ limitMi: 700, limitMilli: 100, priority: 9 }))]);
      expect(Object.keys(hostsOf(c, "running"))).toEqual(["default/high"]);
    }
  });

  it("a pod refused for lack of room is tried again when pods are deleted, and not placed twice", () => {
    const c = new Cluster([host("h", 1, 4)]);
    c.submit([podOf("a", template({ limitMi: 700, limitMilli: 100 }))]);
    c.submit([podOf("b", template({ limitMi: 700, limitMilli: 100 }))]);
    expect(c.records.map((r) => r.status)).toEqual(["running", "pending"]);
    expect(c.delete(["a"])).toEqual(["default/a"]);
    expect(c.records.map((r) => [r.status, r.attempts])).toEqual([["deleted", 1], ["running", 2]]);
    expect(c.vmLayer.ledger.memoryReserved[0]).toBe(700 * MI);
    expect(thrownCode(() => c.delete(["a"]))).toBe("ERR_SCENARIO");
    expect(thrownCode(() => c.submit([podOf("b", template())]))).toBe("ERR_SCENARIO");
  });
});
