// Reclamation states by free host memory (Waldspurger OSDI'02 §6), and the
// seam where the reclamation steps after ballooning plug in (src/host/reclaim-step.ts).
//
//   free ≥ high ....................... high: nothing reclaimed
//   soft ≤ free < high  (default 4-6 %) soft: ballooning toward the targets
//   hard ≤ free < soft  (2-4 %)         hard: ballooning, then the steps below
//           free < hard (< 2 %)         low:  the same; at `low` (1 %) free, a
//                                             frame is handed out only when a
//                                             step frees one: else the host is
//                                             over-committed (ERR_HOST_OVERCOMMITTED)
//
// Falling, the state follows free memory at once; rising, it goes back up one
// state only when free memory is `hysteresis` above that state's threshold.
import type { ReclaimState } from "../host/reclaim-step.js";
import type { FreeThresholds } from "./options.js";

// The step interface lives with the host (both swap and this scheduler use it).
export type { ReclaimContext, ReclaimState, ReclaimStep } from "../host/reclaim-step.js";

const ORDER: readonly ReclaimState[] = ["high", "soft", "hard", "low"];

/** The lower free-memory bound of each state but the last. */
function floorOf(state: ReclaimState, t: FreeThresholds): number {
  return state === "high" ? t.high : state === "soft" ? t.soft : state === "hard" ? t.hard : 0;
}

/** The state for `freeFraction` of host memory free, from `previous`, with hysteresis on the way up. */
export function nextState(previous: ReclaimState, freeFraction: number, t: FreeThresholds, hysteresis: number): ReclaimState {
  let at = ORDER.indexOf(previous);
  while (at < ORDER.length - 1 && freeFraction < floorOf(ORDER[at], t)) at++;
  while (at > 0 && freeFraction >= floorOf(ORDER[at - 1], t) + hysteresis) at--;
  return ORDER[at];
}

/** Index of a state, 0 (high) to 3 (low): a number for time series and comparisons. */
export function stateLevel(state: ReclaimState): number { return ORDER.indexOf(state); }
