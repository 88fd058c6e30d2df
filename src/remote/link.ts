// What moving bytes to and from remote memory costs, in simulated time: a
// one-sided RDMA read or write of n bytes costs the verb's latency plus n over
// the line rate; q operations in flight (queue pairs × depth) overlap their
// latencies. Shared storage (the baseline file) is read and written as a
// stream: a first-byte latency plus n over its rate.
//
//   opsNs(ops, bytes)   = ceil(ops / queueDepth) × latencyNs + bytes / bytesPerSec × 1e9
//   storageNs(bytes)    = storage.latencyNs + bytes / storage.bytesPerSec × 1e9
//
// The presets are orders of magnitude from published testbeds, not a
// particular NIC's data sheet (docs/remote-memory.md lists them):
// - rdma-56g: FDR InfiniBand (56 Gbit/s, ConnectX-3), Infiniswap's testbed
//   (NSDI'17); a 4 KiB one-sided READ takes a few µs there.
// - rdma-100g: EDR InfiniBand / 100 GbE RoCE (ConnectX-5), ~2 µs READ latency
//   as in FaRM-class measurements.
// - rdma-25g: 25 GbE RoCE.
// - tcp-10g: a two-sided TCP path for comparison (tens of µs per request).
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";

export interface RemoteLinkModel {
  readonly name: string;
  /** Line rate, bytes per second. */
  readonly bytesPerSec: number;
  /** Latency of one one-sided read or write, ns. */
  readonly latencyNs: number;
  /** Operations in flight at once during a recovery (queue pairs × depth). */
  readonly queueDepth: number;
}

export interface StorageLinkModel {
  readonly name: string;
  readonly bytesPerSec: number;
  readonly latencyNs: number;
}

export const REMOTE_LINK_PRESETS = Object.freeze({
  "rdma-56g": Object.freeze({ name: "rdma-56g", bytesPerSec: 7e9, latencyNs: 3_000, queueDepth: 16 }),
  "rdma-100g": Object.freeze({ name: "rdma-100g", bytesPerSec: 12.5e9, latencyNs: 2_000, queueDepth: 16 }),
  "rdma-25g": Object.freeze({ name: "rdma-25g", bytesPerSec: 3.125e9, latencyNs: 3_000, queueDepth: 16 }),
  "tcp-10g": Object.freeze({ name: "tcp-10g", bytesPerSec: 1.25e9, latencyNs: 30_000, queueDepth: 4 }),
} satisfies Record<string, RemoteLinkModel>);
export type RemoteLinkPreset = keyof typeof REMOTE_LINK_PRESETS;

/** Shared storage for baselines: a SAN or NFS volume over 10 GbE (1.1 GB/s, 200 µs to the first byte). */
export const SHARED_STORAGE: StorageLinkModel = Object.freeze({ name: "san-10g", bytesPerSec: 1.1e9, latencyNs: 200_000 });

/** Latencies outside 50 ns .. 1 s, rates outside 1 MB/s .. 1 TB/s are refused: nothing real is there. */
export const LATENCY_RANGE_NS = Object.freeze([50, 1e9] as const);
export const RATE_RANGE_BYTES_PER_SEC = Object.freeze([1e6, 1e12] as const);

function checkModel(where: string, m: { bytesPerSec: unknown; latencyNs: unknown }): void {
  const [minNs, maxNs] = LATENCY_RANGE_NS;
  const [minRate, maxRate] = RATE_RANGE_BYTES_PER_SEC;
  if (typeof m.latencyNs !== "number" || !Number.isFinite(m.latencyNs) || m.latencyNs < minNs || m.latencyNs > maxNs) {
    throw new HypermemError(ErrorCode.BadOption, `${where}: latencyNs must be from ${minNs} ns to ${maxNs / 1e9} s, got ${String(m.latencyNs)}`, { option: "latencyNs", value: m.latencyNs });
  }
  if (typeof m.bytesPerSec !== "number" || !Number.isFinite(m.bytesPerSec) || m.bytesPerSec < minRate || m.bytesPerSec > maxRate) {
    throw new HypermemError(ErrorCode.BadOption, `${where}: bytesPerSec must be from ${minRate} to ${maxRate}, got ${String(m.bytesPerSec)}`, { option: "bytesPerSec", value: m.bytesPerSec });
  }
}

/** A preset's name or a model of the caller's, checked and frozen. */
export function resolveRemoteLink(link: RemoteLinkPreset | RemoteLinkModel | undefined): RemoteLinkModel {
  if (link === undefined) return REMOTE_LINK_PRESETS["rdma-56g"];
  if (typeof link === "string") {
    const preset = (REMOTE_LINK_PRESETS as Record<string, RemoteLinkModel>)[link];
    if (!preset) throw new HypermemError(ErrorCode.BadOption, `link must be one of ${Object.keys(REMOTE_LINK_PRESETS).join(", ")} or a model, got ${JSON.stringify(link)}`, { option: "link", value: link });
    return preset;
  }
  if (typeof link !== "object" || link === null) throw new HypermemError(ErrorCode.BadOption, `link must be a preset name or a model, got ${String(link)}`, { option: "link" });
  rejectUnknown(link, ["name", "bytesPerSec", "latencyNs", "queueDepth"], "remote link");
  checkModel(`link ${JSON.stringify(link.name)}`, link);
  if (!Number.isSafeInteger(link.queueDepth) || link.queueDepth < 1 || link.queueDepth > 4096) {
    throw new HypermemError(ErrorCode.BadOption, `link: queueDepth must be an integer from 1 to 4096, got ${String(link.queueDepth)}`, { option: "queueDepth", value: link.queueDepth });
  }
  return Object.freeze({ name: String(link.name), bytesPerSec: link.bytesPerSec, latencyNs: link.latencyNs, queueDepth: link.queueDepth });
}

/** A storage model of the caller's (or the default), checked and frozen. */
export function resolveStorageLink(storage: StorageLinkModel | undefined): StorageLinkModel {
  if (storage === undefined) return SHARED_STORAGE;
  if (typeof storage !== "object" || storage === null) throw new HypermemError(ErrorCode.BadOption, `storage must be a model, got ${String(storage)}`, { option: "storage" });
  rejectUnknown(storage, ["name", "bytesPerSec", "latencyNs"], "storage model");
  checkModel(`storage ${JSON.stringify(storage.name)}`, storage);
  return Object.freeze({ name: String(storage.name), bytesPerSec: storage.bytesPerSec, latencyNs: storage.latencyNs });
}

/** `ops` one-sided operations moving `bytes` in all, `queueDepth` at a time. */
export function opsNs(link: RemoteLinkModel, ops: number, bytes: number, queueDepth = link.queueDepth): number {
  return Math.ceil(ops / queueDepth) * link.latencyNs + (bytes / link.bytesPerSec) * 1e9;
}

/** Streaming `bytes` from or to shared storage. */
export function storageNs(storage: StorageLinkModel, bytes: number): number {
  return storage.latencyNs + (bytes / storage.bytesPerSec) * 1e9;
}
