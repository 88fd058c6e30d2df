// The patrol scrubber: the memory controller reads every frame in turn, at a
// set rate, so a latent uncorrectable error is found by the scrubber rather
// than by the guest's next read (Intel and AMD patrol scrub; Linux hears of
// it as an action-optional machine check, SRAO). Here it walks the protected
// guests' pages round robin, `pagesPerSec` of them per simulated second, in
// steps of 1 ms on the clock, and hands each latent error it finds to the
// engine. A full pass over G pages takes G / pagesPerSec seconds, so a latent
// error waits half of that on average before it is found.
import type { Cancel, Clock } from "../sim/clock.js";
import type { Vm } from "../host/vm.js";

/** Scrubber steps: every 1 ms of clock time. */
export const SCRUB_STEP_NS = 1e6;

export interface ScrubStats {
  readonly pagesPerSec: number;
  readonly pagesScanned: number;
  /** Complete passes over every protected page. */
  readonly fullPasses: number;
  readonly latentFound: number;
}

export class PatrolScrubber {
  readonly pagesPerSec: number;
  readonly #clock: Clock;
  readonly #vms: readonly Vm[];
  readonly #onLatent: (vm: Vm, pfn: number) => void;
  #vmIndex = 0;
  #pfn = 0;
  #carry = 0;
  #scanned = 0;
  #passes = 0;
  #found = 0;
  #cancel: Cancel | null = null;

  constructor(clock: Clock, vms: readonly Vm[], pagesPerSec: number, onLatent: (vm: Vm, pfn: number) => void) {
    this.#clock = clock;
    this.#vms = vms;
    this.pagesPerSec = pagesPerSec;
    this.#onLatent = onLatent;
    this.#schedule();
  }

  stats(): ScrubStats {
    return { pagesPerSec: this.pagesPerSec, pagesScanned: this.#scanned, fullPasses: this.#passes, latentFound: this.#found };
  }

  /** Stops the scrubber. Idempotent. */
  close(): void {
    this.#cancel?.();
    this.#cancel = null;
  }

  #schedule(): void {
    this.#cancel = this.#clock.schedule(this.#clock.nowNs + SCRUB_STEP_NS, () => {
      this.#step();
      this.#schedule();
    });
  }

  /** Reads the next pages of this step's budget. */
  #step(): void {
    const want = this.pagesPerSec * SCRUB_STEP_NS / 1e9 + this.#carry;
    let budget = Math.floor(want);
    this.#carry = want - budget;
    const live = this.#vms.filter((vm) => !vm.destroyed);
    if (live.length === 0) return;
    while (budget-- > 0) {
      if (this.#vmIndex >= live.length) this.#vmIndex = 0;
      const vm = live[this.#vmIndex];
      const state = vm.states.of(this.#pfn);
      this.#scanned++;
      if (state.kind === "poisoned" && state.latent) {
        this.#found++;
        this.#onLatent(vm, this.#pfn);
      }
      if (++this.#pfn >= vm.pages) {
        this.#pfn = 0;
        if (++this.#vmIndex >= live.length) {
          this.#vmIndex = 0;
          this.#passes++;
        }
      }
    }
  }
}
