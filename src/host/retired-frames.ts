// RetiredFrames: the host's list of frames taken out of use for good, and
// where it persists them. With a store (createHost({ retiredStore })), the
// frames the store names are retired before anything runs, so a host
// created again with it ("after a reboot") never hands them out; every
// frame recorded afterwards is appended to it. Without a store, the list
// lives as long as the host. Recording does not move data: whoever retires
// a frame (the page-state kernel's REPAIR and MIGRATE, a destroyed VM's
// poisoned frames) has already taken it out of use, or will.
import { requireInt } from "../options.js";
import type { Kernels } from "../wasm/kernels.js";
import { RetiredStore, type RetireCause, type RetiredFrame, type RetiredStoreReport } from "./retired-store.js";

export class RetiredFrames {
  /** The store, when the host has one. */
  readonly store: RetiredStore | null;
  /** Frames the store names past this host's last frame (a store from a larger host): kept in it, nothing to reserve. */
  readonly outsideHost: readonly number[];
  readonly #frames = new Map<number, RetiredFrame>();
  readonly #maxFrames: number;

  constructor(kernels: Kernels, store: RetiredStore | null) {
    this.store = store;
    this.#maxFrames = kernels.layout.maxFrames;
    const outside: number[] = [];
    for (const f of store?.list() ?? []) {
      if (f.hfn >= this.#maxFrames) {
        outside.push(f.hfn);
        continue;
      }
      kernels.frames.reserve(f.hfn);
      this.#frames.set(f.hfn, f);
    }
    this.outsideHost = Object.freeze(outside);
  }

  /** What loading the store found (null without a store). */
  get loadReport(): RetiredStoreReport | null { return this.store?.loadReport ?? null; }

  /** Retired frames of this host, by frame number. */
  list(): RetiredFrame[] { return [...this.#frames.values()].sort((a, b) => a.hfn - b.hfn); }

  has(hfn: number): boolean { return this.#frames.has(hfn); }

  get count(): number { return this.#frames.size; }

  /**
   * Records that frame `hfn` is out of use for good, because of `cause`,
   * after `errorCount` errors; appends it to the store (fsynced before this
   * returns). Returns false when the frame was recorded already.
   */
  record(hfn: number, cause: RetireCause, errorCount: number, timeMs = Date.now()): boolean {
    requireInt("hfn", hfn, 1, this.#maxFrames - 1);
    requireInt("errorCount", errorCount, 1, 0xffffffff);
    if (this.#frames.has(hfn)) return false;
    const frame: RetiredFrame = Object.freeze({ hfn, cause, timeMs: Math.floor(timeMs), errorCount });
    this.store?.append(frame);
    this.#frames.set(hfn, frame);
    return true;
  }
}
