// Recovery of a region after its compute host failed (seed T4): a failover
// host allocates a new region, loads the baseline from shared storage, reads
// the dirty-page lists one-sided from the surviving region, and copies every
// listed page one-sided, each checked against the version and XXH3-64 its
// list entry names. A page whose home copy is older than its entry belongs to
// the last list, whose copy home was cut short: it is read from staging.
//
// When the memory host is unreachable, or a list fails its checks, recovery
// falls back to the baseline alone and says why. A bad baseline (crc, size,
// a page's hash, another generation than the region's) is ERR_REMOTE_BASELINE:
// there is nothing to fall back to. A listed page that matches neither copy
// is ERR_REMOTE_CHECKSUM. Nothing unchecked is ever used.
//
// One pass, a window of 64 pages (256 KiB, in cache) at a time:
//
//   baseline file ──read──► window ◄──one copy per run── region's home pages
//                            │       (the listed pages, laid over their
//                            │        baseline copies, which go unused)
//                            ├─ XXH3-64 of the 64 pages: one kernel call
//                            ├─ each page checked: a listed page against its
//                            │  newest entry (else staging), the others
//                            │  against the baseline's metadata
//                            └──one copy──► the new region
//
// The newest entry of each page sits in two typed arrays indexed by pfn (no
// Map, no object per page). Bench: remote-recover-1GiB-10pct-vs-sab-copy.
import { ErrorCode, HypermemError } from "../errors.js";
import { withPageWindow, xxh3Pages } from "../pages/page-window.js";
import { BaselineReader } from "./baseline.js";
import { opsNs, storageNs, type RemoteLinkModel, type StorageLinkModel } from "./link.js";
import { E, LIST_ENTRY_WORDS, PAGE_BYTES, REGION_HEADER_BYTES } from "./region-layout.js";
import { hashOf, type DirtyList, type RegionHeader, type RemoteRegion } from "./region.js";

/** Pages read, hashed and copied per window: 256 KiB, which stays in a core's L2 cache. */
const WINDOW_PAGES = 64;

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
  let header: RegionHeader | null = null;
  try {
    header = region ? region.readHeader() : null;
  } catch (err) {
    if (!(err instanceof HypermemError) || err.code !== ErrorCode.RemoteUnreachable) throw err;
  }
  if (header === null) fallbackReason = "the memory host is unreachable";
  const file = BaselineReader.open(input.baselinePath, input.pages);
  let listed: NewestEntries | null = null;
  let lists: DirtyList[] = [];
  let fromStaging = 0;
  try {
    if (header && file.generation !== header.baselineGeneration) {
      throw new HypermemError(ErrorCode.RemoteBaseline, `${input.baselinePath} is baseline generation ${file.generation}; the region's lists follow generation ${header.baselineGeneration}`, { path: input.baselinePath, reason: "generation", generation: file.generation, expected: header.baselineGeneration });
    }
    if (header && region) {
      try {
        lists = region.readLists(header);
        listed = newestEntries(lists, input.pages);
      } catch (err) {
        if (!(err instanceof HypermemError) || (err.code !== ErrorCode.RemoteDirtyList && err.code !== ErrorCode.RemoteUnreachable)) throw err;
        fallbackReason = err.message;
      }
    }
    fromStaging = rebuild(file, region, listed, memory);
  } finally {
    file.close();
  }
  const recoveredEpoch = listed && lists.length > 0 ? lists[lists.length - 1].epoch : file.epoch;
  const reads = traffic0 && region ? region.traffic.readOps - traffic0.readOps : 0;
  const bytes = traffic0 && region ? region.traffic.readBytes - traffic0.readBytes : 0;
  const storage = storageNs(input.storage, file.sizeBytes);
  // The header and the lists are read first, in order; then the pages, queueDepth at a time.
  const oneSided = reads === 0 ? 0 : opsNs(input.link, Math.min(reads, 2), Math.min(bytes, REGION_HEADER_BYTES), 1) + opsNs(input.link, Math.max(0, reads - 2), Math.max(0, bytes - REGION_HEADER_BYTES));
  return {
    memory,
    report: Object.freeze({
      mode: fallbackReason === null ? "baseline+lists" : "baseline-only",
      fallbackReason,
      generation: file.generation,
      baselineEpoch: file.epoch,
      recoveredEpoch,
      listsRead: listed ? lists.length : 0,
      entriesRead: listed ? listed.entries : 0,
      pagesCopied: listed ? listed.pages : 0,
      pagesFromStaging: fromStaging,
      storageBytesRead: file.sizeBytes,
      oneSidedBytesRead: bytes,
      oneSidedReads: reads,
      recoveryNs: storage + oneSided,
      storageNs: storage,
      oneSidedNs: oneSided,
      wallMs: performance.now() - started,
    } satisfies RecoveryReport),
  };
}

