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
import { FaultReason } from "../wasm/codes.js";
import type { Fault, FaultAction, Disposer } from "../host/faults.js";
import type { PageLogReader } from "../host/page-log.js";
import { PageSet } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { PAGE_SIZE } from "../wasm/codes.js";
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
}

/** Told of every page the balloon takes: `hadData` when the guest had to page its contents out first. */
export type TakeListener = (pfn: number, hadData: boolean) => void;

export class BalloonDriver {
  readonly vm: Vm;
  readonly maxPages: number;
  readonly pagesPerPoll: number;
  readonly majorFaultNs: number;
  readonly counters: GuestCounters = newCounters();
  /** Pages the balloon holds, in the order it took them. */
  readonly #balloon = new Set<number>();
  /** The same pages as a bitmap in host memory (for bitmap arithmetic with accessed-log readers). */
  readonly ballooned: PageSet;
  /** The guest's swap: contents of ballooned pages that held data. */
  readonly #swap = new Map<number, Uint8Array>();
  /** Pages the guest's applications freed (the balloon takes these first). */
  readonly #free = new Set<number>();
  readonly #referenced: PageLogReader;
  readonly #disposeFault: Disposer;
  readonly #listeners: TakeListener[] = [];
  /** The frame of a page the guest gives up to page another in (never leaves this VM). */
  readonly #local = new FramePool();
  #hand = 0;
  #targetPages = 0;

  constructor(vm: Vm, options: BalloonDriverOptions) {
    this.vm = vm;
    this.maxPages = options.maxPages;
    this.pagesPerPoll = options.pagesPerPoll;
    this.majorFaultNs = options.majorFaultNs ?? 1_000_000;
    this.#referenced = vm.accessedLog.open(`balloon-driver-${vm.id}`);
    this.ballooned = new PageSet(vm.host.kernels, vm.pages);
    this.#disposeFault = vm.onFault(FaultReason.Ballooned, (f) => this.#pageIn(f));
  }

