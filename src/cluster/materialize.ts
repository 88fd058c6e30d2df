// --materialize: the podVMs as real Vms on real Hosts, for a small cluster.
// Each cluster host becomes a Host of its memory (and its page tables,
// below); each podVM a Vm of its size on that Host; each container starts
// as a workload inside the guest (a sequential one, through the VM's MMU)
// that writes its working set, its memory request, once; the guest's own
// share (the RuntimeClass overhead: kernel, agent) is written first the
// same way:
//
//   guest-physical pages of a podVM
//   0 ──────────── overhead ──┬── container 0 ──────────┬── container 1 ── ...
//   [written whole]           [request written][rest of its limit untouched]
//
// A VM outside Kubernetes (hosts file `vms`) is a Vm whose memory is written
// whole. Memory used is then measured, not modelled: the Host's frames in use
// (guest pages written, page tables, the zero frame) × 4 KiB.
//
// Admission control reserves a podVM's size, not its page tables, so a real
// Host gets the hypervisor's own overhead beyond the cluster host's memory
// (as ESXi keeps per-VM overhead memory outside a VM's reservation): with V
// VMs at most (maxPods + VMs outside Kubernetes) of G guest pages in all
// (G <= the host's pages + V, each VM's size rounded up to a page),
//
//   overhead frames = 4 V          root, PDPT, a partial PD and a partial leaf table per VM
//                   + ceil(G / 512) + ceil(G / 2^18)   full leaf tables and PDs
//                   + 1            the shared zero frame
//
// so a host filled to its memory by podVMs that write all of it never runs
// out of frames.
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost, type Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { MAX_VMS, PAGE_SIZE } from "../wasm/codes.js";
import type { ClusterHost } from "./hosts.js";
import type { Pod } from "./pod.js";
import type { PodVmSize } from "./podvm.js";

/** At most this many hosts, and this much host memory in all, become real. */
export const MAX_MATERIALIZED_HOSTS = 16;
export const MAX_MATERIALIZED_BYTES = 8 * 2 ** 30;
/**
 * The largest real Host all of whose MiB are frames: a Host of 4,096 MiB
 * holds 4,063 MiB of frames (its kernels' scratch and the frames' metadata
 * share one wasm32 memory); test/cluster.materialize.test.ts holds this to createHost.
 */
export const MAX_REAL_HOST_MIB = 4063;
const MIB = 2 ** 20;

const pagesOf = (bytes: number): number => Math.ceil(bytes / PAGE_SIZE);

/** Frames a real Host needs beyond `host`'s memory: page tables of its VMs and the zero frame (header). */
export function overheadFrames(host: ClusterHost): number {
  const vms = host.maxPods + host.vms.length;
  const guestPages = pagesOf(host.memoryBytes) + vms;
  return 4 * vms + Math.ceil(guestPages / 512) + Math.ceil(guestPages / 2 ** 18) + 1;
}

/** MiB of the real Host that stands for `host`: its memory plus the overhead frames. */
export function realHostMiB(host: ClusterHost): number {
  return Math.ceil((host.memoryBytes + overheadFrames(host) * PAGE_SIZE) / MIB);
}

/** Throws ERR_CLUSTER_LIMIT when `hosts` cannot all be real Hosts. */
export function checkMaterializable(hosts: readonly ClusterHost[]): void {
  const fail = (why: string, details: Record<string, unknown>): HypermemError => new HypermemError(ErrorCode.ClusterLimit, `materialize: ${why}`, details);
  if (hosts.length > MAX_MATERIALIZED_HOSTS) throw fail(`${hosts.length} hosts; at most ${MAX_MATERIALIZED_HOSTS} become real Hosts`, { hosts: hosts.length });
  const total = hosts.reduce((s, h) => s + h.memoryBytes, 0);
  if (total > MAX_MATERIALIZED_BYTES) throw fail(`${total / MIB} MiB of host memory in all; at most ${MAX_MATERIALIZED_BYTES / MIB} MiB become real`, { memoryBytes: total });
  for (const h of hosts) {
    if (h.maxPods + h.vms.length > MAX_VMS) throw fail(`host ${h.name} may run ${h.maxPods} podVMs and ${h.vms.length} other VMs; a real Host runs at most ${MAX_VMS} VMs`, { host: h.name });
    if (h.memoryBytes % MIB !== 0 || realHostMiB(h) > MAX_REAL_HOST_MIB) {
      throw fail(`host ${h.name} has ${h.memoryBytes} bytes; a real Host has a whole number of MiB, at most ${MAX_REAL_HOST_MIB} MiB with its page tables (${realHostMiB(h)} MiB here)`, { host: h.name });
    }
  }
}


export class Materializer {
  readonly hosts: readonly Host[];
  readonly #vms = new Map<string, Vm>();
  #seed = 1;

  constructor(cluster: readonly ClusterHost[]) {
    checkMaterializable(cluster);
    this.hosts = cluster.map((h) => createHost({ memoryMiB: realHostMiB(h) }));
    cluster.forEach((h, i) => {
      for (const plain of h.vms) {
        const vm = this.hosts[i].createVm({ pages: pagesOf(plain.memoryBytes) });
        vm.prefillPages(0, vm.pages, this.#seed++);
      }
    });
  }

  /** Creates `pod`'s podVM on host `host` and starts its containers. */
  start(pod: Pod, host: number, size: PodVmSize): void {
    const vm = this.hosts[host].createVm({ pages: pagesOf(size.memoryBytes) });
    this.#vms.set(pod.key, vm);
    const overheadPages = pagesOf(size.overheadMemoryBytes);
    vm.prefillPages(0, overheadPages, this.#seed++);
    let first = overheadPages;
    for (const c of pod.template.containers) {
      const regionPages = Math.min(pagesOf(c.limits.memoryBytes ?? c.requests.memoryBytes ?? 0), vm.pages - first);
      vm.prefillPages(first, Math.min(pagesOf(c.requests.memoryBytes ?? 0), regionPages), this.#seed++);
      first += regionPages;
    }
  }

  /** Destroys `pod`'s podVM (its frames go back to the host). */
  stop(pod: Pod): void {
    this.#vms.get(pod.key)?.destroy();
    this.#vms.delete(pod.key);
  }

  /** Host memory in use on host `host`, measured: frames in use × 4 KiB. */
  usedBytes(host: number): number {
    return this.hosts[host].stats().usedFrames * PAGE_SIZE;
  }

  /** Destroys every VM. */
  close(): void {
    for (const h of this.hosts) for (const vm of h.vms) vm.destroy();
    this.#vms.clear();
  }
}
