// The cluster's hosts: a small YAML or JSON file, or N identical hosts.
//
//   kind: Cluster                      # optional
//   hosts:
//     - name: esx-a                    # a DNS name; it is also the Kubernetes node name
//       memory: 64Gi                   # Kubernetes quantity
//       cpus: 16
//       labels: { topology.kubernetes.io/zone: zone-a }
//       maxPods: 110                   # optional; kubelet's default
//       count: 4                       # optional: esx-a-0 .. esx-a-3, alike
//       vms:                           # optional: VMs outside Kubernetes on this host
//         - { name: sql-1, memory: 24Gi, cpus: 8 }
//
// Every host carries the node label kubernetes.io/hostname = its name. The
// VMs outside Kubernetes hold reservations the VM layer sees and a
// Kubernetes scheduler on its own does not (the baseline's blind spot); they
// may not reserve more memory or CPUs than their host has.
// Errors are ERR_HOSTS_FILE naming the host, the field and the line; unknown
// fields are errors (this is hypermem's own format).
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";
import { readDocuments } from "./documents.js";
import { Fields } from "./fields.js";
import { readLabels, type Labels } from "./labels.js";
import { nameProblem, readResource } from "./pod.js";
import type { Subject } from "./source.js";

/** A VM that is not a pod: its memory and CPU are reserved on its host from the start. */
export interface PlainVm {
  readonly name: string;
  readonly memoryBytes: number;
  readonly milliCpu: number;
}

export interface ClusterHost {
  readonly name: string;
  readonly memoryBytes: number;
  readonly cpus: number;
  /** Node labels, kubernetes.io/hostname included. */
  readonly labels: Labels;
  /** Pods (podVMs) the host runs at most: the node's pod capacity. */
  readonly maxPods: number;
  readonly vms: readonly PlainVm[];
}

export interface UniformHosts {
  readonly count: number;
  readonly memoryBytes: number;
  readonly cpus: number;
  /** @default 110 (kubelet's maxPods) */
  readonly maxPods?: number;
}

export const HOSTNAME_LABEL = "kubernetes.io/hostname";
export const DEFAULT_MAX_PODS = 110;
export const MAX_HOSTS = 100_000;
export const MAX_HOST_CPUS = 4096;
const HOST_KEYS = ["name", "memory", "cpus", "labels", "maxPods", "count", "vms"];
const VM_KEYS = ["name", "memory", "cpus"];

function host(name: string, memoryBytes: number, cpus: number, labels: Labels, maxPods: number, vms: readonly PlainVm[]): ClusterHost {
  return Object.freeze({ name, memoryBytes, cpus, labels: Object.freeze({ ...labels, [HOSTNAME_LABEL]: name }), maxPods, vms });
}

/** `count` hosts named host-0 .. host-(count-1), alike. */
export function uniformHosts(u: UniformHosts): ClusterHost[] {
  rejectUnknown(u, ["count", "memoryBytes", "cpus", "maxPods"], "uniformHosts");
  const bad = (what: string, v: unknown, rule: string): HypermemError =>
    new HypermemError(ErrorCode.BadOption, `${what} must be ${rule}, got ${String(v)}`, { option: what, value: v });
  if (!Number.isSafeInteger(u.count) || u.count < 1 || u.count > MAX_HOSTS) throw bad("count", u.count, `an integer from 1 to ${MAX_HOSTS}`);
  if (!Number.isSafeInteger(u.memoryBytes) || u.memoryBytes < 1) throw bad("memoryBytes", u.memoryBytes, "a positive integer");
  if (!Number.isSafeInteger(u.cpus) || u.cpus < 1 || u.cpus > MAX_HOST_CPUS) throw bad("cpus", u.cpus, `an integer from 1 to ${MAX_HOST_CPUS}`);
  const maxPods = u.maxPods ?? DEFAULT_MAX_PODS;
  if (!Number.isSafeInteger(maxPods) || maxPods < 1) throw bad("maxPods", maxPods, "a positive integer");
  return Array.from({ length: u.count }, (_, i) => host(`host-${i}`, u.memoryBytes, u.cpus, {}, maxPods, []));
}

