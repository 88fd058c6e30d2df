// The index of a snapshot as a save builds it: the background writer and
// the trace window both record what they learn about a page (its data is
// in slot s, it was zero, poisoned or ballooned at the instant), in any
// order; the pages captured for the working set are kept aside until the
// end, when they get the last slots, in pfn order. build() merges the two
// into the file's index, ascending by pfn; a page with a working-set copy
// points there (its earlier copy, if the writer had saved it, stays in the
// file unreferenced: the price of one sequential working-set read).
import { U32Column } from "./bits.js";
import { PageKind, type SnapshotIndex } from "./format.js";

/** A page captured for the working set: its bytes as they were at the instant. */
export interface WorkingSetPage {
  readonly pfn: number;
  readonly bytes: Uint8Array;
  readonly checksum: number;
}

export class EntryLog {
  readonly #pfn = new U32Column();
  readonly #kind = new U32Column();
  readonly #slot = new U32Column();
  readonly #checksum = new U32Column();
  readonly #workingSet: WorkingSetPage[] = [];
  #workingSetBytes = 0;

  /** Entries recorded so far (working-set pages not included). */
  get length(): number { return this.#pfn.length; }
  /** Bytes held for the working set. */
  get workingSetBytes(): number { return this.#workingSetBytes; }
  get workingSetPages(): number { return this.#workingSet.length; }

  #push(pfn: number, kind: PageKind, slot: number, checksum: number): void {
    this.#pfn.push(pfn);
    this.#kind.push(kind);
    this.#slot.push(slot);
    this.#checksum.push(checksum);
  }

  data(pfn: number, slot: number, checksum: number): void { this.#push(pfn, PageKind.Data, slot, checksum); }
  /** A page with no bytes: zero (a diff's page that became zero), poisoned or ballooned. */
  metadata(pfn: number, kind: PageKind): void { this.#push(pfn, kind, 0, 0); }

  /** Keeps `page` for the working set (its slot is given at the end). */
  keepForWorkingSet(page: WorkingSetPage): void {
    this.#workingSet.push(page);
    this.#workingSetBytes += page.bytes.length;
  }

  /** The working-set pages in pfn order; `firstSlot` is where the first goes. */
  sortedWorkingSet(): readonly WorkingSetPage[] {
    return [...this.#workingSet].sort((a, b) => a.pfn - b.pfn);
  }

  /** The index, with the working set in slots firstSlot.. (in the order sortedWorkingSet gives). */
  build(workingSet: readonly WorkingSetPage[], firstSlot: number): SnapshotIndex {
    const order = this.#ascending();
    const total = order.length + workingSet.length;
    const out: SnapshotIndex = { pfn: new Uint32Array(total), kind: new Uint8Array(total), slot: new Uint32Array(total), checksum: new Uint32Array(total) };
    let n = 0;
    let w = 0;
    const emit = (pfn: number, kind: number, slot: number, checksum: number): void => {
      out.pfn[n] = pfn;
      out.kind[n] = kind;
      out.slot[n] = slot;
      out.checksum[n] = checksum;
      n++;
    };
    for (const i of order) {
      const pfn = this.#pfn.get(i);
      while (w < workingSet.length && workingSet[w].pfn < pfn) {
        emit(workingSet[w].pfn, PageKind.Data, firstSlot + w, workingSet[w].checksum);
        w++;
      }
      if (w < workingSet.length && workingSet[w].pfn === pfn) continue; // the working-set copy wins
      emit(pfn, this.#kind.get(i), this.#slot.get(i), this.#checksum.get(i));
    }
    for (; w < workingSet.length; w++) emit(workingSet[w].pfn, PageKind.Data, firstSlot + w, workingSet[w].checksum);
    return { pfn: out.pfn.slice(0, n), kind: out.kind.slice(0, n), slot: out.slot.slice(0, n), checksum: out.checksum.slice(0, n) };
  }

  /** Entry numbers in ascending pfn order (the writer's entries mostly are already). */
  #ascending(): Uint32Array {
    const n = this.#pfn.length;
    const order = new Uint32Array(n);
    let sorted = true;
    for (let i = 0; i < n; i++) {
      order[i] = i;
      if (i > 0 && this.#pfn.get(i) < this.#pfn.get(i - 1)) sorted = false;
    }
    if (!sorted) order.sort((a, b) => this.#pfn.get(a) - this.#pfn.get(b));
    return order;
  }
}
