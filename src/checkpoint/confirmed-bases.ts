// The primary's knowledge of what the backup holds (the seed's feedback):
// per page, the checkpoint that last carried it and a copy of the bytes it
// carried. A checkpoint's acknowledgement (cumulative: the backup commits
// in stream order) confirms every page version it carried. A page may go as
// a delta only against a confirmed version, i.e. when no unacknowledged
// checkpoint carried the page since: then the backup's copy of the page is
// exactly the cached bytes when the delta is applied. A lost or late
// acknowledgement only means fewer deltas, never a delta against a base the
// backup lacks. The cache keeps the most recently sent pages (LRU), as
// Remus's compression cache does.

/** Sentinel for a page sent as a ZERO record. */
export const ZERO_PAGE = new Uint8Array(4096);

export class ConfirmedBases {
  readonly capacityPages: number;
  /** Number of the last checkpoint the backup acknowledged, -1 before any. */
  #acked = -1;
  /** pfn -> checkpoint that last carried the page. */
  readonly #lastSent = new Map<number, number>();
  /** pfn -> bytes last sent, in least-recently-sent order. */
  readonly #cache = new Map<number, Uint8Array>();

  constructor(capacityPages: number) {
    this.capacityPages = capacityPages;
  }

  get ackedCheckpoint(): number { return this.#acked; }

  /** An acknowledgement of checkpoint `n` (and so of every earlier one) arrived. */
  acknowledge(n: number): void {
    if (n > this.#acked) this.#acked = n;
  }

  /** The version of `pfn` the backup is known to hold, or null when it is not confirmed (or not cached). */
  confirmedBase(pfn: number): Uint8Array | null {
    const sent = this.#lastSent.get(pfn);
    if (sent === undefined || sent > this.#acked) return null;
    return this.#cache.get(pfn) ?? null;
  }

  /** The checkpoint that last carried `pfn`, or null. */
  lastSent(pfn: number): number | null { return this.#lastSent.get(pfn) ?? null; }

  /** `pfn` went out in checkpoint `n` carrying `bytes` (kept as given: the caller passes a copy it no longer writes). */
  sent(pfn: number, n: number, bytes: Uint8Array): void {
    this.#lastSent.set(pfn, n);
    this.#cache.delete(pfn);
    this.#cache.set(pfn, bytes);
    if (this.#cache.size > this.capacityPages) {
      const oldest = this.#cache.keys().next().value as number;
      this.#cache.delete(oldest);
    }
  }
}
