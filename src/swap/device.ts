// The swap device's model: what one 4 KiB read or write costs on the
// simulated timeline, how many the device serves at once, and how many of
// each request type may be at the device at a time (the queue depth per
// queue). Presets are named after device classes; their numbers come from
// vendor data sheets (below and in docs/swap.md).
//
//   parallelism  = floor(peak random-read IOPS / QD1 random-read IOPS)
//   readNs       = max(1e9 / QD1 read IOPS,  parallelism × 1e9 / peak read IOPS)
//   writeNs      = max(1e9 / QD1 write IOPS, parallelism × 1e9 / peak write IOPS)
//   adjacent*Ns  = cost of a request for the slot right after the one its channel
//                  served last: no seek on a disk (4096 / sustained rate); the
//                  same as a random request on a flash device
//
// A request then holds one of `parallelism` channels for its service time;
// at queue depth 1 it costs exactly the data sheet's QD1 figure, and a full
// device serves at most its peak IOPS.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";

export type DevicePreset = "nvme" | "sata-ssd" | "hdd";
export const DEVICE_PRESET_NAMES: readonly DevicePreset[] = Object.freeze(["nvme", "sata-ssd", "hdd"]);

/** Requests of one type allowed at the device at once (the rest wait in the host's queue). */
export interface QueueDepths {
  readonly demand: number;
  readonly prefetch: number;
  readonly writeBack: number;
}

export interface DeviceModel {
  /** "nvme", "sata-ssd", "hdd", or the caller's name. */
  readonly name: string;
  /** Service time of one random 4 KiB read, ns. */
  readonly readNs: number;
  /** Service time of one random 4 KiB write, ns. */
  readonly writeNs: number;
  /** A read of the slot after the one its channel served last, ns. */
  readonly adjacentReadNs: number;
  /** A write of the slot after the one its channel served last, ns. */
  readonly adjacentWriteNs: number;
  /** Requests the device serves at once (its channels). */
  readonly parallelism: number;
  /** Depth of each queue; with --queues fifo the one queue has depth `parallelism`. */
  readonly queueDepth: QueueDepths;
}

/** The caller's overrides of a preset (any field), or a whole model. */
export type DeviceSpec = DevicePreset | (Partial<Omit<DeviceModel, "queueDepth">> & { readonly preset?: DevicePreset; readonly queueDepth?: Partial<QueueDepths> });

const us = 1e3;
const ms = 1e6;

/**
 * The presets (service times in ns, rounded to 0.1 µs):
 * - nvme: Samsung 980 PRO 1 TB data sheet: 4 KiB random read 22,000 IOPS at
 *   QD1 and 1,000,000 at QD32; random write 60,000 IOPS at QD1 and 1,000,000
 *   at QD32. parallelism 45; read 45.5 µs; write max(16.7, 45) = 45 µs.
 * - sata-ssd: Samsung 870 EVO 1 TB data sheet: random read 13,000 IOPS at
 *   QD1 and 98,000 at QD32; random write 36,000 at QD1 and 88,000 at QD32.
 *   parallelism 7; read 76.9 µs; write max(27.8, 79.5) = 79.5 µs.
 * - hdd: Seagate BarraCuda 7200 rpm data sheet: average seek 8.5 ms (read),
 *   9.5 ms (write), average rotational latency 4.16 ms, sustained 220 MB/s.
 *   parallelism 1; read 8.5 + 4.16 + 0.019 = 12.68 ms; write 13.68 ms; the
 *   next slot costs only its transfer, 18.6 µs.
 */
const BASE: Readonly<Record<DevicePreset, Omit<DeviceModel, "queueDepth">>> = {
  nvme: { name: "nvme", readNs: 45.5 * us, writeNs: 45 * us, adjacentReadNs: 45.5 * us, adjacentWriteNs: 45 * us, parallelism: 45 },
  "sata-ssd": { name: "sata-ssd", readNs: 76.9 * us, writeNs: 79.5 * us, adjacentReadNs: 76.9 * us, adjacentWriteNs: 79.5 * us, parallelism: 7 },
  hdd: { name: "hdd", readNs: 12.68 * ms, writeNs: 13.68 * ms, adjacentReadNs: 18.6 * us, adjacentWriteNs: 18.6 * us, parallelism: 1 },
};

