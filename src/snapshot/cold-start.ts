// The cold-start measure of a restore: how long until the guest's first N
// accesses complete, counted from the start of the restore, in simulated
// time and in wall-clock time on the real file. The restored workload (the
// one saved with the snapshot, resumed at the instant) runs in steps; in
// simulated time
//
//   coldStartNs = timeToRunNs + N / ratePerSec × 1e9 + Σ faults × faultNs
//
// (each fault stalls the vCPU for one served page: storage.ts), with the
// background prefetch, if any, catching up with the guest's time before
// each step. compareRestoreModes runs the three modes on the same snapshot
// and workload, one after the other on one host whose memory is committed
// first, and checks that they leave the same guest memory.
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost, type Host } from "../host/host.js";
import { rejectUnknown, requireInt } from "../options.js";
import { guestDigest } from "../stream/fingerprints.js";
import { SnapshotChain } from "./chain.js";
import { restoreSnapshot, type RestoredGuest } from "./restore.js";
import { RESTORE_MODES, type RestoreMode } from "./restore-options.js";
import { resolveStorage, type StorageModel, type StoragePreset } from "./storage.js";

/** Accesses per step of the cold-start run (the prefetcher is looked at between steps). */
export const COLD_START_STEP = 1_000;

export interface ColdStart {
  readonly mode: RestoreMode;
  readonly storage: string;
  readonly prefetch: boolean;
  /** The N of "first N accesses". */
  readonly accesses: number;
  readonly timeToRunNs: number;
  /** Simulated time from the start of the restore until the first N accesses completed, ns. */
  readonly coldStartNs: number;
  readonly timeToRunWallMs: number;
  readonly coldStartWallMs: number;
  readonly pagesBeforeRun: number;
  /** Page faults served from the file during the N accesses. */
  readonly faultsServed: number;
  readonly stallNs: number;
  readonly prefetchedPages: number;
  /** Bytes read from the files until the N accesses completed (metadata included). */
  readonly bytesRead: number;
  readonly readRequests: number;
}

/** Runs the first `accesses` accesses of `restored`'s workload and measures them (see the file header). */
export function measureColdStart(restored: RestoredGuest, accesses: number): ColdStart {
  requireInt("accesses", accesses, 1, Number.MAX_SAFE_INTEGER);
  const workload = restored.workload;
  if (workload === null) {
    throw new HypermemError(ErrorCode.BadOption, `the snapshot restored as vm ${restored.vm.id} has no workload to run (save it with its workload)`, { option: "workload" });
  }
  const wallStart = performance.now();
  const before = restored.stats;
  const nsPerAccess = 1e9 / workload.ratePerSec;
  let simNs = before.timeToRunNs;
  let done = 0;
  while (done < accesses) {
    restored.prefetchUntil(simNs);
    const stallBefore = restored.stats.stallNs;
    const step = Math.min(COLD_START_STEP, accesses - done);
    const run = workload.runFor(step * nsPerAccess);
    done += run.accesses;
    simNs += run.accesses * nsPerAccess + (restored.stats.stallNs - stallBefore);
    if (!run.more && run.accesses === 0) break;
  }
  const after = restored.stats;
  return Object.freeze({
    mode: after.mode, storage: after.storage, prefetch: restored.prefetching, accesses: done,
    timeToRunNs: after.timeToRunNs, coldStartNs: simNs,
    timeToRunWallMs: after.timeToRunWallMs, coldStartWallMs: after.timeToRunWallMs + (performance.now() - wallStart),
    pagesBeforeRun: after.pagesBeforeRun, faultsServed: after.faultsServed - before.faultsServed, stallNs: after.stallNs - before.stallNs,
    prefetchedPages: after.prefetchedPages, bytesRead: after.bytesRead, readRequests: after.readRequests,
  });
}

export interface CompareOptions {
  /** @default "nvme" */
  storage?: StoragePreset | StorageModel;
  /** The N of "first N accesses". @default 100_000 */
  accesses?: number;
  /** Background prefetch in the active-first run. @default false */
  prefetch?: boolean;
}

export interface ModeComparison {
  readonly rows: readonly ColdStart[];
  /** The guests' memory digests after every page was loaded, one per mode: all equal when the modes agree. */
  readonly digests: readonly bigint[];
  readonly identicalMemory: boolean;
}

/** Host memory, MiB, that holds a restored guest of `guestPages` pages whatever it touches: every page, its page tables and 8 MiB of buffers. */
export function restoreHostMiB(guestPages: number): number {
  const tables = 1 + Math.ceil(guestPages / 2 ** 27) + Math.ceil(guestPages / 2 ** 18) + Math.ceil(guestPages / 2 ** 9);
  return Math.min(4096, Math.ceil((guestPages + tables) / 256) + 8);
}

/**
 * A host for restores of `guestPages`-page guests whose memory is committed
 * already (every frame a guest can take was written once and freed), so
 * that no restore on it pays the operating system's first touch of fresh
 * memory and the modes compare on equal terms.
 */
export function committedHost(guestPages: number): Host {
  const host = createHost({ memoryMiB: restoreHostMiB(guestPages) });
  const vm = host.createVm({ pages: guestPages });
  vm.fillPages(0, guestPages, (into) => { into.fill(0); });
  vm.destroy();
  return host;
}

function resolveCompareOptions(options: CompareOptions): Readonly<{ storage: StorageModel; accesses: number; prefetch: boolean }> {
  if (typeof options !== "object" || options === null) {
    throw new HypermemError(ErrorCode.BadOption, `compareRestoreModes options must be an object such as { accesses: 10000 }, got ${String(options)}`, { option: "options" });
  }
  rejectUnknown(options, ["storage", "accesses", "prefetch"], "compareRestoreModes");
  const prefetch = options.prefetch ?? false;
  if (typeof prefetch !== "boolean") throw new HypermemError(ErrorCode.BadOption, `prefetch must be true or false, got ${String(prefetch)}`, { option: "prefetch", value: prefetch });
  return Object.freeze({
    storage: resolveStorage(options.storage),
    accesses: requireInt("accesses", options.accesses ?? 100_000, 1, Number.MAX_SAFE_INTEGER),
    prefetch,
  });
}

/** Restores the snapshot at `path` in each mode on one committed host, runs the same first N accesses, and compares (see the file header). */
export function compareRestoreModes(path: string, options: CompareOptions = {}): ModeComparison {
  const { storage, accesses, prefetch } = resolveCompareOptions(options);
  const chain = SnapshotChain.open(path);
  const host = committedHost(chain.guestPages);
  chain.close();
  const rows: ColdStart[] = [];
  const digests: bigint[] = [];
  for (const mode of RESTORE_MODES) {
    const restored = restoreSnapshot(host, path, { mode, storage, prefetch: mode === "active-first" && prefetch });
    try {
      rows.push(measureColdStart(restored, accesses));
      restored.loadAll();
      digests.push(guestDigest(restored.vm).digest);
    } finally {
      restored.workload?.close();
      restored.close();
      restored.vm.destroy();
    }
  }
  return Object.freeze({ rows: Object.freeze(rows), digests: Object.freeze(digests), identicalMemory: digests.every((d) => d === digests[0]) });
}
