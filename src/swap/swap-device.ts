// HostSwap: hypervisor swapping for the guests of one host. Pages go out to
// a real swap file (a slot each, its XXH3-64 hash kept in memory; the page state
// becomes "swapped" with the slot and the frame is freed) and come back on
// the guest's fault (or a hypervisor read) through the VM's fault chain.
// Every I/O is typed - demand read, prefetch read, write-back - and goes
// through the simulated device's queues (src/swap/queues.ts).
//
// When: before a guest takes a frame (a swap-in, a first write, a copy on
// write), the guest's frames (resident + swap cache) are checked against
// its limit and the host's; under `minFreeFrames + reclaimBatchPages` free,
// the swap cache is dropped first (wasted prefetches), then the clock
// picks victims, a batch at a time. A scheduler calls swapOut(vm, count)
// or setFrameLimit(vm, pages) (its last step, below ballooning, as ESX:
// SwapReclaimStep in reclaim-step.ts) and guards the frames swap-ins take
// (guardFrames).
//
// A slot that fails its checksum is never handed to the guest: the page is
// poisoned (no frame) and the guest gets a virtual machine check, on this
// access and any later one; a hypervisor read fails with ERR_MEMORY_POISONED.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Fault, FaultAction } from "../host/faults.js";
import { FaultReason } from "../host/faults.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { requireInt } from "../options.js";
import type { Clock } from "../sim/clock.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import { ClockHand } from "./clock.js";
import { SimulatedDevice } from "./device-sim.js";
import { resolveSwapOptions, type ResolvedSwapOptions, type SwapOptions } from "./options.js";
import type { SwapRequest } from "./request.js";
import { SlotOwners } from "./slot-owners.js";
import { SwapFile } from "./swap-file.js";
import { SwappedVm, type VmSwapCounters } from "./swapped-vm.js";

export interface AttachOptions {
  /** Frames this guest may hold (resident pages and its swap cache). @default null: only the host's limit */
  frameLimitPages?: number | null;
}

/** Prefetch figures over the host. */
export interface PrefetchCounters {
  readonly issued: number;
  /** Faults that found their page prefetched (done, or at the device). */
  readonly hits: number;
  /** Faults that found their prefetch still queued: promoted to a demand read. */
  readonly promoted: number;
  /** Prefetched pages dropped from the swap cache unused (reclaim, or the end). */
  readonly wasted: number;
  /** Prefetches cancelled before they started. */
  readonly cancelled: number;
}

/** Pages per gather and file write (swap-out): 4 MiB. */
const BATCH_PAGES = 1024;
/** Pages per file read and kernel call of a swapoff (1 MiB): the batch is still in cache when it is hashed and copied into frames. */
const SWAP_IN_BATCH_PAGES = 256;

export class HostSwap {
  readonly host: Host;
  readonly options: ResolvedSwapOptions;
  readonly file: SwapFile;
  readonly device: SimulatedDevice;
  readonly #clock: Clock;
  readonly #guests = new Map<Vm, SwappedVm>();
  readonly #owners: SlotOwners<SwappedVm>;
  /** Each attached guest's index in #owners. */
  readonly #ownerIndex = new Map<SwappedVm, number>();
  /** Prefetch requests by slot (queued, at the device, or done: in a swap cache). */
  readonly #prefetches = new Map<number, SwapRequest>();
  /** Write-backs of a guest's own reclaim, to give its frames back when they finish. */
  readonly #ownWriteBacks = new Map<SwapRequest, SwappedVm>();
  readonly #batch = new Uint8Array(BATCH_PAGES * PAGE_SIZE);
  #prefetch = { issued: 0, hits: 0, promoted: 0, wasted: 0, cancelled: 0 };
  #closed = false;
  readonly #frameGuards: Array<(frames: number) => void> = [];