/** Default depths: every channel for demand reads, half for write-back, a quarter for prefetch (at least 1 each). */
export function defaultDepths(parallelism: number): QueueDepths {
  return Object.freeze({ demand: parallelism, prefetch: Math.max(1, Math.ceil(parallelism / 4)), writeBack: Math.max(1, Math.ceil(parallelism / 2)) });
}

export const DEVICE_PRESETS: Readonly<Record<DevicePreset, DeviceModel>> = Object.freeze(Object.fromEntries(
  DEVICE_PRESET_NAMES.map((n) => [n, Object.freeze({ ...BASE[n], queueDepth: defaultDepths(BASE[n].parallelism) })]),
) as Record<DevicePreset, DeviceModel>);

const MODEL_KEYS = ["preset", "name", "readNs", "writeNs", "adjacentReadNs", "adjacentWriteNs", "parallelism", "queueDepth"];
/** Longest service time a model may state: 10 s. */
const MAX_SERVICE_NS = 10e9;
/** NVMe allows 64 Ki queues of 64 Ki entries; more channels than that model nothing real. */
export const MAX_PARALLELISM = 65_536;

function presetOf(name: unknown): DeviceModel {
  const preset = typeof name === "string" ? (DEVICE_PRESETS as Record<string, DeviceModel>)[name] : undefined;
  if (!preset) {
    throw new HypermemError(ErrorCode.BadOption, `device must be one of ${DEVICE_PRESET_NAMES.join(", ")} or a model object, got ${JSON.stringify(name) ?? String(name)}`, { option: "device", value: name });
  }
  return preset;
}

/** A preset's name, or a preset with the caller's fields over it, checked and frozen. */
export function resolveDevice(spec: DeviceSpec | undefined): DeviceModel {
  if (spec === undefined) return DEVICE_PRESETS.nvme;
  if (typeof spec === "string") return presetOf(spec);
  if (typeof spec !== "object" || spec === null) return presetOf(spec);
  rejectUnknown(spec, MODEL_KEYS, "device model");
  const base = presetOf(spec.preset ?? "nvme");
  const parallelism = requireInt("device.parallelism", spec.parallelism ?? base.parallelism, 1, MAX_PARALLELISM);
  const ns = (key: "readNs" | "writeNs" | "adjacentReadNs" | "adjacentWriteNs", fallback: number): number =>
    requireNumber(`device.${key}`, spec[key] ?? fallback, 1, MAX_SERVICE_NS);
  const readNs = ns("readNs", base.readNs);
  const writeNs = ns("writeNs", base.writeNs);
  const depthSpec = spec.queueDepth ?? {};
  if (typeof depthSpec !== "object" || depthSpec === null) {
    throw new HypermemError(ErrorCode.BadOption, `device.queueDepth must be an object such as { demand: 8 }, got ${String(depthSpec)}`, { option: "device.queueDepth" });
  }
  rejectUnknown(depthSpec, ["demand", "prefetch", "writeBack"], "device.queueDepth");
  const d = defaultDepths(parallelism);
  const depth = (key: keyof QueueDepths): number => requireInt(`device.queueDepth.${key}`, depthSpec[key] ?? d[key], 1, MAX_PARALLELISM);
  const name = spec.name ?? base.name;
  if (typeof name !== "string" || name === "") throw new HypermemError(ErrorCode.BadOption, `device.name must be a non-empty string, got ${JSON.stringify(name)}`, { option: "device.name" });
  return Object.freeze({
    name,
    readNs,
    writeNs,
    adjacentReadNs: ns("adjacentReadNs", spec.readNs === undefined ? base.adjacentReadNs : Math.min(base.adjacentReadNs, readNs)),
    adjacentWriteNs: ns("adjacentWriteNs", spec.writeNs === undefined ? base.adjacentWriteNs : Math.min(base.adjacentWriteNs, writeNs)),
    parallelism,
    queueDepth: Object.freeze({ demand: depth("demand"), prefetch: depth("prefetch"), writeBack: depth("writeBack") }),
  });
}
