// Options of quasi-lockstep fault tolerance (COLO-style output comparison),
// resolved once into a frozen object: unknown keys refused, every value
// checked against a plausible range and refused naming the option and the
// value. Defaults and their sources are in docs/lockstep.md: the compare
// timeout (3000 ms), queue bound (1024 packets) and periodic checkpoint
// (x-checkpoint-delay, 20 s) are QEMU COLO's.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import type { WorkloadOptions } from "../host/workload.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { LinkModel } from "../sim/link.js";

export interface LockstepOptions {
  /** The workload both copies run (same options, same seed). @default hotcold 0.1/0.9, 200,000 accesses/s */
  workload?: WorkloadOptions;
  /** Simulated time run after the initial synchronisation, ms. @default 1000 */
  durationMs?: number;
  /** Nondeterministic events per second of guest time (timer reads, interrupt timing, I/O completion order), each on one copy only. @default 0 */
  nondeterminismPerSec?: number;
  /** Output packets each copy emits per second. @default 1000 */
  packetsPerSec?: number;
  /** Payload bytes of a packet (read from the connection's transmit ring). @default 256 */
  packetBytes?: number;
  /** Connections the packets are spread over (compared separately). @default 4 */
  connections?: number;
  /** Pages of each connection's transmit ring (at the top of guest memory). @default 4 */
  ringPages?: number;
  /** A primary packet with no secondary counterpart this long forces a checkpoint, ms (COLO compare_timeout). @default 3000 */
  compareTimeoutMs?: number;
  /** A connection's queue holding this many packets forces a checkpoint (COLO MAX_QUEUE_SIZE). @default 1024 */
  maxQueuePackets?: number;
  /** Longest time between two checkpoints, ms (COLO x-checkpoint-delay). @default 20000 */
  checkpointDelayMs?: number;
  /** The primary fails at this time, ms after the initial synchronisation; null: it does not. @default null */
  failAtMs?: number | null;
  /** Interval of the primary's heartbeats, ms. @default 10 */
  heartbeatIntervalMs?: number;
  /** The secondary declares the primary dead after this long without a heartbeat, ms. @default 100 */
  heartbeatTimeoutMs?: number;
  /** The link between the hosts. @default 1 Gbit/s, 100 µs one way */
  link?: Partial<LinkModel>;
  /** Fixed cost of a checkpoint's stop (suspend, dirty-log sync, resume), µs. @default 100 */
  pauseFixedUs?: number;
  /** Memory copy rate (primary staging, secondary flush), bytes/s. @default 2e9 */
  copyBytesPerSec?: number;
  /** Send re-dirtied pages as XBZRLE deltas against the version the secondary confirmed. @default true */
  diffs?: boolean;
  /** Pages of the primary's cache of confirmed versions. @default 8192 */
  diffCachePages?: number;
  /** Largest chunk payload of the resync stream, bytes. @default 65536 */
  chunkPayloadBytes?: number;
  /** Seed of the packets' connections and of the nondeterministic events. @default 1 */
  seed?: number;
  /** Resync attempts (0 = the initial synchronisation) whose stream is damaged on the wire (fault injection). @default [] */
  damageResyncs?: readonly number[];
  /** Called after each flush into the secondary, before it is verified (tests use it to break the secondary). */
  onFlushed?: (resync: number, secondary: Vm) => void;
  /** Called once per simulated second with the progress so far. */
  onProgress?: (p: LockstepProgress) => void;
}

export interface LockstepProgress {
  readonly elapsedMs: number;
  readonly checkpoints: number;
  readonly compared: number;
  readonly released: number;
}

