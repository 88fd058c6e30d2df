// Options of the memory scheduler and of each VM it manages, resolved once
// and frozen; unknown keys and bad values are typed errors naming them.
// Defaults and their sources (docs/overcommit.md has the table):
//   idleTax 0.75           ESX Mem.IdleTax 75 (Waldspurger OSDI'02 §5.3)
//   samplePeriodNs 30 s    Waldspurger §5.4 / ESX Mem.SamplePeriod
//   samplePages 100        Waldspurger §5.4
//   reallocPeriodNs 15 s   ESX reallocation period
//   pollPeriodNs 1 s       ESX balloon driver polls its target once a second
//   balloonMaxFraction .65 ESX Mem.CtlMaxPercent 65
//   thresholds 6/4/2/1 %   Waldspurger §6 free-memory states
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";

/** Free-memory thresholds of the reclamation states, as fractions of host memory. */
export interface FreeThresholds {
  readonly high: number;
  readonly soft: number;
  readonly hard: number;
  readonly low: number;
}

export interface SchedulerOptions {
  /** Idle-memory tax rate τ, 0..0.99. @default 0.75 */
  idleTax?: number;
  /** Working-set sampling period. @default 30e9 (30 s) */
  samplePeriodNs?: number;
  /** Pages sampled per VM per period. @default 100 */
  samplePages?: number;
  /** Reallocation period: how often targets are set. @default 15e9 (15 s) */
  reallocPeriodNs?: number;
  /** How often each balloon driver reads its target and moves toward it. @default 1e9 (1 s) */
  pollPeriodNs?: number;
  /** Pages a balloon driver reserves or releases per second at most. @default 8192 (32 MiB/s) */
  balloonPagesPerSec?: number;
  /** Largest share of a guest's memory its balloon may take. @default 0.65 */
  balloonMaxFraction?: number;
  /** Free-memory thresholds. @default { high: 0.06, soft: 0.04, hard: 0.02, low: 0.01 } */
  thresholds?: Partial<FreeThresholds>;
  /** Free memory above a threshold needed to go back up a state, as a fraction of host memory. @default 0.01 */
  hysteresis?: number;
  /** Weight of the current period in the fast moving average of f. @default 0.5 */
  fastGain?: number;
  /** Weight of the current period in the slow moving average of f. @default 0.125 */
  slowGain?: number;
  /** Simulated stall of a guest major fault (a page read back from the guest's own swap). @default 1e6 (1 ms) */
  guestMajorFaultNs?: number;
  /** Use each VM's true active fraction instead of the sampled estimate (for experiments and tests). @default false */
  trueActiveFraction?: boolean;
  /** Seed of the page sampling. @default 1 */
  seed?: number;
}

export type ResolvedSchedulerOptions = Readonly<Required<Omit<SchedulerOptions, "thresholds">>> & { readonly thresholds: FreeThresholds };

export const SCHEDULER_DEFAULTS = Object.freeze({
  idleTax: 0.75,
  samplePeriodNs: 30e9,
  samplePages: 100,
  reallocPeriodNs: 15e9,
  pollPeriodNs: 1e9,
  balloonPagesPerSec: 8192,
  balloonMaxFraction: 0.65,
  thresholds: Object.freeze({ high: 0.06, soft: 0.04, hard: 0.02, low: 0.01 }),
  hysteresis: 0.01,
  fastGain: 0.5,
  slowGain: 0.125,
  guestMajorFaultNs: 1e6,
  trueActiveFraction: false,
  seed: 1,
});

const HOUR_NS = 3600e9;

