// Recovery of a region after its compute host failed (seed T4): a failover
// host allocates a new region, loads the baseline from shared storage, reads
// the dirty-page lists one-sided from the surviving region, and copies every
// listed page one-sided, each checked against the version and crc32 its list
// entry names. A page whose home copy is older than its entry belongs to the
// last list, whose copy home was cut short: it is read from staging.
//
// When the memory host is unreachable, or a list fails its checks, recovery
// falls back to the baseline alone and says why. A bad baseline (crc, size,
// another generation than the region's) is ERR_REMOTE_BASELINE: there is
// nothing to fall back to. A listed page that matches neither copy is
// ERR_REMOTE_CHECKSUM. Nothing unchecked is ever used.
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { loadBaseline } from "./baseline.js";
import { opsNs, storageNs, type RemoteLinkModel, type StorageLinkModel } from "./link.js";
import { PAGE_BYTES, REGION_HEADER_BYTES } from "./region-layout.js";
import type { RemoteRegion } from "./region.js";

export interface RecoveryInput {
  /** The surviving region (null: the memory host is gone). */
  readonly region: RemoteRegion | null;
  readonly baselinePath: string;
  readonly pages: number;
  readonly link: RemoteLinkModel;
  readonly storage: StorageLinkModel;
  /** The new region's pages, when the failover host allocated them already (pages × 4096 bytes). @default a new SharedArrayBuffer */
  readonly into?: Uint8Array;
}

export type RecoveryMode = "baseline+lists" | "baseline-only";

export interface RecoveryReport {
  readonly mode: RecoveryMode;
  /** Why recovery fell back to the baseline alone; null when it did not. */
  readonly fallbackReason: string | null;
  readonly generation: number;
  readonly baselineEpoch: number;
  /** The recovery point: the last epoch the recovered memory holds. */
  readonly recoveredEpoch: number;
  readonly listsRead: number;
  readonly entriesRead: number;
  /** Distinct pages copied from the region (home or staging). */
  readonly pagesCopied: number;
  readonly pagesFromStaging: number;
  readonly storageBytesRead: number;
  readonly oneSidedBytesRead: number;
  readonly oneSidedReads: number;
  /** Simulated recovery time (the RTO): the baseline stream, then the one-sided reads. */
  readonly recoveryNs: number;
  readonly storageNs: number;
  readonly oneSidedNs: number;
  /** What it took here, wall clock. */
  readonly wallMs: number;
}

export interface Recovered {
  /** The new region's pages: pages × 4096 bytes in a SharedArrayBuffer of the failover host. */
  readonly memory: Uint8Array;
  readonly report: RecoveryReport;
}

/** Rebuilds a region's pages from the baseline and the region's published dirty lists. */
export function recoverRegion(input: RecoveryInput): Recovered {
  const started = performance.now();
  const memory = input.into ?? new Uint8Array(new SharedArrayBuffer(input.pages * PAGE_BYTES));
  if (memory.length !== input.pages * PAGE_BYTES) {
    throw new HypermemError(ErrorCode.Length, `recovering ${input.pages} pages needs ${input.pages * PAGE_BYTES} bytes, the new region has ${memory.length}`, { pages: input.pages });
  }
  const region = input.region;
  const traffic0 = region ? { ...region.traffic } : null;
  let fallbackReason: string | null = null;
  let header = null;
  try {
    header = region ? region.readHeader() : null;
  } catch (err) {
    if (!(err instanceof HypermemError) || err.code !== ErrorCode.RemoteUnreachable) throw err;
  }
  if (header === null) fallbackReason = "the memory host is unreachable";
  const baseline = loadBaseline(input.baselinePath, memory, input.pages);
  if (header && baseline.generation !== header.baselineGeneration) {
    throw new HypermemError(ErrorCode.RemoteBaseline, `${input.baselinePath} is baseline generation ${baseline.generation}; the region's lists follow generation ${header.baselineGeneration}`, { path: input.baselinePath, reason: "generation", generation: baseline.generation, expected: header.baselineGeneration });
  }
  let recoveredEpoch = baseline.epoch;
  let listsRead = 0;
  let entriesRead = 0;
  let pagesCopied = 0;
  let pagesFromStaging = 0;
  if (header && region) {
    let lists = null;
    try {
      lists = region.readLists(header);
    } catch (err) {
      if (!(err instanceof HypermemError) || (err.code !== ErrorCode.RemoteDirtyList && err.code !== ErrorCode.RemoteUnreachable)) throw err;
      fallbackReason = err.message;
    }
    if (lists) {
      // The newest entry of each page wins; remember which list it came from.
      const latest = new Map<number, { version: number; crc: number; slot: number; last: boolean }>();
      lists.forEach((list, i) => {
        const e = list.entries;
        for (let j = 0; j < e.length; j += 4) latest.set(e[j], { version: e[j + 1], crc: e[j + 2], slot: e[j + 3], last: i === lists!.length - 1 });
        entriesRead += e.length / 4;
      });
      for (const [pfn, entry] of latest) {
        const at = pfn * PAGE_BYTES;
        const home = region.readHome(pfn, memory, at);
        const page = memory.subarray(at, at + PAGE_BYTES);
        if (home.version === entry.version && crc32(page) === entry.crc) {
          pagesCopied++;
          continue;
        }
        if (entry.last && home.version < entry.version) {
          region.readStaged(entry.slot, memory, at);
          if (crc32(page) === entry.crc) {
            pagesCopied++;
            pagesFromStaging++;
            continue;
          }
        }
        throw new HypermemError(ErrorCode.RemoteChecksum, `page ${pfn}: neither its home copy (version ${home.version}) nor a staged copy matches its list entry (version ${entry.version}, crc32 0x${entry.crc.toString(16)})`, { pfn, version: entry.version });
      }
      listsRead = lists.length;
      if (lists.length > 0) recoveredEpoch = lists[lists.length - 1].epoch;
    }
  }
  const reads = traffic0 && region ? region.traffic.readOps - traffic0.readOps : 0;
  const bytes = traffic0 && region ? region.traffic.readBytes - traffic0.readBytes : 0;
  const storage = storageNs(input.storage, baseline.bytesRead);
  // The header and the lists are read first, in order; then the pages, queueDepth at a time.
  const oneSided = reads === 0 ? 0 : opsNs(input.link, Math.min(reads, 2), Math.min(bytes, REGION_HEADER_BYTES), 1) + opsNs(input.link, Math.max(0, reads - 2), Math.max(0, bytes - REGION_HEADER_BYTES));
  return {
    memory,
    report: Object.freeze({
      mode: fallbackReason === null ? "baseline+lists" : "baseline-only",
      fallbackReason,
      generation: baseline.generation,
      baselineEpoch: baseline.epoch,
      recoveredEpoch,
      listsRead,
      entriesRead,
      pagesCopied,
      pagesFromStaging,
      storageBytesRead: baseline.bytesRead,
      oneSidedBytesRead: bytes,
      oneSidedReads: reads,
      recoveryNs: storage + oneSided,
      storageNs: storage,
      oneSidedNs: oneSided,
      wallMs: performance.now() - started,
    } satisfies RecoveryReport),
  };
}
