// The hosts of a cluster: a hosts file (names, memory, CPUs, labels, count,
// VMs outside Kubernetes) or N identical hosts; bad files are ERR_HOSTS_FILE
// naming the host, the field and the line, unknown fields included.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseHostsFile, uniformHosts } from "../src/cluster/hosts.js";
import { HypermemError } from "../src/errors.js";
import { thrownCode } from "./helpers.js";

const GI = 2 ** 30;

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof HypermemError && err.code === "ERR_HOSTS_FILE") return err.message;
    throw err;
  }
  throw new Error("did not throw");
}

describe("hosts", () => {
  it("reads the example hosts file: labels with the hostname label added, a VM outside Kubernetes", () => {
    const hosts = parseHostsFile("hosts.yaml", readFileSync(new URL("../examples/hosts.yaml", import.meta.url), "utf8"));
    expect(hosts.map((h) => h.name)).toEqual(["esx-a1", "esx-a2", "esx-b1", "esx-b2"]);
    expect(hosts[2]).toEqual({
      name: "esx-b1", memoryBytes: 8 * GI, cpus: 4, maxPods: 110,
      labels: { "topology.kubernetes.io/zone": "zone-b", disk: "ssd", "kubernetes.io/hostname": "esx-b1" },
      vms: [{ name: "legacy-erp", memoryBytes: 6 * GI, milliCpu: 2000 }],
    });
  });

  it("count makes NAME-0.. alike; JSON works too", () => {
    const hosts = parseHostsFile("h.json", JSON.stringify({ hosts: [{ name: "r", memory: "512Gi", cpus: 64, count: 3, maxPods: 250 }] }));
    expect(hosts.map((h) => [h.name, h.memoryBytes, h.cpus, h.maxPods, h.labels["kubernetes.io/hostname"]])).toEqual([
      ["r-0", 512 * GI, 64, 250, "r-0"], ["r-1", 512 * GI, 64, 250, "r-1"], ["r-2", 512 * GI, 64, 250, "r-2"],
    ]);
  });

  it("N identical hosts host-0 ..", () => {
    const hosts = uniformHosts({ count: 2, memoryBytes: 4 * GI, cpus: 8 });
    expect(hosts).toEqual([
      { name: "host-0", memoryBytes: 4 * GI, cpus: 8, maxPods: 110, labels: { "kubernetes.io/hostname": "host-0" }, vms: [] },
      { name: "host-1", memoryBytes: 4 * GI, cpus: 8, maxPods: 110, labels: { "kubernetes.io/hostname": "host-1" }, vms: [] },
    ]);
    expect(thrownCode(() => uniformHosts({ count: 0, memoryBytes: GI, cpus: 1 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => uniformHosts({ count: 1, memoryBytes: 0.5, cpus: 1 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => uniformHosts({ count: 1, memoryBytes: GI, cpus: 0 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => uniformHosts({ count: 1, memoryBytes: GI, cpus: 1, memory: GI } as never))).toBe("ERR_UNKNOWN_OPTION");
  });

  it("bad files name the host, the field and the line", () => {
    const file = (body: string): string => `hosts:\n${body}`;
    expect(message(() => parseHostsFile("h.yaml", file("  - { name: a, cpus: 4 }\n")))).toBe("host a: hosts[0].memory: is required (a quantity such as 64Gi) (h.yaml:2)");
    expect(message(() => parseHostsFile("h.yaml", file("  - name: a\n    memory: 4Gi\n    cpus: 0\n")))).toBe("host a: hosts[0].cpus: must be an integer from 1 to 4096, got a number (0) (h.yaml:4)");
    expect(message(() => parseHostsFile("h.yaml", file("  - { name: a, memory: 4Gib, cpus: 1 }\n")))).toMatch(/^host a: hosts\[0\]\.memory: "4Gib" is not a Kubernetes quantity/);
    expect(message(() => parseHostsFile("h.yaml", file("  - { name: a, memory: 4Gi, cpus: 1, ram: 4 }\n")))).toMatch(/^host a: hosts\[0\]\.ram: unknown field \(known: name, memory, cpus, labels, maxPods, count, vms\)/);
    expect(message(() => parseHostsFile("h.yaml", file("  - { name: a, memory: 4Gi, cpus: 1, vms: [{ name: v }] }\n")))).toBe("host a: hosts[0].vms[0].memory: is required (h.yaml:2)");
    expect(message(() => parseHostsFile("h.yaml", file("  - name: a\n    memory: 4Gi\n    cpus: 1\n    vms:\n      - { name: v, memory: 0 }\n")))).toBe("host a: hosts[0].vms[0].memory: must be more than 0 (h.yaml:6)");
    expect(message(() => parseHostsFile("h.yaml", file("  - name: a\n    memory: 1Gi\n    cpus: 2\n    vms:\n      - { name: v, memory: 768Mi }\n      - { name: w, memory: 512Mi }\n"))))
      .toBe("host a: hosts[0].vms: the VMs reserve 1342177280 bytes of memory, more than the host's 1073741824 (h.yaml:6)");
    expect(message(() => parseHostsFile("h.yaml", file("  - name: a\n    memory: 1Gi\n    cpus: 2\n    vms:\n      - { name: v, memory: 1Gi, cpus: 2500m }\n"))))
      .toBe("host a: hosts[0].vms: the VMs reserve 2.5 CPUs, more than the host's 2 (h.yaml:6)");
    expect(thrownCode(() => parseHostsFile("h.yaml", file("  - { name: a, memory: 1Gi, cpus: 2, vms: [{ name: v, memory: 1Gi, cpus: 2 }] }\n")))).toBe("none");
    expect(message(() => parseHostsFile("h.yaml", file("  - { name: a, memory: 4Gi, cpus: 1 }\n  - { name: a, memory: 4Gi, cpus: 1 }\n")))).toBe("hosts file h.yaml: hosts: host name a is used twice (h.yaml:2)");
    expect(message(() => parseHostsFile("h.yaml", "kind: Pod\nhosts: []\n"))).toBe('hosts file h.yaml: kind: must be Cluster, got "Pod" (h.yaml:1)');
    expect(message(() => parseHostsFile("h.yaml", "hosts: []\n"))).toBe("hosts file h.yaml: hosts: must list at least one host (h.yaml:1)");
    expect(message(() => parseHostsFile("h.yaml", "hosts: [\n"))).toMatch(/^h\.yaml:\d+:\d+: not valid YAML or JSON/);
    expect(message(() => parseHostsFile("h.yaml", "a: 1\n---\nb: 2\n"))).toBe("h.yaml: a hosts file holds one document, found 2");
  });
});
