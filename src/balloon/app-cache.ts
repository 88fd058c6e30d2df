// An application inside a guest that keeps a cache and shrinks it when told
// (seed T12's example): lookups of keys with a skewed popularity (key k is
// drawn as ⌊K^u⌋ − 1, u uniform: popularity ∝ 1/k); the cache holds the
// `sizePages` most popular keys, one 4 KiB page each, in the guest pages
// [firstPage, firstPage + maxPages). A hit reads the key's page through the
// MMU (a page the balloon took costs a guest page fault); a miss goes to the
// backend. Once a second the application decides its cache size by one of
// two policies:
//
//   "signal"       the memory condition (condition.ts): it counts on
//                  `available` pages, keeping `reserveFraction` of the guest
//                  spare (default 12 %: above the condition's low level and
//                  its hysteresis); it shrinks when notified of low or
//                  critical and grows, by at most growPages a second, while
//                  normal
//   "free-memory"  what the guest OS alone shows: it shrinks by a quarter
//                  when free memory is below `lowMemoryFraction` of the guest
//                  and grows while it is above three times that (Windows'
//                  low and high memory notifications: 32 MB per 4 GB, 3×)
//
// Shrinking frees pages to the guest (the balloon takes such pages first,
// with nothing to page out); growing takes pages back (zero-filled if the
// balloon had them).
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { TimelineProcess } from "../sim/clock.js";
import { mulberry32 } from "../sim/prng.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import type { ManagedVm } from "./scheduler.js";

export type CachePolicy = "signal" | "free-memory";

export interface AppCacheOptions {
  readonly policy: CachePolicy;
  readonly firstPage: number;
  readonly maxPages: number;
  /** Keys looked up (≥ maxPages). */
  readonly keys: number;
  readonly lookupsPerSec: number;
  /** "signal": pages kept spare, as a fraction of the guest. @default 0.12 */
  readonly reserveFraction?: number;
  /** "free-memory": the low-memory mark, as a fraction of the guest. @default 1 / 128 */
  readonly lowMemoryFraction?: number;
  /** Most pages the cache grows by in a second. @default maxPages / 32 */
  readonly growPages?: number;
  readonly seed?: number;
}

export interface AppCacheFigures {
  readonly policy: CachePolicy;
  readonly lookups: number;
  readonly hits: number;
  readonly hitRate: number;
  readonly sizePages: number;
  /** Cache pages holding data that the balloon took (the guest paged them out first). */
  readonly pagesTakenByBalloon: number;
  readonly notifications: number;
}

export class AppCache implements TimelineProcess {
  readonly managed: ManagedVm;
  readonly policy: CachePolicy;
  readonly firstPage: number;
  readonly maxPages: number;
  readonly #keys: number;
  readonly #lookupsPerSec: number;
  readonly #reservePages: number;
  readonly #lowMemoryPages: number;
  readonly #growPages: number;
  readonly #random: () => number;
  #size: number;
  #carry = 0;
  #sinceDecisionNs = 0;
  lookups = 0;
  hits = 0;
  pagesTakenByBalloon = 0;
  notifications = 0;

