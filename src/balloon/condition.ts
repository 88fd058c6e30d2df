// The memory condition of one VM, for the applications inside it (seed T12:
// US 9,250,943). It joins what the guest OS cannot see (the balloon's target
// against its size, the host's reclamation state) with what it can (free
// guest memory), and gives:
//
//   level      normal | low | critical
//   available  the pages an application can count on: guest free memory
//              less what the balloon is still going to take (target − actual)
//   psi        stall figures in the style of Linux PSI (/proc/pressure/memory):
//              some/full avg10 and avg60, % of time the vCPU waited on memory
//
//   critical  available < criticalFraction of the guest, or the host is in
//             its hard or low state and the balloon has pages still to take
//   low       available < lowFraction of the guest, or the host is in its
//             soft state and the balloon has pages still to take
//   normal    otherwise; leaving a level for a better one needs `hysteresis`
//             more of the guest available than its threshold
//
// Applications subscribe to a level: a notification fires when the condition
// enters it, and at most once per `windowNs` (a later update in the level
// delivers what a window held back), like a PSI trigger.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt } from "../options.js";
import type { ReclaimState } from "./reclaim.js";

export type MemoryLevel = "normal" | "low" | "critical";

export interface Psi {
  readonly someAvg10: number;
  readonly someAvg60: number;
  readonly fullAvg10: number;
  readonly fullAvg60: number;
  /** Total stall, µs (PSI's `total`). */
  readonly totalUs: number;
}

export interface MemoryConditionInfo {
  readonly level: MemoryLevel;
  readonly availablePages: number;
  /** What the guest OS alone sees as free. */
  readonly guestFreePages: number;
  readonly balloonTargetPages: number;
  readonly balloonActualPages: number;
  readonly hostState: ReclaimState;
  readonly psi: Psi;
  readonly atNs: number;
}

/** What the condition is computed from at each update. */
export interface ConditionInputs {
  readonly atNs: number;
  readonly guestPages: number;
  readonly guestFreePages: number;
  readonly balloonTargetPages: number;
  readonly balloonActualPages: number;
  readonly hostState: ReclaimState;
  /** Total stall of the guest's vCPU so far, ns. */
  readonly stallNs: number;
}

export interface ConditionOptions {
  /** @default 0.10 */
  lowFraction?: number;
  /** @default 0.02 */
  criticalFraction?: number;
  /** @default 0.02 */
  hysteresis?: number;
}

export interface Subscription {
  /** The level whose entry is notified. */
  readonly level: MemoryLevel;
  /** At most one notification per window. @default 2e9 (2 s; PSI windows are 0.5-10 s) */
  readonly windowNs?: number;
}

type Listener = { readonly level: MemoryLevel; readonly windowNs: number; readonly notify: (info: MemoryConditionInfo) => void; armed: boolean; lastNs: number };

const RANK: Readonly<Record<MemoryLevel, number>> = { normal: 0, low: 1, critical: 2 };

export class MemoryCondition {
  readonly lowFraction: number;
  readonly criticalFraction: number;
  readonly hysteresis: number;
  readonly #listeners: Listener[] = [];
  #info: MemoryConditionInfo | null = null;
  #avg = { some10: 0, some60: 0 };
  #stallNs = 0;

  constructor(options: ConditionOptions = {}) {
    rejectUnknown(options, ["lowFraction", "criticalFraction", "hysteresis"], "MemoryCondition");
    this.lowFraction = fraction("lowFraction", options.lowFraction ?? 0.10);
    this.criticalFraction = fraction("criticalFraction", options.criticalFraction ?? 0.02);
    this.hysteresis = fraction("hysteresis", options.hysteresis ?? 0.02);
    if (!(this.criticalFraction < this.lowFraction)) {
      throw new HypermemError(ErrorCode.BadOption, `criticalFraction (${this.criticalFraction}) must be below lowFraction (${this.lowFraction})`, { option: "criticalFraction", value: this.criticalFraction });
    }
  }

  /** The last update, or null before the first. */
  get info(): MemoryConditionInfo | null { return this.#info; }

  /** Calls `notify` when the condition enters `s.level` (at most once per window). Returns the unsubscriber. */
  subscribe(s: Subscription, notify: (info: MemoryConditionInfo) => void): () => void {
    rejectUnknown(s, ["level", "windowNs"], "subscribe");
    if (!(s.level in RANK)) throw new HypermemError(ErrorCode.BadOption, `level must be normal, low or critical, got ${JSON.stringify(s.level)}`, { option: "level", value: s.level });
    const windowNs = requireInt("windowNs", s.windowNs ?? 2e9, 1, Number.MAX_SAFE_INTEGER);
    const l: Listener = { level: s.level, windowNs, notify, armed: true, lastNs: -Infinity };
    this.#listeners.push(l);
    return () => {
      const at = this.#listeners.indexOf(l);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  /** Recomputes the condition from `x` and delivers due notifications. */
  update(x: ConditionInputs): MemoryConditionInfo {
    const previous = this.#info;
    const elapsedNs = previous === null ? 0 : x.atNs - previous.atNs;
    const stalled = Math.max(0, x.stallNs - this.#stallNs);
    this.#stallNs = x.stallNs;
    if (elapsedNs > 0) {
      const share = Math.min(1, stalled / elapsedNs) * 100;
      const decay = (windowNs: number) => Math.exp(-elapsedNs / windowNs);
      this.#avg.some10 = this.#avg.some10 * decay(10e9) + share * (1 - decay(10e9));
      this.#avg.some60 = this.#avg.some60 * decay(60e9) + share * (1 - decay(60e9));
    }
    const pending = Math.max(0, x.balloonTargetPages - x.balloonActualPages);
    const availablePages = Math.max(0, x.guestFreePages - pending);
    const level = this.#level(previous?.level ?? "normal", availablePages / x.guestPages, pending > 0, x.hostState);
    // One vCPU per guest here: when it stalls, every task does, so full equals some.
    const psi = Object.freeze({ someAvg10: this.#avg.some10, someAvg60: this.#avg.some60, fullAvg10: this.#avg.some10, fullAvg60: this.#avg.some60, totalUs: Math.round(x.stallNs / 1e3) });
    const info: MemoryConditionInfo = Object.freeze({
      level, availablePages, guestFreePages: x.guestFreePages, balloonTargetPages: x.balloonTargetPages,
      balloonActualPages: x.balloonActualPages, hostState: x.hostState, psi, atNs: x.atNs,
    });
    this.#info = info;
    for (const l of this.#listeners) {
      if (level !== l.level) {
        l.armed = true;
      } else if (l.armed && x.atNs - l.lastNs >= l.windowNs) {
        l.armed = false;
        l.lastNs = x.atNs;
        l.notify(info);
      }
    }
    return info;
  }

  #level(previous: MemoryLevel, availableFraction: number, balloonGrowing: boolean, hostState: ReclaimState): MemoryLevel {
    const by = (margin: number): MemoryLevel => {
      if (availableFraction < this.criticalFraction + margin || (balloonGrowing && (hostState === "hard" || hostState === "low"))) return "critical";
      if (availableFraction < this.lowFraction + margin || (balloonGrowing && hostState === "soft")) return "low";
      return "normal";
    };
    const worse = by(0);
    if (RANK[worse] >= RANK[previous]) return worse;
    const withHysteresis = by(this.hysteresis);
    return RANK[withHysteresis] < RANK[previous] ? withHysteresis : previous;
  }
}

function fraction(name: string, value: unknown): number {
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new HypermemError(ErrorCode.BadOption, `${name} must be a fraction in [0, 1], got ${String(value)}`, { option: name, value });
  }
  return value;
}
