// restoreSnapshot: a guest rebuilt on a host from a snapshot file (and the
// bases it is a diff against), in one of three modes:
//
//   eager         read every page ─────────────────────────► run
//   lazy          run; each first touch faults a page in from the file
//   active-first  read the working set in one pass ─► run; the rest faults
//                 in (and, with prefetch, streams in behind, in file order)
//
// Every check on the files happens before the guest is created (chain.ts,
// file-reader.ts); a page whose checksum fails while it is loaded is an
// ERR_SNAPSHOT_CORRUPT (before the guest runs: the guest is destroyed
// again). A page not loaded yet is "elsewhere" (src/host page states): the
// guest's first touch, or any hypervisor read (vm.read, a migration, a
// verification), faults it in through the VM's fault chain.
import { resolve as resolvePath } from "node:path";
import type { GuestWorkload } from "../host/guest-workload.js";
import { FaultReason, type Disposer, type Fault, type FaultAction } from "../host/faults.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import { SnapshotChain } from "./chain.js";
import { trackFrom } from "./dirty-tracking.js";
import { HEADER_BYTES, idHex, PageKind } from "./format.js";
import { PageLoader, planRequests, readThroughSlots, wholeRangeRequest, type ReadRequest } from "./page-loader.js";
import { resolveRestoreOptions, type ResolvedRestoreOptions, type RestoreMode, type RestoreOptions } from "./restore-options.js";
import { faultNs, readNs } from "./storage.js";

/** Pages per prefetch request (1 MiB): small enough that pages arrive while the guest runs. */
const PREFETCH_REQUEST_SLOTS = 256;

/** What a restore has done and cost so far (the counters go on as the guest faults pages in). */
export interface RestoreStats {
  readonly mode: RestoreMode;
  readonly storage: string;
  /** Simulated time until the guest could run: the metadata, then what the mode reads first, ns. */
  readonly timeToRunNs: number;
  /** Wall-clock ms restoreSnapshot took (the guest runs when it returns). */
  readonly timeToRunWallMs: number;
  /** Data pages read before the guest ran. */
  readonly pagesBeforeRun: number;
  /** Guest accesses that faulted a page in from the file. */
  readonly faultsServed: number;
  /** Pages a hypervisor read (vm.read, a migration, a verification) faulted in. */
  readonly hypervisorLoads: number;
  /** Pages the background prefetch brought in. */
  readonly prefetchedPages: number;
  /** Data pages still only in the file. */
  readonly pendingPages: number;
  /** Bytes read from the files, metadata included. */
  readonly bytesRead: number;
  readonly readRequests: number;
  /** Simulated time guest accesses waited for faults to be served, ns. */
  readonly stallNs: number;
}

export class RestoredGuest {
  readonly vm: Vm;
  /** The workload saved with the snapshot, resumed where it was at the instant (null when there was none or resumeWorkload was false). */
  readonly workload: GuestWorkload | null;
  readonly snapshotId: string;
  /** The files read, top first. */
  readonly files: readonly string[];
  readonly #o: ResolvedRestoreOptions;
  readonly #chain: SnapshotChain;
  readonly #loader: PageLoader;
  /** Per merged entry: 1 while its page is only in the file. */
  readonly #pending: Uint8Array;
  readonly #prefetch: ReadRequest[];
  #prefetchAt = 0;
  #prefetchDoneNs: number;
  #pendingCount = 0;
  #faults = 0;
  #hypervisorLoads = 0;
  #prefetched = 0;
  #stallNs = 0;
  #disposeHandler: Disposer | null = null;
  #closed = false;
  readonly #timeToRunNs: number;
  readonly #timeToRunWallMs: number;
  readonly #pagesBeforeRun: number;

