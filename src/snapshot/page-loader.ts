// Moving pages from a snapshot chain into a restored guest, and what that
// costs. Pages to load are grouped into read requests of consecutive data
// slots of one file (one request = one sequential read, costed by the
// storage model: storage.ts); each request's pages are checked against
// their checksums (low 32 bits of XXH3-64) and installed: written into an
// untouched page before the guest runs, or brought back into a page placed
// "elsewhere" (a lazy one) by a fault or the prefetcher.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import { xxh3Hash64 } from "../pages/pages.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import type { SnapshotChain } from "./chain.js";
import { checksumMismatch, PageKind, pageChecksum } from "./format.js";
import { readLatencyNs, readNs, type StorageModel } from "./storage.js";

/** One sequential read: `slots` data slots of layer `layer` from `firstSlot`, carrying the merged entries `entries` (in slot order). */
export interface ReadRequest {
  readonly layer: number;
  readonly firstSlot: number;
  readonly slots: number;
  readonly entries: readonly number[];
}

/** The most slots one request reads (4 MiB). */
export const MAX_REQUEST_SLOTS = 1024;

/** What loading has cost so far. */
export interface LoadCounters {
  /** Bytes read from the files (metadata included). */
  bytesRead: number;
  requests: number;
  /** Simulated read time of every request, ns. */
  readNs: number;
}

/**
 * The gap of unneeded slots a request reads through rather than starting a
 * new request: reading it costs less than a new request's latency.
 */
export function readThroughSlots(m: StorageModel): number {
  return Math.floor(readLatencyNs(m) / 1e9 * m.seqReadBytesPerSec / PAGE_SIZE);
}

/**
 * Requests that read the merged entries `entries` (data pages) in file
 * order: slots of one layer in one request while the gap between them is
 * at most `gapSlots` (read through) and the request at most `maxSlots`.
 */
export function planRequests(chain: SnapshotChain, entries: Iterable<number>, gapSlots: number, maxSlots = MAX_REQUEST_SLOTS): ReadRequest[] {
  const m = chain.merged;
  const sorted = [...entries].sort((a, b) => m.layer[a] - m.layer[b] || m.slot[a] - m.slot[b]);
  const requests: ReadRequest[] = [];
  let current: { layer: number; firstSlot: number; slots: number; entries: number[] } | null = null;
  for (const e of sorted) {
    const layer = m.layer[e];
    const slot = m.slot[e];
    const end = current ? current.firstSlot + current.slots : 0;
    if (current && current.layer === layer && slot - end <= gapSlots && slot + 1 - current.firstSlot <= maxSlots) {
      current.slots = slot + 1 - current.firstSlot;
      current.entries.push(e);
      continue;
    }
    current = { layer, firstSlot: slot, slots: 1, entries: [e] };
    requests.push(current);
  }
  return requests;
}

/** A request covering slots [firstSlot, firstSlot + slots) of the top layer whole (the working set: one sequential read). */
export function wholeRangeRequest(chain: SnapshotChain, firstSlot: number, slots: number, entries: readonly number[]): ReadRequest {
  const m = chain.merged;
  const sorted = [...entries].sort((a, b) => m.slot[a] - m.slot[b]);
  return { layer: 0, firstSlot, slots, entries: sorted };
}

export class PageLoader {
  readonly counters: LoadCounters = { bytesRead: 0, requests: 0, readNs: 0 };
  readonly #vm: Vm;
  readonly #chain: SnapshotChain;
  readonly #storage: StorageModel;
  #buffer = new Uint8Array(MAX_REQUEST_SLOTS * PAGE_SIZE);
  readonly #hashes = new BigUint64Array(MAX_REQUEST_SLOTS);

  constructor(vm: Vm, chain: SnapshotChain, storage: StorageModel) {
    this.#vm = vm;
    this.#chain = chain;
    this.#storage = storage;
  }

