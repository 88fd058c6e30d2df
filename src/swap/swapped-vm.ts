// What the swap device keeps per attached guest: its frame limit, its clock
// hand, the pages it swapped and poisoned, the prefetched pages waiting in
// its swap cache, what its running vCPU waits on, and its counters under virtio-balloon's names.
import type { Vm } from "../host/vm.js";
import type { ClockHand } from "./clock.js";
import type { SwapRequest } from "./request.js";

/** A guest's swap counters (swap_in, swap_out, major_faults, minor_faults as virtio-balloon names them). */
export interface VmSwapCounters {
  /** Pages brought back from the swap file. */
  readonly swap_in: number;
  /** Pages written to the swap file. */
  readonly swap_out: number;
  /** Faults that waited for a demand read (a new one, or a prefetch promoted to one). */
  readonly major_faults: number;
  /** Faults served by a prefetch (finished or still at the device): no demand read. */
  readonly minor_faults: number;
  /** Time the guest's vCPU waited on swap-ins, ns. */
  readonly stallNs: number;
  /** Slots whose bytes failed their checksum: the page was poisoned instead. */
  readonly corruptSlots: number;
  /** Virtual machine checks delivered for those pages. */
  readonly machineChecks: number;
  /** Faults that found the frame limit could not be kept (no resident page left to swap out). */
  readonly limitOverruns: number;
}

export class SwappedVm {
  readonly vm: Vm;
  readonly clock: ClockHand;
  /** Frames this guest may hold (resident pages + its swap cache), or null (only the host's limit). */
  limitPages: number | null;
  /**
   * Set by a running SwapVcpu: when its guest faults arrive (its own time,
   * ns), and where the requests they wait on go. Null otherwise: faults
   * arrive at the timeline's time and nobody waits.
   */
  vcpuTimeNs: number | null = null;
  waits: SwapRequest[] | null = null;
  /** Write-backs of this guest's own reclaim still at the device (their frames are not free yet). */
  ownWriteBacks = 0;
  /** Prefetched pages (their slots) whose read finished, oldest first; the swap cache. */
  readonly swapCache = new Set<number>();
  /** Pages whose swapped bytes failed their checksum: poisoned by the swap device. */
  readonly poisoned = new Set<number>();
  readonly dispose: Array<() => void> = [];
  counters = {
    swap_in: 0, swap_out: 0, major_faults: 0, minor_faults: 0, stallNs: 0, corruptSlots: 0, machineChecks: 0, limitOverruns: 0,
  };

  constructor(vm: Vm, clock: ClockHand, limitPages: number | null) {
    this.vm = vm;
    this.clock = clock;
    this.limitPages = limitPages;
  }

  /** Frames the guest holds against its limit: its private frames and its swap cache. */
  usedFrames(): number { return this.vm.states.counts().privateFrames + this.swapCache.size; }

  snapshot(): VmSwapCounters { return Object.freeze({ ...this.counters }); }
}

/** What a vCPU needs of the swap device: to bring it up to a time. */
export interface SwapDeviceClock {
  advanceTo(atNs: number): void;
}
