// The options of both ends of a disk transfer, with their defaults, resolved
// once into frozen objects; unknown keys and bad values are refused with
// ERR_BAD_OPTION naming them.
//
//   progress interval    progressIntervalBytes = 8 MiB: the destination fsyncs
//                        and records its progress, then acknowledges, every
//                        8 MiB; the source sends at most two intervals past
//                        the last acknowledgement (so a failure re-sends at
//                        most one interval plus one in flight)
//   block                blockBytes = 1 MiB: the unit of hashing and sending
//                        (GCS resumable chunks are multiples of 256 KiB)
//   fragment lifetime    fragmentTtlMs = 7 days after the last write (a GCS
//                        resumable session URI lives one week)
//   store size limit     maxStoreBytes = 16 GiB allocated; the oldest go first
//   largest disk         maxDiskBytes = 4 TiB: a hello claiming more is refused
//   retries              retryDelaysMs = [0, 1000, 3000, 5000] (tus-js-client's)
import { ErrorCode, HypermemError } from "../errors.js";
import { checkToken } from "../net/token.js";
import { rejectUnknown, requireInt } from "../options.js";
import { MAX_BLOCK_BYTES, MIN_BLOCK_BYTES } from "./protocol.js";
import type { StoreLimits } from "./store.js";

const MIB = 2 ** 20;
const DAY_MS = 86_400_000;

export const DISK_DEFAULTS = Object.freeze({
  progressIntervalBytes: 8 * MIB,
  blockBytes: MIB,
  fragmentTtlMs: 7 * DAY_MS,
  maxStoreBytes: 16 * 2 ** 30,
  maxDiskBytes: 4 * 2 ** 40,
  retryDelaysMs: Object.freeze([0, 1000, 3000, 5000]) as readonly number[],
  idleTimeoutMs: 30_000,
});

/** What the destination reports per disk connection. */
export type DiskReport =
  | {
    event: "disk-received"; peer: string; name: string; path: string; sizeBytes: number; sha256: string;
    /** Where the transfer started: 0, or the committed offset of a matched fragment. */
    startedAtBytes: number; match: string; receivedBytes: number; wallMs: number; mibPerSec: number;
  }
  | { event: "disk-failed"; peer: string; name: string | null; committedBytes: number; fragmentKept: boolean; error: { code: string; message: string } };

export interface DiskServeOptions {
  /** The folder finished images go to (its fragment store is inside it). */
  dir: string;
  /** Durable progress every this many bytes (rounded up to whole blocks). @default 8 MiB */
  progressIntervalBytes?: number;
  /** A fragment whose record was last written longer ago than this is deleted, ms. @default 7 days */
  fragmentTtlMs?: number;
  /** The fragment store's size limit, allocated bytes. @default 16 GiB */
  maxStoreBytes?: number;
  /** A disk larger than this is refused. @default 4 TiB */
  maxDiskBytes?: number;
  /** Called once per connection with its outcome. */
  onReport?: (report: DiskReport) => void;
  /** The clock of records and expiry, ms since the epoch. @default Date.now */
  now?: () => number;
}

export interface ResolvedDiskServeOptions extends StoreLimits {
  readonly dir: string;
  readonly progressIntervalBytes: number;
  readonly maxDiskBytes: number;
  readonly onReport: ((report: DiskReport) => void) | null;
  readonly now: () => number;
}

const SERVE_KEYS = ["dir", "progressIntervalBytes", "fragmentTtlMs", "maxStoreBytes", "maxDiskBytes", "onReport", "now"];

function optionalFunction<T>(name: string, value: T | undefined): T | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "function") throw new HypermemError(ErrorCode.BadOption, `${name} must be a function, got ${typeof value}`, { option: name, value });
  return value;
}

