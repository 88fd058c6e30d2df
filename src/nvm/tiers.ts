// A VM region backed by NVM blocks, with DRAM in front and a storage file
// behind (seed T6, US11249900B2). Every guest page has a home block; a page
// not in DRAM is "elsewhere" and its page-table entries (the VM's and those
// of snapshot VMs that map the same blocks) hold a location:
//
//   virtblocks (the seed)             direct (the baseline)
//   PTE ─► virtblock entry v ─► block   PTE ─► block b          (on NVM)
//                           └─► slot    PTE ─► STORAGE_TAG + s  (on storage)
//
// A virtblock entry (8 bytes in the NVM device, entry v for guest page v):
//   bits 0..1 state: 0 on NVM, 1 purging, 2 on storage, 3 fetching
//   bits 2..  the block number (on NVM, purging) or the storage slot (on storage, fetching)
//
// Every sample period: the accessed-log reader ages every page (an age
// histogram: 0 when accessed in the period, +1 otherwise, up to 255); DRAM
// above its share demotes the oldest pages to their blocks (written when
// dirty, from its own dirty-log reader); when free NVM falls under the low
// watermark, the oldest blocks not in DRAM are purged to the storage file
// until free NVM reaches the high watermark, at most `purgeBlocksPerSec`.
// With virtblocks a purge writes the block to the file and rewrites only its
// entry (purging, then on storage): no page-table entry changes, no TLB
// shootdown. Without, every mapping of the block is rewritten (one
// page-table write each, vm.states.relocateElsewhere) and each needs a
// shootdown, counted. A fetch (an access to a purged page) reads the slot
// back into a free block and goes the other way.
import { ErrorCode, HypermemError } from "../errors.js";
import { FaultReason, type Disposer, type Fault, type FaultAction } from "../host/faults.js";
import type { PageLogReader } from "../host/page-log.js";
import type { Vm } from "../host/vm.js";
import { BLOCK_BYTES, type NvmDevice } from "./device.js";
import type { StorageFile } from "./storage-file.js";

export const ENTRY_STATE = Object.freeze({ onNvm: 0, purging: 1, onStorage: 2, fetching: 3 });
export type EntryStateName = "on NVM" | "purging" | "on storage" | "fetching";
const STATE_NAMES: readonly EntryStateName[] = ["on NVM", "purging", "on storage", "fetching"];
/** Direct mapping: a location at or past this is a storage slot. */
export const STORAGE_TAG = 2 ** 39;
const MAX_AGE = 255;

export interface NvmTiersConfig {
  /** Rewrite only virtblock entries (true) or every mapping (false). */
  readonly virtblocks: boolean;
  readonly dramPages: number;
  /** Free NVM fractions: purge below `low`, up to `high`. */
  readonly lowWatermark: number;
  readonly highWatermark: number;
  readonly purgeBlocksPerSec: number;
  readonly samplePeriodNs: number;
}

export interface NvmStats {
  promotions: number;
  nvmHits: number;
  nvmMisses: number;
  demotions: number;
  dirtyDemotions: number;
  purges: number;
  emergencyPurges: number;
  fetches: number;
  pteUpdates: number;
  tlbShootdowns: number;
  purgeNs: number;
  purgeWallMs: number;
  readonly fetchNs: number[];
}

type Home = { readonly block: number } | { readonly slot: number };

export class NvmTiers {
  readonly vm: Vm;
  readonly snapshots: readonly Vm[];
  readonly device: NvmDevice;
  readonly storage: StorageFile;
  readonly config: NvmTiersConfig;
  readonly stats: NvmStats = { promotions: 0, nvmHits: 0, nvmMisses: 0, demotions: 0, dirtyDemotions: 0, purges: 0, emergencyPurges: 0, fetches: 0, pteUpdates: 0, tlbShootdowns: 0, purgeNs: 0, purgeWallMs: 0, fetchNs: [] };
  readonly #ages: Uint8Array;
  /** Direct mode: the home of a page while it is in DRAM (its entries point at the frame). */
  readonly #dramHome: Float64Array;
  readonly #accessed: PageLogReader;
  readonly #dirty: PageLogReader;
  readonly #dispose: Disposer;
  #closed = false;
  #purgeHand = 0;
  #demoteHand = 0;