function readVm(f: Fields): PlainVm {
  const name = f.requiredString("name");
  if (!f.has("memory")) throw f.fail(["memory"], "is required");
  const memoryBytes = readResource(f, "memory", "bytes");
  if (memoryBytes < 1) throw f.fail(["memory"], "must be more than 0");
  const milliCpu = f.has("cpus") ? readResource(f, "cpus", "milli") : 0;
  f.strict(VM_KEYS);
  return Object.freeze({ name, memoryBytes, milliCpu });
}

function readHost(f: Fields): ClusterHost[] {
  const name = f.requiredString("name");
  const badName = nameProblem(name);
  if (badName) throw f.fail(["name"], badName);
  if (!f.has("memory")) throw f.fail(["memory"], "is required (a quantity such as 64Gi)");
  const memoryBytes = readResource(f, "memory", "bytes");
  if (memoryBytes < 1) throw f.fail(["memory"], "must be more than 0");
  const cpus = f.integer("cpus", 1, MAX_HOST_CPUS);
  if (cpus === undefined) throw f.fail(["cpus"], `is required (an integer from 1 to ${MAX_HOST_CPUS})`);
  const labels = readLabels(f, "labels");
  const maxPods = f.integer("maxPods", 1, 100_000) ?? DEFAULT_MAX_PODS;
  const count = f.integer("count", 1, MAX_HOSTS);
  const vms = f.maps("vms").map(readVm);
  // Their reservations are the whole VM, as for podVMs: a host cannot start VMs that reserve more than it has.
  const vmMemoryBytes = vms.reduce((s, vm) => s + vm.memoryBytes, 0);
  if (vmMemoryBytes > memoryBytes) throw f.fail(["vms"], `the VMs reserve ${vmMemoryBytes} bytes of memory, more than the host's ${memoryBytes}`);
  const vmMilliCpu = vms.reduce((s, vm) => s + vm.milliCpu, 0);
  if (vmMilliCpu > cpus * 1000) throw f.fail(["vms"], `the VMs reserve ${vmMilliCpu / 1000} CPUs, more than the host's ${cpus}`);
  f.strict(HOST_KEYS);
  if (count === undefined) return [host(name, memoryBytes, cpus, labels, maxPods, vms)];
  return Array.from({ length: count }, (_, i) => host(`${name}-${i}`, memoryBytes, cpus, labels, maxPods, vms));
}

/** The hosts of a hosts file's `text` (named `file` in errors). */
export function parseHostsFile(file: string, text: string): ClusterHost[] {
  const docs = readDocuments(file, text, ErrorCode.HostsFile);
  if (docs.length !== 1) throw new HypermemError(ErrorCode.HostsFile, `${file}: a hosts file holds one document, found ${docs.length}`, { file });
  const subject: Subject = { kind: "hosts file", name: file, source: docs[0].source, base: [], code: ErrorCode.HostsFile };
  const top = Fields.of(subject, [], docs[0].value);
  const kind = top.string("kind");
  if (kind !== undefined && kind !== "Cluster") throw top.fail(["kind"], `must be Cluster, got ${JSON.stringify(kind)}`);
  const entries = top.list("hosts");
  top.strict(["kind", "hosts"]);
  if (entries.length === 0) throw top.fail(["hosts"], "must list at least one host");
  const hosts: ClusterHost[] = [];
  entries.forEach((entry, i) => {
    const name = typeof (entry as { name?: unknown })?.name === "string" ? (entry as { name: string }).name : null;
    hosts.push(...readHost(Fields.of({ ...subject, kind: "host", name }, ["hosts", i], entry)));
  });
  if (hosts.length > MAX_HOSTS) throw top.fail(["hosts"], `${hosts.length} hosts; at most ${MAX_HOSTS}`);
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h.name)) throw top.fail(["hosts"], `host name ${h.name} is used twice`);
    seen.add(h.name);
  }
  return hosts;
}
