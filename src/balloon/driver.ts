// The balloon driver inside one guest, with the part of the guest OS it
// leans on (a swap area for the pages it must empty, and a free list).
//
// Every poll (ESX: once a second) the driver reads its target from the host
// and moves toward it by at most `pagesPerPoll` pages:
//
//   inflate: reserve a guest page (guest free pages first, then a clock
//            sweep: untouched pages, then pages not referenced since the
//            hand last passed; a page holding data is written to the guest's
//            swap first), write the balloon's mark into it, report it: the
//            hypervisor takes its frame (page state "ballooned"; the frame
//            goes to the FramePool for another VM, or back to the host)
//   deflate: give pages back (those whose contents sit in the guest's swap
//            first, read back in), onto a pooled frame when there is one
//
// A guest access to a ballooned page (an application touching memory the
// guest OS had to give up) is a guest page fault: a major fault reads it
// back from the guest's swap, a minor one zero-fills it. The guest's memory
// stays the size the balloon leaves it: the guest gives up another page
// (paging it out if it holds data) to make room, as a guest OS under a
// pinned balloon does.
//
// The balloon never holds more than `maxPages` (ESX Mem.CtlMaxPercent).
//
// Bookkeeping is by bitmaps and lists, never one JS object per page: the
// balloon's pages and the guest's free list are PageSets (bitmaps in host
// memory), and pages move by the list (balloon-pages.ts: one kernel call
// sweeps the clock, one balloons a list, one deflates a list onto pooled
// frames). Only pages holding data cost per-page work: their bytes go to
// the guest's swap (a Map from pfn to its 4 KiB) and the mark is written.
import { FaultReason } from "../wasm/codes.js";
import type { Fault, FaultAction, Disposer } from "../host/faults.js";
import type { PageLogReader } from "../host/page-log.js";
import { PageSet } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import { BALLOON_DATA_BIT, BalloonPages } from "./balloon-pages.js";
import { FramePool } from "./frame-pool.js";
import { newCounters, type GuestCounters } from "./guest-stats.js";

/** What the balloon writes into a page it reserves ("BALLOON!"), as the patent's balloon application writes a value. */
export const BALLOON_MARK = Uint8Array.from([0x42, 0x41, 0x4c, 0x4c, 0x4f, 0x4f, 0x4e, 0x21]);

export interface BalloonDriverOptions {
  /** Most pages the balloon may hold. */
  readonly maxPages: number;
  /** Most pages reserved or released per poll. */
  readonly pagesPerPoll: number;
  /** Simulated stall of one major fault (reading a page back from the guest's swap). @default 1_000_000 (1 ms) */
  readonly majorFaultNs?: number;
  /**
   * Called before the driver takes `frames` new host frames itself (pages
   * read back from the guest's swap with no pooled frame under them): the
   * scheduler's makeRoom, which reclaims or throws ERR_HOST_OVERCOMMITTED,
   * so the host never runs out of frames. @default none
   */
  readonly makeRoom?: (frames: number) => void;
}

/** Told of every page the balloon takes: `hadData` when the guest had to page its contents out first. */
export type TakeListener = (pfn: number, hadData: boolean) => void;

const NO_FRAMES = new Uint32Array(0);

export class BalloonDriver {
  readonly vm: Vm;
  readonly maxPages: number;
  readonly pagesPerPoll: number;
  readonly majorFaultNs: number;
  readonly #makeRoom: (frames: number) => void;
  readonly counters: GuestCounters = newCounters();
  /** The pages the balloon holds, as a bitmap in host memory (for the list kernels and bitmap arithmetic with accessed-log readers). */
  readonly ballooned: PageSet;
  /** The guest's swap: contents of ballooned pages that held data. */
  readonly #swap = new Map<number, Uint8Array>();
  /** Pages the guest's applications freed (the balloon takes these first). */
  readonly #free: PageSet;
  readonly #pages: BalloonPages;
  readonly #referenced: PageLogReader;
  readonly #disposeFault: Disposer;
  readonly #listeners: TakeListener[] = [];
  /** The frame of a page the guest gives up to page another in (never leaves this VM). */
  readonly #local = new FramePool();
  #actualPages = 0;
  #hand = 0;
  #targetPages = 0;