  /** Pages the balloon holds (QMP `actual`, in pages). */
  get actualPages(): number { return this.#balloon.size; }
  /** The target the host last set, capped at maxPages. */
  get targetPages(): number { return this.#targetPages; }
  /** Pages whose contents are in the guest's swap. */
  get swappedPages(): number { return this.#swap.size; }
  /** Pages on the guest's free list. */
  get freePages(): number { return this.#free.size; }

  /** The host sets the balloon's size (virtio-balloon `num_pages`); the driver reads it at its next poll. */
  setTarget(pages: number): void { this.#targetPages = Math.max(0, Math.min(this.maxPages, Math.floor(pages))); }

  /** An application of the guest frees page `pfn` (its contents no longer matter): the balloon takes such pages first. */
  release(pfn: number): void {
    if (!this.#balloon.has(pfn)) this.#free.add(pfn);
  }

  /** An application of the guest uses page `pfn` again: it leaves the free list. */
  reuse(pfn: number): void { this.#free.delete(pfn); }

  onTake(listener: TakeListener): void { this.#listeners.push(listener); }

  /** One poll: inflate toward the target (frames to `pool`), at most pagesPerPoll pages and `maxPages`. Returns the pages taken. */
  inflate(pool: FramePool, maxPages = Infinity): number {
    return this.#inflateBy(Math.min(this.pagesPerPoll, maxPages, this.#targetPages - this.#balloon.size), pool);
  }

  /** Inflates to the target at once, however far (a guest booted with its balloon set). Returns the pages taken. */
  inflateToTarget(pool: FramePool): number {
    return this.#inflateBy(this.#targetPages - this.#balloon.size, pool);
  }

  #inflateBy(pages: number, pool: FramePool): number {
    if (pages <= 0) return 0;
    this.#referenced.sync();
    let taken = 0;
    while (taken < pages) {
      const victim = this.#victim(-1);
      if (victim === null) break;
      this.#take(victim.pfn, victim.hadData, pool);
      taken++;
    }
    return taken;
  }

  /**
   * The next page the guest gives up (never `exclude`): a page its
   * applications freed, else the clock's next untouched page or page not
   * referenced since the hand last passed. Null when a whole sweep finds none.
   */
  #victim(exclude: number): { pfn: number; hadData: boolean } | null {
    for (const pfn of this.#free) {
      this.#free.delete(pfn);
      if (pfn !== exclude && !this.#balloon.has(pfn)) return { pfn, hadData: false };
    }
    for (let scanned = 0; scanned < 2 * this.vm.pages; scanned++) {
      const pfn = this.#hand;
      this.#hand = (this.#hand + 1) % this.vm.pages;
      if (pfn === exclude) continue;
      const kind = this.vm.states.of(pfn).kind;
      if (kind === "unpopulated" || kind === "zero-mapped") return { pfn, hadData: false };
      if (kind !== "present") continue;
      if (!this.#referenced.pages.has(pfn)) return { pfn, hadData: true };
      this.#referenced.pages.delete(pfn);
    }
    return null;
  }

  /** One poll: deflate toward the target, onto frames from `pool` while it has some. Returns the pages given back. */
  deflate(pool: FramePool): number {
    const want = Math.min(this.pagesPerPoll, this.#balloon.size - this.#targetPages);
    let given = 0;
    for (const order of [this.#swap.keys(), this.#balloon.values()]) {
      for (const pfn of order) {
        if (given >= want) return given;
        if (!this.#balloon.has(pfn)) continue;
        this.#giveBack(pfn, pool);
        given++;
      }
    }
    return given;
  }

  #take(pfn: number, hadData: boolean, pool: FramePool): void {
    if (hadData) {
      this.#swap.set(pfn, this.vm.readPages(pfn, 1));
      this.counters.swapOutPages++;
      this.counters.takenWithData++;
      this.vm.write(pfn * PAGE_SIZE, BALLOON_MARK);
    }
    pool.put(this.vm.states.balloonHandover(pfn));
    this.#balloon.add(pfn);
    this.ballooned.add(pfn);
    for (const l of this.#listeners) l(pfn, hadData);
  }

  /** Ballooned page `pfn` back to the guest, its contents read back from swap if it had some. */
  #giveBack(pfn: number, pool: FramePool | null): void {
    this.#balloon.delete(pfn);
    this.ballooned.delete(pfn);
    if (pool === null) this.vm.states.deflate(pfn);
    else pool.deflate(this.vm, pfn, pool !== this.#local);
    const saved = this.#swap.get(pfn);
    if (saved !== undefined) {
      this.#swap.delete(pfn);
      this.vm.writePages(pfn, saved);
      this.counters.swapInPages++;
    }
  }

  /**
   * The guest touched a ballooned page: a guest page fault (major when the
   * page must be read back from swap). The guest's memory does not grow: it
   * gives up another page (the clock's victim) to the balloon, whose frame,
   * zeroed, holds the faulting page.
   */
  #pageIn(f: Fault): FaultAction {
    if (!this.#balloon.has(f.pfn)) return "pass";
    if (this.#swap.has(f.pfn)) {
      this.counters.majorFaults++;
      this.counters.stallNs += this.majorFaultNs;
    } else {
      this.counters.minorFaults++;
    }
    const victim = this.#victim(f.pfn);
    if (victim !== null) this.#take(victim.pfn, victim.hadData, this.#local);
    this.#giveBack(f.pfn, this.#local);
    if (this.#local.size > 0) this.#local.releaseAll(this.vm);
    return "retry";
  }

  /** Gives every page back and stops handling the guest's faults. */
  close(): void {
    for (const pfn of [...this.#balloon]) this.#giveBack(pfn, null);
    this.#disposeFault();
    this.#referenced.close();
    this.ballooned.free();
  }
}
