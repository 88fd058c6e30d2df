// The storage model of snapshot files: what writing and reading them costs
// in simulated time. A read request of n bytes costs a first-byte latency
// plus n / the sequential read rate, the latency chosen so that one 4 KiB
// read costs exactly 1 / (4 KiB random reads per second at queue depth 1),
// what a synchronous page fault waits for. Writes stream at the sequential
// write rate (the background writer keeps the queue full). A page fault
// served from the file also costs the handler's own round trip.
//
//   readNs(n)  = latencyNs + n / seqReadBytesPerSec × 1e9
//   latencyNs  = 1e9 / randomReadIops − 4096 / seqReadBytesPerSec × 1e9
//   writeNs(n) = n / seqWriteBytesPerSec × 1e9
//   faultNs    = faultOverheadNs + readNs(4096)
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireNumber } from "../options.js";
import { PAGE_SIZE } from "../wasm/codes.js";

export interface StorageModel {
  /** A name for tables ("nvme", "sata-ssd", or the caller's). */
  readonly name: string;
  readonly seqReadBytesPerSec: number;
  readonly seqWriteBytesPerSec: number;
  /** 4 KiB random reads per second at queue depth 1 (one synchronous fault at a time). */
  readonly randomReadIops: number;
  /** What serving one fault costs besides the read, ns (a userfaultfd round trip and its UFFDIO_COPY). */
  readonly faultOverheadNs: number;
}

/** fcvm PR #742: a Chromium snapshot took 56,300 faults at ~5.6 µs each through a userfaultfd handler. */
const UFFD_FAULT_NS = 5_600;

/**
 * The presets, from vendor data sheets:
 * - nvme: Samsung 980 PRO 1 TB (PCIe 4.0): 7,000 MB/s sequential read,
 *   5,000 MB/s sequential write, 22,000 random 4 KiB reads/s at QD1.
 * - sata-ssd: Samsung 870 EVO 1 TB (SATA 6 Gbit/s): 560 MB/s sequential
 *   read, 530 MB/s sequential write, 13,000 random 4 KiB reads/s at QD1.
 */
export const STORAGE_PRESETS: Readonly<Record<"nvme" | "sata-ssd", StorageModel>> = Object.freeze({
  nvme: Object.freeze({ name: "nvme", seqReadBytesPerSec: 7.0e9, seqWriteBytesPerSec: 5.0e9, randomReadIops: 22_000, faultOverheadNs: UFFD_FAULT_NS }),
  "sata-ssd": Object.freeze({ name: "sata-ssd", seqReadBytesPerSec: 560e6, seqWriteBytesPerSec: 530e6, randomReadIops: 13_000, faultOverheadNs: UFFD_FAULT_NS }),
});
export type StoragePreset = keyof typeof STORAGE_PRESETS;

const MODEL_KEYS = ["name", "seqReadBytesPerSec", "seqWriteBytesPerSec", "randomReadIops", "faultOverheadNs"];

/** A preset's name or a model of the caller's, checked and frozen. */
export function resolveStorage(storage: StoragePreset | StorageModel | undefined): StorageModel {
  if (storage === undefined) return STORAGE_PRESETS.nvme;
  if (typeof storage === "string") {
    const preset = (STORAGE_PRESETS as Record<string, StorageModel>)[storage];
    if (!preset) throw new HypermemError(ErrorCode.BadOption, `storage must be "nvme", "sata-ssd" or a model object, got ${JSON.stringify(storage)}`, { option: "storage", value: storage });
    return preset;
  }
  if (typeof storage !== "object" || storage === null) {
    throw new HypermemError(ErrorCode.BadOption, `storage must be "nvme", "sata-ssd" or a model object, got ${String(storage)}`, { option: "storage" });
  }
  rejectUnknown(storage, MODEL_KEYS, "storage model");
  if (typeof storage.name !== "string" || storage.name === "") {
    throw new HypermemError(ErrorCode.BadOption, `a storage model needs a name, got ${JSON.stringify(storage.name)}`, { option: "name" });
  }
  const seqRead = requireNumber("seqReadBytesPerSec", storage.seqReadBytesPerSec, 1, 1e15);
  const iops = requireNumber("randomReadIops", storage.randomReadIops, 1, 1e9);
  if (1e9 / iops < PAGE_SIZE / seqRead * 1e9) {
    throw new HypermemError(ErrorCode.BadOption,
      `randomReadIops ${iops} is more 4 KiB reads per second than the sequential rate carries (${Math.floor(seqRead / PAGE_SIZE)})`, { option: "randomReadIops", value: iops });
  }
  return Object.freeze({
    name: storage.name,
    seqReadBytesPerSec: seqRead,
    seqWriteBytesPerSec: requireNumber("seqWriteBytesPerSec", storage.seqWriteBytesPerSec, 1, 1e15),
    randomReadIops: iops,
    faultOverheadNs: requireNumber("faultOverheadNs", storage.faultOverheadNs, 0, 1e12),
  });
}

/** First-byte latency of a read request, ns. */
export function readLatencyNs(m: StorageModel): number {
  return 1e9 / m.randomReadIops - (PAGE_SIZE / m.seqReadBytesPerSec) * 1e9;
}

/** One read request of `bytes` (0 bytes: no request, no time). */
export function readNs(m: StorageModel, bytes: number): number {
  return bytes === 0 ? 0 : readLatencyNs(m) + (bytes / m.seqReadBytesPerSec) * 1e9;
}

/** Writing `bytes` sequentially. */
export function writeNs(m: StorageModel, bytes: number): number {
  return (bytes / m.seqWriteBytesPerSec) * 1e9;
}

/** One page fault served from the file: the handler's round trip and one 4 KiB read. */
export function faultNs(m: StorageModel): number {
  return m.faultOverheadNs + readNs(m, PAGE_SIZE);
}