  constructor(vm: Vm, options: BalloonDriverOptions) {
    this.vm = vm;
    this.maxPages = options.maxPages;
    this.pagesPerPoll = options.pagesPerPoll;
    this.majorFaultNs = options.majorFaultNs ?? 1_000_000;
    this.#makeRoom = options.makeRoom ?? (() => {});
    this.#referenced = vm.accessedLog.open(`balloon-driver-${vm.id}`);
    this.ballooned = new PageSet(vm.host.kernels, vm.pages);
    this.#free = new PageSet(vm.host.kernels, vm.pages);
    this.#pages = new BalloonPages(vm);
    this.#disposeFault = vm.onFault(FaultReason.Ballooned, (f) => this.#pageIn(f));
  }

  /** Pages the balloon holds (QMP `actual`, in pages). */
  get actualPages(): number { return this.#actualPages; }
  /** The target the host last set, capped at maxPages. */
  get targetPages(): number { return this.#targetPages; }
  /** Pages whose contents are in the guest's swap. */
  get swappedPages(): number { return this.#swap.size; }
  /** Pages on the guest's free list. */
  get freePages(): number { return this.#free.count(); }

  /** The host sets the balloon's size (virtio-balloon `num_pages`); the driver reads it at its next poll. */
  setTarget(pages: number): void { this.#targetPages = Math.max(0, Math.min(this.maxPages, Math.floor(pages))); }

  /** An application of the guest frees page `pfn` (its contents no longer matter): the balloon takes such pages first. */
  release(pfn: number): void {
    if (!this.ballooned.has(pfn)) this.#free.add(pfn);
  }

  /** The guest's applications free all their memory (they exit): every page not in the balloon goes on the free list. */
  releaseAll(): void {
    this.#free.fill();
    this.#free.deleteAll(this.ballooned);
  }

  /** An application of the guest uses page `pfn` again: it leaves the free list. */
  reuse(pfn: number): void { this.#free.delete(pfn); }

  /** The guest's applications take all its memory again: the free list empties. */
  reuseAll(): void { this.#free.clear(); }

  onTake(listener: TakeListener): void { this.#listeners.push(listener); }

  /** One poll: inflate toward the target (frames to `pool`), at most pagesPerPoll pages and `maxPages`. Returns the pages taken. */
  inflate(pool: FramePool, maxPages = Infinity): number {
    return this.#inflateBy(Math.min(this.pagesPerPoll, maxPages, this.#targetPages - this.#actualPages), pool);
  }

  /** Inflates to the target at once, however far (a guest booted with its balloon set). Returns the pages taken. */
  inflateToTarget(pool: FramePool): number {
    return this.#inflateBy(this.#targetPages - this.#actualPages, pool);
  }

  #inflateBy(pages: number, pool: FramePool): number {
    if (pages <= 0) return 0;
    this.#referenced.sync();
    let taken = 0;
    while (taken < pages) {
      const victims = this.#victims(pages - taken, -1);
      if (victims.length === 0) break;
      this.#take(victims, pool);
      taken += victims.length;
    }
    return taken;
  }

  /**
   * Up to `want` pages the guest gives up next (never `exclude`), as pfns
   * (BALLOON_DATA_BIT set when the page holds data): pages its applications
   * freed, else the clock's untouched pages and pages not referenced since
   * the hand last passed. Empty when a whole sweep finds none. Free pages
   * the hypervisor swapped or moved elsewhere are passed over (they stay on
   * the free list): their state is the hypervisor's, as the sweep leaves it.
   */
  #victims(want: number, exclude: number): Uint32Array {
    const freed = this.#pages.firstFree(this.#free, want + 1);
    if (freed.length > 0) {
      const kept = freed.filter((pfn) => pfn !== exclude).subarray(0, want);
      for (const pfn of kept) this.#free.delete(pfn);
      if (freed.includes(exclude)) this.#free.delete(exclude); // the page being touched is in use again
      if (kept.length > 0) return kept;
    }
    const { victims, hand } = this.#pages.sweep(this.#hand, want, exclude, this.#referenced.pages, this.ballooned);
    this.#hand = hand;
    return victims;
  }

  /** One poll: deflate toward the target, onto frames from `pool` while it has some. Returns the pages given back. */
  deflate(pool: FramePool): number {
    return this.#giveBack(Math.min(this.pagesPerPoll, this.#actualPages - this.#targetPages), pool, true);
  }

  /** Balloons `victims` (from #victims): pages with data go to the guest's swap and get the mark first; their frames go to `pool`. */
  #take(victims: Uint32Array, pool: FramePool): void {
    const withData = victims.filter((entry) => (entry & BALLOON_DATA_BIT) !== 0).map((entry) => entry & ~BALLOON_DATA_BIT);
    if (withData.length > 0) {
      const saved = this.vm.gatherPages(withData);
      withData.forEach((pfn, i) => {
        this.#swap.set(pfn, saved.slice(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
        this.vm.write(pfn * PAGE_SIZE, BALLOON_MARK);
      });
      this.counters.swapOutPages += withData.length;
      this.counters.takenWithData += withData.length;
    }
    pool.putAll(this.#pages.take(victims, this.ballooned));
    this.#actualPages += victims.length;
    if (this.#listeners.length === 0) return;
    for (const entry of victims) {
      for (const l of this.#listeners) l(entry & ~BALLOON_DATA_BIT, (entry & BALLOON_DATA_BIT) !== 0);
    }
  }

  /**
   * Gives up to `want` ballooned pages back to the guest (those whose
   * contents sit in the guest's swap first, read back in), onto frames
   * from `pool` while it has some (none: unpopulated). `countMove`: count
   * the pooled frames used as frames moved between VMs. Returns the pages.
   */
  #giveBack(want: number, pool: FramePool | null, countMove: boolean): number {
    if (want <= 0) return 0;
    let given = 0;
    if (this.#swap.size > 0) {
      const pfns = new Uint32Array(Math.min(want, this.#swap.size));
      let i = 0;
      for (const pfn of this.#swap.keys()) {
        if (i === pfns.length) break;
        pfns[i++] = pfn;
      }
      this.#makeRoom(Math.max(0, pfns.length - (pool?.size ?? 0)));
      this.#give(pfns, pool, countMove);
      for (const pfn of pfns) {
        this.vm.writePages(pfn, this.#swap.get(pfn) as Uint8Array);
        this.#swap.delete(pfn);
      }
      this.counters.swapInPages += pfns.length;
      given += pfns.length;
    }
    while (given < want) {
      const pfns = this.#pages.first(this.ballooned, want - given);
      if (pfns.length === 0) break;
      this.#give(pfns, pool, countMove);
      given += pfns.length;
    }
    return given;
  }

  #give(pfns: Uint32Array, pool: FramePool | null, countMove: boolean): void {
    this.#pages.give(pfns, pool === null ? NO_FRAMES : pool.take(pfns.length, countMove), this.ballooned);
    this.#actualPages -= pfns.length;
  }

  /**
   * The guest touched a ballooned page: a guest page fault (major when the
   * page must be read back from swap). The guest's memory does not grow: it
   * gives up another page (the clock's victim) to the balloon, whose frame,
   * zeroed, holds the faulting page.
   */
  #pageIn(f: Fault): FaultAction {
    if (!this.ballooned.has(f.pfn)) return "pass";
    const saved = this.#swap.get(f.pfn);
    if (saved !== undefined) {
      this.counters.majorFaults++;
      this.counters.stallNs += this.majorFaultNs;
    } else {
      this.counters.minorFaults++;
    }
    const victims = this.#victims(1, f.pfn);
    if (victims.length > 0) this.#take(victims, this.#local);
    if (saved !== undefined && this.#local.size === 0) this.#makeRoom(1);
    this.#give(Uint32Array.of(f.pfn), this.#local, false);
    if (saved !== undefined) {
      this.#swap.delete(f.pfn);
      this.vm.writePages(f.pfn, saved);
      this.counters.swapInPages++;
    }
    if (this.#local.size > 0) this.#local.releaseAll(this.vm);
    return "retry";
  }

  /** Gives every page back and stops handling the guest's faults. */
  close(): void {
    this.#giveBack(this.#actualPages, null, false);
    this.#disposeFault();
    this.#referenced.close();
    this.ballooned.free();
    this.#free.free();
  }
}