/** The newest list entry of each page. */
interface NewestEntries {
  readonly lists: readonly DirtyList[];
  /** Per pfn: the index of the list holding the page's newest entry, -1 when no list names it. */
  readonly list: Int32Array;
  /** Per pfn: the word offset of that entry in its list's entries. */
  readonly entry: Uint32Array;
  /** Distinct pages listed. */
  readonly pages: number;
  readonly entries: number;
}

function newestEntries(lists: readonly DirtyList[], pages: number): NewestEntries {
  const list = new Int32Array(pages).fill(-1);
  const entry = new Uint32Array(pages);
  let entries = 0;
  let distinct = 0;
  for (let l = 0; l < lists.length; l++) {
    const e = lists[l].entries;
    for (let j = 0; j < e.length; j += LIST_ENTRY_WORDS) {
      const pfn = e[j + E.pfn];
      if (list[pfn] < 0) distinct++;
      list[pfn] = l;
      entry[pfn] = j;
    }
    entries += e.length / LIST_ENTRY_WORDS;
  }
  return { lists, list, entry, pages: distinct, entries };
}

/**
 * The one pass: each window of baseline pages, the listed pages laid over
 * it, hashed, checked and copied into `memory`. Returns the pages taken
 * from staging.
 */
function rebuild(file: BaselineReader, region: RemoteRegion | null, listed: NewestEntries | null, memory: Uint8Array): number {
  let fromStaging = 0;
  withPageWindow(WINDOW_PAGES, (window) => {
    for (let p = 0; p < file.pages; p += WINDOW_PAGES) {
      const n = Math.min(WINDOW_PAGES, file.pages - p);
      const bytes = window.bytes.subarray(0, n * PAGE_BYTES);
      file.readPages(p, bytes);
      if (listed && region) {
        for (let i = 0; i < n;) {
          if (listed.list[p + i] < 0) { i++; continue; }
          let j = i + 1;
          while (j < n && listed.list[p + j] >= 0) j++;
          region.readHomeRun(p + i, j - i, bytes, i * PAGE_BYTES);
          i = j;
        }
      }
      const hashes = window.hashPages(n);
      for (let i = 0; i < n; i++) {
        if (listed && region && listed.list[p + i] >= 0) fromStaging += checkListed(region, listed, p + i, hashes, i, bytes);
        else file.checkPage(p + i, hashes, i);
      }
      memory.set(bytes, p * PAGE_BYTES);
    }
  });
  return fromStaging;
}

/**
 * Checks listed page `pfn` (window page i, hash pair i) against its newest
 * entry: the home copy when its version and XXH3-64 match; else, for a page
 * of the last list whose home copy is older, the staged copy, read over
 * window page i and checked. Returns 1 when the staged copy was taken.
 */
function checkListed(region: RemoteRegion, listed: NewestEntries, pfn: number, hashes: Uint32Array, i: number, window: Uint8Array): number {
  const l = listed.list[pfn];
  const e = listed.lists[l].entries;
  const j = listed.entry[pfn];
  const version = e[j + E.version];
  const homeVersion = region.homeVersion(pfn);
  if (homeVersion === version && hashes[i * 2] === e[j + E.hashLow] && hashes[i * 2 + 1] === e[j + E.hashHigh]) return 0;
  if (l === listed.lists.length - 1 && homeVersion < version) {
    const page = window.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
    region.readStaged(e[j + E.stagingSlot], page);
    const staged = xxh3Pages(page);
    if (staged[0] === e[j + E.hashLow] && staged[1] === e[j + E.hashHigh]) return 1;
  }
  throw new HypermemError(ErrorCode.RemoteChecksum, `page ${pfn}: neither its home copy (version ${homeVersion}) nor a staged copy matches its list entry (version ${version}, XXH3-64 0x${hashOf(e[j + E.hashLow], e[j + E.hashHigh]).toString(16)})`, { pfn, version });
}
