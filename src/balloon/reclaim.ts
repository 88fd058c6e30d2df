// Reclamation states by free host memory (Waldspurger OSDI'02 §6), and the
// seam where the reclamation steps after ballooning plug in.
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
import type { FreeThresholds } from "./options.js";

export type ReclaimState = "high" | "soft" | "hard" | "low";

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

/**
 * A reclamation step the scheduler runs after ballooning, in order (ESX:
 * sharing, ballooning, compression, swapping). Hypervisor swap (src/swap)
 * plugs in here: it is given the frames still wanted and returns how many it
 * freed. `reclaim` is called every poll period in the hard and low states,
 * and synchronously when a guest needs a frame at the low threshold. A step
 * that brings pages back itself (swap-in) calls MemoryScheduler.makeRoom(1)
 * before it takes the frame, as first touches do.
 */
export interface ReclaimStep {
  readonly name: string;
  /** Frees up to `frames` host frames now (taking pages from the VMs above their targets first). Returns the frames freed. */
  reclaim(frames: number, ctx: ReclaimContext): number;
}

/** What a reclamation step may know: each VM's allocation target against what it holds. */
export interface ReclaimContext {
  readonly vms: readonly { readonly vmId: number; readonly targetPages: number; readonly residentPages: number }[];
  readonly state: ReclaimState;
}
