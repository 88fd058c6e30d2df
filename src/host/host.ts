// Host: one wasm instance and its linear memory. Host physical memory is 4 KiB
// frames allocated on demand (frame 0 is the shared read-only zero frame);
// VMs map guest memory to frames through their own nested page tables. The
// host's fault chain holds the host-wide handlers, consulted after each VM's
// own: by default, first touch populates a page and a write to a shared
// frame gets a private copy. Other techniques (memory errors, swap, balloon,
// remote memory) register their handlers on a VM or on the host.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt } from "../options.js";
import { MAX_VMS, MAX_WORKLOADS, PAGE_SIZE } from "../wasm/codes.js";
import type { FrameInfo } from "../wasm/frames.js";
import { Kernels, maxFramesFor } from "../wasm/kernels.js";
import { FaultChain, FaultReason, type Disposer, type FaultHandler } from "./faults.js";
import { FramePages } from "./frame-pages.js";
import { RetiredFrames } from "./retired-frames.js";
import { RetiredStore } from "./retired-store.js";
import { resolveVmOptions, Vm, type VmOptions } from "./vm.js";

export interface HostOptions {
  /** Host physical memory in MiB: 1 to 4096 (one wasm32 memory). Required. */
  memoryMiB: number;
  /**
   * A retired-frame store (a file, created if missing): the frames it names
   * are retired before anything runs, and every frame retired on this host
   * is appended to it. @default none: retired frames are forgotten with the host
   */
  retiredStore?: string;
}

/** Kernel scratch, leased by access batches, page I/O and fingerprint windows (src/wasm/scratch.ts). */
const SCRATCH_BYTES = 16 << 20;
export const MAX_HOST_MIB = 4096;

export interface HostStats {
  /** Frames the host may hand out (memoryMiB × 256, capped by what fits in 4 GiB). */
  readonly maxFrames: number;
  /** Frames in use now, including the zero frame, page tables and bitmaps. */
  readonly usedFrames: number;
  readonly peakUsedFrames: number;
  /** Frames on the free list (returned by destroyed VMs). */
  readonly freeListFrames: number;
  /** Frames retired for good (counted in usedFrames: they can never be handed out). */
  readonly retiredFrames: number;
  /** Bytes of linear memory the engine has committed to (grows on demand). */
  readonly linearMemoryBytes: number;
  readonly vms: number;
}

export class Host {
  /** The adapter to this host's wasm instance (for hypermem's own modules). */
  readonly kernels: Kernels;
  readonly memoryMiB: number;
  /** The host-wide fault chain (after each VM's own); see onFault. */
  readonly faults = new FaultChain();
  /** Pages kept in host frames of a technique's own, and XOR of frames (parity). */
  readonly framePages: FramePages;
  /** Frames retired for good, and the store that keeps them across hosts. */
  readonly retired: RetiredFrames;
  readonly #vms = new Map<number, Vm>();
  readonly #workloadSlots = new Set<number>();
  #nextVmId = 1;

  constructor(options: HostOptions) {
    if (typeof options !== "object" || options === null) {
      throw new HypermemError(ErrorCode.BadOption, `createHost: options must be an object such as { memoryMiB: 1024 }, got ${String(options)}`, { option: "options" });
    }
    rejectUnknown(options, ["memoryMiB", "retiredStore"], "createHost");
    this.memoryMiB = requireInt("memoryMiB", options.memoryMiB, 1, MAX_HOST_MIB);
    const store = options.retiredStore === undefined ? null : RetiredStore.open(options.retiredStore);
    const frames = Math.min(this.memoryMiB * (1 << 20) / PAGE_SIZE, maxFramesFor(SCRATCH_BYTES));
    this.kernels = new Kernels(SCRATCH_BYTES, frames);
    this.framePages = new FramePages(this.kernels);
    this.retired = new RetiredFrames(this.kernels, store);
    this.faults.add(FaultReason.NotPresent, (f) => {
      this.kernels.mmu.populate(f.vm.slot, f.pfn, f.write);
      return "retry";
    });
    this.faults.add(FaultReason.Cow, (f) => {
      this.kernels.mmu.breakCow(f.vm.slot, f.pfn);
      return "retry";
    });
  }

  get maxFrames(): number { return this.kernels.layout.maxFrames; }

  /** Creates a VM whose guest memory starts untouched (every page reads as zero). */
  createVm(options: VmOptions): Vm {
    const resolved = resolveVmOptions(options);
    let slot = 0;
    while (slot < MAX_VMS && this.#vms.has(slot)) slot++;
    if (slot === MAX_VMS) throw new HypermemError(ErrorCode.HostLimit, `a host runs at most ${MAX_VMS} VMs`, { vms: MAX_VMS });
    // Ids run 1..0xfffe and wrap; a live VM's id is skipped, since a frame's owner field names one VM.
    const live = new Set([...this.#vms.values()].map((v) => v.id));
    let id = this.#nextVmId;
    while (live.has(id)) id = (id % 0xfffe) + 1;
    const vm = new Vm(this, slot, id, resolved);
    this.#nextVmId = (id % 0xfffe) + 1;
    this.#vms.set(slot, vm);
    return vm;
  }

  /** Called by Vm.destroy(). */
  releaseSlot(slot: number): void { this.#vms.delete(slot); }

  get vms(): readonly Vm[] { return [...this.#vms.values()]; }

  /** A free workload descriptor slot (for GuestWorkload). */
  claimWorkloadSlot(): number {
    for (let slot = 0; slot < MAX_WORKLOADS; slot++) {
      if (!this.#workloadSlots.has(slot)) {
        this.#workloadSlots.add(slot);
        return slot;
      }
    }
    throw new HypermemError(ErrorCode.HostLimit, `a host runs at most ${MAX_WORKLOADS} workloads at once`, { workloads: MAX_WORKLOADS });
  }

  releaseWorkloadSlot(slot: number): void { this.#workloadSlots.delete(slot); }

  /**
   * Registers a host-wide `handler` for faults of `reason`: consulted after
   * the faulting VM's own handlers, in front of the host's earlier ones (the
   * defaults populate untouched pages and copy shared frames on write). It
   * may answer "pass". Returns the disposer that removes it.
   */
  onFault(reason: FaultReason, handler: FaultHandler): Disposer {
    return this.faults.add(reason, handler);
  }

  /** Metadata of host frame `hfn`. */
  frameInfo(hfn: number): FrameInfo {
    requireInt("hfn", hfn, 0, this.maxFrames - 1);
    return this.kernels.frames.info(hfn);
  }

  stats(): HostStats {
    const k = this.kernels;
    return {
      maxFrames: this.maxFrames,
      usedFrames: k.frames.used,
      peakUsedFrames: k.frames.peakUsed,
      freeListFrames: k.frames.free,
      retiredFrames: this.retired.count,
      linearMemoryBytes: k.heap.byteLength,
      vms: this.#vms.size,
    };
  }
}

/** Creates a host with `memoryMiB` of physical memory, allocated as the guests touch it. */
export function createHost(options: HostOptions): Host {
  return new Host(options);
}

