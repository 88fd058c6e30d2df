// The options of a host's swap device, resolved once and frozen: where the
// swap file goes and how many 4 KiB slots it has, the host-wide frame limit
// (per-VM limits are given to attach()), the device model, the queue
// arbitration, readahead, reclaim batch and the free-frame watermark.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import { resolveDevice, type DeviceModel, type DeviceSpec } from "./device.js";
import { QUEUE_MODES, type QueueMode } from "./queues.js";

export interface SwapOptions {
  /** The swap file to create (it must not exist; removed on close). @default a new file in the system's temporary folder */
  path?: string;
  /** Slots (4 KiB each) in the swap file, 1..2^28. @default 65536 (256 MiB) */
  capacityPages?: number;
  /** Frames the attached guests may hold together (null: only per-VM limits). @default null */
  frameLimitPages?: number | null;
  /** "nvme", "sata-ssd", "hdd", or a preset with fields changed. @default "nvme" */
  device?: DeviceSpec;
  /** One queue per request type in strict priority, or one FIFO queue (Linux). @default "priority" */
  queues?: QueueMode;
  /** Readahead of 2^pageCluster slots around a demand read (Linux vm.page-cluster), 0 (off)..10. @default 3 */
  pageCluster?: number;
  /** Pages swapped out per reclaim (Linux's SWAP_CLUSTER_MAX), 1..4096. @default 32 */
  reclaimBatchPages?: number;
  /** Free frames (limit - resident - write-backs in flight) under which write-back goes first and queued prefetches are cancelled. @default 16 */
  minFreeFrames?: number;
  /** Interval of the queue-depth series, ns. @default 1_000_000 (1 ms) */
  depthSampleNs?: number;
  /** Keep every request in device.log (what --io real replays). @default false */
  recordRequests?: boolean;
}

export interface ResolvedSwapOptions {
  readonly path: string;
  readonly capacityPages: number;
  readonly frameLimitPages: number | null;
  readonly device: DeviceModel;
  readonly queues: QueueMode;
  readonly pageCluster: number;
  readonly reclaimBatchPages: number;
  readonly minFreeFrames: number;
  readonly depthSampleNs: number;
  readonly recordRequests: boolean;
}

export const SWAP_DEFAULTS = Object.freeze({
  capacityPages: 65_536, frameLimitPages: null, queues: "priority" as QueueMode, pageCluster: 3, reclaimBatchPages: 32, minFreeFrames: 16, depthSampleNs: 1e6,
});
/** Most slots a swap file may have: 2^28 (1 TiB). */
export const MAX_SWAP_PAGES = 2 ** 28;
/** Largest page-cluster: 2^10 = 1024 slots of readahead. */
export const MAX_PAGE_CLUSTER = 10;

const KEYS = ["path", "capacityPages", "frameLimitPages", "device", "queues", "pageCluster", "reclaimBatchPages", "minFreeFrames", "depthSampleNs", "recordRequests"];
let pathCounter = 0;

function requireBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new HypermemError(ErrorCode.BadOption, `${name} must be true or false, got ${String(value)}`, { option: name, value });
  return value;
}

export function resolveSwapOptions(options: SwapOptions = {}): ResolvedSwapOptions {
  if (typeof options !== "object" || options === null) {
    throw new HypermemError(ErrorCode.BadOption, `swap options must be an object, got ${String(options)}`, { option: "options" });
  }
  rejectUnknown(options, KEYS, "swap");
  const path = options.path ?? join(tmpdir(), `hypermem-swap-${process.pid}-${++pathCounter}.swap`);
  if (typeof path !== "string" || path === "") throw new HypermemError(ErrorCode.BadOption, `path must be a file path, got ${JSON.stringify(path)}`, { option: "path", value: path });
  const queues = options.queues ?? SWAP_DEFAULTS.queues;
  if (!QUEUE_MODES.includes(queues)) {
    throw new HypermemError(ErrorCode.BadOption, `queues must be "priority" or "fifo", got ${JSON.stringify(queues)}`, { option: "queues", value: queues });
  }
  const limit = options.frameLimitPages ?? null;
  return Object.freeze({
    path,
    capacityPages: requireInt("capacityPages", options.capacityPages ?? SWAP_DEFAULTS.capacityPages, 1, MAX_SWAP_PAGES),
    frameLimitPages: limit === null ? null : requireInt("frameLimitPages", limit, 1, 2 ** 32),
    device: resolveDevice(options.device),
    queues,
    pageCluster: requireInt("pageCluster", options.pageCluster ?? SWAP_DEFAULTS.pageCluster, 0, MAX_PAGE_CLUSTER),
    reclaimBatchPages: requireInt("reclaimBatchPages", options.reclaimBatchPages ?? SWAP_DEFAULTS.reclaimBatchPages, 1, 4096),
    minFreeFrames: requireInt("minFreeFrames", options.minFreeFrames ?? SWAP_DEFAULTS.minFreeFrames, 0, 2 ** 32),
    depthSampleNs: requireNumber("depthSampleNs", options.depthSampleNs ?? SWAP_DEFAULTS.depthSampleNs, 1e3, 3600e9),
    recordRequests: requireBoolean("recordRequests", options.recordRequests ?? false),
  });
}
