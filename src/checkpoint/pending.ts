// One checkpoint on the primary, from its first staged page to its COMMIT
// on the wire: the pages it carries (copies taken at the pause, or while the
// guest ran for pages sent early), in the order they go out. A page staged
// again before it went (rewritten after an early copy, or a merged epoch)
// replaces its unsent copy; a page staged again after it went is queued
// again, and the later record wins on the backup.

/** A staged page: its bytes at the time of the copy, or null for a page that reads as zeros. */
export type StagedPage = Uint8Array | null;

export class PendingCheckpoint {
  /** Commit number in the stream (0, 1, 2... with no gap). */
  readonly seq: number;
  /** Pause epochs this checkpoint's state comes from (several when merged); the last is the state it commits. */
  readonly epochs: number[] = [];
  /** Closed at its pause: nothing is staged into it afterwards except by a merge. */
  closed = false;
  /** The COMMIT record went on the wire. */
  commitQueued = false;
  readonly #queue: number[] = [];
  #next = 0;
  readonly #content = new Map<number, StagedPage>();
  readonly #unsent = new Set<number>();

  constructor(seq: number) {
    this.seq = seq;
  }

  /** The epoch whose pause state this checkpoint commits (-1 while open). */
  get pauseEpoch(): number { return this.closed ? this.epochs[this.epochs.length - 1] : -1; }

  /** Stages `pfn` with `bytes`. */
  stage(pfn: number, bytes: StagedPage): void {
    this.#content.set(pfn, bytes);
    if (this.#unsent.has(pfn)) return;
    this.#unsent.add(pfn);
    this.#queue.push(pfn);
  }

  /** Pages staged and not sent yet. */
  get unsentPages(): number { return this.#unsent.size; }

  /** Every page's records are on the wire and the checkpoint is closed: only COMMIT is left (or done). */
  get drained(): boolean { return this.closed && this.#unsent.size === 0; }

  /** The next page to send and its bytes, or null when none is left. */
  takeNext(): { pfn: number; bytes: StagedPage } | null {
    if (this.#next >= this.#queue.length) return null;
    const pfn = this.#queue[this.#next++];
    this.#unsent.delete(pfn);
    if (this.#next === this.#queue.length) {
      this.#queue.length = 0;
      this.#next = 0;
    }
    return { pfn, bytes: this.#content.get(pfn)! };
  }

  /** Takes over `later`'s pages and epochs (the merge policy): this checkpoint then commits `later`'s pause state. */
  absorb(later: PendingCheckpoint): void {
    for (;;) {
      const page = later.takeNext();
      if (!page) break;
      this.stage(page.pfn, page.bytes);
    }
    this.epochs.push(...later.epochs);
    this.closed = later.closed;
  }
}
