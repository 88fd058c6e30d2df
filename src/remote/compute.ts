// The compute host's side of remote memory: a VM whose memory is backed by a
// region on a memory host, with only `localPages` of it in local DRAM. Pages
// not in DRAM are "elsewhere" (location = their page number in the region):
// an access faults, and the fault handler reads the page one-sided from the
// region (or from the write-back still in flight) and brings it back.
//
// Time is in epochs. At each epoch boundary the host takes the pages the
// guest dirtied (its own dirty-log reader), copies them out, and writes them
// back over the link in three timed steps: each page to the region's staging
// area, then the epoch's dirty list is published (version and XXH3-64 per
// page), then each page home. Then cold pages (its own accessed-log reader,
// a CLOCK sweep) leave DRAM down to `localPages`: they are clean now, their
// bytes are in the region or in the write-back. Every `baselineEveryNs`, with
// no write-back in flight, the home pages go to a baseline file of the next
// generation and the region's list log starts again.
//
// A failure (fail()) can come at any instant: a write-back step due later
// never happens. What the failover host can rebuild is the region at the last
// published list; what it cannot is everything written after it.
import { ErrorCode, HypermemError } from "../errors.js";
import { FaultReason, type Disposer, type Fault, type FaultAction } from "../host/faults.js";
import type { PageLogReader } from "../host/page-log.js";
import { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { xxh3Pages } from "../pages/page-window.js";
import { writeBaseline } from "./baseline.js";
import { opsNs, storageNs, type RemoteLinkModel, type StorageLinkModel } from "./link.js";
import { PAGE_BYTES } from "./region-layout.js";
import { dirtyListEntries, type RemoteRegion } from "./region.js";

export interface RemoteMemoryConfig {
  /** Guest pages the compute host keeps in DRAM. */
  readonly localPages: number;
  readonly baselinePath: string;
  readonly baselineEveryNs: number;
  readonly link: RemoteLinkModel;
  readonly storage: StorageLinkModel;
}

/** An epoch's write-back: its pages copied out at the boundary, and when each step completes. */
interface WriteBack {
  readonly epoch: number;
  readonly pfns: Uint32Array;
  readonly bytes: Uint8Array;
  readonly versions: Uint32Array;
  /** XXH3-64 per page: u32 pairs (low, high). */
  readonly hashes: Uint32Array;
  readonly startNs: number;
  readonly perPageNs: number;
  readonly publishNs: number;
  staged: number;
  published: boolean;
  applied: number;
  /** Index of each page in `pfns`. */
  readonly index: Map<number, number>;
}

export interface RemoteMemoryStats {
  remoteFaults: number;
  faultStallNs: number;
  pagesWrittenBack: number;
  evictions: number;
  epochsPublished: number;
  baselines: number;
  baselineBytes: number;
  baselineNs: number;
}

/** What the compute host leaves behind when it fails. */
export interface FailurePoint {
  readonly atNs: number;
  readonly lastPublishedEpoch: number;
  readonly lastPublishNs: number;
  /** When the last baseline was taken. */
  readonly lastBaselineNs: number;
  /** Pages written after the last published list: dirty in DRAM, or in a write-back not yet published. */
  readonly pagesLost: number;
  /** Was a write-back in flight, and in which step. */
  readonly writeBack: "none" | "staging" | "copying home";
}

export class RemoteMemory {
  readonly vm: Vm;
  readonly region: RemoteRegion;
  readonly config: RemoteMemoryConfig;
  readonly stats: RemoteMemoryStats = { remoteFaults: 0, faultStallNs: 0, pagesWrittenBack: 0, evictions: 0, epochsPublished: 0, baselines: 0, baselineBytes: 0, baselineNs: 0 };
  /** Called when an epoch's list is published, with its pages (the recovery point moves). */
  onPublish: ((epoch: number, pfns: Uint32Array, bytes: Uint8Array) => void) | null = null;
  readonly #dirty: PageLogReader;
  readonly #accessed: PageLogReader;
  readonly #list: PfnList;
  readonly #versions: Uint32Array;
  readonly #dispose: Disposer;
  #writeBack: WriteBack | null = null;
  #epoch = 0;
  #generation = 0;
  #lastPublishNs = 0;
  #lastBaselineNs = 0;
  #clockHand = 0;
  #failed = false;

  constructor(vm: Vm, region: RemoteRegion, config: RemoteMemoryConfig) {
    if (region.geometry.pages !== vm.pages) {
      throw new HypermemError(ErrorCode.BadOption, `the region has ${region.geometry.pages} pages, vm ${vm.id} has ${vm.pages}`, { pages: region.geometry.pages });
    }
    if (!Number.isSafeInteger(config.localPages) || config.localPages < 1 || config.localPages > vm.pages) {
      throw new HypermemError(ErrorCode.BadOption, `localPages must be from 1 to the guest's ${vm.pages} pages, got ${String(config.localPages)}`, { option: "localPages", value: config.localPages });
    }
    this.vm = vm;
    this.region = region;
    this.config = Object.freeze({ ...config });
    this.#versions = new Uint32Array(vm.pages);
    this.#dirty = vm.dirtyLog.open("remote-memory");
    this.#accessed = vm.accessedLog.open("remote-memory");
    this.#list = new PfnList(vm.host.kernels, Math.ceil(vm.pages / 64) * 64);
    this.#dispose = vm.onFault(FaultReason.Elsewhere, (f) => this.#fault(f));
  }

  get epoch(): number { return this.#epoch; }
  get generation(): number { return this.#generation; }
  get writeBackInFlight(): boolean { return this.#writeBack !== null; }
  /** Guest pages in local DRAM now. */
  get localPagesInUse(): number { return this.vm.pages - this.vm.states.counts().elsewherePages; }

  /**
   * Places the whole guest in the region (version 1), writes baseline
   * generation 1, and moves all but `localPages` pages out of DRAM.
   */
  start(nowNs: number): void {
    const pages = this.vm.pages;
    const batch = 1024;
    for (let first = 0; first < pages; first += batch) {
      const n = Math.min(batch, pages - first);
      const bytes = this.vm.readPages(first, n);
      const hashes = xxh3Pages(bytes);
      for (let i = 0; i < n; i++) {
        this.#versions[first + i] = 1;
        this.region.writeHome(first + i, bytes.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), 1, hashes, i);
      }
    }
    this.#dirty.sync();
    this.#dirty.pages.clear();
    this.#baseline(nowNs);
    this.#evict(pages - this.config.localPages);
  }

  #fault(f: Fault): FaultAction {
    const state = this.vm.states.of(f.pfn);
    if (state.kind !== "elsewhere" || state.location !== f.pfn) return "pass";
    const wb = this.#writeBack;
    const i = wb?.index.get(f.pfn);
    let page: Uint8Array;
    if (wb && i !== undefined && wb.applied <= i) {
      page = wb.bytes.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
    } else {
      page = new Uint8Array(PAGE_BYTES);
      this.region.readHomeVerified(f.pfn, page);
      this.stats.faultStallNs += opsNs(this.config.link, 1, PAGE_BYTES, 1);
    }
    this.vm.states.bringBack(f.pfn, page);
    this.stats.remoteFaults++;
    return "retry";
  }

  /** Pages dirtied since the last boundary (a sync of the reader). */
  dirtyPending(): number { return this.#dirty.sync(); }

  /** Runs the write-back steps due by `nowNs`; starts a baseline when one is due and nothing is in flight. */
  advance(nowNs: number): void {
    if (this.#failed) return;
    const wb = this.#writeBack;
    if (wb) {
      const n = wb.pfns.length;
      const dueStaged = Math.min(n, Math.floor((nowNs - wb.startNs) / wb.perPageNs));
      for (; wb.staged < dueStaged; wb.staged++) this.region.writeStaged(wb.staged, wb.bytes.subarray(wb.staged * PAGE_BYTES, (wb.staged + 1) * PAGE_BYTES));
      if (!wb.published && wb.staged === n && nowNs >= wb.publishNs) this.#publish(wb);
      if (wb.published) {
        const dueApplied = Math.min(n, Math.floor((nowNs - wb.publishNs) / wb.perPageNs));
        for (; wb.applied < dueApplied; wb.applied++) {
          const i = wb.applied;
          this.region.writeHome(wb.pfns[i], wb.bytes.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), wb.versions[i], wb.hashes, i);
        }
        if (wb.applied === n) this.#writeBack = null;
      }
    }
    if (!this.#writeBack && nowNs - this.#lastBaselineNs >= this.config.baselineEveryNs) this.#baseline(nowNs);
  }

  /** When the write-back in flight (if any) will be done, ns. */
  get writeBackDoneNs(): number {
    const wb = this.#writeBack;
    return wb ? wb.publishNs + wb.pfns.length * wb.perPageNs : 0;
  }

  #publish(wb: WriteBack): void {
    if (!this.region.listFits(wb.pfns.length)) {
      throw new HypermemError(ErrorCode.RemoteCapacity, `epoch ${wb.epoch}'s list of ${wb.pfns.length} pages does not fit the region's list log`, { epoch: wb.epoch });
    }
    this.region.publishList(wb.epoch, dirtyListEntries(wb.pfns, wb.versions, wb.hashes));
    wb.published = true;
    this.#lastPublishNs = wb.publishNs;
    this.stats.epochsPublished++;
    this.onPublish?.(wb.epoch, wb.pfns, wb.bytes);
  }

  /**
   * Ends the epoch at `nowNs`: copies the dirty pages out and schedules their
   * write-back, then evicts cold pages down to localPages. Refused while a
   * write-back is in flight (the caller waits for writeBackDoneNs).
   */
  endEpoch(nowNs: number): void {
    if (this.#failed) throw new HypermemError(ErrorCode.Destroyed, "the compute host failed", {});
    if (this.#writeBack) throw new HypermemError(ErrorCode.BadOption, `epoch ${this.#epoch + 1} cannot end at ${nowNs} ns: the previous write-back runs until ${this.writeBackDoneNs} ns`, { nowNs });
    this.#dirty.sync();
    const words = Math.ceil(this.vm.pages / 64);
    this.#dirty.takeWindow(0, words, this.#list);
    const count = this.#list.length;
    if (count > this.region.geometry.stagingPages) {
      this.#dirty.requeue(this.#list);
      throw new HypermemError(ErrorCode.RemoteCapacity, `${count} dirty pages do not fit the region's ${this.region.geometry.stagingPages} staging pages: end epochs sooner`, { count });
    }
    if (count > 0) {
      if (!this.region.listFits(count)) this.#baseline(nowNs);
      const pfns = Uint32Array.from(this.#list.toArray());
      const bytes = this.vm.gatherPages(pfns);
      const versions = new Uint32Array(count);
      const hashes = xxh3Pages(bytes);
      const index = new Map<number, number>();
      for (let i = 0; i < count; i++) {
        versions[i] = ++this.#versions[pfns[i]];
        index.set(pfns[i], i);
      }
      const link = this.config.link;
      const perPageNs = opsNs(link, 1, PAGE_BYTES) / link.queueDepth + (PAGE_BYTES / link.bytesPerSec) * 1e9 * (1 - 1 / link.queueDepth);
      this.#writeBack = { epoch: ++this.#epoch, pfns, bytes, versions, hashes, startNs: nowNs, perPageNs, publishNs: nowNs + count * perPageNs + link.latencyNs, staged: 0, published: false, applied: 0, index };
      this.stats.pagesWrittenBack += count;
    }
    this.#evict(this.localPagesInUse - this.config.localPages);
  }

  /** Moves `count` pages out of DRAM, coldest first (a CLOCK sweep over the accessed bits). */
  #evict(count: number): void {
    if (count <= 0) return;
    this.#accessed.sync();
    const touched = this.#accessed.pages;
    const pages = this.vm.pages;
    let moved = 0;
    for (let pass = 0; pass < 2 && moved < count; pass++) {
      for (let n = 0; n < pages && moved < count; n++) {
        const pfn = this.#clockHand;
        this.#clockHand = (this.#clockHand + 1) % pages;
        if (this.vm.states.of(pfn).kind !== "present") continue;
        if (touched.has(pfn)) {
          touched.delete(pfn);
          continue;
        }
        this.vm.states.moveElsewhere(pfn, pfn);
        moved++;
      }
    }
    this.stats.evictions += moved;
  }

  #baseline(nowNs: number): void {
    const generation = this.#generation + 1;
    const home = this.region.homeView();
    const bytes = writeBaseline(this.config.baselinePath, generation, this.#epoch, home.pages, home.meta);
    this.region.startGeneration(generation, this.#epoch);
    this.#generation = generation;
    this.#lastBaselineNs = nowNs;
    this.stats.baselines++;
    this.stats.baselineBytes += bytes;
    this.stats.baselineNs += storageNs(this.config.storage, bytes);
  }

  /**
   * The compute host fails at `nowNs` (after advance(nowNs)): its write-back
   * stops where it is. The fault handler answers until close(), so the
   * guest's memory at the failure can still be read (to measure the loss).
   */
  fail(nowNs: number): FailurePoint {
    this.#failed = true;
    const wb = this.#writeBack;
    const dirty = this.#dirty.sync();
    let lost = dirty;
    if (wb && !wb.published) for (const pfn of wb.pfns) if (!this.#dirty.pages.has(pfn)) lost++;
    const point: FailurePoint = {
      atNs: nowNs,
      lastPublishedEpoch: wb && !wb.published ? wb.epoch - 1 : this.#epoch,
      lastPublishNs: this.#lastPublishNs,
      lastBaselineNs: this.#lastBaselineNs,
      pagesLost: lost,
      writeBack: wb === null ? "none" : wb.published ? "copying home" : "staging",
    };
    return Object.freeze(point);
  }

  /** Releases the readers, the list and the fault handler. Idempotent. */
  close(): void {
    this.#failed = true;
    if (this.#dirty.closed) return;
    this.#dispose();
    this.#dirty.close();
    this.#accessed.close();
    this.#list.free();
  }
}
