// The two independent schedulers against the unified flow, on constructed
// cases where the layers disagree, and the figures of the comparison
// (placed, refused, binds failed, fragmentation, balance) against
// hand-computed values.
import { describe, expect, it } from "vitest";
import { Cluster } from "../src/cluster/cluster.js";
import { clusterReport, fragmentation } from "../src/cluster/figures.js";
import { podVmSize } from "../src/cluster/podvm.js";
import { compareSchedulers } from "../src/cluster/run.js";
import { Warnings } from "../src/cluster/warnings.js";
import type { ClusterScenario } from "../src/cluster/scenario.js";
import type { Pod } from "../src/cluster/pod.js";
import { GI, host, MI, podOf, replicas, template } from "./cluster.fixtures.js";

const now = (pods: Pod[]): ClusterScenario => ({ steps: [{ atNs: 0, delete: [], add: pods }], warnings: new Warnings() });

describe("the baseline reproduces the layers' disagreement", () => {
  it("a VM outside Kubernetes: Kubernetes picks the emptier-looking node, the VM layer refuses the bind; the unified flow places the pod", () => {
    // A: 8 GiB with a 6 GiB VM the Kubernetes scheduler does not see; B: 4 GiB. The pod requests 1 GiB, its podVM is 3 GiB.
    // LeastAllocated as Kubernetes sees it: A (8 - 1) / 8 → 87, B (4 - 1) / 4 → 75: it binds to A, where 2 GiB are free.
    const hosts = [host("A", 8, 4, {}, { vms: [{ name: "erp", memoryBytes: 6 * GI, milliCpu: 1000 }] }), host("B", 4, 4)];
    const r = compareSchedulers(hosts, now([podOf("app", template({ requestMi: 1024, limitMi: 3072, limitMilli: 500 }))]));
    expect(r.independent.totals).toMatchObject({ placed: 0, refused: 1, bindFailures: 1 });
    expect(r.independent.events).toEqual([{
      atNs: 0, mode: "independent", kind: "bind-failed", pod: "default/app", host: "A",
      reason: "VM layer refused the podVM: A has 2.00 GiB of memory unreserved, the podVM needs 3.00 GiB",
    }]);
    expect(r.unified.totals).toMatchObject({ placed: 1, refused: 0, bindFailures: 0 });
    expect(r.unified.pods[0]).toMatchObject({ host: "B", selectedHost: "B", status: "running" });
    // What each layer believes about A afterwards.
    expect(r.independent.hosts[0]).toMatchObject({ memoryReservedBytes: 6 * GI, kubernetesRequestedBytes: 0 });
  });

  it("requests versus limits: Kubernetes packs by requests, the third podVM does not fit; the unified flow refuses it up front, no bind fails", () => {
    // One 4 GiB host; podVMs of 2 GiB (limit) whose requests are 1 GiB: Kubernetes sees room for four, the host holds two.
    const pods = replicas("w", 3, template({ requestMi: 1024, limitMi: 2048, limitMilli: 500 }));
    const r = compareSchedulers([host("h", 4, 4)], now(pods));
    expect(r.independent.totals).toMatchObject({ placed: 2, refused: 1, bindFailures: 1 });
    expect(r.unified.totals).toMatchObject({ placed: 2, refused: 1, bindFailures: 0 });
    expect(r.unified.pods[2].reason).toBe("VM scheduler: 0/1 hosts admit the podVM: 1 admission control: memory");
    expect(r.independent.pods[2].reason).toBe("VM layer refused the podVM: h has 0.00 GiB of memory unreserved, the podVM needs 2.00 GiB");
    expect(r.independent.hosts[0]).toMatchObject({ memoryReservedBytes: 4 * GI, kubernetesRequestedBytes: 2 * GI });
  });

  it("the baseline's failed bind leaves nothing behind in either layer", () => {
    const c = new Cluster([host("h", 4, 4)], { mode: "independent" });
    c.submit(replicas("w", 3, template({ requestMi: 1024, limitMi: 2048, limitMilli: 500 })));
    const cache = c.flow.containerScheduler.cache;
    expect([cache.pods[0], cache.requestedMemory[0]]).toEqual([2, 2 * GI]);
    expect([c.vmLayer.ledger.podVms[0], c.vmLayer.ledger.memoryReserved[0]]).toEqual([2, 4 * GI]);
  });
});