  /** Moves every page of `vm` (present, holding its contents) to NVM blocks, the rest to storage, and maps `snapshots` to the same blocks. */
  constructor(vm: Vm, snapshots: readonly Vm[], device: NvmDevice, storage: StorageFile, config: NvmTiersConfig) {
    for (const s of snapshots) {
      if (s.pages !== vm.pages) throw new HypermemError(ErrorCode.BadOption, `snapshot vm ${s.id} has ${s.pages} pages, vm ${vm.id} has ${vm.pages}`, { vm: s.id });
    }
    this.vm = vm;
    this.snapshots = snapshots;
    this.device = device;
    this.storage = storage;
    this.config = Object.freeze({ ...config });
    this.#ages = new Uint8Array(vm.pages);
    this.#dramHome = new Float64Array(vm.pages).fill(-1);
    const keepFree = Math.ceil(config.highWatermark * device.dataBlocks);
    for (let pfn = 0; pfn < vm.pages; pfn++) {
      const page = vm.readPages(pfn, 1);
      const block = device.freeBlocks > keepFree ? device.allocBlock() : -1;
      let home: Home;
      if (block >= 0) {
        device.writeBlock(block, page);
        home = { block };
      } else {
        home = { slot: storage.write(page).slot };
      }
      const location = this.#locationOf(pfn, home);
      if (config.virtblocks) device.writeEntry(pfn, this.#entryValue(home, false));
      vm.states.moveElsewhere(pfn, location);
      for (const s of snapshots) s.states.placeElsewhere(pfn, location);
    }
    this.#accessed = vm.accessedLog.open("nvm-tiers");
    this.#dirty = vm.dirtyLog.open("nvm-tiers");
    this.#dispose = vm.onFault(FaultReason.Elsewhere, (f) => this.#fault(f));
  }

  #entryValue(home: Home, transient: boolean): number {
    return "block" in home ? home.block * 4 + (transient ? ENTRY_STATE.purging : ENTRY_STATE.onNvm) : home.slot * 4 + (transient ? ENTRY_STATE.fetching : ENTRY_STATE.onStorage);
  }