export interface ResolvedLockstepOptions {
  readonly workload: WorkloadOptions;
  readonly durationNs: number;
  readonly nondeterminismPerSec: number;
  readonly packetsPerSec: number;
  readonly packetBytes: number;
  readonly connections: number;
  readonly ringPages: number;
  readonly compareTimeoutNs: number;
  readonly maxQueuePackets: number;
  readonly checkpointDelayNs: number;
  readonly failAtNs: number | null;
  readonly heartbeatIntervalNs: number;
  readonly heartbeatTimeoutNs: number;
  readonly link: Readonly<LinkModel>;
  readonly pauseFixedNs: number;
  readonly copyBytesPerSec: number;
  readonly diffs: boolean;
  readonly diffCachePages: number;
  readonly chunkPayloadBytes: number;
  readonly seed: number;
  readonly damageResyncs: ReadonlySet<number>;
  readonly onFlushed: LockstepOptions["onFlushed"] | null;
  readonly onProgress: LockstepOptions["onProgress"] | null;
}

export const LOCKSTEP_DEFAULTS = Object.freeze({
  workload: Object.freeze({ kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9, ratePerSec: 200_000 }) as WorkloadOptions,
  durationMs: 1000,
  packetsPerSec: 1000,
  packetBytes: 256,
  connections: 4,
  ringPages: 4,
  compareTimeoutMs: 3000,
  maxQueuePackets: 1024,
  checkpointDelayMs: 20_000,
  heartbeatIntervalMs: 10,
  heartbeatTimeoutMs: 100,
  bandwidthBytesPerSec: 125_000_000,
  latencyNs: 100_000,
  pauseFixedUs: 100,
  copyBytesPerSec: 2e9,
  diffCachePages: 8192,
  chunkPayloadBytes: 65_536,
});

const KEYS = [
  "workload", "durationMs", "nondeterminismPerSec", "packetsPerSec", "packetBytes", "connections", "ringPages", "compareTimeoutMs",
  "maxQueuePackets", "checkpointDelayMs", "failAtMs", "heartbeatIntervalMs", "heartbeatTimeoutMs", "link", "pauseFixedUs",
  "copyBytesPerSec", "diffs", "diffCachePages", "chunkPayloadBytes", "seed", "damageResyncs", "onFlushed", "onProgress",
];

const bad = (option: string, value: unknown, rule: string): HypermemError =>
  new HypermemError(ErrorCode.BadOption, `${option} must be ${rule}, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`, { option, value });

function hook<T>(name: string, value: T | undefined): T | null {
  if (value === undefined) return null;
  if (typeof value !== "function") throw bad(name, typeof value, "a function");
  return value;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw bad(name, value, "true or false");
  return value;
}

function resolveLink(link: Partial<LinkModel> = {}): Readonly<LinkModel> {
  if (typeof link !== "object" || link === null) throw bad("link", link, "an object");
  rejectUnknown(link, ["bandwidthBytesPerSec", "latencyNs", "maxBandwidthBytesPerSec"], "lockstep link");
  return Object.freeze({
    bandwidthBytesPerSec: requireNumber("link.bandwidthBytesPerSec", link.bandwidthBytesPerSec ?? LOCKSTEP_DEFAULTS.bandwidthBytesPerSec, 1e3, 1e12),
    latencyNs: requireNumber("link.latencyNs", link.latencyNs ?? LOCKSTEP_DEFAULTS.latencyNs, 0, 10e9),
    maxBandwidthBytesPerSec: null,
  });
}

function resolveDamage(value: unknown): ReadonlySet<number> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) throw bad("damageResyncs", value, "an array of resync attempt numbers");
  return new Set(value.map((v, i) => requireInt(`damageResyncs[${i}]`, v, 0, 1e6)));
}

