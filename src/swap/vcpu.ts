// A vCPU that waits on its swap-ins: a timeline process that runs its
// workload once per quantum (make the timeline's quantum the vCPU's slice,
// 20 µs by default). The demand reads its faults wait on are collected
// during the slice; the vCPU then runs again only from the moment the last
// of them completes. The stall of each wait is counted from the moment the
// vCPU's slice began to that completion.
//
//   vCPU time: ─slice─┤ fault: demand read queued ... served ├─slice─┤─slice─...
//              accesses│◄──────────── stall (device time) ─────────►│
//
// A slice runs to its end even after a fault (at most one slice of
// accesses past a fault; keep slices short against device service times).
import type { GuestWorkload } from "../host/guest-workload.js";
import type { Cancel, Clock, TimelineProcess } from "../sim/clock.js";
import type { SwapRequest } from "./request.js";
import type { SwapDeviceClock } from "./swapped-vm.js";
import type { SwappedVm } from "./swapped-vm.js";

/** Default slice (and timeline quantum) of a swap run: 20 µs of guest time. */
export const DEFAULT_SLICE_NS = 20_000;

export class SwapVcpu implements TimelineProcess {
  readonly guest: SwappedVm;
  readonly workload: GuestWorkload;
  readonly #clock: Clock;
  readonly #device: SwapDeviceClock;
  readonly #detach: Cancel;
  #waits: SwapRequest[] = [];
  #waitingSinceNs = 0;
  /** Guest accesses issued so far, and time spent waiting on swap-ins (ns). */
  accesses = 0;
  stallNs = 0;

  constructor(guest: SwappedVm, workload: GuestWorkload, clock: Clock, device: SwapDeviceClock) {
    this.guest = guest;
    this.workload = workload;
    this.#clock = clock;
    this.#device = device;
    this.#detach = clock.attach(this);
  }

  advance(durationNs: number): void {
    const g = this.guest;
    if (g.vm.paused || g.vm.destroyed) return;
    const nowNs = this.#clock.nowNs;
    const endNs = nowNs + durationNs;
    let startNs = nowNs;
    if (this.#waits.length > 0) {
      this.#device.advanceTo(nowNs);
      let readyNs = 0;
      for (const r of this.#waits) {
        if (r.state === "queued") return;
        readyNs = Math.max(readyNs, r.doneNs);
      }
      if (readyNs >= endNs) return;
      startNs = Math.max(nowNs, readyNs);
      this.#stalled(readyNs - this.#waitingSinceNs);
      this.#waits = [];
    }
    g.vcpuTimeNs = startNs;
    g.waits = this.#waits;
    try {
      this.accesses += this.workload.runFor(endNs - startNs).accesses;
    } finally {
      g.vcpuTimeNs = null;
      g.waits = null;
    }
    this.#waitingSinceNs = startNs;
  }

  #stalled(ns: number): void {
    this.stallNs += ns;
    this.guest.counters.stallNs += ns;
  }

  /** Stops running; a wait still open is counted up to `atNs` (the end of the run). */
  close(atNs = this.#clock.nowNs): void {
    if (this.#waits.length > 0 && atNs > this.#waitingSinceNs) this.#stalled(atNs - this.#waitingSinceNs);
    this.#waits = [];
    this.#detach();
  }
}
