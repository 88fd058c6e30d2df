// Host: one wasm instance and its linear memory. Host physical memory is 4 KiB
// frames allocated on demand (frame 0 is the shared read-only zero frame);
// VMs map guest memory to frames through their own nested page tables; MMU
// faults are dispatched to handlers registered per reason.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt } from "../options.js";
import { Kernels, MAX_VMS, MAX_WORKLOADS, PAGE_SIZE, maxFramesFor } from "../wasm/kernels.js";
import { FAULT_NAMES, FaultReason, type Fault, type FaultAction, type FaultHandler } from "./fault.js";
import { readFrameInfo, type FrameInfo } from "./frame.js";
import { injectMemoryError, type InjectedError, type MemoryErrorTarget } from "../ras/memory-error.js";
import { resolveVmOptions, Vm, type VmOptions } from "./vm.js";

export interface HostOptions {
  /** Host physical memory in MiB: 1 to 4096 (one wasm32 memory). Required. */
  memoryMiB: number;
}

/** Kernel scratch: access batches in the first half, page I/O in the second. */
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
  /** Bytes of linear memory the engine has committed to (grows on demand). */
  readonly linearMemoryBytes: number;
  readonly vms: number;
}

export class Host {
  /** The adapter to this host's wasm instance (for hypermem's own modules). */
  readonly kernels: Kernels;
  readonly memoryMiB: number;
  readonly #vms = new Map<number, Vm>();
  readonly #handlers = new Map<FaultReason, FaultHandler>();
  readonly #workloadSlots = new Set<number>();
  #nextVmId = 1;

  constructor(options: HostOptions) {
    rejectUnknown(options, ["memoryMiB"], "createHost");
    this.memoryMiB = requireInt("memoryMiB", options.memoryMiB, 1, MAX_HOST_MIB);
    const frames = Math.min(this.memoryMiB * (1 << 20) / PAGE_SIZE, maxFramesFor(SCRATCH_BYTES));
    this.kernels = new Kernels(SCRATCH_BYTES, frames);
    this.#handlers.set(FaultReason.NotPresent, (f) => {
      this.kernels.nptPopulate(f.vm.slot, f.pfn, f.write);
      return "retry";
    });
    this.#handlers.set(FaultReason.Cow, (f) => {
      this.kernels.nptBreakCow(f.vm.slot, f.pfn);
      return "retry";
    });
    this.#handlers.set(FaultReason.Poisoned, (f) => {
      f.vm.deliverMachineCheck(f);
      return "skip";
    });
  }

  get maxFrames(): number { return this.kernels.layout.maxFrames; }

  /** Creates a VM whose guest memory starts untouched (every page reads as zero). */
  createVm(options: VmOptions): Vm {
    const resolved = resolveVmOptions(options);
    let slot = 0;
    while (slot < MAX_VMS && this.#vms.has(slot)) slot++;
    if (slot === MAX_VMS) throw new HypermemError(ErrorCode.HostLimit, `a host runs at most ${MAX_VMS} VMs`, { vms: MAX_VMS });
    const vm = new Vm(this, slot, this.#nextVmId, resolved);
    this.#nextVmId = (this.#nextVmId % 0xfffe) + 1;
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
   * Registers the handler for one fault reason, replacing the previous one
   * (the defaults handle not-present by populating the page, cow by giving
   * the page a private copy, and poisoned by delivering a virtual machine
   * check to the guest and dropping the access). Returns the handler it replaced.
   */
  onFault(reason: FaultReason, handler: FaultHandler): FaultHandler | undefined {
    if (!(reason in FAULT_NAMES) || reason === FaultReason.BadAccess) {
      throw new HypermemError(ErrorCode.BadOption, `no handler can be registered for fault reason ${String(reason)}`, { reason });
    }
    const previous = this.#handlers.get(reason);
    this.#handlers.set(reason, handler);
    return previous;
  }

  /** Resolves one fault with its handler; unhandled reasons are typed errors. */
  dispatch(fault: Fault): FaultAction {
    const handler = this.#handlers.get(fault.reason);
    if (!handler) {
      throw new HypermemError(
        ErrorCode.UnhandledFault,
        `vm ${fault.vm.id}: no handler for a ${FAULT_NAMES[fault.reason]} fault at gpa 0x${fault.gpa.toString(16)}`,
        { reason: FAULT_NAMES[fault.reason], gpa: fault.gpa },
      );
    }
    return handler(fault);
  }

  /**
   * Marks the frame behind `target` as holding an uncorrectable memory error:
   * known (reported, as an MCE log would) or latent (found when the frame is
   * next read). Guest accesses to the page then raise a virtual machine check.
   */
  injectMemoryError(target: MemoryErrorTarget, options: { latent?: boolean } = {}): InjectedError {
    return injectMemoryError(this, target, options);
  }

  /** Metadata of host frame `hfn`. */
  frameInfo(hfn: number): FrameInfo {
    requireInt("hfn", hfn, 0, this.maxFrames - 1);
    return readFrameInfo(this.kernels, hfn);
  }

  stats(): HostStats {
    const k = this.kernels;
    return {
      maxFrames: this.maxFrames,
      usedFrames: k.usedFrames,
      peakUsedFrames: k.peakUsedFrames,
      freeListFrames: k.freeFrames,
      linearMemoryBytes: k.heap.byteLength,
      vms: this.#vms.size,
    };
  }
}

/** Creates a host with `memoryMiB` of physical memory, allocated as the guests touch it. */
export function createHost(options: HostOptions): Host {
  return new Host(options);
}