  /** Use restoreSnapshot(). */
  constructor(vm: Vm, chain: SnapshotChain, o: ResolvedRestoreOptions, startedWallMs: number) {
    this.vm = vm;
    this.#o = o;
    this.#chain = chain;
    this.snapshotId = idHex(chain.top.header.snapshotId);
    this.files = Object.freeze(chain.layers.map((f) => f.path));
    this.#loader = new PageLoader(vm, chain, o.storage);
    const m = chain.merged;
    this.#pending = new Uint8Array(m.pfn.length);
    for (const layer of chain.layers) {
      this.#loader.chargeMetadata(HEADER_BYTES);
      this.#loader.chargeMetadata(layer.tailBytes);
    }
    const metadata: number[] = [];
    const data: number[] = [];
    for (let e = 0; e < m.pfn.length; e++) (m.kind[e] === PageKind.Data ? data : metadata).push(e);
    this.#loader.placeMetadata(metadata);
    const first = this.#firstRead(data);
    let pagesBeforeRun = 0;
    for (const r of first) {
      this.#loader.loadFresh(r);
      pagesBeforeRun += r.entries.length;
    }
    this.#pagesBeforeRun = pagesBeforeRun;
    const loaded = new Uint8Array(m.pfn.length);
    for (const r of first) for (const e of r.entries) loaded[e] = 1;
    const rest = data.filter((e) => loaded[e] === 0);
    for (const e of rest) {
      vm.states.placeElsewhere(m.pfn[e], e);
      this.#pending[e] = 1;
    }
    this.#pendingCount = rest.length;
    this.#disposeHandler = rest.length > 0 ? vm.onFault(FaultReason.Elsewhere, (f) => this.#onFault(f)) : null;
    if (m.kind.includes(PageKind.Poisoned)) vm.onFault(FaultReason.Poisoned, machineCheck);
    // The restore's own writes are not the guest's: a dirty or accessed log starts empty.
    vm.harvestDirty();
    vm.harvestAccessed();
    if (o.trackDirty) trackFrom(vm, chain.top.header.snapshotId, resolvePath(chain.top.path));
    this.#timeToRunNs = this.#loader.counters.readNs;
    this.#prefetchDoneNs = this.#timeToRunNs;
    this.#prefetch = o.prefetch ? planRequests(chain, rest, readThroughSlots(o.storage), PREFETCH_REQUEST_SLOTS) : [];
    const saved = chain.top.config.workload;
    this.workload = o.resumeWorkload && saved ? vm.startWorkload(saved.options) : null;
    this.workload?.restore(saved!.state);
    this.#timeToRunWallMs = performance.now() - startedWallMs;
  }