  #locationOf(pfn: number, home: Home): number {
    if (this.config.virtblocks) return pfn;
    return "block" in home ? home.block : STORAGE_TAG + home.slot;
  }

  /** The state of page `pfn`'s virtblock entry (virtblocks mode). */
  entryState(pfn: number): EntryStateName {
    return STATE_NAMES[this.device.readEntry(pfn) % 4];
  }

  /** Where page `pfn`'s home is now: through its virtblock entry, or its mapping. */
  homeOf(pfn: number): Home {
    if (this.config.virtblocks) {
      const entry = this.device.readEntry(pfn);
      const state = entry % 4;
      const value = Math.floor(entry / 4);
      return state === ENTRY_STATE.onNvm || state === ENTRY_STATE.purging ? { block: value } : { slot: value };
    }
    const inDram = this.#dramHome[pfn];
    const location = inDram >= 0 ? inDram : (this.vm.states.of(pfn) as { location: number }).location;
    return location >= STORAGE_TAG ? { slot: location - STORAGE_TAG } : { block: location };
  }

  /** Points page `pfn` at `home`: its entry (virtblocks) or every mapping (direct). */
  #rehome(pfn: number, home: Home): void {
    if (this.config.virtblocks) {
      this.device.writeEntry(pfn, this.#entryValue(home, false));
      return;
    }
    const location = this.#locationOf(pfn, home);
    for (const vm of [this.vm, ...this.snapshots]) {
      if (vm === this.vm && this.#dramHome[pfn] >= 0) {
        this.#dramHome[pfn] = location;
        continue;
      }
      vm.states.relocateElsewhere(pfn, location);
      this.stats.pteUpdates++;
      this.stats.tlbShootdowns++;
    }
  }

  #fault(f: Fault): FaultAction {
    const state = this.vm.states.of(f.pfn);
    if (state.kind !== "elsewhere") return "pass";
    let home = this.homeOf(f.pfn);
    if ("slot" in home) {
      home = { block: this.#fetch(f.pfn, home.slot) };
      this.stats.nvmMisses++;
    } else {
      this.stats.nvmHits++;
    }
    const bytes = this.device.readBlock(home.block).slice();
    if (this.dramPagesInUse >= this.config.dramPages) this.#demote(Math.max(1, this.dramPagesInUse - this.config.dramPages + (this.config.dramPages >> 3)));
    if (!this.config.virtblocks) this.#dramHome[f.pfn] = home.block;
    this.vm.states.bringBack(f.pfn, bytes);
    this.stats.promotions++;
    return "retry";
  }

  /** Reads page `pfn`'s slot back into a free block (purging one first if none is free: the fetch waits for it). Returns the block. */
  #fetch(pfn: number, slot: number): number {
    let block = this.device.allocBlock();
    let ns = 0;
    if (block < 0) {
      const purgeNs = this.stats.purgeNs;
      if (this.#purgeClock(pfn) === 0) throw new HypermemError(ErrorCode.NvmFull, `no free NVM block for guest page ${pfn} and no block that can be purged (all ${this.device.dataBlocks} hold pages in DRAM)`, { pfn });
      ns += this.stats.purgeNs - purgeNs;
      this.stats.emergencyPurges++;
      block = this.device.allocBlock();
    }
    if (this.config.virtblocks) this.device.writeEntry(pfn, slot * 4 + ENTRY_STATE.fetching);
    const buffer = new Uint8Array(BLOCK_BYTES);
    ns += this.storage.readAndFree(slot, buffer);
    ns += this.device.writeBlock(block, buffer);
    this.#rehome(pfn, { block });
    this.stats.fetches++;
    this.stats.fetchNs.push(ns);
    return block;
  }

  /** Purges one block found by a CLOCK sweep (an older page first: age above 0 on the first pass), never page `except`. */
  #purgeClock(except: number): number {
    const pages = this.vm.pages;
    for (let pass = 0; pass < 2; pass++) {
      for (let n = 0; n < pages; n++) {
        const pfn = this.#purgeHand;
        this.#purgeHand = (pfn + 1) % pages;
        if (pfn === except || (pass === 0 && this.#ages[pfn] === 0) || this.vm.states.of(pfn).kind !== "elsewhere") continue;
        const home = this.homeOf(pfn);
        if ("block" in home) return this.#purgeBlocks([pfn]);
      }
    }
    return 0;
  }

  /** Purges up to `count` blocks of pages not in DRAM now, oldest first (what a watermark purge does, without the watermarks). Returns the blocks purged. */
  purgeOldest(count: number): number { return this.#purge(count); }

  /** Purges up to `count` blocks, oldest first by the age histogram. Returns the blocks purged. */
  #purge(count: number): number {
    if (count <= 0) return 0;
    const byAge: number[][] = Array.from({ length: MAX_AGE + 1 }, () => []);
    for (let pfn = 0; pfn < this.vm.pages; pfn++) {
      if (this.vm.states.of(pfn).kind !== "elsewhere") continue;
      if ("block" in this.homeOf(pfn)) byAge[this.#ages[pfn]].push(pfn);
    }
    const chosen: number[] = [];
    for (let age = MAX_AGE; age >= 0 && chosen.length < count; age--) {
      for (const pfn of byAge[age]) {
        if (chosen.length >= count) break;
        chosen.push(pfn);
      }
    }
    return this.#purgeBlocks(chosen);
  }

  /** Writes each page's block to the storage file and rehomes the page there; frees the blocks. */
  #purgeBlocks(pfns: readonly number[]): number {
    const started = performance.now();
    for (const pfn of pfns) {
      const { block } = this.homeOf(pfn) as { block: number };
      if (this.config.virtblocks) this.device.writeEntry(pfn, block * 4 + ENTRY_STATE.purging);
      const { slot, ns } = this.storage.write(this.device.readBlock(block));
      this.#rehome(pfn, { slot });
      this.device.freeBlock(block);
      this.stats.purgeNs += ns;
    }
    this.stats.purges += pfns.length;
    this.stats.purgeWallMs += performance.now() - started;
    return pfns.length;
  }

  /** Page `pfn`'s contents without moving it (DRAM, its block, or its storage slot): for checks. */
  peek(pfn: number): Uint8Array {
    if (this.vm.states.of(pfn).kind !== "elsewhere") return this.vm.readPages(pfn, 1);
    const home = this.homeOf(pfn);
    if ("block" in home) return this.device.bytes.slice((this.device.arrayBlocks + home.block) * BLOCK_BYTES, (this.device.arrayBlocks + home.block + 1) * BLOCK_BYTES);
    const out = new Uint8Array(BLOCK_BYTES);
    this.storage.read(home.slot, out);
    return out;
  }

  /** Pages in DRAM now. */
  get dramPagesInUse(): number { return this.vm.pages - this.vm.states.counts().elsewherePages; }

  /** One sample period: age pages, demote DRAM to its share, purge by the watermarks (rate-limited). */
  sample(): void {
    if (this.#closed) return;
    this.#accessed.sync();
    const touched = this.#accessed.pages;
    for (let pfn = 0; pfn < this.vm.pages; pfn++) {
      this.#ages[pfn] = touched.has(pfn) ? 0 : Math.min(MAX_AGE, this.#ages[pfn] + 1);
    }
    touched.clear();
    this.#demote(this.dramPagesInUse - this.config.dramPages);
    const free = this.device.freeBlocks;
    if (free < this.config.lowWatermark * this.device.dataBlocks) {
      const want = Math.ceil(this.config.highWatermark * this.device.dataBlocks) - free;
      const limit = Math.max(1, Math.floor((this.config.purgeBlocksPerSec * this.config.samplePeriodNs) / 1e9));
      this.#purge(Math.min(want, limit));
    }
  }

  /** Moves `count` DRAM pages to their blocks (written when dirty), by a CLOCK sweep: pages not accessed in the last period first. */
  #demote(count: number): void {
    if (count <= 0) return;
    this.#dirty.sync();
    const dirty = this.#dirty.pages;
    const pages = this.vm.pages;
    let done = 0;
    for (let pass = 0; pass < 2 && done < count; pass++) {
      for (let n = 0; n < pages && done < count; n++) {
        const pfn = this.#demoteHand;
        this.#demoteHand = (pfn + 1) % pages;
        if ((pass === 0 && this.#ages[pfn] === 0) || this.vm.states.of(pfn).kind !== "present") continue;
        const home = this.homeOf(pfn) as { block: number };
        if (dirty.has(pfn)) {
          this.device.writeBlock(home.block, this.vm.readPages(pfn, 1));
          dirty.delete(pfn);
          this.stats.dirtyDemotions++;
        }
        this.vm.states.moveElsewhere(pfn, this.#locationOf(pfn, home));
        this.#dramHome[pfn] = -1;
        this.stats.demotions++;
        done++;
      }
    }
  }

  /** Releases the readers and the fault handler (pages left elsewhere stay so). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dispose();
    this.#accessed.close();
    this.#dirty.close();
  }
}
