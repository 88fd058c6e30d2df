// `hypermem overcommit --swap-file PATH`: hypervisor swap (src/swap) plugged
// into the overcommit scheduler (src/balloon) as its last reclamation step,
// below ballooning (ESX's order). The two techniques never import each
// other; this file sees both and joins them: a swap device on the run's
// host with every VM attached, its SwapReclaimStep given to the scheduler,
// and afterwards each VM's pages ballooned against pages swapped.
import type { ReclaimStepContext } from "../balloon/run.js";
import type { Vm } from "../host/vm.js";
import { SwapReclaimStep, type SwapStepFigures } from "../swap/reclaim-step.js";
import { HostSwap } from "../swap/swap-device.js";
import { table } from "./overcommit-report.js";
import { formatBytes, formatCount } from "./units.js";

/** One VM's hypervisor swap figures at the end of the run. */
export interface VmSwapOutcome {
  readonly vm: number;
  /** Pages in the swap file now. */
  readonly swappedPages: number;
  readonly swap_out: number;
  readonly swap_in: number;
  /** Guest faults that waited for a swap-in. */
  readonly major_faults: number;
  readonly corruptSlots: number;
}

export interface HypervisorSwapOutcome {
  readonly file: string;
  readonly capacityPages: number;
  readonly step: SwapStepFigures;
  readonly vms: readonly VmSwapOutcome[];
}

/** The swap device of one run: made by the scheduler's run once the VMs exist, closed after it. */
export class OvercommitSwap {
  readonly #path: string;
  readonly #capacityPages: number;
  #swap: HostSwap | null = null;
  #step: SwapReclaimStep | null = null;
  #vms: readonly Vm[] = [];

  constructor(path: string, capacityPages: number) {
    this.#path = path;
    this.#capacityPages = capacityPages;
  }

  /** runOvercommit's makeReclaimSteps: the swap device on the run's host, every VM attached, its step. */
  readonly makeSteps = (ctx: ReclaimStepContext): readonly SwapReclaimStep[] => {
    const swap = new HostSwap(ctx.host, ctx.clock, { path: this.#path, capacityPages: this.#capacityPages });
    this.#swap = swap;
    this.#vms = ctx.vms;
    for (const vm of ctx.vms) swap.attach(vm);
    this.#step = new SwapReclaimStep(swap, (frames) => ctx.makeRoom(frames));
    return [this.#step];
  };

  /** The figures now (null when the run never got to make the device). */
  outcome(): HypervisorSwapOutcome | null {
    const swap = this.#swap;
    if (swap === null || this.#step === null) return null;
    return Object.freeze({
      file: this.#path,
      capacityPages: swap.file.capacitySlots,
      step: this.#step.figures,
      vms: Object.freeze(this.#vms.map((vm): VmSwapOutcome => {
        const c = swap.counters(vm);
        return Object.freeze({ vm: vm.id, swappedPages: vm.states.counts().swappedPages, swap_out: c.swap_out, swap_in: c.swap_in, major_faults: c.major_faults, corruptSlots: c.corruptSlots });
      })),
    });
  }

  /**
   * Ends the run's swap: the VMs go with the run (their pages are not read
   * back: the host has no room for them), then the device closes and its
   * file is removed.
   */
  close(): void {
    this.#step?.close();
    for (const vm of this.#vms) vm.destroy();
    this.#swap?.close();
  }
}

/** Each VM's pages ballooned against pages swapped, and what the swap step did. */
export function swapReport(s: HypervisorSwapOutcome, balloonPagesOf: ReadonlyMap<number, number>): string {
  const rows = s.vms.map((v) => [
    String(v.vm), formatCount(balloonPagesOf.get(v.vm) ?? 0), formatCount(v.swappedPages), formatCount(v.swap_out), formatCount(v.swap_in), formatCount(v.major_faults), formatCount(v.corruptSlots),
  ]);
  const head = `hypervisor swap (last step, below ballooning): ${formatCount(s.step.calls)} calls, ${formatCount(s.step.freedFrames)} frames freed, ${formatCount(s.step.shortFrames)} wanted and not found; swap file ${formatBytes(s.capacityPages * 4096)}`;
  return `${head}\n${table(["vm", "ballooned", "swapped", "swap_out", "swap_in", "major_faults", "corrupt"], rows)}\n`;
}
