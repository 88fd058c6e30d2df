// Hypervisor swap as a memory scheduler's last reclamation step, below
// ballooning (ESX's order: sharing, ballooning, compression, swapping). The
// scheduler (src/balloon, through the ReclaimStep seam of src/host) asks
// for frames when ballooning could not free enough (the balloon's cap, the
// driver's rate); this step swaps out clock victims of its attached guests
// and returns the frames freed:
//
//   frames wanted ──► 1. VMs above their allocation target, the furthest
//                        first, down to their target
//                     2. still short: the VMs holding most, in that order
//                     (at least reclaimBatchPages, 32, per call; never more
//                      than the swap file has free slots: a page that
//                      cannot be written out stays in memory)
//
// It also hands the scheduler's makeRoom to the swap device as a frame
// guard, so a swap-in takes a frame only after the scheduler made room.
import type { ReclaimContext, ReclaimStep } from "../host/reclaim-step.js";
import type { Vm } from "../host/vm.js";
import type { HostSwap } from "./swap-device.js";

/** What the step did for its scheduler. */
export interface SwapStepFigures {
  /** Calls of the step by the scheduler. */
  readonly calls: number;
  /** Frames the step freed over all calls. */
  readonly freedFrames: number;
  /** Frames wanted that it could not free (no resident page left, or the swap file full). */
  readonly shortFrames: number;
}

export class SwapReclaimStep implements ReclaimStep {
  readonly name = "hypervisor swap";
  readonly swap: HostSwap;
  readonly #removeGuard: () => void;
  #figures = { calls: 0, freedFrames: 0, shortFrames: 0 };

  /** Swaps for a scheduler whose makeRoom is `makeRoom` (called before every frame a swap-in takes). */
  constructor(swap: HostSwap, makeRoom: (frames: number) => void) {
    this.swap = swap;
    this.#removeGuard = swap.guardFrames(makeRoom);
  }

  get figures(): SwapStepFigures { return Object.freeze({ ...this.#figures }); }

  reclaim(frames: number, ctx: ReclaimContext): number {
    this.#figures.calls++;
    const attached = new Map<number, Vm>(this.swap.guests.map((g) => [g.vm.id, g.vm]));
    const vms = ctx.vms.filter((v) => attached.has(v.vmId));
    // At least a batch (reclaimBatchPages, Linux's SWAP_CLUSTER_MAX): one page per first touch would pay a clock sweep and a write per page.
    const want = Math.max(frames, this.swap.options.reclaimBatchPages);
    let freed = 0;
    const take = (vm: Vm, pages: number): void => {
      const n = Math.min(pages, want - freed, this.swap.file.freeSlots);
      if (n > 0) freed += this.swap.swapOut(vm, n);
    };
    for (const v of [...vms].sort((a, b) => (b.residentPages - b.targetPages) - (a.residentPages - a.targetPages))) {
      take(attached.get(v.vmId)!, v.residentPages - v.targetPages);
    }
    for (const v of [...vms].sort((a, b) => b.residentPages - a.residentPages)) {
      const vm = attached.get(v.vmId)!;
      take(vm, vm.states.counts().privateFrames);
    }
    this.#figures.freedFrames += freed;
    this.#figures.shortFrames += Math.max(0, frames - freed);
    return freed;
  }

  /** Stops guarding the swap device's frames (the scheduler is going away). */
  close(): void { this.#removeGuard(); }
}
