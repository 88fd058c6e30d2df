// Options of a protected VM (fault tolerance by frequent checkpointing),
// resolved once into a frozen object: unknown keys refused, every value
// checked against a plausible range and refused naming the option and the
// value. Defaults and their sources are in docs/checkpoint.md.
import { ErrorCode, HypermemError } from "../errors.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { LinkModel } from "../sim/link.js";
import type { Timeline } from "../sim/timeline.js";
import type { Vm } from "../host/vm.js";

/** What the primary does when the previous checkpoint is still on the wire at the end of an epoch. */
export type InFlightPolicy = "wait" | "merge";

export interface FtOptions {
  /** Epoch length, ms: the guest runs this long between two pauses. @default 25 (Remus: 40 checkpoints per second) */
  epochMs?: number;
  /** How long to protect the guest after the initial synchronisation, ms of simulated time. @default 1000 */
  durationMs?: number;
  /** "wait": the guest runs on until the previous checkpoint is sent, then pauses; "merge": it pauses on time and the new dirty pages join the unsent checkpoint. @default "wait" */
  inFlight?: InFlightPolicy;
  /** The replication link (full duplex). @default 1 Gbit/s, 100 µs one way, no cap (Remus's dedicated Gigabit link) */
  link?: Partial<LinkModel>;
  /** The timeline to run on (one is made when absent). */
  timeline?: Timeline;
  /** The guest's workload: attached to the timeline while protected. */
  workload?: GuestWorkload;
  /** Send pages as XBZRLE deltas against a version the backup confirmed. @default true */
  diffs?: boolean;
  /** Pages of the primary's cache of confirmed versions (Remus's compression cache: 8192). @default 8192 */
  diffCachePages?: number;
  /** Send pages the modification history predicts stable while the guest runs, under write protection. @default true */
  earlySend?: boolean;
  /** A page dirtied in an epoch is predicted stable when it had not been written for at least this many epochs before. @default 4 */
  stableEpochs?: number;
  /** Early-send scans per epoch (a dirty-log sync each, spread evenly over the epoch). @default 3 */
  earlyScansPerEpoch?: number;
  /** Output packets the guest emits per second of its time (0: none). @default 0 */
  packetsPerSec?: number;
  /** Bytes of guest memory each packet carries. @default 256 */
  packetBytes?: number;
  /** The primary fails at this time, ms after the initial synchronisation (epoch 0) ended; null: it does not. @default null */
  failAtMs?: number | null;
  /** Interval of the primary's heartbeats, ms. @default 10 */
  heartbeatIntervalMs?: number;
  /** The backup declares the primary dead after this long without hearing from it, ms. @default 100 */
  heartbeatTimeoutMs?: number;
  /** Pause cost that does not depend on the pages: suspend, dirty-log sync, resume, µs. @default 100 */
  pauseFixedUs?: number;
  /** Copy rate of dirty pages into the staging area during the pause, bytes/s. @default 2e9 */
  copyBytesPerSec?: number;
  /** Largest chunk payload of the checkpoint stream, bytes. @default 65536 */
  chunkPayloadBytes?: number;
  /** Share of the backup's acknowledgements lost on the way (tests of the feedback protocol), 0..1. @default 0 */
  ackLossRate?: number;
  /** Extra delay of every acknowledgement, ms. @default 0 */
  ackDelayMs?: number;
  /** Seed of the packet addresses and of the lost acknowledgements. @default 1 */
  seed?: number;
  /** Record the primary's memory digest at every pause and check the backup against it at each commit and at failover. @default true */
  verify?: boolean;
  /** Called at each pause, after the copy to staging, with the epoch number (the guest is paused). */
  onPause?: (epoch: number, vm: Vm) => void;
  /** Called when the backup commits a checkpoint, with the pause epoch it holds and the backup's guest. */
  onCommit?: (pauseEpoch: number, backupVm: Vm) => void;
  /** Called once per second of simulated time with the progress so far. */
  onProgress?: (p: FtProgress) => void;
}