  /** Counts reading `bytes` of metadata as one request. */
  chargeMetadata(bytes: number): void {
    this.counters.bytesRead += bytes;
    this.counters.requests++;
    this.counters.readNs += readNs(this.#storage, bytes);
  }

  /** Counts request `r` (its bytes and simulated time); returns the time. */
  #charge(r: ReadRequest): number {
    const ns = readNs(this.#storage, r.slots * PAGE_SIZE);
    this.counters.bytesRead += r.slots * PAGE_SIZE;
    this.counters.requests++;
    this.counters.readNs += ns;
    return ns;
  }

  /** Reads request `r` and returns its bytes (valid until the next read) and its simulated time. */
  read(r: ReadRequest): { bytes: Uint8Array; ns: number } {
    if (this.#buffer.length < r.slots * PAGE_SIZE) this.#buffer = new Uint8Array(r.slots * PAGE_SIZE);
    const bytes = this.#chain.layers[r.layer].readSlots(r.firstSlot, r.slots, this.#buffer);
    return { bytes, ns: this.#charge(r) };
  }

  /** True when request `r` is one run: every slot carries the next pfn. */
  #oneRun(r: ReadRequest): boolean {
    const m = this.#chain.merged;
    const [e0] = r.entries;
    return r.entries.length === r.slots && r.entries.every((e, k) => m.slot[e] === m.slot[e0] + k && m.pfn[e] === m.pfn[e0] + k);
  }

  /**
   * Reads request `r` into the guest's untouched pages and checks them
   * against their checksums: one run goes from the file straight into the
   * kernel's scratch (no copy on the way), anything else through a buffer.
   */
  loadFresh(r: ReadRequest): void {
    if (!this.#oneRun(r)) {
      const { bytes } = this.read(r);
      this.#installFresh(r, bytes);
      return;
    }
    const m = this.#chain.merged;
    const file = this.#chain.layers[r.layer];
    const first = r.entries[0];
    const hashes = this.#hashes.subarray(0, r.slots);
    this.#vm.fillPages(m.pfn[first], r.slots, (into, pfn) => { file.readSlots(r.firstSlot + pfn - m.pfn[first], into.length / PAGE_SIZE, into); }, hashes);
    this.#charge(r);
    this.#checkHashes(r.entries, hashes);
  }

  #checkHashes(entries: readonly number[], hashes: BigUint64Array): void {
    const m = this.#chain.merged;
    for (let k = 0; k < entries.length; k++) {
      const found = pageChecksum(hashes[k]);
      if (found !== m.checksum[entries[k]]) throw this.#mismatch(entries[k], found);
    }
  }

  #pageOf(r: ReadRequest, bytes: Uint8Array, e: number): Uint8Array {
    const at = (this.#chain.merged.slot[e] - r.firstSlot) * PAGE_SIZE;
    return bytes.subarray(at, at + PAGE_SIZE);
  }

  #mismatch(e: number, found: number): HypermemError {
    const m = this.#chain.merged;
    return checksumMismatch(this.#chain.layers[m.layer[e]].path, m.pfn[e], m.slot[e], found, m.checksum[e]);
  }

  /**
   * Writes the pages of request `r` (read into `bytes`) into the guest's
   * untouched pages, consecutive pages with one write each, and checks
   * them against their checksums (the fingerprints the write computes).
   */
  #installFresh(r: ReadRequest, bytes: Uint8Array): void {
    const m = this.#chain.merged;
    const vm = this.#vm;
    for (let i = 0; i < r.entries.length;) {
      const e = r.entries[i];
      let n = 1;
      while (i + n < r.entries.length && m.pfn[r.entries[i + n]] === m.pfn[e] + n && m.slot[r.entries[i + n]] === m.slot[e] + n) n++;
      const at = (m.slot[e] - r.firstSlot) * PAGE_SIZE;
      const hashes = this.#hashes.subarray(0, n);
      vm.writePages(m.pfn[e], bytes.subarray(at, at + n * PAGE_SIZE), hashes);
      this.#checkHashes(r.entries.slice(i, i + n), hashes);
      i += n;
    }
  }

  /** Checks and brings back merged entry `e`, whose page is elsewhere, from `page` (its 4 KiB). */
  bringBack(e: number, page: Uint8Array): void {
    const found = pageChecksum(xxh3Hash64(page));
    if (found !== this.#chain.merged.checksum[e]) throw this.#mismatch(e, found);
    this.#vm.states.bringBack(this.#chain.merged.pfn[e], page);
  }

  /** Brings back those pages of request `r` that `stillOut` says are still elsewhere; returns how many. */
  bringBackRequest(r: ReadRequest, bytes: Uint8Array, stillOut: (e: number) => boolean, loaded: (e: number) => void): number {
    let n = 0;
    for (const e of r.entries) {
      if (!stillOut(e)) continue;
      this.bringBack(e, this.#pageOf(r, bytes, e));
      loaded(e);
      n++;
    }
    return n;
  }

  /** Reads and checks the one page of merged entry `e` (a fault), bringing it back. */
  loadOne(e: number): number {
    const m = this.#chain.merged;
    const r: ReadRequest = { layer: m.layer[e], firstSlot: m.slot[e], slots: 1, entries: [e] };
    const { bytes, ns } = this.read(r);
    this.bringBack(e, bytes.subarray(0, PAGE_SIZE));
    return ns;
  }

  /** The metadata-only pages: poisoned with no frame, ballooned. */
  placeMetadata(entries: Iterable<number>): void {
    const m = this.#chain.merged;
    for (const e of entries) {
      if (m.kind[e] === PageKind.Poisoned) this.#vm.states.receivePoisoned(m.pfn[e]);
      else if (m.kind[e] === PageKind.Ballooned) this.#vm.states.balloon(m.pfn[e]);
      else throw new HypermemError(ErrorCode.PageState, `entry ${e} (page ${m.pfn[e]}) is a data page, not metadata`, { pfn: m.pfn[e] });
    }
  }
}
