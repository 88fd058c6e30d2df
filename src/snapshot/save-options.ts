// The options of saveSnapshot, resolved once into a frozen object; unknown
// keys and bad values are typed errors naming the option and the value.
import { ErrorCode, HypermemError } from "../errors.js";
import { GuestWorkload } from "../host/guest-workload.js";
import { rejectUnknown, requireInt } from "../options.js";
import { Timeline } from "../sim/timeline.js";
import { resolveStorage, type StorageModel, type StoragePreset } from "./storage.js";

/** Where a save is, for progress reports. */
export interface SaveProgress {
  /** "pages": the background writer is going through the guest; "working-set": the trace window closed, the working set and the metadata are written; "done": the file is in place. */
  readonly phase: "pages" | "working-set" | "done";
  /** Guest pages the background writer has fingerprinted (their data goes out chunk by chunk). */
  readonly pagesScanned: number;
  readonly guestPages: number;
  readonly bytesWritten: number;
  /** Simulated time since the request, ns. */
  readonly elapsedNs: number;
}

export interface SaveOptions {
  /**
   * The timeline the guest's vCPUs run on. Each write of the background
   * writer lets the time it costs pass on it, so the guest runs, and
   * faults on traced pages, while the save goes on.
   * @default a timeline of the save's own (the guest does not run)
   */
  timeline?: Timeline;
  /** The storage the file is written to: "nvme", "sata-ssd" or a model. @default "nvme" */
  storage?: StoragePreset | StorageModel;
  /** The guest's workload: its state at the instant is saved, and a restore resumes it. @default none */
  workload?: GuestWorkload;
  /** Save only the pages written since the snapshot at this path (a diff); the VM must track them (trackDirty). */
  diffOf?: string;
  /** Count the pages written from this snapshot on, for a later diff against it. @default false; a diff always tracks */
  trackDirty?: boolean;
  /** Pages per write of the background writer. @default 256 (1 MiB) */
  chunkPages?: number;
  /** Bytes of working-set copies held in memory until the end of the save; past it, pages not yet saved are written at once. @default 256 MiB */
  workingSetLimitBytes?: number;
  /** Called after each write of the background writer and at each phase. */
  onProgress?: ((p: SaveProgress) => void) | null;
}

export interface ResolvedSaveOptions {
  readonly timeline: Timeline;
  readonly storage: StorageModel;
  readonly workload: GuestWorkload | null;
  readonly diffOf: string | null;
  readonly trackDirty: boolean;
  readonly chunkPages: number;
  readonly workingSetLimitBytes: number;
  readonly onProgress: ((p: SaveProgress) => void) | null;
}

export const SAVE_DEFAULTS = Object.freeze({ storage: "nvme", chunkPages: 256, workingSetLimitBytes: 256 << 20 });

const KEYS = ["timeline", "storage", "workload", "diffOf", "trackDirty", "chunkPages", "workingSetLimitBytes", "onProgress"];

function bad(option: string, value: unknown, rule: string): HypermemError {
  return new HypermemError(ErrorCode.BadOption, `${option} must be ${rule}, got ${String(value)}`, { option, value });
}

export function resolveSaveOptions(options: SaveOptions): ResolvedSaveOptions {
  if (typeof options !== "object" || options === null) throw bad("saveSnapshot options", options, "an object");
  rejectUnknown(options, KEYS, "saveSnapshot");
  if (options.timeline !== undefined && !(options.timeline instanceof Timeline)) throw bad("timeline", options.timeline, "a Timeline");
  if (options.workload !== undefined && !(options.workload instanceof GuestWorkload)) throw bad("workload", options.workload, "a GuestWorkload");
  if (options.diffOf !== undefined && (typeof options.diffOf !== "string" || options.diffOf === "")) throw bad("diffOf", options.diffOf, "the path of the base snapshot");
  if (options.trackDirty !== undefined && typeof options.trackDirty !== "boolean") throw bad("trackDirty", options.trackDirty, "true or false");
  if (options.diffOf !== undefined && options.trackDirty === false) {
    throw new HypermemError(ErrorCode.BadOption, `trackDirty false with diffOf ${options.diffOf}: a diff is taken from the VM's dirty tracking, which goes on from the diff`, { option: "trackDirty", value: false });
  }
  if (options.onProgress !== undefined && options.onProgress !== null && typeof options.onProgress !== "function") throw bad("onProgress", options.onProgress, "a function");
  return Object.freeze({
    timeline: options.timeline ?? new Timeline(),
    storage: resolveStorage(options.storage),
    workload: options.workload ?? null,
    diffOf: options.diffOf ?? null,
    trackDirty: options.trackDirty ?? options.diffOf !== undefined,
    chunkPages: requireInt("chunkPages", options.chunkPages ?? SAVE_DEFAULTS.chunkPages, 1, 65_536),
    workingSetLimitBytes: requireInt("workingSetLimitBytes", options.workingSetLimitBytes ?? SAVE_DEFAULTS.workingSetLimitBytes, 0, Number.MAX_SAFE_INTEGER),
    onProgress: options.onProgress ?? null,
  });
}
