// What a snapshot file holds (hypermem snapshot info): its header, the
// chain of bases it needs, its index and active set in numbers, the saved
// workload; and a full check of every stored page against its checksum,
// which a restore otherwise makes only as it reads each page.
import { xxh3Hash64 } from "../pages/pages.js";
import type { WorkloadOptions } from "../host/workload.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import { SnapshotChain } from "./chain.js";
import type { SnapshotFile } from "./file-reader.js";
import { checksumMismatch, idHex, PageKind, pageChecksum, SNAPSHOT_MAJOR, SNAPSHOT_MINOR } from "./format.js";

/** Slots read per request while verifying (4 MiB). */
const VERIFY_SLOTS = 1024;

export interface SnapshotInfo {
  readonly path: string;
  readonly version: string;
  readonly snapshotId: string;
  readonly kind: "full" | "diff";
  /** The files a restore reads, this one first, down to the full snapshot. */
  readonly chain: readonly string[];
  readonly guestPages: number;
  readonly fileBytes: number;
  /** Data slots in this file, the working set among them. */
  readonly dataSlots: number;
  readonly workingSetPages: number;
  /** Index entries of this file by kind (a full snapshot has no zero entries: its unlisted pages are zero). */
  readonly entries: { readonly data: number; readonly zero: number; readonly poisoned: number; readonly ballooned: number };
  readonly activePages: number;
  readonly activeRuns: number;
  /** The workload saved with the snapshot, or null. */
  readonly workload: WorkloadOptions | null;
}

function describe(file: SnapshotFile, chain: readonly string[]): SnapshotInfo {
  const count = (kind: PageKind): number => file.index.kind.reduce((n, k) => n + (k === kind ? 1 : 0), 0);
  return Object.freeze({
    path: file.path,
    version: `${SNAPSHOT_MAJOR}.${SNAPSHOT_MINOR}`,
    snapshotId: idHex(file.header.snapshotId),
    kind: file.header.diff ? "diff" : "full",
    chain,
    guestPages: file.header.guestPages,
    fileBytes: file.fileBytes,
    dataSlots: file.header.dataPages,
    workingSetPages: file.workingSetPages,
    entries: Object.freeze({ data: count(PageKind.Data), zero: count(PageKind.Zero), poisoned: count(PageKind.Poisoned), ballooned: count(PageKind.Ballooned) }),
    activePages: file.activeRuns.reduce((n, [, c]) => n + c, 0),
    activeRuns: file.activeRuns.length,
    workload: file.config.workload?.options ?? null,
  });
}

/** The snapshot at `path`, its chain opened and checked (every structural check; pages are not read). */
export function snapshotInfo(path: string): SnapshotInfo {
  const chain = SnapshotChain.open(path);
  try {
    return describe(chain.top, Object.freeze(chain.layers.map((f) => f.path)));
  } finally {
    chain.close();
  }
}

/** Reads every stored page of every file of the chain and checks it against its checksum; returns the pages checked. */
export function verifySnapshot(path: string): { readonly pagesChecked: number; readonly bytesRead: number } {
  const chain = SnapshotChain.open(path);
  try {
    let pagesChecked = 0;
    let bytesRead = 0;
    for (const file of chain.layers) {
      const bySlot = new Int32Array(file.header.dataPages).fill(-1);
      file.index.slot.forEach((slot, i) => { if (file.index.kind[i] === PageKind.Data) bySlot[slot] = i; });
      for (let first = 0; first < file.header.dataPages; first += VERIFY_SLOTS) {
        const n = Math.min(VERIFY_SLOTS, file.header.dataPages - first);
        const bytes = file.readSlots(first, n);
        bytesRead += bytes.length;
        for (let k = 0; k < n; k++) {
          const i = bySlot[first + k];
          if (i < 0) continue;
          const found = pageChecksum(xxh3Hash64(bytes.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE)));
          if (found !== file.index.checksum[i]) throw checksumMismatch(file.path, file.index.pfn[i], first + k, found, file.index.checksum[i]);
          pagesChecked++;
        }
      }
    }
    return { pagesChecked, bytesRead };
  } finally {
    chain.close();
  }
}
