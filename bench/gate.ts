// The bench gate: where a case's gate comes from and how one run is judged.
//
//   ratio of a round = wasm passes/s ÷ TypeScript reference passes/s
//   one run          = R alternating rounds; judged by the MEDIAN of its R ratios
//   gate (calibrated)= p5 of many rounds (several runs, idle and loaded) ÷ 1.25,
//                      rounded down to 2 significant digits
//   2x guarantee     = the gate must be above median ÷ 2, so the same kernel
//                      made 2x slower, whose ratios are halved, is under it
//
// A run passes when its median ratio is at or above the gate; min and max of
// its rounds are shown, never judged, so one bad round cannot fail a run.
import { ErrorCode, HypermemError } from "../src/errors.js";
import { median, type Spread } from "./stats.js";

/** The calibrated gate is the observed 5th percentile divided by this. */
export const GATE_MARGIN_FACTOR = 1.25;
/** A kernel made this many times slower must fail its gate. */
export const CAUGHT_SLOWDOWN = 2;

/** `x` > 0 rounded down to `digits` significant digits (2.634 -> 2.6, 376.2 -> 370). */
export function floorSignificant(x: number, digits: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new HypermemError(ErrorCode.BadOption, `cannot round ${x}: not a positive finite number`, { value: x });
  const step = 10 ** (Math.floor(Math.log10(x)) - digits + 1);
  return Number((Math.floor(x / step) * step).toPrecision(digits));
}

/** A gate derived from observed ratios, and whether it keeps the 2x guarantee. */
export interface GateDerivation {
  /** floorSignificant(p5 / GATE_MARGIN_FACTOR, 2). */
  readonly gate: number;
  /** median / CAUGHT_SLOWDOWN: a 2x slower kernel's median ratio; the gate must be above it. */
  readonly slowdownMedian: number;
  /** gate > slowdownMedian. */
  readonly catchesSlowdown: boolean;
}

/** The gate for ratios whose spread over many rounds is `observed`. */
export function deriveGate(observed: Spread): GateDerivation {
  const gate = floorSignificant(observed.p5 / GATE_MARGIN_FACTOR, 2);
  const slowdownMedian = observed.median / CAUGHT_SLOWDOWN;
  return Object.freeze({ gate, slowdownMedian, catchesSlowdown: gate > slowdownMedian });
}

/**
 * Under `calibrate --write --lower-only`: whether the committed gate stays
 * (true) or this machine's derived gate replaces it. A gate is lowered where
 * another machine needs it and never raised, so it still holds on the
 * machines it was calibrated on before; a case without a gate gets one.
 */
export function keepsCommittedGate(committedGate: number | undefined, derivedGate: number): boolean {
  return committedGate !== undefined && committedGate <= derivedGate;
}

/** The judgement of one run of one case. */
export type GateVerdict =
  | {
      readonly status: "pass" | "fail";
      readonly median: number;
      readonly min: number;
      readonly max: number;
      readonly gate: number;
      /** median / gate - 1: how far above (> 0) or below (< 0) the gate the median is. */
      readonly margin: number;
    }
  | { readonly status: "ungated"; readonly median: number; readonly min: number; readonly max: number };

/** Judges a run's per-round ratios against `gate` (undefined: no gate recorded for the case). */
export function judgeRatios(ratios: readonly number[], gate: number | undefined): GateVerdict {
  const mid = median(ratios);
  const min = Math.min(...ratios);
  const max = Math.max(...ratios);
  if (gate === undefined) return Object.freeze({ status: "ungated", median: mid, min, max });
  if (!(gate > 0) || !Number.isFinite(gate)) throw new HypermemError(ErrorCode.BadOption, `gate ${gate} is not a positive finite number`, { gate });
  return Object.freeze({ status: mid >= gate ? "pass" : "fail", median: mid, min, max, gate, margin: mid / gate - 1 });
}
