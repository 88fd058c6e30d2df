// The VM layer's accounting: per host, the memory and CPU reserved by its VMs
// (podVMs and the VMs outside Kubernetes), the podVMs it runs and their vCPUs.
// A podVM's reservation is its whole size, as vSphere Pods reserve theirs.
// Admission control (DRS/HA style) refuses a podVM that would take a host past
//
//   memory reserved + podVM memory     <= memory × (1 - headroom)
//   millicores reserved + podVM millis <= CPUs × 1000 × (1 - headroom)
//   podVMs on the host                 <  maxPods
//   podVM vCPUs                        <= the host's CPUs
//
// The ledger also keeps Σu and Σu² of the hosts' memory and CPU use
// (u = reserved / capacity), which the VM scheduler's balance score reads.
import type { ClusterHost } from "./hosts.js";
import type { Pod } from "./pod.js";
import type { PodVmSize } from "./podvm.js";

export type AdmissionRefusal = "memory" | "cpu" | "pods" | "vcpus";

const GIB = 2 ** 30;
const gib = (bytes: number): string => `${(bytes / GIB).toFixed(2)} GiB`;
const cpus = (milli: number): string => `${(milli / 1000).toFixed(2)} CPUs`;

export class HostLedger {
  readonly hosts: readonly ClusterHost[];
  /** Fraction of each host's memory and CPU kept unreserved. */
  readonly headroom: number;
  readonly memoryCapacity: Float64Array;
  readonly milliCapacity: Float64Array;
  readonly memoryReserved: Float64Array;
  readonly milliReserved: Float64Array;
  readonly podVms: Int32Array;
  readonly vcpus: Int32Array;
  /** Memory the podVMs' guests touch in the model (overhead + container requests), plus the plain VMs' memory. */
  readonly workingSet: Float64Array;
  /** Capacity × (1 - headroom): what admission control lets be reserved. */
  readonly memoryLimit: Float64Array;
  readonly milliLimit: Float64Array;
  readonly maxPods: Int32Array;
  readonly cpus: Int32Array;
  readonly #records = new Map<string, { readonly host: number; readonly size: PodVmSize }>();
  /** Σu and Σu² of memory and CPU use. */
  memorySum = 0;
  memorySquares = 0;
  cpuSum = 0;
  cpuSquares = 0;

  constructor(hosts: readonly ClusterHost[], headroom: number) {
    this.hosts = hosts;
    this.headroom = headroom;
    const n = hosts.length;
    this.memoryCapacity = Float64Array.from(hosts, (h) => h.memoryBytes);
    this.milliCapacity = Float64Array.from(hosts, (h) => h.cpus * 1000);
    this.memoryLimit = this.memoryCapacity.map((c) => c * (1 - headroom));
    this.milliLimit = this.milliCapacity.map((c) => c * (1 - headroom));
    this.maxPods = Int32Array.from(hosts, (h) => h.maxPods);
    this.cpus = Int32Array.from(hosts, (h) => h.cpus);
    this.memoryReserved = new Float64Array(n);
    this.milliReserved = new Float64Array(n);
    this.podVms = new Int32Array(n);
    this.vcpus = new Int32Array(n);
    this.workingSet = new Float64Array(n);
    hosts.forEach((h, i) => {
      for (const vm of h.vms) this.#add(i, vm.memoryBytes, vm.milliCpu, vm.memoryBytes);
    });
  }

  #add(host: number, memoryBytes: number, milliCpu: number, workingSetBytes: number): void {
    const um = this.memoryReserved[host] / this.memoryCapacity[host];
    const uc = this.milliReserved[host] / this.milliCapacity[host];
    this.memoryReserved[host] += memoryBytes;
    this.milliReserved[host] += milliCpu;
    this.workingSet[host] += workingSetBytes;
    const um2 = this.memoryReserved[host] / this.memoryCapacity[host];
    const uc2 = this.milliReserved[host] / this.milliCapacity[host];
    this.memorySum += um2 - um;
    this.memorySquares += um2 * um2 - um * um;
    this.cpuSum += uc2 - uc;
    this.cpuSquares += uc2 * uc2 - uc * uc;
  }

  /** Why `host` cannot take a podVM of `size`, or null when admission control lets it. */
  refusal(host: number, size: PodVmSize): AdmissionRefusal | null {
    if (this.memoryReserved[host] + size.memoryBytes > this.memoryLimit[host]) return "memory";
    if (this.milliReserved[host] + size.milliCpu > this.milliLimit[host]) return "cpu";
    if (this.podVms[host] >= this.maxPods[host]) return "pods";
    if (size.vcpus > this.cpus[host]) return "vcpus";
    return null;
  }

  /** The refusal in words, with the numbers. */
  explain(host: number, size: PodVmSize, refusal: AdmissionRefusal): string {
    const h = this.hosts[host];
    switch (refusal) {
      case "memory": return `${h.name} has ${gib(this.memoryLimit[host] - this.memoryReserved[host])} of memory unreserved, the podVM needs ${gib(size.memoryBytes)}`;
      case "cpu": return `${h.name} has ${cpus(this.milliLimit[host] - this.milliReserved[host])} unreserved, the podVM needs ${cpus(size.milliCpu)}`;
      case "pods": return `${h.name} already runs its ${h.maxPods} podVMs (maxPods)`;
      case "vcpus": return `${h.name} has ${h.cpus} CPUs, the podVM has ${size.vcpus} vCPUs`;
    }
  }

  /** Reserves a podVM of `size` for `pod` on `host` (the caller checked admission). */
  reserve(host: number, pod: Pod, size: PodVmSize): void {
    this.#add(host, size.memoryBytes, size.milliCpu, size.workingSetBytes);
    this.podVms[host]++;
    this.vcpus[host] += size.vcpus;
    this.#records.set(pod.key, { host, size });
  }

  /** Releases `pod`'s podVM; returns its host, or -1 when it has none. */
  release(pod: Pod): number {
    const r = this.#records.get(pod.key);
    if (r === undefined) return -1;
    this.#records.delete(pod.key);
    this.#add(r.host, -r.size.memoryBytes, -r.size.milliCpu, -r.size.workingSetBytes);
    this.podVms[r.host]--;
    this.vcpus[r.host] -= r.size.vcpus;
    return r.host;
  }
}
