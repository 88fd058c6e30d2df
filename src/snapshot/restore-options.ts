// The options of restoreSnapshot, resolved once into a frozen object.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";
import { resolveStorage, type StorageModel, type StoragePreset } from "./storage.js";

/**
 * - eager: every page is read before the guest runs.
 * - lazy: the guest runs at once; each page's first touch faults it in
 *   from the file (a userfaultfd handler's UFFDIO_COPY).
 * - active-first: the active set is read in one sequential pass (the
 *   working set), the guest runs, the rest faults in lazily (REAP).
 */
export type RestoreMode = "eager" | "lazy" | "active-first";
export const RESTORE_MODES: readonly RestoreMode[] = Object.freeze(["eager", "lazy", "active-first"]);

export interface RestoreOptions {
  mode: RestoreMode;
  /** The storage the file is read from: "nvme", "sata-ssd" or a model. @default "nvme" */
  storage?: StoragePreset | StorageModel;
  /** Read the pages left after the active set in the background, in file order, once the guest runs (active-first and lazy). @default false */
  prefetch?: boolean;
  /** Resume the workload saved with the snapshot (if any). @default true */
  resumeWorkload?: boolean;
  /** Count the pages written from the restore on, for a diff against this snapshot. @default false */
  trackDirty?: boolean;
}

export interface ResolvedRestoreOptions {
  readonly mode: RestoreMode;
  readonly storage: StorageModel;
  readonly prefetch: boolean;
  readonly resumeWorkload: boolean;
  readonly trackDirty: boolean;
}

function flag(options: RestoreOptions, name: "prefetch" | "resumeWorkload" | "trackDirty", fallback: boolean): boolean {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw new HypermemError(ErrorCode.BadOption, `${name} must be true or false, got ${String(v)}`, { option: name, value: v });
  return v;
}

export function resolveRestoreOptions(options: RestoreOptions): ResolvedRestoreOptions {
  if (typeof options !== "object" || options === null) {
    throw new HypermemError(ErrorCode.BadOption, `restoreSnapshot options must be an object such as { mode: "lazy" }, got ${String(options)}`, { option: "options" });
  }
  rejectUnknown(options, ["mode", "storage", "prefetch", "resumeWorkload", "trackDirty"], "restoreSnapshot");
  if (!RESTORE_MODES.includes(options.mode)) {
    throw new HypermemError(ErrorCode.BadOption, `mode must be one of ${RESTORE_MODES.join(", ")}, got ${JSON.stringify(options.mode)}`, { option: "mode", value: options.mode });
  }
  const prefetch = flag(options, "prefetch", false);
  if (prefetch && options.mode === "eager") {
    throw new HypermemError(ErrorCode.BadOption, "prefetch with mode eager: an eager restore reads every page before the guest runs, there is nothing left to prefetch", { option: "prefetch", value: true });
  }
  return Object.freeze({
    mode: options.mode,
    storage: resolveStorage(options.storage),
    prefetch,
    resumeWorkload: flag(options, "resumeWorkload", true),
    trackDirty: flag(options, "trackDirty", false),
  });
}