export function resolveSchedulerOptions(options: SchedulerOptions = {}): ResolvedSchedulerOptions {
  if (typeof options !== "object" || options === null) {
    throw new HypermemError(ErrorCode.BadOption, `scheduler options must be an object, got ${String(options)}`, { option: "options" });
  }
  rejectUnknown(options, Object.keys(SCHEDULER_DEFAULTS), "MemoryScheduler");
  const d = SCHEDULER_DEFAULTS;
  const t = options.thresholds ?? {};
  rejectUnknown(t, ["high", "soft", "hard", "low"], "MemoryScheduler thresholds");
  const thresholds = Object.freeze({
    high: requireNumber("thresholds.high", t.high ?? d.thresholds.high, 0, 0.5),
    soft: requireNumber("thresholds.soft", t.soft ?? d.thresholds.soft, 0, 0.5),
    hard: requireNumber("thresholds.hard", t.hard ?? d.thresholds.hard, 0, 0.5),
    low: requireNumber("thresholds.low", t.low ?? d.thresholds.low, 0, 0.5),
  });
  if (!(thresholds.high > thresholds.soft && thresholds.soft > thresholds.hard && thresholds.hard > thresholds.low)) {
    throw new HypermemError(ErrorCode.BadOption, `thresholds must fall: high > soft > hard > low, got ${thresholds.high}, ${thresholds.soft}, ${thresholds.hard}, ${thresholds.low}`, { option: "thresholds" });
  }
  const pollPeriodNs = requireInt("pollPeriodNs", options.pollPeriodNs ?? d.pollPeriodNs, 1e6, HOUR_NS);
  const reallocPeriodNs = requireInt("reallocPeriodNs", options.reallocPeriodNs ?? d.reallocPeriodNs, 1e6, HOUR_NS);
  const samplePeriodNs = requireInt("samplePeriodNs", options.samplePeriodNs ?? d.samplePeriodNs, 1e6, HOUR_NS);
  return Object.freeze({
    idleTax: requireNumber("idleTax", options.idleTax ?? d.idleTax, 0, 0.99),
    samplePeriodNs,
    samplePages: requireInt("samplePages", options.samplePages ?? d.samplePages, 1, 1 << 20),
    reallocPeriodNs,
    pollPeriodNs,
    balloonPagesPerSec: requireInt("balloonPagesPerSec", options.balloonPagesPerSec ?? d.balloonPagesPerSec, 1, 2 ** 30),
    balloonMaxFraction: requireNumber("balloonMaxFraction", options.balloonMaxFraction ?? d.balloonMaxFraction, 0, 1),
    thresholds,
    hysteresis: requireNumber("hysteresis", options.hysteresis ?? d.hysteresis, 0, 0.5),
    fastGain: requireNumber("fastGain", options.fastGain ?? d.fastGain, 0.001, 1),
    slowGain: requireNumber("slowGain", options.slowGain ?? d.slowGain, 0.001, 1),
    guestMajorFaultNs: requireInt("guestMajorFaultNs", options.guestMajorFaultNs ?? d.guestMajorFaultNs, 0, 1e9),
    trueActiveFraction: requireBoolean("trueActiveFraction", options.trueActiveFraction ?? d.trueActiveFraction),
    seed: requireInt("seed", options.seed ?? d.seed, 0, 2 ** 32 - 1),
  });
}

function requireBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new HypermemError(ErrorCode.BadOption, `${name} must be true or false, got ${String(value)}`, { option: name, value });
  return value;
}

/** What the scheduler needs to know of one VM. */
export interface ManagedVmOptions {
  /** Proportional shares, an integer ≥ 1. @default 1000 */
  shares?: number;
  /** Pages the VM always keeps (never ballooned below). @default 0 */
  reservationPages?: number;
  /** Pages the VM never gets more than. @default the guest's size */
  limitPages?: number;
}

export interface ResolvedManagedVmOptions {
  readonly shares: number;
  readonly reservationPages: number;
  readonly limitPages: number;
}

/** Checks one VM's shares, reservation and limit against its size (`guestPages`) and the host's frames. */
export function resolveManagedVmOptions(options: ManagedVmOptions, guestPages: number, hostFrames: number, where: string): ResolvedManagedVmOptions {
  if (typeof options !== "object" || options === null) {
    throw new HypermemError(ErrorCode.BadOption, `${where}: options must be an object, got ${String(options)}`, { option: "options" });
  }
  rejectUnknown(options, ["shares", "reservationPages", "limitPages"], where);
  const shares = options.shares ?? 1000;
  if (typeof shares !== "number" || !Number.isSafeInteger(shares) || shares < 1) {
    throw new HypermemError(ErrorCode.BadOption, `${where}: shares must be a whole number of at least 1, got ${String(shares)}`, { option: "shares", value: shares });
  }
  const limitPages = requireInt(`${where}: limitPages`, options.limitPages ?? guestPages, 1, guestPages);
  const reservationPages = requireInt(`${where}: reservationPages`, options.reservationPages ?? 0, 0, limitPages);
  if (reservationPages > hostFrames) {
    throw new HypermemError(ErrorCode.Admission, `${where}: a reservation of ${reservationPages} pages is more than the host's ${hostFrames} frames`, { option: "reservationPages", value: reservationPages, hostFrames });
  }
  return Object.freeze({ shares, reservationPages, limitPages });
}