  /** Starts the application with a full cache (its pages written now). */
  constructor(managed: ManagedVm, options: AppCacheOptions) {
    rejectUnknown(options, ["policy", "firstPage", "maxPages", "keys", "lookupsPerSec", "reserveFraction", "lowMemoryFraction", "growPages", "seed"], "AppCache");
    if (options.policy !== "signal" && options.policy !== "free-memory") {
      throw new HypermemError(ErrorCode.BadOption, `policy must be "signal" or "free-memory", got ${JSON.stringify(options.policy)}`, { option: "policy", value: options.policy });
    }
    const vm = managed.vm;
    this.managed = managed;
    this.policy = options.policy;
    this.firstPage = requireInt("firstPage", options.firstPage, 0, vm.pages - 1);
    this.maxPages = requireInt("maxPages", options.maxPages, 1, vm.pages - this.firstPage);
    this.#keys = requireInt("keys", options.keys, this.maxPages, 2 ** 31);
    this.#lookupsPerSec = requireInt("lookupsPerSec", options.lookupsPerSec, 1, 1e7);
    this.#reservePages = Math.ceil(requireNumber("reserveFraction", options.reserveFraction ?? 0.12, 0, 0.5) * vm.pages);
    this.#lowMemoryPages = Math.ceil(requireNumber("lowMemoryFraction", options.lowMemoryFraction ?? 1 / 128, 0, 0.5) * vm.pages);
    this.#growPages = requireInt("growPages", options.growPages ?? Math.max(1, Math.floor(this.maxPages / 32)), 1, this.maxPages);
    this.#random = mulberry32(options.seed ?? 1);
    this.#size = this.maxPages;
    vm.fillPages(this.firstPage, this.maxPages, (into) => into.fill(0x5a));
    managed.driver.onTake((pfn, hadData) => {
      if (hadData && pfn >= this.firstPage && pfn < this.firstPage + this.#size) this.pagesTakenByBalloon++;
    });
    if (this.policy === "signal") {
      for (const level of ["low", "critical"] as const) {
        managed.condition.subscribe({ level, windowNs: 1e9 }, () => {
          this.notifications++;
          this.#decide();
        });
      }
    }
  }

  get sizePages(): number { return this.#size; }

  figures(): AppCacheFigures {
    return Object.freeze({
      policy: this.policy, lookups: this.lookups, hits: this.hits, hitRate: this.lookups === 0 ? 0 : this.hits / this.lookups,
      sizePages: this.#size, pagesTakenByBalloon: this.pagesTakenByBalloon, notifications: this.notifications,
    });
  }

  /** TimelineProcess: the lookups of `durationNs`, and a size decision once a second. */
  advance(durationNs: number): void {
    const want = this.#lookupsPerSec * durationNs / 1e9 + this.#carry;
    const n = Math.floor(want);
    this.#carry = want - n;
    const reads: { op: "read"; gpa: number }[] = [];
    for (let i = 0; i < n; i++) {
      const key = Math.floor(this.#keys ** (this.#random() / 2 ** 32)) - 1;
      this.lookups++;
      if (key < this.#size) {
        this.hits++;
        reads.push({ op: "read", gpa: (this.firstPage + key) * PAGE_SIZE });
      }
    }
    if (reads.length > 0) this.managed.vm.run(reads);
    this.#sinceDecisionNs += durationNs;
    if (this.#sinceDecisionNs >= 1e9) {
      this.#sinceDecisionNs = 0;
      this.#decide();
    }
  }

  #decide(): void {
    const m = this.managed;
    let target = this.#size;
    if (this.policy === "signal") {
      const info = m.condition.info;
      if (info === null) return;
      const fits = this.#size + info.availablePages - this.#reservePages;
      target = fits < this.#size ? fits : info.level === "normal" ? Math.min(fits, this.#size + this.#growPages) : this.#size;
    } else {
      const free = m.guestFreePages;
      if (free < this.#lowMemoryPages) target = this.#size - Math.ceil(this.#size / 4);
      else if (free > 3 * this.#lowMemoryPages) target = this.#size + Math.min(this.#growPages, free - 3 * this.#lowMemoryPages);
    }
    this.#resize(Math.max(0, Math.min(this.maxPages, Math.floor(target))));
  }

  #resize(pages: number): void {
    const driver = this.managed.driver;
    for (let k = pages; k < this.#size; k++) driver.release(this.firstPage + k);
    if (pages > this.#size) {
      for (let k = this.#size; k < pages; k++) driver.reuse(this.firstPage + k);
      const fill = new Uint8Array(8).fill(0x5a);
      for (let k = this.#size; k < pages; k++) this.managed.vm.write((this.firstPage + k) * PAGE_SIZE, fill);
    }
    this.#size = pages;
  }
}
