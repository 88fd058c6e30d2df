// Corrected (correctable) memory errors: ECC fixed the bits, nothing is
// lost, but a frame that keeps reporting them is about to fail. Each frame's
// errors are counted over a sliding window; at the threshold the frame is
// retired the way Linux soft-offlines a page (mcelog's memory-ce-threshold
// "10 / 24h" with action soft; rasdaemon's PAGE_CE_THRESHOLD 50 per
// PAGE_CE_REFRESH_CYCLE 24h, PAGE_CE_ACTION soft): the guest page moves to a
// new frame holding a copy of its bytes (page-state MIGRATE), the old frame
// never comes back, and it goes to the retired-frame store.
export interface CorrectableVerdict {
  /** Errors on the frame inside the window, this one included. */
  readonly count: number;
  /** True when this error reached the threshold. */
  readonly overThreshold: boolean;
}

export class CorrectableErrors {
  readonly threshold: number;
  readonly windowNs: number;
  readonly #times = new Map<number, number[]>();
  #errors = 0;

  constructor(threshold: number, windowNs: number) {
    this.threshold = threshold;
    this.windowNs = windowNs;
  }

  /** Counts one corrected error on frame `hfn` at `nowNs`; the frame's earlier errors older than the window are forgotten. */
  note(hfn: number, nowNs: number): CorrectableVerdict {
    this.#errors++;
    const recent = (this.#times.get(hfn) ?? []).filter((t) => nowNs - t < this.windowNs);
    recent.push(nowNs);
    this.#times.set(hfn, recent);
    const overThreshold = recent.length >= this.threshold;
    if (overThreshold) this.#times.delete(hfn);
    return { count: recent.length, overThreshold };
  }

  /** Corrected errors counted so far. */
  get errors(): number { return this.#errors; }

  /** Frames with errors inside the window, not yet retired. */
  get framesWatched(): number { return this.#times.size; }
}
