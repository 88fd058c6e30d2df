// One checkpoint on the primary, from its first staged page to its COMMIT
// on the wire: the pages it carries (copies taken at the pause, or while the
// guest ran for pages sent early), in the order they go out. A page staged
// again before it went (rewritten after an early copy, or a merged epoch)
// replaces its unsent copy; a page staged again after it went is queued
// again, and the later record wins on the backup.
//
// The pause stages thousands of pages at once, so staging is cheap: an
// entry is (pfn, staging buffer, page index in it) in three typed arrays
// that double as needed and keep their room when the checkpoint's entries
// have all gone (a batch is two
// memory copies and one loop over its zero flags, no object per page), its
// view made only when it is taken for the wire. Buffers are numbered in a
// small per-checkpoint table; -1 is a page that reads as zeros. Entries are
// taken in order, so entry i is unsent while i >= next. The pfn -> entry
// index that finds a page staged again is built lazily, only when a batch
// is staged into a checkpoint that already has entries (the pfns of one
// batch are distinct).

import { HostBuffer } from "../host/host-buffer.js";

/** A staged page: its bytes at the time of the copy, or null for a page that reads as zeros. */
export type StagedPage = Uint8Array | null;

/** Where a pause's copies live: host frames, or JS memory when the host has none to lend. */
export type StagingBuffer = Uint8Array | HostBuffer;

const PAGE_BYTES = 4096;
/** Entry room of a new checkpoint; it doubles as needed and is kept across #reset. */
const INITIAL_ENTRIES = 64;

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
  /** Entries [0, #length): pfn, source (index in #sourceTable, -1 for a page that reads as zeros), page index in it. */
  #pfns = new Uint32Array(INITIAL_ENTRIES);
  #sources = new Int32Array(INITIAL_ENTRIES);
  #pageIndex = new Uint32Array(INITIAL_ENTRIES);
  #length = 0;
  /** What entries' sources point at: gathered buffers, and single pages staged one by one. */
  readonly #sourceTable: StagingBuffer[] = [];
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
    this.#put(pfn, bytes === null ? -1 : this.#source(bytes), 0);
  }

  /**
   * Stages pages `pfns` (distinct) gathered into `buffer`, page i at byte
   * i × 4096; those with `zeroFlags[i]` set as pages that read as zeros.
   */
  stageGathered(pfns: ArrayLike<number>, buffer: StagingBuffer, zeroFlags: Uint8Array): void {
    const count = pfns.length;
    const source = this.#source(buffer);
    if (this.#length > this.#next) {
      this.#index();
      for (let i = 0; i < count; i++) this.#put(pfns[i], zeroFlags[i] === 1 ? -1 : source, i);
      return;
    }
    this.#room(this.#length + count);
    const at = this.#length;
    if (pfns instanceof Uint32Array) this.#pfns.set(pfns, at);
    else for (let i = 0; i < count; i++) this.#pfns[at + i] = pfns[i];
    const sources = this.#sources;
    const pageIndex = this.#pageIndex;
    for (let i = 0; i < count; i++) {
      sources[at + i] = zeroFlags[i] === 1 ? -1 : source;
      pageIndex[at + i] = i;
    }
    this.#length = at + count;
  }

  /** Adds the entries not indexed yet to the pfn -> entry index. */
  #index(): void {
    for (let i = this.#indexed; i < this.#length; i++) this.#entryOf.set(this.#pfns[i], i);
    this.#indexed = this.#length;
  }

  /** The number of `buffer` in the source table (added when new). */
  #source(buffer: StagingBuffer): number {
    const table = this.#sourceTable;
    const last = table.length - 1;
    if (last >= 0 && table[last] === buffer) return last;
    table.push(buffer);
    return last + 1;
  }

  #put(pfn: number, source: number, pageIndex: number): void {
    const at = this.#entryOf.get(pfn);
    if (at !== undefined && at >= this.#next) {
      this.#sources[at] = source;
      this.#pageIndex[at] = pageIndex;
      return;
    }
    this.#room(this.#length + 1);
    const end = this.#length++;
    this.#entryOf.set(pfn, end);
    this.#pfns[end] = pfn;
    this.#sources[end] = source;
    this.#pageIndex[end] = pageIndex;
    this.#indexed = this.#length;
  }

  /** Grows the entry arrays (doubling) to hold `entries`. */
  #room(entries: number): void {
    if (entries <= this.#pfns.length) return;
    let size = this.#pfns.length * 2;
    while (size < entries) size *= 2;
    const grow = <T extends Uint32Array | Int32Array>(old: T, fresh: T): T => { fresh.set(old.subarray(0, this.#length)); return fresh; };
    this.#pfns = grow(this.#pfns, new Uint32Array(size));
    this.#sources = grow(this.#sources, new Int32Array(size));
    this.#pageIndex = grow(this.#pageIndex, new Uint32Array(size));
  }

  /** Pages staged and not sent yet. */
  get unsentPages(): number { return this.#length - this.#next; }

  /** Every page's records are on the wire and the checkpoint is closed: only COMMIT is left (or done). */
  get drained(): boolean { return this.closed && this.unsentPages === 0; }

  /**
   * The next page to send and its bytes, or null when none is left. The
   * bytes are valid until the checkpoint is recycled, and (a copy in host
   * frames) until linear memory next grows: use them before the guest runs.
   */
  takeNext(): { pfn: number; bytes: StagedPage } | null {
    if (this.#next >= this.#length) return null;
    const at = this.#next++;
    const pfn = this.#pfns[at];
    const number = this.#sources[at];
    const source = number < 0 ? null : this.#sourceTable[number];
    const offset = this.#pageIndex[at] * PAGE_BYTES;
    const bytes = source === null ? null
      : source instanceof HostBuffer ? source.view(offset, PAGE_BYTES)
      : source.length === PAGE_BYTES ? source : source.subarray(offset, offset + PAGE_BYTES);
    if (this.#next === this.#length) this.#reset();
    return { pfn, bytes };
  }

  /** Takes over `later`'s pages and epochs (the merge policy): this checkpoint then commits `later`'s pause state. */
  absorb(later: PendingCheckpoint): void {
    this.#index();
    const base = this.#sourceTable.length;
    for (const buffer of later.#sourceTable) this.#sourceTable.push(buffer);
    for (let at = later.#next; at < later.#length; at++) {
      const source = later.#sources[at];
      this.#put(later.#pfns[at], source < 0 ? -1 : base + source, later.#pageIndex[at]);
    }
    later.#reset();
    this.epochs.push(...later.epochs);
    this.buffers.push(...later.buffers.splice(0));
    this.closed = later.closed;
  }

  /** Every entry was taken: the lists start again from empty. */
  #reset(): void {
    this.#length = 0;
    this.#sourceTable.length = 0;
    this.#entryOf.clear();
    this.#indexed = 0;
    this.#next = 0;
  }
}
