// WallClock: the Clock of the real-I/O paths (TCP between processes,
// files). Time is performance.now() since the clock was made; attached
// processes run, on settle(), for the real time that passed since the last
// settle, so a guest's workload keeps its rate in wall-clock time; events
// are timers.
//
// The guests are simulated on the same thread as the hypervisor work that
// settles them (a migration's sends): on a slow or loaded machine, running
// a guest for a second can cost more than a second. So the guests get at
// most a share of the wall time (guestCpuShare, half by default) and at most
// maxSliceNs per settle; time they could not be given is steal time, as a
// vCPU on an overcommitted host sees it (/proc/stat steal, top's %st): the
// guest runs slower, and the hypervisor's work keeps its share.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Cancel, Clock, TimelineProcess } from "./clock.js";

export interface WallClockOptions {
  /** Share of wall time the attached processes may use, in (0, 1]. @default 0.5 */
  readonly guestCpuShare?: number;
  /** The most real time one settle gives the processes, ns; the rest is stolen. @default 50 ms */
  readonly maxSliceNs?: number;
}

/** Guest time given and stolen on a WallClock. */
export interface StealTime {
  /** Wall time the processes were given to run, ns. */
  readonly grantedNs: number;
  /** Wall time they were not given (over their CPU share or over a slice), ns. */
  readonly stolenNs: number;
  /** Wall time spent running them, ns. */
  readonly busyNs: number;
}

export class WallClock implements Clock {
  readonly kind = "wall" as const;
  readonly #startMs = performance.now();
  readonly #processes: TimelineProcess[] = [];
  readonly #share: number;
  readonly #maxSliceNs: number;
  #settledNs = 0;
  #grantedNs = 0;
  #stolenNs = 0;
  #busyNs = 0;

  constructor(options: WallClockOptions = {}) {
    const share = options.guestCpuShare ?? 0.5;
    if (typeof share !== "number" || !(share > 0 && share <= 1)) {
      throw new HypermemError(ErrorCode.BadOption, `guestCpuShare must be a number in (0, 1], got ${String(share)}`, { option: "guestCpuShare", value: share });
    }
    const slice = options.maxSliceNs ?? 50e6;
    if (typeof slice !== "number" || !(slice > 0) || !Number.isFinite(slice)) {
      throw new HypermemError(ErrorCode.BadOption, `maxSliceNs must be a finite number of ns > 0, got ${String(slice)}`, { option: "maxSliceNs", value: slice });
    }
    this.#share = share;
    this.#maxSliceNs = slice;
  }

  get nowNs(): number { return (performance.now() - this.#startMs) * 1e6; }

  /** What the processes were given and what was stolen from them so far. */
  get steal(): StealTime { return { grantedNs: this.#grantedNs, stolenNs: this.#stolenNs, busyNs: this.#busyNs }; }

  attach(process: TimelineProcess): Cancel {
    this.settle();
    this.#processes.push(process);
    return () => {
      const at = this.#processes.indexOf(process);
      if (at >= 0) this.#processes.splice(at, 1);
    };
  }

  schedule(atNs: number, fn: () => void): Cancel {
    if (typeof atNs !== "number" || Number.isNaN(atNs)) {
      throw new HypermemError(ErrorCode.BadOption, `an event time must be a number of ns, got ${String(atNs)}`, { option: "atNs", value: atNs });
    }
    const timer = setTimeout(fn, Math.max(0, (atNs - this.nowNs) / 1e6));
    return () => clearTimeout(timer);
  }

  async sleep(durationNs: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, durationNs / 1e6)));
    this.settle();
  }

  settle(): void {
    const now = this.nowNs;
    const dt = now - this.#settledNs;
    this.#settledNs = now;
    if (dt <= 0 || this.#processes.length === 0) return;
    // Over their share of the wall time so far: this slice is stolen.
    if (this.#busyNs > this.#share * (this.#grantedNs + this.#stolenNs + dt)) {
      this.#stolenNs += dt;
      return;
    }
    const given = Math.min(dt, this.#maxSliceNs);
    this.#stolenNs += dt - given;
    this.#grantedNs += given;
    const startedMs = performance.now();
    for (const p of [...this.#processes]) p.advance(given);
    this.#busyNs += (performance.now() - startedMs) * 1e6;
  }
}