describe("the figures", () => {
  it("balance is the standard deviation of host memory and CPU use; memory used is the working sets in the model", () => {
    // Three 4 GiB, 4-CPU hosts; podVMs pinned by nodeSelector: 3 GiB + 1 GiB on h0, 1 GiB on h1, none on h2.
    const hosts = [host("h0", 4, 4), host("h1", 4, 4), host("h2", 4, 4)];
    const on = (h: string, mi: number, milli: number, name: string) =>
      podOf(name, template({ requestMi: mi / 2, limitMi: mi, limitMilli: milli, nodeSelector: { "kubernetes.io/hostname": h } }));
    const c = new Cluster(hosts);
    c.submit([on("h0", 3072, 1000, "a"), on("h0", 1024, 1000, "b"), on("h1", 1024, 2000, "c")]);
    const t = clusterReport(c).totals;
    const sd = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length - (xs.reduce((s, x) => s + x, 0) / xs.length) ** 2);
    expect(t.memoryBalanceStdDev).toBeCloseTo(sd([1, 0.25, 0]), 12);
    expect(t.cpuBalanceStdDev).toBeCloseTo(sd([0.5, 0.5, 0]), 12);
    expect(t.memoryReservedBytes).toBe(5 * GI);
    expect(t.memoryUsedBytes).toBe(2.5 * GI); // the requests: half of each limit
    expect(t.memoryUsed).toBe("model");
  });

  it("fragmentation: the share of free memory on hosts that cannot admit the median podVM", () => {
    // h0: 4 GiB, 3.5 GiB reserved (0.5 free); h1: 4 GiB, 1 GiB reserved (3 free) but no pod slot left; h2: 4 GiB empty.
    // The median podVM is 1 GiB: h0 and h1 cannot take it: (0.5 + 3) / (0.5 + 3 + 4) of the free memory is stranded.
    const hosts = [host("h0", 4, 4), host("h1", 4, 4, {}, { maxPods: 1 }), host("h2", 4, 4)];
    const c = new Cluster(hosts);
    const pin = (h: string, mi: number, name: string) => podOf(name, template({ limitMi: mi, limitMilli: 100, nodeSelector: { "kubernetes.io/hostname": h } }));
    c.submit([pin("h0", 3584, "a"), pin("h1", 1024, "b")]);
    const median = podVmSize(template({ limitMi: 1024, limitMilli: 100 }));
    expect(fragmentation(c, median)).toBeCloseTo(3.5 / 7.5, 12);
    expect(fragmentation(c, podVmSize(template({ limitMi: 256, limitMilli: 100 })))).toBeCloseTo(3 / 7.5, 12);
    expect(fragmentation(c, null)).toBe(0);
    // The report's reference is the median of its own pods: 1 GiB here (a 3.5 GiB and a 1 GiB podVM: the lower middle).
    expect(clusterReport(c).totals.fragmentation).toBeCloseTo(3.5 / 7.5, 12);
  });

  it("per host and per pod figures as hand-computed", () => {
    const c = new Cluster([host("h", 8, 4)]);
    c.submit([podOf("p", template({ requestMi: 256, limitMi: 512, requestMilli: 250, limitMilli: 1500, overheadMi: 120, overheadMilli: 250 }))]);
    const r = clusterReport(c);
    expect(r.hosts).toEqual([{
      name: "h", podVms: 1, otherVms: 0, memoryBytes: 8 * GI, memoryReservedBytes: 632 * MI, memoryUsedBytes: 376 * MI,
      kubernetesRequestedBytes: 376 * MI, cpus: 4, milliCpuReserved: 1750, vcpus: 2,
    }]);
    expect(r.pods[0]).toMatchObject({
      pod: "default/p", status: "running", host: "h", selectedHost: "h", podVm: { memoryBytes: 632 * MI, milliCpu: 1750, vcpus: 2 },
      requests: { memoryBytes: 376 * MI, milliCpu: 500 }, attempts: 1, bindFailures: 0, reason: null,
    });
    expect(r.pods[0].schedulingLatencyUs).toBeGreaterThan(0);
  });
});