export function resolveDiskServeOptions(o: DiskServeOptions): ResolvedDiskServeOptions {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `disk serve options must be an object such as { dir }, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, SERVE_KEYS, "serveDisk");
  if (typeof o.dir !== "string" || o.dir === "") throw new HypermemError(ErrorCode.BadOption, `dir must be a folder, got ${String(o.dir)}`, { option: "dir", value: o.dir });
  return Object.freeze({
    dir: o.dir,
    progressIntervalBytes: requireInt("progressIntervalBytes", o.progressIntervalBytes ?? DISK_DEFAULTS.progressIntervalBytes, MIN_BLOCK_BYTES, 2 ** 40),
    fragmentTtlMs: requireInt("fragmentTtlMs", o.fragmentTtlMs ?? DISK_DEFAULTS.fragmentTtlMs, 0, 3650 * DAY_MS),
    maxStoreBytes: requireInt("maxStoreBytes", o.maxStoreBytes ?? DISK_DEFAULTS.maxStoreBytes, 0, Number.MAX_SAFE_INTEGER),
    maxDiskBytes: requireInt("maxDiskBytes", o.maxDiskBytes ?? DISK_DEFAULTS.maxDiskBytes, 1, Number.MAX_SAFE_INTEGER),
    onReport: optionalFunction("onReport", o.onReport),
    now: optionalFunction("now", o.now) ?? Date.now,
  });
}

/** Progress of a send, after each block and each acknowledgement. */
export interface SendProgress {
  readonly sizeBytes: number;
  /** End of the last block sent (in this attempt). */
  readonly sentBytes: number;
  /** The destination's committed offset, as last acknowledged. */
  readonly ackedBytes: number;
  readonly attempt: number;
}

/** An attempt about to send its first block. */
export interface SendStart {
  readonly attempt: number;
  readonly offeredBytes: number;
  /** Why the destination offered that ("resumed", "no fragment", ...), and "; refused: source changed" when the source's blocks differ. */
  readonly offer: string;
  readonly startedAtBytes: number;
  readonly timeToResumeMs: number;
}

export interface SendDiskOptions {
  host: string;
  port: number;
  /** The shared secret: 16 to 4096 bytes. */
  token: Uint8Array;
  /** Encrypt the records (AES-256-GCM); false authenticates them only. @default true */
  encryption?: boolean;
  /** The name the image gets at the destination. @default the file's base name */
  name?: string;
  /** @default 1 MiB */
  blockBytes?: number;
  /** Fail an attempt after this long without socket activity, ms. @default 30_000 */
  idleTimeoutMs?: number;
  /** Wait before each retry of a failed attempt (its length is the number of retries), ms. @default [0, 1000, 3000, 5000] */
  retryDelaysMs?: readonly number[];
  /**
   * The offset the source believes the destination committed (from an
   * earlier run): sent as the start; a destination that disagrees answers
   * with a conflict naming its own, which the next attempt uses.
   */
  resumeOffset?: number;
  onProgress?: (p: SendProgress) => void;
  /** Called when an attempt starts sending blocks: where the destination offered to start, why, and where it starts. */
  onStart?: (s: SendStart) => void;
  /** Aborting stops the transfer (the destination keeps a fragment). */
  signal?: AbortSignal;
}

export interface ResolvedSendDiskOptions {
  readonly host: string;
  readonly port: number;
  readonly token: Uint8Array;
  readonly encryption: boolean;
  readonly name: string | null;
  readonly blockBytes: number;
  readonly idleTimeoutMs: number;
  readonly retryDelaysMs: readonly number[];
  readonly resumeOffset: number | null;
  readonly onProgress: ((p: SendProgress) => void) | null;
  readonly onStart: ((s: SendStart) => void) | null;
  readonly signal: AbortSignal | null;
}

const SEND_KEYS = ["host", "port", "token", "encryption", "name", "blockBytes", "idleTimeoutMs", "retryDelaysMs", "resumeOffset", "onProgress", "onStart", "signal"];

export function resolveSendDiskOptions(o: SendDiskOptions): ResolvedSendDiskOptions {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `send options must be an object such as { host, port, token }, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, SEND_KEYS, "sendDisk");
  if (typeof o.host !== "string" || o.host === "") throw new HypermemError(ErrorCode.BadOption, `host must be an address, got ${String(o.host)}`, { option: "host", value: o.host });
  const blockBytes = requireInt("blockBytes", o.blockBytes ?? DISK_DEFAULTS.blockBytes, MIN_BLOCK_BYTES, MAX_BLOCK_BYTES);
  if ((blockBytes & (blockBytes - 1)) !== 0) throw new HypermemError(ErrorCode.BadOption, `blockBytes must be a power of two, got ${blockBytes}`, { option: "blockBytes", value: blockBytes });
  const delays = o.retryDelaysMs ?? DISK_DEFAULTS.retryDelaysMs;
  if (!Array.isArray(delays) || delays.length > 1000) {
    throw new HypermemError(ErrorCode.BadOption, `retryDelaysMs must be a list of at most 1000 delays, got ${Array.isArray(delays) ? `${delays.length} of them` : String(delays)}`, { option: "retryDelaysMs" });
  }
  if (o.encryption !== undefined && typeof o.encryption !== "boolean") throw new HypermemError(ErrorCode.BadOption, `encryption must be true or false, got ${String(o.encryption)}`, { option: "encryption", value: o.encryption });
  return Object.freeze({
    host: o.host,
    port: requireInt("port", o.port, 1, 65535),
    token: checkToken(o.token),
    encryption: o.encryption ?? true,
    name: o.name ?? null,
    blockBytes,
    idleTimeoutMs: requireInt("idleTimeoutMs", o.idleTimeoutMs ?? DISK_DEFAULTS.idleTimeoutMs, 1, DAY_MS),
    retryDelaysMs: Object.freeze(delays.map((d, i) => requireInt(`retryDelaysMs[${i}]`, d, 0, DAY_MS))),
    resumeOffset: o.resumeOffset === undefined ? null : requireInt("resumeOffset", o.resumeOffset, 0, Number.MAX_SAFE_INTEGER),
    onProgress: optionalFunction("onProgress", o.onProgress),
    onStart: optionalFunction("onStart", o.onStart),
    signal: o.signal ?? null,
  });
}
