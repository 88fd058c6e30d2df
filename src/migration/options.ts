// Migration options with their reference defaults (QEMU migration/options.c,
// Xen xc_domain_save), resolved once into a frozen object.
import { ErrorCode, HypermemError } from "../errors.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { LinkModel } from "../sim/link.js";
import { Timeline } from "../sim/timeline.js";
import type { MigrationProgress } from "./stats.js";

export interface AutoConvergeOptions {
  /** Dirty bytes in a ≥1 s period above this share of the bytes sent count as "too fast". @default 50 */
  triggerThresholdPct?: number;
  /** First throttle. @default 20 */
  initialPct?: number;
  /** Added at each later step. @default 10 */
  incrementPct?: number;
  /** Ceiling. @default 99 */
  maxPct?: number;
}

export interface MigrationOptions {
  /** Link rate, bytes/s. @default 1.25e9 (10 Gbit/s) */
  bandwidthBytesPerSec?: number;
  /** One-way link latency, ns. @default 100_000 (0.1 ms) */
  latencyNs?: number;
  /** Cap on the migration's share of the link (QEMU max-bandwidth), bytes/s. @default none */
  maxBandwidthBytesPerSec?: number | null;
  /** Stop rule: QEMU's switchover on expected downtime, or Xen's round/volume/page-count rules. @default "qemu" */
  policy?: "qemu" | "xen";
  /** QEMU downtime-limit: the stop-and-copy may take at most this long, ns. @default 300 ms */
  downtimeLimitNs?: number;
  /** QEMU auto-converge: throttle the guest while it dirties faster than the link drains. @default false */
  autoConverge?: boolean | AutoConvergeOptions;
  /** Send all-zero pages as 8-byte ZERO records (QEMU "duplicate" pages). @default true */
  zeroPageDetection?: boolean;
  /** XBZRLE delta encoding against a page cache of this many bytes (a power-of-two number of pages), or false. @default false */
  xbzrleCacheBytes?: number | false;
  /** Source CPU time to XBZRLE-encode one page, ns (QEMU quotes 2-2.5 GB/s). @default 1800 */
  xbzrleEncodeNsPerPage?: number;
  /** Give up (status "cancelled", source keeps running) after this many precopy rounds. @default none */
  maxRounds?: number | null;
  /** Give up after this much time (simulated in-process, wall-clock over TCP), ns. @default none */
  maxTotalTimeNs?: number | null;
  /** The guest's running workload (on the migrating VM): it runs concurrently, in simulated time in-process and in wall-clock time over TCP. */
  workload?: GuestWorkload | null;
  /** Compare destination and source memory page by page at the end. @default true */
  verify?: boolean;
  /** Called after every chunk with the current state. */
  onProgress?: ((p: MigrationProgress) => void) | null;
  /**
   * In-process: the timeline the migration runs on, shared with other guests
   * and devices (their processes run while it sends). @default a new Timeline
   */
  timeline?: Timeline | null;
  /** Aborting cancels the migration (status "cancelled", the source guest intact and running). */
  signal?: AbortSignal | null;
}

export interface ResolvedAutoConverge {
  readonly triggerThresholdPct: number;
  readonly initialPct: number;
  readonly incrementPct: number;
  readonly maxPct: number;
}

export interface ResolvedMigrationOptions {
  /** The simulated link's model (in-process; over TCP the link is measured and only its cap applies). */
  readonly link: LinkModel;
  readonly policy: "qemu" | "xen";
  readonly downtimeLimitNs: number;
  readonly autoConverge: ResolvedAutoConverge | null;
  readonly zeroPageDetection: boolean;
  readonly xbzrleCacheBytes: number | null;
  readonly xbzrleEncodeNsPerPage: number;
  readonly maxRounds: number | null;
  readonly maxTotalTimeNs: number | null;
  readonly workload: GuestWorkload | null;
  readonly verify: boolean;
  readonly onProgress: ((p: MigrationProgress) => void) | null;
  readonly timeline: Timeline | null;
  readonly signal: AbortSignal | null;
}

export const MIGRATION_DEFAULTS = Object.freeze({
  bandwidthBytesPerSec: 1.25e9,
  latencyNs: 100_000,
  downtimeLimitNs: 300e6,
  xbzrleCacheBytes: 64 * 2 ** 20,
  xbzrleEncodeNsPerPage: 1800,
  autoConverge: Object.freeze({ triggerThresholdPct: 50, initialPct: 20, incrementPct: 10, maxPct: 99 }),
});

/** Xen xc_domain_save limits. */
export const XEN_MAX_ROUNDS = 30;
export const XEN_MAX_FACTOR = 3;
export const XEN_MIN_PAGES = 50;