  get mode(): RestoreMode { return this.#o.mode; }
  /** Whether pages stream in behind the guest (restore option prefetch). */
  get prefetching(): boolean { return this.#o.prefetch; }

  /** The gap a request reads through under this storage model. */
  get #gap(): number { return readThroughSlots(this.#o.storage); }

  /** The requests the mode reads before the guest runs. */
  #firstRead(data: number[]): ReadRequest[] {
    if (this.#o.mode === "eager") return planRequests(this.#chain, data, this.#gap);
    if (this.#o.mode === "lazy") return [];
    const top = this.#chain.top;
    const active = activeEntries(this.#chain, data);
    const wsFirst = top.header.workingSetSlot;
    const m = this.#chain.merged;
    const inWorkingSet = active.filter((e) => m.layer[e] === 0 && m.slot[e] >= wsFirst);
    const others = active.filter((e) => !(m.layer[e] === 0 && m.slot[e] >= wsFirst));
    const ws = inWorkingSet.length > 0 ? [wholeRangeRequest(this.#chain, wsFirst, top.header.dataPages - wsFirst, inWorkingSet)] : [];
    return [...ws, ...planRequests(this.#chain, others, this.#gap)];
  }

  #onFault(f: Fault): FaultAction {
    const state = this.vm.states.of(f.pfn);
    if (state.kind !== "elsewhere") return "pass";
    const e = state.location;
    if (e >= this.#pending.length || this.#pending[e] !== 1 || this.#chain.merged.pfn[e] !== f.pfn) return "pass";
    this.#loader.loadOne(e);
    this.#loaded(e);
    if (f.by === "guest") {
      this.#faults++;
      this.#stallNs += faultNs(this.#o.storage);
    } else {
      this.#hypervisorLoads++;
    }
    return "retry";
  }

  #loaded(e: number): void {
    this.#pending[e] = 0;
    this.#pendingCount--;
  }

  /**
   * Lets the background prefetch catch up with simulated time `nowNs`
   * (from the start of the restore): every request that completes by then,
   * one after the other from the moment the guest ran, brings its pages
   * in. Returns the pages brought in.
   */
  prefetchUntil(nowNs: number): number {
    let n = 0;
    while (this.#prefetchAt < this.#prefetch.length) {
      const r = this.#prefetch[this.#prefetchAt];
      if (r.entries.every((e) => this.#pending[e] === 0)) {
        this.#prefetchAt++;
        continue;
      }
      const ns = readNs(this.#o.storage, r.slots * PAGE_SIZE);
      if (this.#prefetchDoneNs + ns > nowNs) break;
      this.#prefetchDoneNs += ns;
      const { bytes } = this.#loader.read(r);
      n += this.#loader.bringBackRequest(r, bytes, (e) => this.#pending[e] === 1, (e) => this.#loaded(e));
      this.#prefetchAt++;
    }
    this.#prefetched += n;
    return n;
  }

  /** Reads every page still only in the file (in file order); afterwards the guest no longer needs the files. */
  loadAll(): void {
    const rest: number[] = [];
    for (let e = 0; e < this.#pending.length; e++) if (this.#pending[e] === 1) rest.push(e);
    for (const r of planRequests(this.#chain, rest, this.#gap)) {
      const { bytes } = this.#loader.read(r);
      this.#loader.bringBackRequest(r, bytes, (e) => this.#pending[e] === 1, (e) => this.#loaded(e));
    }
  }

  get stats(): RestoreStats {
    const c = this.#loader.counters;
    return {
      mode: this.#o.mode, storage: this.#o.storage.name, timeToRunNs: this.#timeToRunNs, timeToRunWallMs: this.#timeToRunWallMs,
      pagesBeforeRun: this.#pagesBeforeRun, faultsServed: this.#faults, hypervisorLoads: this.#hypervisorLoads, prefetchedPages: this.#prefetched,
      pendingPages: this.#pendingCount, bytesRead: c.bytesRead, readRequests: c.requests, stallNs: this.#stallNs,
    };
  }

  /** Loads what is left (unless the VM was destroyed), removes the fault handler and closes the files. Idempotent. */
  close(): void {
    if (this.#closed) return;
    if (!this.vm.destroyed) this.loadAll();
    this.#disposeHandler?.();
    this.#disposeHandler = null;
    this.#chain.close();
    this.#closed = true;
  }
}

/** A guest access to a page restored poisoned gets a virtual machine check and is dropped (as on the host it was saved on). */
function machineCheck(f: Fault): FaultAction {
  if (f.by === "guest") f.vm.raiseMachineCheck({ gpa: f.gpa, pfn: f.pfn, write: f.write, foundLatent: false });
  return "skip";
}

/** The merged data entries whose pages are in the top file's active set. */
function activeEntries(chain: SnapshotChain, data: readonly number[]): number[] {
  const m = chain.merged;
  const runs = chain.top.activeRuns;
  const out: number[] = [];
  let r = 0;
  for (const e of data) {
    const pfn = m.pfn[e];
    while (r < runs.length && runs[r][0] + runs[r][1] <= pfn) r++;
    if (r < runs.length && runs[r][0] <= pfn) out.push(e);
  }
  return out;
}

/**
 * Restores the snapshot at `path` (and its bases) as a new VM on `host`,
 * in `options.mode`. Every file is checked before the VM is created; the
 * VM is destroyed again if a page fails its checksum before the guest
 * runs. Close the result (or call loadAll) before the files go away.
 */
export function restoreSnapshot(host: Host, path: string, options: RestoreOptions): RestoredGuest {
  const startedWallMs = performance.now();
  const o = resolveRestoreOptions(options);
  const chain = SnapshotChain.open(path);
  let vm: Vm | null = null;
  try {
    vm = host.createVm({ pages: chain.guestPages });
    return new RestoredGuest(vm, chain, o, startedWallMs);
  } catch (err) {
    vm?.destroy();
    chain.close();
    throw err;
  }
}