  constructor(host: Host, clock: Clock, options: SwapOptions = {}) {
    this.host = host;
    this.#clock = clock;
    this.options = resolveSwapOptions(options);
    this.file = SwapFile.create(this.options.path, this.options.capacityPages);
    this.#owners = new SlotOwners(this.options.capacityPages);
    this.device = new SimulatedDevice(this.options.device, this.options.queues, this.options.depthSampleNs, {
      completed: (r) => this.#completed(r),
      framesLow: () => this.#framesLow(),
    }, this.options.recordRequests);
  }

  /** Swaps the pages of `vm` from now on (its limit, if any, in `options`). */
  attach(vm: Vm, options: AttachOptions = {}): SwappedVm {
    this.#alive();
    if (vm.host !== this.host) throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id} runs on another host`, { vm: vm.id });
    if (this.#guests.has(vm)) throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id} is already attached to this swap device`, { vm: vm.id });
    const limit = options.frameLimitPages ?? null;
    const g = new SwappedVm(vm, new ClockHand(vm), limit === null ? null : requireInt("frameLimitPages", limit, 1, 2 ** 32));
    const index = this.#owners.register(g);
    g.dispose.push(
      vm.onFault(FaultReason.Swapped, (f) => this.#swapIn(g, f)),
      vm.onFault(FaultReason.NotPresent, (f) => this.#beforeNewFrame(g, f, f.write)),
      vm.onFault(FaultReason.Cow, (f) => this.#beforeNewFrame(g, f, true)),
    );
    // Kept after detach while the guest has pages this device poisoned: they fault for good.
    vm.onFault(FaultReason.Poisoned, (f) => this.#poisonedAccess(g, f));
    this.#guests.set(vm, g);
    this.#ownerIndex.set(g, index);
    return g;
  }

  /** The attached guest of `vm`. */
  guest(vm: Vm): SwappedVm {
    const g = this.#guests.get(vm);
    if (!g) throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id} is not attached to this swap device`, { vm: vm.id });
    return g;
  }

  get guests(): readonly SwappedVm[] { return [...this.#guests.values()]; }
  counters(vm: Vm): VmSwapCounters { return this.guest(vm).snapshot(); }
  get prefetch(): PrefetchCounters { return Object.freeze({ ...this.#prefetch }); }

  /**
   * Swaps out up to `count` resident pages of `vm` chosen by the clock, now
   * (a scheduler's request: their frames are the caller's once written).
   * Returns how many frames it freed. ERR_SWAP_FULL when the file fills
   * first (the pages written so far stay swapped, the rest in memory).
   */
  swapOut(vm: Vm, count: number): number {
    this.#alive();
    const g = this.guest(vm);
    requireInt("count", count, 0, vm.pages);
    return this.#evict(g, g.clock.pick(count), this.#nowNs(g), false);
  }

  /** Sets the frame limit of `vm` (null: none) and swaps out, now, what is above it. Returns the frames freed. */
  setFrameLimit(vm: Vm, pages: number | null): number {
    const g = this.guest(vm);
    g.limitPages = pages === null ? null : requireInt("frameLimitPages", pages, 1, 2 ** 32);
    if (g.limitPages === null) return 0;
    const over = g.usedFrames() - g.limitPages;
    if (over <= 0) return 0;
    const dropped = this.#dropSwapCache(g, over);
    return dropped + this.swapOut(vm, over - dropped);
  }

  /**
   * Calls `guard(1)` before a guest of this device takes a frame (a
   * swap-in, a first write, a copy on write), ahead of the device's own
   * limits: a memory scheduler's makeRoom, so a swap-in never takes the
   * host's last free frames unchecked. It may throw (the access fails).
   * Returns its remover.
   */
  guardFrames(guard: (frames: number) => void): () => void {
    this.#alive();
    this.#frameGuards.push(guard);
    return () => {
      const at = this.#frameGuards.indexOf(guard);
      if (at >= 0) this.#frameGuards.splice(at, 1);
    };
  }

  /** Cancels every prefetch not yet started; returns how many. */
  cancelPrefetches(): number {
    let n = 0;
    for (const [slot, r] of this.#prefetches) {
      if (this.device.cancel(r)) {
        this.#prefetches.delete(slot);
        n++;
      }
    }
    this.#prefetch.cancelled += n;
    return n;
  }

  #alive(): void {
    if (this.#closed) throw new HypermemError(ErrorCode.Destroyed, `the swap device of ${this.file.path} is closed`, {});
  }

  /** When a guest access of `g` happens: its running vCPU's time, or the timeline's. */
  #nowNs(g: SwappedVm): number { return g.vcpuTimeNs ?? this.#clock.nowNs; }

  /** True when some limit has fewer than minFreeFrames free frames (write-backs in flight count as used). */
  #framesLow(): boolean {
    const min = this.options.minFreeFrames;
    let used = 0;
    let inFlight = 0;
    for (const g of this.#guests.values()) {
      const u = g.usedFrames();
      used += u;
      inFlight += g.ownWriteBacks;
      if (g.limitPages !== null && g.limitPages - u - g.ownWriteBacks < min) return true;
    }
    const hostLimit = this.options.frameLimitPages;
    return hostLimit !== null && hostLimit - used - inFlight < min;
  }

  /** Before `g` takes a frame: keeps its limit and the host's, swapping out what must go. */
  #makeRoom(g: SwappedVm, atNs: number): void {
    for (const guard of this.#frameGuards) guard(1);
    this.device.advanceTo(atNs);
    const reserve = this.options.minFreeFrames + this.options.reclaimBatchPages;
    if (g.limitPages !== null) this.#reclaimTo(g, g.limitPages, g.usedFrames(), reserve, atNs, g);
    const hostLimit = this.options.frameLimitPages;
    if (hostLimit === null) return;
    let used = 0;
    let largest = g;
    for (const other of this.#guests.values()) {
      const u = other.usedFrames();
      used += u;
      if (u > largest.usedFrames()) largest = other;
    }
    this.#reclaimTo(largest, hostLimit, used, reserve, atNs, g);
  }

  /** When `limit - used` is under `reserve`, swaps out of `victim` (batches) until it is not; counts an overrun on `faulting` when nothing is left. */
  #reclaimTo(victim: SwappedVm, limit: number, used: number, reserve: number, atNs: number, faulting: SwappedVm): void {
    const free = limit - used;
    if (free >= reserve) return;
    const batch = this.options.reclaimBatchPages;
    const want = Math.ceil((reserve - free) / batch) * batch;
    const dropped = this.#dropSwapCache(victim, want);
    const freed = dropped + this.#evict(victim, victim.clock.pick(want - dropped), atNs, true);
    if (used - freed + 1 > limit) faulting.counters.limitOverruns++;
  }

  /** Drops up to `count` pages of `g`'s swap cache, oldest first (wasted prefetches). */
  #dropSwapCache(g: SwappedVm, count: number): number {
    let n = 0;
    for (const slot of g.swapCache) {
      if (n === count) break;
      g.swapCache.delete(slot);
      this.#prefetches.delete(slot);
      n++;
    }
    this.#prefetch.wasted += n;
    return n;
  }

  /**
   * Writes `pfns` of `g` to the swap file (a gather and one write per run of
   * slots, 1024 pages at a time) and swaps them out; returns how many. When
   * the file fills, what fits is swapped out, then ERR_SWAP_FULL.
   */
  #evict(g: SwappedVm, pfns: readonly number[], atNs: number, own: boolean): number {
    let done = 0;
    while (done < pfns.length) {
      const free = this.file.freeSlots;
      const batch = pfns.slice(done, done + Math.min(BATCH_PAGES, Math.max(1, free)));
      const bytes = g.vm.gatherPages(batch, this.#batch);
      const slots = this.file.storeMany(bytes, batch.length);
      for (let i = 0; i < batch.length; i++) {
        g.vm.states.swapOut(batch[i], slots[i]);
        this.#owners.set(slots[i], this.#ownerIndex.get(g)!, batch[i]);
      }
      const requests = this.device.submitMany("writeBack", slots, atNs);
      if (own) {
        for (const r of requests) this.#ownWriteBacks.set(r, g);
        g.ownWriteBacks += requests.length;
      }
      g.counters.swap_out += batch.length;
      done += batch.length;
    }
    return done;
  }

  #completed(r: SwapRequest): void {
    const owner = this.#ownWriteBacks.get(r);
    if (owner) {
      this.#ownWriteBacks.delete(r);
      owner.ownWriteBacks--;
    }
    if (r.type === "prefetch" && this.#prefetches.get(r.slot) === r) this.#owners.guestOf(r.slot)?.swapCache.add(r.slot);
  }

  /** A first write or a copy on write is about to take a frame: make room, let the next handler populate. */
  #beforeNewFrame(g: SwappedVm, f: Fault, takesFrame: boolean): FaultAction {
    if (takesFrame) this.#makeRoom(g, f.by === "guest" ? this.#nowNs(g) : this.#clock.nowNs);
    return "pass";
  }

  /** The fault handler for swapped pages: the demand read (or the prefetch that has it), the checksum, the page back. */
  #swapIn(g: SwappedVm, f: Fault): FaultAction {
    const state = g.vm.states.of(f.pfn);
    if (state.kind !== "swapped" || this.#owners.guestOf(state.slot) !== g) return "pass";
    const slot = state.slot;
    const atNs = f.by === "guest" ? this.#nowNs(g) : this.#clock.nowNs;
    this.#makeRoom(g, atNs);
    const wait = this.#read(g, slot, atNs);
    if (wait !== null && f.by === "guest") g.waits?.push(wait);
    return this.#bringBack(g, Uint32Array.of(slot), Uint32Array.of(f.pfn)) === 1 ? "retry" : this.#poisonedAccess(g, f);
  }

  /**
   * Reads `slots` (at most SWAP_IN_BATCH_PAGES, holding pages `pfns` of
   * `g`) straight into kernel scratch (one read per run of slots) and brings
   * each page back when its bytes match the slot's hash, in one kernel call;
   * a page that does not match is poisoned. Both free their slot. Counts
   * and returns the pages brought back. ERR_OUT_OF_FRAMES when the host ran
   * out of frames: the pages not brought back stay swapped, their slots kept
   * (none is lost).
   */
  #bringBack(g: SwappedVm, slots: Uint32Array, pfns: Uint32Array): number {
    const flags = g.vm.states.bringBackVerified(pfns, this.file.hashesOf(slots), (into) => this.file.readSlots(slots, into));
    let back = 0;
    let noFrame = -1;
    for (let i = 0; i < slots.length; i++) {
      if (flags[i] === 2) {
        if (noFrame < 0) noFrame = pfns[i];
        continue;
      }
      this.file.release(slots[i]);
      this.#owners.delete(slots[i]);
      if (flags[i] === 1) back++;
      else this.#poisonPage(g, pfns[i]);
    }
    g.counters.swap_in += back;
    if (noFrame >= 0) {
      throw new HypermemError(ErrorCode.OutOfFrames, `vm ${g.vm.id}: cannot swap in guest page ${noFrame}: the host has no free frame (it stays swapped)`, { vm: g.vm.id, pfn: noFrame });
    }
    return back;
  }

  /**
   * The device side of a swap-in at `atNs`: a finished prefetch (nothing to
   * wait for), one at the device (wait for it), a queued one (promoted to a
   * demand read), or a new demand read and its readahead. Returns the
   * request the faulting vCPU waits on, or null.
   */
  #read(g: SwappedVm, slot: number, atNs: number): SwapRequest | null {
    this.device.advanceTo(atNs);
    const pre = this.#prefetches.get(slot);
    if (pre) {
      this.#prefetches.delete(slot);
      g.swapCache.delete(slot);
      if (pre.state === "queued") {
        this.device.promote(pre, atNs);
        this.#prefetch.promoted++;
        g.counters.major_faults++;
        return pre;
      }
      this.#prefetch.hits++;
      g.counters.minor_faults++;
      return pre.state === "done" ? null : pre;
    }
    const demand = this.device.submit("demand", slot, atNs);
    g.counters.major_faults++;
    this.#readahead(slot, atNs);
    return demand;
  }

  /** Prefetches the other used slots of the aligned 2^pageCluster window around `slot` (Linux's swap cluster readahead). */
  #readahead(slot: number, atNs: number): void {
    const window = 2 ** this.options.pageCluster;
    if (window === 1 || this.#framesLow()) return;
    const first = slot - (slot % window);
    for (let s = first; s < Math.min(first + window, this.file.capacitySlots); s++) {
      if (s === slot || !this.file.isUsed(s) || this.#prefetches.has(s) || !this.#owners.has(s)) continue;
      this.#prefetches.set(s, this.device.submit("prefetch", s, atNs));
      this.#prefetch.issued++;
    }
  }

  /** A slot failed its checksum: the page is poisoned (no frame); an access gets a machine check. */
  #poisonPage(g: SwappedVm, pfn: number): void {
    g.vm.states.bringBack(pfn, null);
    g.vm.states.receivePoisoned(pfn);
    g.poisoned.add(pfn);
    g.counters.corruptSlots++;
  }

  /** Any access to a page this device poisoned: a machine check for the guest, a failed read for the hypervisor. */
  #poisonedAccess(g: SwappedVm, f: Fault): FaultAction {
    if (!g.poisoned.has(f.pfn)) return "pass";
    if (f.by === "guest") {
      g.counters.machineChecks++;
      g.vm.raiseMachineCheck({ gpa: f.gpa, pfn: f.pfn, write: f.write, foundLatent: false });
    }
    return "skip";
  }

  /**
   * Brings every swapped page of `vm` back now (swapoff for one guest), in
   * slot order, one read per run of slots, outside the device model and
   * the frame limit; a page whose slot fails its checksum is poisoned
   * instead. Returns the pages brought back.
   */
  bringBackAll(vm: Vm): number {
    this.#alive();
    const g = this.guest(vm);
    const { slots, pfns } = this.#owners.slotsOf(this.#ownerIndex.get(g)!);
    let back = 0;
    try {
      for (let at = 0; at < slots.length; at += SWAP_IN_BATCH_PAGES) {
        back += this.#bringBack(g, slots.subarray(at, at + SWAP_IN_BATCH_PAGES), pfns.subarray(at, at + SWAP_IN_BATCH_PAGES));
      }
    } finally {
      this.#forgetFreedPrefetches();
    }
    return back;
  }

  /** Drops the prefetches of slots no longer in use: queued ones cancelled, the others wasted. */
  #forgetFreedPrefetches(): void {
    for (const [slot, r] of [...this.#prefetches]) {
      if (this.#owners.has(slot)) continue;
      this.#prefetches.delete(slot);
      if (this.device.cancel(r)) this.#prefetch.cancelled++;
      else this.#prefetch.wasted++;
    }
  }

  /** Brings every swapped page of `vm` back (bringBackAll) and stops swapping it. */
  detach(vm: Vm): void {
    const g = this.guest(vm);
    this.bringBackAll(vm);
    g.swapCache.clear();
    for (const d of g.dispose) d();
    g.clock.close();
    this.#guests.delete(vm);
  }

  /** Brings every page back, closes the device and removes the swap file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    try {
      for (const vm of [...this.#guests.keys()]) if (!vm.destroyed) this.detach(vm);
    } finally {
      this.device.finish();
      this.#closed = true;
      this.file.close();
    }
  }
}