export interface FtProgress {
  readonly elapsedMs: number;
  readonly epoch: number;
  readonly committedEpoch: number;
  readonly bytesSent: number;
  readonly packetsHeld: number;
}

export interface ResolvedFtOptions {
  readonly epochNs: number;
  readonly durationNs: number;
  readonly inFlight: InFlightPolicy;
  readonly link: LinkModel;
  readonly timeline: Timeline | null;
  readonly workload: GuestWorkload | null;
  readonly diffs: boolean;
  readonly diffCachePages: number;
  readonly earlySend: boolean;
  readonly stableEpochs: number;
  readonly earlyScansPerEpoch: number;
  readonly packetsPerSec: number;
  readonly packetBytes: number;
  readonly failAtNs: number | null;
  readonly heartbeatIntervalNs: number;
  readonly heartbeatTimeoutNs: number;
  readonly pauseFixedNs: number;
  readonly copyBytesPerSec: number;
  readonly chunkPayloadBytes: number;
  readonly ackLossRate: number;
  readonly ackDelayNs: number;
  readonly seed: number;
  readonly verify: boolean;
  readonly onPause: FtOptions["onPause"] | null;
  readonly onCommit: FtOptions["onCommit"] | null;
  readonly onProgress: FtOptions["onProgress"] | null;
}

export const FT_DEFAULTS = Object.freeze({
  epochMs: 25,
  durationMs: 1000,
  inFlight: "wait" as InFlightPolicy,
  bandwidthBytesPerSec: 125_000_000,
  latencyNs: 100_000,
  diffCachePages: 8192,
  stableEpochs: 4,
  earlyScansPerEpoch: 3,
  packetBytes: 256,
  heartbeatIntervalMs: 10,
  heartbeatTimeoutMs: 100,
  pauseFixedUs: 100,
  copyBytesPerSec: 2e9,
  chunkPayloadBytes: 65_536,
});

const KEYS = [
  "epochMs", "durationMs", "inFlight", "link", "timeline", "workload", "diffs", "diffCachePages", "earlySend", "stableEpochs",
  "earlyScansPerEpoch", "packetsPerSec", "packetBytes", "failAtMs", "heartbeatIntervalMs", "heartbeatTimeoutMs", "pauseFixedUs",
  "copyBytesPerSec", "chunkPayloadBytes", "ackLossRate", "ackDelayMs", "seed", "verify", "onPause", "onCommit", "onProgress",
];

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new HypermemError(ErrorCode.BadOption, `${name} must be true or false, got ${String(value)}`, { option: name, value });
  return value;
}

function hook<T>(name: string, value: T | undefined): T | null {
  if (value === undefined) return null;
  if (typeof value !== "function") throw new HypermemError(ErrorCode.BadOption, `${name} must be a function, got ${typeof value}`, { option: name });
  return value;
}

function resolveLink(link: Partial<LinkModel> = {}): LinkModel {
  rejectUnknown(link, ["bandwidthBytesPerSec", "latencyNs", "maxBandwidthBytesPerSec"], "protect link");
  const bandwidthBytesPerSec = requireNumber("link.bandwidthBytesPerSec", link.bandwidthBytesPerSec ?? FT_DEFAULTS.bandwidthBytesPerSec, 1e3, 1e12);
  const latencyNs = requireNumber("link.latencyNs", link.latencyNs ?? FT_DEFAULTS.latencyNs, 0, 10e9);
  const cap = link.maxBandwidthBytesPerSec ?? null;
  const maxBandwidthBytesPerSec = cap === null ? null : requireNumber("link.maxBandwidthBytesPerSec", cap, 1e3, 1e12);
  return Object.freeze({ bandwidthBytesPerSec, latencyNs, maxBandwidthBytesPerSec });
}