const KEYS = [
  "bandwidthBytesPerSec", "latencyNs", "maxBandwidthBytesPerSec", "policy", "downtimeLimitNs", "autoConverge",
  "zeroPageDetection", "xbzrleCacheBytes", "xbzrleEncodeNsPerPage", "maxRounds", "maxTotalTimeNs", "workload",
  "verify", "onProgress", "timeline", "signal",
];

function resolveAutoConverge(o: boolean | AutoConvergeOptions | undefined): ResolvedAutoConverge | null {
  if (!o) return null;
  const d = MIGRATION_DEFAULTS.autoConverge;
  if (o === true) return d;
  rejectUnknown(o, ["triggerThresholdPct", "initialPct", "incrementPct", "maxPct"], "autoConverge");
  const r = {
    triggerThresholdPct: requireNumber("autoConverge.triggerThresholdPct", o.triggerThresholdPct ?? d.triggerThresholdPct, 1, 100),
    initialPct: requireInt("autoConverge.initialPct", o.initialPct ?? d.initialPct, 1, 99),
    incrementPct: requireInt("autoConverge.incrementPct", o.incrementPct ?? d.incrementPct, 1, 99),
    maxPct: requireInt("autoConverge.maxPct", o.maxPct ?? d.maxPct, 1, 99),
  };
  if (r.initialPct > r.maxPct) {
    throw new HypermemError(ErrorCode.BadOption, `autoConverge.initialPct ${r.initialPct} exceeds maxPct ${r.maxPct}`, { initialPct: r.initialPct });
  }
  return Object.freeze(r);
}

export function resolveMigrationOptions(o: MigrationOptions = {}): ResolvedMigrationOptions {
  if (typeof o !== "object" || o === null) {
    throw new HypermemError(ErrorCode.BadOption, `migrate: options must be an object, got ${String(o)}`, { option: "options" });
  }
  rejectUnknown(o, KEYS, "migrate");
  if (o.timeline != null && !(o.timeline instanceof Timeline)) {
    throw new HypermemError(ErrorCode.BadOption, "timeline must be a Timeline (src/sim/timeline.ts)", { option: "timeline" });
  }
  const policy = o.policy ?? "qemu";
  if (policy !== "qemu" && policy !== "xen") {
    throw new HypermemError(ErrorCode.BadOption, `policy must be "qemu" or "xen", got ${JSON.stringify(policy)}`, { option: "policy", value: policy });
  }
  const cap = o.maxBandwidthBytesPerSec ?? null;
  const cacheBytes = o.xbzrleCacheBytes === undefined || o.xbzrleCacheBytes === false ? null : o.xbzrleCacheBytes;
  if (cacheBytes !== null) {
    const pages = cacheBytes / 4096;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0 || pages > 2 ** 20) {
      throw new HypermemError(ErrorCode.BadOption, `xbzrleCacheBytes must be a power-of-two number of 4 KiB pages (up to 4 GiB), got ${cacheBytes}`, { option: "xbzrleCacheBytes", value: cacheBytes });
    }
  }
  return Object.freeze({
    link: Object.freeze({
      bandwidthBytesPerSec: requireNumber("bandwidthBytesPerSec", o.bandwidthBytesPerSec ?? MIGRATION_DEFAULTS.bandwidthBytesPerSec, 1, 1e15),
      latencyNs: requireNumber("latencyNs", o.latencyNs ?? MIGRATION_DEFAULTS.latencyNs, 0, 60e9),
      maxBandwidthBytesPerSec: cap === null ? null : requireNumber("maxBandwidthBytesPerSec", cap, 1, 1e15),
    }),
    policy,
    downtimeLimitNs: requireNumber("downtimeLimitNs", o.downtimeLimitNs ?? MIGRATION_DEFAULTS.downtimeLimitNs, 1, 3600e9),
    autoConverge: resolveAutoConverge(o.autoConverge),
    zeroPageDetection: o.zeroPageDetection ?? true,
    xbzrleCacheBytes: cacheBytes,
    xbzrleEncodeNsPerPage: requireNumber("xbzrleEncodeNsPerPage", o.xbzrleEncodeNsPerPage ?? MIGRATION_DEFAULTS.xbzrleEncodeNsPerPage, 0, 1e9),
    maxRounds: o.maxRounds == null ? null : requireInt("maxRounds", o.maxRounds, 1, 1e6),
    maxTotalTimeNs: o.maxTotalTimeNs == null ? null : requireNumber("maxTotalTimeNs", o.maxTotalTimeNs, 1, Number.MAX_SAFE_INTEGER),
    workload: o.workload ?? null,
    verify: o.verify ?? true,
    onProgress: o.onProgress ?? null,
    timeline: o.timeline ?? null,
    signal: o.signal ?? null,
  });
}
