// Dirty and accessed logs with named readers (QEMU keeps a dirty bitmap per
// client: migration, VGA, TCG). A sync harvests the page table's D (or A)
// bits once, fetch-and-clear, and ORs them into every open reader's own
// PageSet, so no reader steals another's bits. A reader sees at least every
// page written (or accessed) after it opened: bits set before its open and
// not yet synced reach it too, which a dirty log may do (sending a page
// twice is safe, missing one is not).
import { ErrorCode, HypermemError } from "../errors.js";
import { PTE_A_BIT, PTE_D_BIT } from "../wasm/codes.js";
import type { Kernels } from "../wasm/kernels.js";
import type { PageBitmap } from "./bitmap.js";
import { PageSet, type PfnList } from "./page-set.js";

export type PageLogKind = "dirty" | "accessed";

export interface ReaderOptions {
  /** What the reader starts with: no page, or every page (a first full pass). @default "empty" */
  initial?: "empty" | "all";
}

/** One client's view of a page log: its own set of pages to handle. */
export class PageLogReader {
  readonly name: string;
  readonly log: PageLog;
  /** The pages this reader has still to handle. */
  readonly pages: PageSet;
  #closed = false;

  constructor(log: PageLog, name: string, pages: PageSet) {
    this.log = log;
    this.name = name;
    this.pages = pages;
  }

  /** Pages this reader has still to handle. */
  get pending(): number { return this.pages.count(); }
  get closed(): boolean { return this.#closed; }

  /** Syncs the log (every reader gets the new bits); returns this reader's pending pages. */
  sync(): number {
    this.#alive();
    return this.log.sync(this);
  }

  /** Moves the pending pages of words [fromWord, fromWord + maxWords) into `list` (see PageSet.takeWindow). */
  takeWindow(fromWord: number, maxWords: number, list: PfnList): number {
    this.#alive();
    return this.pages.takeWindow(fromWord, maxWords, list);
  }

  /** Puts list[from, to) back: pages taken but not handled. */
  requeue(list: PfnList, from = 0, to = list.length): void {
    this.#alive();
    this.pages.addList(list, from, to);
  }

  /** Stops receiving bits and frees the reader's set. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.log.detach(this);
    this.pages.free();
  }

  #alive(): void {
    if (this.#closed) throw new HypermemError(ErrorCode.Destroyed, `${this.log.kind} log reader "${this.name}" was closed`, { reader: this.name });
  }
}

export class PageLog {
  readonly kind: PageLogKind;
  readonly #k: Kernels;
  readonly #slot: number;
  readonly #guestPages: number;
  readonly #readers: PageLogReader[] = [];
  /** Where a sync with several readers (or a collect) harvests first; allocated on first need. */
  #harvested: PageSet | null = null;

  constructor(kernels: Kernels, slot: number, guestPages: number, kind: PageLogKind) {
    this.#k = kernels;
    this.#slot = slot;
    this.#guestPages = guestPages;
    this.kind = kind;
  }

  /** Names of the open readers. */
  get readers(): string[] { return this.#readers.map((r) => r.name); }

  /** Opens a reader named `name` (unique among the open ones). */
  open(name: string, options: ReaderOptions = {}): PageLogReader {
    if (typeof name !== "string" || name === "") throw new HypermemError(ErrorCode.BadOption, `a ${this.kind} log reader needs a name, got ${JSON.stringify(name)}`, { option: "name" });
    if (this.#readers.some((r) => r.name === name)) {
      throw new HypermemError(ErrorCode.BadOption, `the ${this.kind} log already has a reader named "${name}"`, { option: "name", value: name });
    }
    const initial = options.initial ?? "empty";
    if (initial !== "empty" && initial !== "all") throw new HypermemError(ErrorCode.BadOption, `initial must be "empty" or "all", got ${JSON.stringify(initial)}`, { option: "initial" });
    const set = new PageSet(this.#k, this.#guestPages);
    if (initial === "all") set.fill();
    const reader = new PageLogReader(this, name, set);
    this.#readers.push(reader);
    return reader;
  }

  /** Called by PageLogReader.close(). */
  detach(reader: PageLogReader): void {
    const at = this.#readers.indexOf(reader);
    if (at >= 0) this.#readers.splice(at, 1);
  }

  get #bit(): number { return this.kind === "dirty" ? PTE_D_BIT : PTE_A_BIT; }

  /**
   * Harvests the page table once and ORs the pages into every open reader.
   * Returns `of`'s pending count (or the pages harvested when `of` is not
   * given). When the asking reader is the only one, the harvest goes
   * straight into its set.
   */
  sync(of?: PageLogReader): number {
    if (this.#readers.length === 1 && of === this.#readers[0]) return this.#k.mmu.harvest(this.#slot, of.pages.ptr, this.#bit);
    const harvested = this.#harvest();
    for (const r of this.#readers) r.pages.addAll(harvested);
    return of ? of.pending : harvested.count();
  }

  /** A sync that also returns the pages it harvested (the log since the last sync, for callers without a reader). */
  collect(): PageBitmap {
    const harvested = this.#harvest();
    for (const r of this.#readers) r.pages.addAll(harvested);
    return harvested.snapshot();
  }

  #harvest(): PageSet {
    this.#harvested ??= new PageSet(this.#k, this.#guestPages);
    this.#harvested.clear();
    this.#k.mmu.harvest(this.#slot, this.#harvested.ptr, this.#bit);
    return this.#harvested;
  }

  /** Closes every reader and frees the log's sets (the VM is going away). */
  close(): void {
    for (const r of [...this.#readers]) r.close();
    this.#harvested?.free();
    this.#harvested = null;
  }
}
