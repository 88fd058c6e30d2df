// One checkpoint on the primary, from its first staged page to its COMMIT
// on the wire: the pages it carries (copies taken at the pause, or while the
// guest ran for pages sent early), in the order they go out. A page staged
// again before it went (rewritten after an early copy, or a merged epoch)
// replaces its unsent copy; a page staged again after it went is queued
// again, and the later record wins on the backup.
//
// The pause stages thousands of pages at once, so staging is cheap: an
// entry is (pfn, staging buffer, byte offset), its view made only when it
// is taken for the wire; entries are taken in order, so entry i is unsent
// while i >= next. The pfn -> entry index that finds a page staged again is
// built lazily, only when a batch is staged into a checkpoint that already
// has entries (the pfns of one batch are distinct).

import { HostBuffer } from "../host/host-buffer.js";

/** A staged page: its bytes at the time of the copy, or null for a page that reads as zeros. */
export type StagedPage = Uint8Array | null;

/** Where a pause's copies live: host frames, or JS memory when the host has none to lend. */
export type StagingBuffer = Uint8Array | HostBuffer;

const PAGE_BYTES = 4096;

export class PendingCheckpoint {
  /** Commit number in the stream (0, 1, 2... with no gap). */
  readonly seq: number;
  /** Pause epochs this checkpoint's state comes from (several when merged); the last is the state it commits. */
  readonly epochs: number[] = [];
  /** Closed at its pause: nothing is staged into it afterwards except by a merge. */
  closed = false;
  /** The COMMIT record went on the wire. */
  commitQueued = false;
  /** Staging buffers its staged pages are copies in (src/checkpoint/staging.ts recycles them). */
  readonly buffers: StagingBuffer[] = [];
  readonly #pfns: number[] = [];
  /** Per entry: the buffer holding its copy (null: the page reads as zeros)... */
  readonly #sources: (StagingBuffer | null)[] = [];
  /** ...and the copy's byte offset in it. */
  readonly #offsets: number[] = [];
  #next = 0;
  /** pfn -> its latest entry, for entries [0, #indexed). */
  readonly #entryOf = new Map<number, number>();
  #indexed = 0;

  constructor(seq: number) {
    this.seq = seq;
  }

  /** The epoch whose pause state this checkpoint commits (-1 while open). */
  get pauseEpoch(): number { return this.closed ? this.epochs[this.epochs.length - 1] : -1; }

  /** Stages `pfn` with `bytes`. */
  stage(pfn: number, bytes: StagedPage): void {
    this.#index();
    this.#put(pfn, bytes, 0);
  }

  /**
   * Stages pages `pfns` (distinct) gathered into `buffer`, page i at byte
   * i × 4096; those with `zeroFlags[i]` set as pages that read as zeros.
   */
  stageGathered(pfns: ArrayLike<number>, buffer: StagingBuffer, zeroFlags: Uint8Array): void {
    if (this.#pfns.length > this.#next) {
      this.#index();
      for (let i = 0; i < pfns.length; i++) this.#put(pfns[i], zeroFlags[i] === 1 ? null : buffer, i * PAGE_BYTES);
      return;
    }
    for (let i = 0; i < pfns.length; i++) {
      this.#pfns.push(pfns[i]);
      this.#sources.push(zeroFlags[i] === 1 ? null : buffer);
      this.#offsets.push(i * PAGE_BYTES);
    }
  }

  /** Adds the entries not indexed yet to the pfn -> entry index. */
  #index(): void {
    for (let i = this.#indexed; i < this.#pfns.length; i++) this.#entryOf.set(this.#pfns[i], i);
    this.#indexed = this.#pfns.length;
  }

  #put(pfn: number, source: StagingBuffer | null, offset: number): void {
    const at = this.#entryOf.get(pfn);
    if (at !== undefined && at >= this.#next) {
      this.#sources[at] = source;
      this.#offsets[at] = offset;
      return;
    }
    this.#entryOf.set(pfn, this.#pfns.length);
    this.#pfns.push(pfn);
    this.#sources.push(source);
    this.#offsets.push(offset);
    this.#indexed = this.#pfns.length;
  }

  /** Pages staged and not sent yet. */
  get unsentPages(): number { return this.#pfns.length - this.#next; }

  /** Every page's records are on the wire and the checkpoint is closed: only COMMIT is left (or done). */
  get drained(): boolean { return this.closed && this.unsentPages === 0; }

  /**
   * The next page to send and its bytes, or null when none is left. The
   * bytes are valid until the checkpoint is recycled, and (a copy in host
   * frames) until linear memory next grows: use them before the guest runs.
   */
  takeNext(): { pfn: number; bytes: StagedPage } | null {
    if (this.#next >= this.#pfns.length) return null;
    const at = this.#next++;
    const pfn = this.#pfns[at];
    const source = this.#sources[at];
    const offset = this.#offsets[at];
    const bytes = source === null ? null
      : source instanceof HostBuffer ? source.view(offset, PAGE_BYTES)
      : source.length === PAGE_BYTES ? source : source.subarray(offset, offset + PAGE_BYTES);
    if (this.#next === this.#pfns.length) this.#reset();
    return { pfn, bytes };
  }

  /** Takes over `later`'s pages and epochs (the merge policy): this checkpoint then commits `later`'s pause state. */
  absorb(later: PendingCheckpoint): void {
    this.#index();
    for (let at = later.#next; at < later.#pfns.length; at++) this.#put(later.#pfns[at], later.#sources[at], later.#offsets[at]);
    later.#reset();
    this.epochs.push(...later.epochs);
    this.buffers.push(...later.buffers.splice(0));
    this.closed = later.closed;
  }

  /** Every entry was taken: the lists start again from empty. */
  #reset(): void {
    this.#pfns.length = 0;
    this.#sources.length = 0;
    this.#offsets.length = 0;
    this.#entryOf.clear();
    this.#indexed = 0;
    this.#next = 0;
  }
}
