// Dirty tracking between snapshots, for diff snapshots (Firecracker's
// track_dirty_pages): a reader of the VM's dirty log opened at the instant of
// a snapshot (saved, or restored) collects every page the guest writes from
// then on; the next diff saves exactly those pages and starts the count
// again. The tracking remembers which snapshot it counts from, so a diff
// is only ever taken against that snapshot.
import { ErrorCode, HypermemError } from "../errors.js";
import type { PageBitmap } from "../host/bitmap.js";
import type { PageLogReader } from "../host/page-log.js";
import type { Vm } from "../host/vm.js";
import { idHex } from "./format.js";

/** The name of the dirty-log reader a tracked VM has open. */
export const DIFF_READER = "snapshot-diff";

interface Tracking {
  readonly reader: PageLogReader;
  snapshotId: Uint8Array;
  path: string;
}

const tracking = new WeakMap<Vm, Tracking>();

/** The snapshot `vm`'s dirty tracking counts from, or null when it is not tracked. */
export function trackedSnapshotOf(vm: Vm): { readonly snapshotId: Uint8Array; readonly path: string } | null {
  const t = tracking.get(vm);
  return t && !t.reader.closed ? { snapshotId: t.snapshotId, path: t.path } : null;
}

/** Stops dirty tracking of `vm` (a later diff is refused until a snapshot is taken with tracking again). Idempotent. */
export function stopDirtyTracking(vm: Vm): void {
  tracking.get(vm)?.reader.close();
  tracking.delete(vm);
}

/** What the instant of a tracked snapshot hands the save: the pages written since the tracked one, and how to end. */
export interface TrackingStart {
  /** Pages written since the snapshot tracking counted from (null when there was none). */
  readonly dirty: PageBitmap | null;
  /** The save succeeded: count from snapshot `snapshotId` at `path` now. */
  commit(snapshotId: Uint8Array, path: string): void;
  /** The save failed: the pages written since the old snapshot are counted again, as if this save never happened. */
  rollback(): void;
}

/**
 * At the instant of a save (guest paused): syncs the VM's tracking reader
 * (opening it if `vm` is not tracked yet) and empties it, so that it counts
 * from this instant. `expectBaseId`, for a diff, must be the snapshot the
 * tracking counts from.
 */
export function beginTrackedSnapshot(vm: Vm, expectBaseId: Uint8Array | null, basePath: string | null): TrackingStart {
  const existing = tracking.get(vm);
  const live = existing && !existing.reader.closed ? existing : undefined;
  if (expectBaseId !== null) {
    if (!live) {
      throw new HypermemError(ErrorCode.SnapshotBase,
        `vm ${vm.id} has no dirty tracking: a diff against ${basePath} needs the base saved (or restored) with trackDirty`, { reason: "untracked", basePath });
    }
    if (Buffer.compare(live.snapshotId, expectBaseId) !== 0) {
      throw new HypermemError(ErrorCode.SnapshotBase,
        `the base ${basePath} is snapshot ${idHex(expectBaseId)}, but vm ${vm.id} tracks the pages written since snapshot ${idHex(live.snapshotId)} (${live.path})`,
        { reason: "different", basePath, baseId: idHex(expectBaseId), trackedId: idHex(live.snapshotId) });
    }
  }
  const reader = live?.reader ?? vm.dirtyLog.open(DIFF_READER);
  reader.sync();
  const dirty = live ? reader.pages.snapshot() : null;
  reader.pages.clear();
  return {
    dirty,
    commit(snapshotId, path) {
      if (live) {
        live.snapshotId = snapshotId;
        live.path = path;
      } else {
        tracking.set(vm, { reader, snapshotId, path });
      }
    },
    rollback() {
      if (!live) {
        reader.close();
        return;
      }
      if (!dirty || reader.closed) return;
      for (const pfn of dirty.toArray()) reader.pages.add(pfn);
    },
  };
}

/** Counts `vm`'s writes from now on against snapshot `snapshotId` at `path` (after a restore). */
export function trackFrom(vm: Vm, snapshotId: Uint8Array, path: string): void {
  beginTrackedSnapshot(vm, null, null).commit(snapshotId, path);
}
