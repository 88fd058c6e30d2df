// --materialize: podVMs become real Vms of their size on real Hosts, the
// containers write their working sets inside them, and memory used is
// measured in host frames: the model's working set plus page tables and the
// zero frame, within a bound; a deleted pod gives its frames back; clusters
// too large to be real are refused with ERR_CLUSTER_LIMIT.
import { describe, expect, it } from "vitest";
import { Cluster } from "../src/cluster/cluster.js";
import { clusterReport } from "../src/cluster/figures.js";
import { checkMaterializable, MAX_MATERIALIZED_HOSTS, MAX_REAL_HOST_MIB, overheadFrames, realHostMiB } from "../src/cluster/materialize.js";
import { createHost } from "../src/host/host.js";
import { podVmSize } from "../src/cluster/podvm.js";
import { host, MI, podOf, replicas, template } from "./cluster.fixtures.js";
import { thrownCode } from "./helpers.js";

const PAGE = 4096;
/** Page-table frames of a guest of `pages` pages whose first pages are written: the root, one table per level on the path, one leaf per 512 pages. */
const tableBound = (pages: number): number => (3 + Math.ceil(pages / 512)) * PAGE;

describe("materialized podVMs", () => {
  it("each podVM is a Vm of its size on its host; memory used is the working sets plus page tables, measured", () => {
    const web = template({ labels: { app: "web" }, requestMi: 8, limitMi: 16, limitMilli: 100, overheadMi: 4, overheadMilli: 50 });
    const c = new Cluster([host("h0", 0.25, 2), host("h1", 0.25, 2)], { materialize: true });
    try {
      c.submit(replicas("web", 3, web));
      const m = c.vmLayer.materializer!;
      const size = podVmSize(web);
      expect(size).toMatchObject({ memoryBytes: 20 * MI, workingSetBytes: 12 * MI });
      const vms = m.hosts.map((h) => h.vms.map((vm) => vm.memoryBytes));
      expect(vms.flat()).toEqual([20 * MI, 20 * MI, 20 * MI]);
      const r = clusterReport(c);
      expect(r.totals.memoryUsed).toBe("measured");
      r.hosts.forEach((h, i) => {
        const model = h.podVms * size.workingSetBytes;
        expect(vms[i]).toHaveLength(h.podVms);
        // Frames in use: every written page, plus page tables and the shared zero frame.
        expect(h.memoryUsedBytes).toBeGreaterThanOrEqual(model);
        expect(h.memoryUsedBytes).toBeLessThanOrEqual(model + h.podVms * tableBound(size.memoryBytes / PAGE) + PAGE);
      });
      // The containers wrote their requests (8 MiB) after the 4 MiB overhead; the rest of the 16 MiB limit is untouched.
      const vm = m.hosts.flatMap((h) => h.vms)[0];
      expect(vm.states.counts().privateFrames).toBe(12 * MI / PAGE);
    } finally {
      c.close();
    }
  });

  it("a deleted pod's Vm is destroyed and its frames go back to the host", () => {
    const c = new Cluster([host("h", 0.25, 2)], { materialize: true });
    try {
      c.submit([podOf("a", template({ requestMi: 32, limitMilli: 100 })), podOf("b", template({ requestMi: 16, limitMilli: 100 }))]);
      const h = c.vmLayer.materializer!.hosts[0];
      const before = h.stats().usedFrames;
      c.delete(["a"]);
      expect(h.vms).toHaveLength(1);
      expect(before - h.stats().usedFrames).toBeGreaterThanOrEqual(32 * MI / PAGE);
      expect(h.vms.map((vm) => [vm.memoryBytes, vm.states.counts().privateFrames])).toEqual([[16 * MI, 16 * MI / PAGE]]);
    } finally {
      c.close();
    }
  });

  it("a VM outside Kubernetes is a Vm whose memory is written whole", () => {
    const c = new Cluster([host("h", 0.25, 2, {}, { vms: [{ name: "erp", memoryBytes: 64 * MI, milliCpu: 500 }] })], { materialize: true });
    try {
      expect(clusterReport(c).hosts[0].memoryUsedBytes).toBeGreaterThanOrEqual(64 * MI);
      expect(c.vmLayer.materializer!.hosts[0].vms[0].states.counts().privateFrames).toBe(64 * MI / PAGE);
    } finally {
      c.close();
    }
  });

  it("a host filled to its memory by podVMs that write all of it has the frames for their page tables too", () => {
    // Two podVMs of 32 MiB (request = limit, no overhead) fill a 64 MiB host; every guest page is written.
    const full = template({ requestMi: 32, limitMi: 32, limitMilli: 100 });
    const h = host("h", 1 / 16, 2, {}, { maxPods: 2 });
    const c = new Cluster([h], { materialize: true });
    try {
      c.submit(replicas("full", 2, full));
      const r = clusterReport(c);
      expect(r.totals.placed).toBe(2);
      expect(r.hosts[0].memoryReservedBytes).toBe(64 * MI);
      const real = c.vmLayer.materializer!.hosts[0];
      expect(real.vms.map((vm) => vm.states.counts().privateFrames)).toEqual([32 * MI / PAGE, 32 * MI / PAGE]);
      // Used: the 64 MiB written, the zero frame and the page tables, within the overhead the real Host was given.
      expect(r.hosts[0].memoryUsedBytes).toBeGreaterThan(64 * MI);
      expect(r.hosts[0].memoryUsedBytes).toBeLessThanOrEqual(64 * MI + overheadFrames(h) * PAGE);
      expect(real.memoryMiB).toBe(realHostMiB(h));
    } finally {
      c.close();
    }
  });

  it("gives a real Host its memory plus the page tables of maxPods + other VMs and the zero frame", () => {
    // 512 MiB: 131,072 pages; 111 VMs: 4 × 111 + ceil(131,183 / 512) + ceil(131,183 / 2^18) + 1 = 444 + 257 + 1 + 1.
    const h = host("h", 0.5, 1, {}, { vms: [{ name: "v", memoryBytes: MI, milliCpu: 0 }] });
    expect(overheadFrames(h)).toBe(703);
    expect(realHostMiB(h)).toBe(515);
  });

  it("refuses what cannot be real: too many hosts, too much memory, a host over 4 GiB or not whole MiB, more VMs than a host runs", () => {
    expect(thrownCode(() => checkMaterializable(Array.from({ length: MAX_MATERIALIZED_HOSTS + 1 }, (_, i) => host(`h${i}`, 0.25, 1))))).toBe("ERR_CLUSTER_LIMIT");
    expect(thrownCode(() => checkMaterializable([host("a", 4, 1), host("b", 4, 1), host("c", 1, 1)]))).toBe("ERR_CLUSTER_LIMIT");
    expect(thrownCode(() => checkMaterializable([host("a", 5, 1)]))).toBe("ERR_CLUSTER_LIMIT");
    expect(thrownCode(() => checkMaterializable([{ ...host("a", 1, 1), memoryBytes: 2 ** 30 + 1 }]))).toBe("ERR_CLUSTER_LIMIT");
    expect(thrownCode(() => checkMaterializable([host("a", 1, 1, {}, { maxPods: 255, vms: [{ name: "v", memoryBytes: MI, milliCpu: 0 }] })]))).toBe("ERR_CLUSTER_LIMIT");
    // A host and its page tables must fit the largest real Host: 4,053 MiB + 10 MiB of tables do, 4,054 MiB do not.
    expect(realHostMiB(host("a", 4053 / 1024, 1))).toBe(MAX_REAL_HOST_MIB);
    expect(thrownCode(() => checkMaterializable([host("a", 4053 / 1024, 1), host("b", 4053 / 1024, 1)]))).toBe("none");
    expect(thrownCode(() => checkMaterializable([host("a", 4054 / 1024, 1)]))).toBe("ERR_CLUSTER_LIMIT");
    expect(thrownCode(() => checkMaterializable([host("a", 4, 1)]))).toBe("ERR_CLUSTER_LIMIT");
    expect(thrownCode(() => new Cluster([host("a", 5, 1)], { materialize: true }))).toBe("ERR_CLUSTER_LIMIT");
  });

  it("MAX_REAL_HOST_MIB is the largest Host whose every MiB is frames", () => {
    expect(createHost({ memoryMiB: MAX_REAL_HOST_MIB }).maxFrames).toBe(MAX_REAL_HOST_MIB * 256);
    expect(createHost({ memoryMiB: MAX_REAL_HOST_MIB + 1 }).maxFrames).toBeLessThan((MAX_REAL_HOST_MIB + 1) * 256);
  });
});