/** Checks and defaults every option; the result is frozen. */
export function resolveFtOptions(o: FtOptions = {}): ResolvedFtOptions {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `protect: options must be an object, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, KEYS, "protect");
  const epochMs = requireNumber("epochMs", o.epochMs ?? FT_DEFAULTS.epochMs, 1, 10_000);
  const durationMs = requireNumber("durationMs", o.durationMs ?? FT_DEFAULTS.durationMs, epochMs, 3_600_000);
  const inFlight = o.inFlight ?? FT_DEFAULTS.inFlight;
  if (inFlight !== "wait" && inFlight !== "merge") {
    throw new HypermemError(ErrorCode.BadOption, `inFlight must be "wait" or "merge", got ${JSON.stringify(inFlight)}`, { option: "inFlight", value: inFlight });
  }
  const failAtMs = o.failAtMs ?? null;
  const heartbeatIntervalMs = requireNumber("heartbeatIntervalMs", o.heartbeatIntervalMs ?? FT_DEFAULTS.heartbeatIntervalMs, 0.1, 60_000);
  const heartbeatTimeoutMs = requireNumber("heartbeatTimeoutMs", o.heartbeatTimeoutMs ?? FT_DEFAULTS.heartbeatTimeoutMs, 0.1, 600_000);
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw new HypermemError(ErrorCode.BadOption, `heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be longer than heartbeatIntervalMs (${heartbeatIntervalMs}), or every interval looks like a failure`, { option: "heartbeatTimeoutMs", value: heartbeatTimeoutMs });
  }
  const earlyScansPerEpoch = requireInt("earlyScansPerEpoch", o.earlyScansPerEpoch ?? FT_DEFAULTS.earlyScansPerEpoch, 1, 64);
  return Object.freeze({
    epochNs: epochMs * 1e6,
    durationNs: durationMs * 1e6,
    inFlight,
    link: resolveLink(o.link),
    timeline: o.timeline ?? null,
    workload: o.workload ?? null,
    diffs: bool("diffs", o.diffs, true),
    diffCachePages: requireInt("diffCachePages", o.diffCachePages ?? FT_DEFAULTS.diffCachePages, 1, 1 << 20),
    earlySend: bool("earlySend", o.earlySend, true),
    stableEpochs: requireInt("stableEpochs", o.stableEpochs ?? FT_DEFAULTS.stableEpochs, 1, 1000),
    earlyScansPerEpoch,
    packetsPerSec: requireNumber("packetsPerSec", o.packetsPerSec ?? 0, 0, 1e6),
    packetBytes: requireInt("packetBytes", o.packetBytes ?? FT_DEFAULTS.packetBytes, 1, 65_536),
    failAtNs: failAtMs === null ? null : requireNumber("failAtMs", failAtMs, 0, durationMs) * 1e6,
    heartbeatIntervalNs: heartbeatIntervalMs * 1e6,
    heartbeatTimeoutNs: heartbeatTimeoutMs * 1e6,
    pauseFixedNs: requireNumber("pauseFixedUs", o.pauseFixedUs ?? FT_DEFAULTS.pauseFixedUs, 0, 1e6) * 1e3,
    copyBytesPerSec: requireNumber("copyBytesPerSec", o.copyBytesPerSec ?? FT_DEFAULTS.copyBytesPerSec, 1e6, 1e12),
    chunkPayloadBytes: requireInt("chunkPayloadBytes", o.chunkPayloadBytes ?? FT_DEFAULTS.chunkPayloadBytes, 8192, 1 << 20),
    ackLossRate: requireNumber("ackLossRate", o.ackLossRate ?? 0, 0, 0.99),
    ackDelayNs: requireNumber("ackDelayMs", o.ackDelayMs ?? 0, 0, 60_000) * 1e6,
    seed: requireInt("seed", o.seed ?? 1, 0, 0xffff_ffff),
    verify: bool("verify", o.verify, true),
    onPause: hook("onPause", o.onPause),
    onCommit: hook("onCommit", o.onCommit),
    onProgress: hook("onProgress", o.onProgress),
  });
}
