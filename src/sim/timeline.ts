// Timeline: the discrete-event clock. Time moves only when someone advances
// it (a link putting bytes on the wire, a device serving a request, a test).
// Attached processes run in quanta: within each quantum every process runs,
// in the order they were attached, so several VMs on one host interleave
// deterministically from their seeds; events fire at their time, in time
// order, ties in the order they were scheduled.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Cancel, Clock, TimelineProcess } from "./clock.js";

export interface TimelineOptions {
  /** Longest slice a process runs before the next one gets its turn, ns. @default 1_000_000 (1 ms, a scheduler tick) */
  quantumNs?: number;
}

interface Event {
  readonly atNs: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class Timeline implements Clock {
  readonly kind = "simulated" as const;
  readonly quantumNs: number;
  #nowNs = 0;
  readonly #processes: TimelineProcess[] = [];
  readonly #events: Event[] = [];
  #advancing = false;

  constructor(options: TimelineOptions = {}) {
    const q = options.quantumNs ?? 1e6;
    if (typeof q !== "number" || !Number.isFinite(q) || q <= 0) {
      throw new HypermemError(ErrorCode.BadOption, `quantumNs must be a positive number of ns, got ${String(q)}`, { option: "quantumNs", value: q });
    }
    this.quantumNs = q;
  }

  get nowNs(): number { return this.#nowNs; }

  /** Events not yet fired. */
  get pendingEvents(): number { return this.#events.filter((e) => !e.cancelled).length; }

  attach(process: TimelineProcess): Cancel {
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
    const event: Event = { atNs: Math.max(atNs, this.#nowNs), fn, cancelled: false };
    let i = this.#events.length;
    while (i > 0 && (this.#events[i - 1].atNs > event.atNs)) i--;
    this.#events.splice(i, 0, event);
    return () => { event.cancelled = true; };
  }

  /** Advances time by `durationNs`: processes run in quanta, events fire at their time. */
  advance(durationNs: number): void {
    if (typeof durationNs !== "number" || !Number.isFinite(durationNs) || durationNs < 0) {
      throw new HypermemError(ErrorCode.BadOption, `a timeline advances by a finite number of ns >= 0, got ${String(durationNs)}`, { option: "durationNs", value: durationNs });
    }
    this.#run(durationNs);
  }

  /** Advances time to `targetNs` (nothing happens when it has passed). */
  runUntil(targetNs: number): void {
    if (typeof targetNs !== "number" || Number.isNaN(targetNs)) {
      throw new HypermemError(ErrorCode.BadOption, `runUntil takes a time in ns, got ${String(targetNs)}`, { option: "targetNs", value: targetNs });
    }
    if (targetNs > this.#nowNs) this.advance(targetNs - this.#nowNs);
  }

  /** Advances by `durationNs`, split at event times (processes get exactly the durations between). */
  #run(durationNs: number): void {
    if (this.#advancing) {
      throw new HypermemError(ErrorCode.BadOption, "the timeline is already advancing (a process or event tried to advance it)", {});
    }
    this.#advancing = true;
    try {
      const targetNs = this.#nowNs + durationNs;
      let remaining = durationNs;
      for (let next = this.#nextEvent(); next !== null && next.atNs < targetNs; next = this.#nextEvent()) {
        const step = next.atNs - this.#nowNs;
        this.#runProcesses(step);
        remaining -= step;
        this.#nowNs = next.atNs;
        this.#fireDue();
      }
      this.#runProcesses(remaining);
      this.#nowNs = targetNs;
      this.#fireDue();
    } finally {
      this.#advancing = false;
    }
  }

  /** Advances until no event is left (processes run meanwhile); returns the time reached. */
  runUntilIdle(): number {
    for (let next = this.#nextEvent(); next !== null; next = this.#nextEvent()) this.advance(Math.max(0, next.atNs - this.#nowNs));
    return this.#nowNs;
  }

  async sleep(durationNs: number): Promise<void> { this.advance(durationNs); }

  settle(): void {}

  #nextEvent(): Event | null {
    while (this.#events.length > 0 && this.#events[0].cancelled) this.#events.shift();
    return this.#events[0] ?? null;
  }

  /** Runs every process for `durationNs`, one quantum at a time (now moves with the quanta). */
  #runProcesses(durationNs: number): void {
    const start = this.#nowNs;
    for (let done = 0; done < durationNs;) {
      const slice = Math.min(this.quantumNs, durationNs - done);
      for (const p of [...this.#processes]) p.advance(slice);
      done += slice;
      this.#nowNs = start + done;
    }
  }

  #fireDue(): void {
    for (let e = this.#nextEvent(); e !== null && e.atNs <= this.#nowNs; e = this.#nextEvent()) {
      this.#events.shift();
      e.fn();
    }
  }
}
