// Alternating rounds of one bench case: after the case verified both
// implementations, each round times wasm and its TypeScript reference back to
// back, wasm first in even rounds and ts first in odd ones, so load that comes
// and goes on the machine falls on both sides of most ratios. An
// implementation's time in a round is the median of its passes in that round.
//
// The pass loop is here rather than in tinybench because a round must be
// bounded in wall time: tinybench counts only the timed work toward its time
// budget, so a case whose untimed `beforeEach` costs more than its pass (the
// dirty harvests re-dirty 26,214 entries before each pass) ran for many times
// the budget. Warm-up happens once per case, before the first round: the
// closures are the same in every round, so their JIT state carries over.
import type { BenchCase, BenchImpl } from "./case.js";
import { median } from "./stats.js";

/** One round: milliseconds per pass of each implementation (the round's median). */
export interface RoundSample {
  readonly wasmMsPerPass: number;
  readonly tsMsPerPass: number;
}

export interface RoundOptions {
  /** Timed rounds. */
  readonly rounds: number;
  /** Wall-time budget of each implementation in each round, ms, untimed steps included; at least one pass runs. */
  readonly timeMs: number;
}

/** Warm-up budget per implementation, before the first round, ms (at least one pass runs). */
const WARMUP_MS = 200;

/** The wasm/ts ratio of one round: how many times faster wasm ran (> 1 = wasm ahead). */
export const roundRatio = (r: RoundSample): number => r.tsMsPerPass / r.wasmMsPerPass;

/** Runs passes of `impl` until `budgetMs` of wall time has gone (at least one); returns the ms of each pass. */
function timePasses(impl: BenchImpl, budgetMs: number): number[] {
  const passMs: number[] = [];
  const start = performance.now();
  do {
    impl.beforeEach?.();
    const t0 = performance.now();
    impl.run();
    passMs.push(performance.now() - t0);
  } while (performance.now() - start < budgetMs);
  return passMs;
}

/** Times one round of `wasm` and `ts`, in the order `wasmFirst` says. */
function timeRound(wasm: BenchImpl, ts: BenchImpl, wasmFirst: boolean, timeMs: number): RoundSample {
  const first = median(timePasses(wasmFirst ? wasm : ts, timeMs));
  const second = median(timePasses(wasmFirst ? ts : wasm, timeMs));
  return wasmFirst ? { wasmMsPerPass: first, tsMsPerPass: second } : { wasmMsPerPass: second, tsMsPerPass: first };
}

/** Sets up and verifies `c`, warms both implementations up, then times `options.rounds` alternating rounds. */
export function measureRounds(c: BenchCase, options: RoundOptions): RoundSample[] {
  const { wasm, ts, verify, teardown } = c.setup();
  verify();
  timePasses(wasm, Math.min(WARMUP_MS, options.timeMs));
  timePasses(ts, Math.min(WARMUP_MS, options.timeMs));
  const samples: RoundSample[] = [];
  for (let round = 0; round < options.rounds; round++) {
    samples.push(timeRound(wasm, ts, round % 2 === 0, options.timeMs));
  }
  teardown?.();
  return samples;
}
