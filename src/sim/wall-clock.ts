// WallClock: the Clock of the real-I/O paths (TCP between processes,
// files). Time is performance.now() since the clock was made; attached
// processes run, on settle(), for the real time that passed since the last
// settle, so a guest's workload keeps its rate in wall-clock time; events
// are timers.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Cancel, Clock, TimelineProcess } from "./clock.js";

export class WallClock implements Clock {
  readonly kind = "wall" as const;
  readonly #startMs = performance.now();
  readonly #processes: TimelineProcess[] = [];
  #settledNs = 0;

  get nowNs(): number { return (performance.now() - this.#startMs) * 1e6; }

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
    if (dt > 0) for (const p of [...this.#processes]) p.advance(dt);
  }
}
