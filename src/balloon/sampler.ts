// Working-set estimation by statistical sampling (Waldspurger OSDI'02 §5.4):
// at the start of each sampling period, n random pages of the VM's usable
// (not ballooned) memory are chosen and their accessed bits invalidated; at
// its end, the t of them the guest touched give f = t / n. The estimate is
// the largest of a slow and a fast exponentially weighted moving average
// and the current period's value: it rises at once when the guest becomes
// active and falls slowly when it goes idle.
//
// The accessed bits are read through the platform's accessed log with a
// reader of our own (one harvest per sync clears every A bit and ORs them
// into every open reader), so other readers on the same guest lose nothing.
// The same harvest gives the true active fraction (pages touched in the
// period over usable pages), for the statistics and for tests.
import type { PageLogReader } from "../host/page-log.js";
import type { PageSet } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { mulberry32 } from "../sim/prng.js";

export interface ActiveFractionSample {
  /** Sampled pages touched in the period. */
  readonly touched: number;
  readonly sampled: number;
  /** t / n of this period. */
  readonly current: number;
  /** max(slow, fast, current). */
  readonly estimate: number;
  /** Pages touched in the period over usable pages. */
  readonly trueFraction: number;
}

export class WorkingSetSampler {
  readonly vm: Vm;
  readonly #reader: PageLogReader;
  readonly #random: () => number;
  readonly #samplePages: number;
  readonly #fastGain: number;
  readonly #slowGain: number;
  #sample: number[] = [];
  #fast = 1;
  #slow = 1;
  #last: ActiveFractionSample | null = null;

  /** Starts sampling `vm`: the first period begins now. The averages start at the first period's value; until then the estimate is 1 (a new VM counts as active). */
  readonly #ballooned: PageSet | null;

  /**
   * `ballooned`, when given, holds the VM's ballooned pages: pages touched
   * in a period but ballooned at its end (the balloon's own mark) are not
   * counted in the true active fraction.
   */
  constructor(vm: Vm, options: { readonly samplePages: number; readonly fastGain: number; readonly slowGain: number; readonly seed: number }, ballooned: PageSet | null = null) {
    this.vm = vm;
    this.#ballooned = ballooned;
    this.#samplePages = options.samplePages;
    this.#fastGain = options.fastGain;
    this.#slowGain = options.slowGain;
    this.#random = mulberry32(options.seed);
    this.#reader = vm.accessedLog.open(`overcommit-sampler-${vm.id}`);
    this.#begin();
  }

  /** The last period's figures, or null before the first period ends. */
  get last(): ActiveFractionSample | null { return this.#last; }

  /** The estimate the scheduler uses (1 before the first period ends). */
  get estimate(): number { return this.#last?.estimate ?? 1; }

  /** The last period's true active fraction (1 before the first period ends). */
  get trueFraction(): number { return this.#last?.trueFraction ?? 1; }

  /** n random pages, drawn with replacement among the pages that are not ballooned. */
  #begin(): void {
    this.#reader.sync();
    this.#reader.pages.clear();
    const pages = this.vm.pages;
    this.#sample = [];
    if (this.vm.states.counts().balloonedPages >= pages) return;
    while (this.#sample.length < this.#samplePages) {
      const pfn = Math.floor((this.#random() / 2 ** 32) * pages);
      if (this.vm.states.of(pfn).kind !== "ballooned") this.#sample.push(pfn);
    }
  }

  /** Ends the current period (counts the touched sample pages, updates the averages) and starts the next one. */
  endPeriod(): ActiveFractionSample {
    this.#reader.sync();
    const touchedSet = this.#reader.pages;
    // A sampled page ballooned since the period began no longer counts (the
    // balloon's own mark is not the guest's use of it).
    const kept = this.#sample.filter((pfn) => this.vm.states.of(pfn).kind !== "ballooned");
    const touched = kept.filter((pfn) => touchedSet.has(pfn)).length;
    const sampled = kept.length;
    const current = sampled === 0 ? 0 : touched / sampled;
    if (this.#ballooned !== null) touchedSet.deleteAll(this.#ballooned);
    const usable = this.vm.pages - this.vm.states.counts().balloonedPages;
    const trueFraction = usable === 0 ? 0 : Math.min(1, touchedSet.count() / usable);
    if (this.#last === null) {
      this.#fast = current;
      this.#slow = current;
    } else {
      this.#fast += this.#fastGain * (current - this.#fast);
      this.#slow += this.#slowGain * (current - this.#slow);
    }
    const estimate = Math.max(this.#fast, this.#slow, current);
    this.#last = Object.freeze({ touched, sampled, current, estimate, trueFraction });
    this.#begin();
    return this.#last;
  }

  close(): void { this.#reader.close(); }
}
