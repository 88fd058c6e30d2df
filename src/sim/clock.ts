// The clock every guest, device and link runs on. Two kinds with one
// interface: a discrete-event Timeline (simulated time: nothing waits, time
// jumps; results are reproducible) and the WallClock (real I/O paths: TCP,
// files). Processes (vCPUs running workloads) are attached to a clock and
// run whenever time passes; events are scheduled at a time.

/** Something that runs continuously as time passes, e.g. a vCPU running its workload. */
export interface TimelineProcess {
  /** Runs for `durationNs` of time (the clock calls it in time order). */
  advance(durationNs: number): void;
}

/** Removes what was attached or scheduled. Idempotent. */
export type Cancel = () => void;

export interface Clock {
  readonly kind: "simulated" | "wall";
  /** Time since the clock started, ns. */
  readonly nowNs: number;
  /** Attaches `process`: it runs, interleaved with the others, whenever time passes. */
  attach(process: TimelineProcess): Cancel;
  /** Runs `fn` once time reaches `atNs` (at once if it has). */
  schedule(atNs: number, fn: () => void): Cancel;
  /**
   * Lets `durationNs` pass: a Timeline advances (processes run, due events
   * fire) and resolves at once; the WallClock waits that long for real, then
   * settles.
   */
  sleep(durationNs: number): Promise<void>;
  /**
   * Brings the processes up to now: the WallClock runs them for the real
   * time since the last settle; a Timeline's are always up to date.
   */
  settle(): void;
}