/** Checks and defaults every option; the result is frozen. */
export function resolveLockstepOptions(o: LockstepOptions = {}): ResolvedLockstepOptions {
  if (typeof o !== "object" || o === null) throw bad("lockstep options", o, "an object");
  rejectUnknown(o, KEYS, "lockstep");
  const durationMs = requireNumber("durationMs", o.durationMs ?? LOCKSTEP_DEFAULTS.durationMs, 1, 3_600_000);
  const packetBytes = requireInt("packetBytes", o.packetBytes ?? LOCKSTEP_DEFAULTS.packetBytes, 8, 65_536);
  const ringPages = requireInt("ringPages", o.ringPages ?? LOCKSTEP_DEFAULTS.ringPages, 1, 4096);
  if (packetBytes > ringPages * 4096) {
    throw new HypermemError(ErrorCode.BadOption, `packetBytes (${packetBytes}) must fit a transmit ring of ringPages (${ringPages}) pages`, { option: "packetBytes", value: packetBytes });
  }
  const heartbeatIntervalMs = requireNumber("heartbeatIntervalMs", o.heartbeatIntervalMs ?? LOCKSTEP_DEFAULTS.heartbeatIntervalMs, 0.1, 60_000);
  const heartbeatTimeoutMs = requireNumber("heartbeatTimeoutMs", o.heartbeatTimeoutMs ?? LOCKSTEP_DEFAULTS.heartbeatTimeoutMs, 0.1, 600_000);
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw new HypermemError(ErrorCode.BadOption, `heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be longer than heartbeatIntervalMs (${heartbeatIntervalMs})`, { option: "heartbeatTimeoutMs", value: heartbeatTimeoutMs });
  }
  const failAtMs = o.failAtMs ?? null;
  const workload = o.workload ?? LOCKSTEP_DEFAULTS.workload;
  if (typeof workload !== "object" || workload === null) throw bad("workload", workload, "workload options (an object with a kind)");
  if (workload.kind === "trace") throw bad("workload", "trace", "a generated workload (both copies replay the same seed; a trace file is one copy's)");
  return Object.freeze({
    workload: Object.freeze({ ...workload }),
    durationNs: durationMs * 1e6,
    nondeterminismPerSec: requireNumber("nondeterminismPerSec", o.nondeterminismPerSec ?? 0, 0, 1e6),
    packetsPerSec: requireNumber("packetsPerSec", o.packetsPerSec ?? LOCKSTEP_DEFAULTS.packetsPerSec, 0, 1e6),
    packetBytes,
    connections: requireInt("connections", o.connections ?? LOCKSTEP_DEFAULTS.connections, 1, 1024),
    ringPages,
    compareTimeoutNs: requireNumber("compareTimeoutMs", o.compareTimeoutMs ?? LOCKSTEP_DEFAULTS.compareTimeoutMs, 0.01, 600_000) * 1e6,
    maxQueuePackets: requireInt("maxQueuePackets", o.maxQueuePackets ?? LOCKSTEP_DEFAULTS.maxQueuePackets, 1, 1 << 20),
    checkpointDelayNs: requireNumber("checkpointDelayMs", o.checkpointDelayMs ?? LOCKSTEP_DEFAULTS.checkpointDelayMs, 1, 3_600_000) * 1e6,
    failAtNs: failAtMs === null ? null : requireNumber("failAtMs", failAtMs, 0, durationMs) * 1e6,
    heartbeatIntervalNs: heartbeatIntervalMs * 1e6,
    heartbeatTimeoutNs: heartbeatTimeoutMs * 1e6,
    link: resolveLink(o.link),
    pauseFixedNs: requireNumber("pauseFixedUs", o.pauseFixedUs ?? LOCKSTEP_DEFAULTS.pauseFixedUs, 0, 1e6) * 1e3,
    copyBytesPerSec: requireNumber("copyBytesPerSec", o.copyBytesPerSec ?? LOCKSTEP_DEFAULTS.copyBytesPerSec, 1e6, 1e12),
    diffs: bool("diffs", o.diffs, true),
    diffCachePages: requireInt("diffCachePages", o.diffCachePages ?? LOCKSTEP_DEFAULTS.diffCachePages, 1, 1 << 20),
    chunkPayloadBytes: requireInt("chunkPayloadBytes", o.chunkPayloadBytes ?? LOCKSTEP_DEFAULTS.chunkPayloadBytes, 8192, 1 << 20),
    seed: requireInt("seed", o.seed ?? 1, 0, 0xffff_ffff),
    damageResyncs: resolveDamage(o.damageResyncs),
    onFlushed: hook("onFlushed", o.onFlushed),
    onProgress: hook("onProgress", o.onProgress),
  });
}
