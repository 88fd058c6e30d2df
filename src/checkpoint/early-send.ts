// Stable pages sent while the guest runs (the seed's modification history).
// Per page, the last epoch it was written. During epoch e a dirty-log scan
// finds the pages written so far; those that had not been written for more
// than `stableEpochs` epochs before are predicted to stay unwritten for the
// rest of the epoch: they are copied now, go on the wire while the guest
// runs, and are write-protected. A write to one of them faults; the handler
// lifts the protection, counts the page as rewritten and lets the write
// retry (it sets the D bit, so the pause copies the page again). The pause
// then copies only the hot pages and the mispredicted ones.
import { PageBitmap } from "../host/bitmap.js";
import { FaultReason } from "../host/faults.js";
import type { PageLogReader } from "../host/page-log.js";
import type { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { takeAll } from "./staging.js";

export class ModificationHistory {
  /** pfn -> the last epoch it was written (epoch 0, the initial copy, wrote every page). */
  readonly lastWritten: Uint32Array;
  readonly stableEpochs: number;

  constructor(guestPages: number, stableEpochs: number) {
    this.lastWritten = new Uint32Array(guestPages);
    this.stableEpochs = stableEpochs;
  }

  /** The page, written in epoch `epoch`, had been quiet long enough to be predicted stable. */
  isStable(pfn: number, epoch: number): boolean {
    return epoch - this.lastWritten[pfn] > this.stableEpochs;
  }

  written(pfns: ArrayLike<number>, epoch: number): void {
    for (let i = 0; i < pfns.length; i++) this.lastWritten[pfns[i]] = epoch;
  }
}

/** Write protection of the pages sent early in the current epoch. */
export class EarlyProtection {
  readonly #vm: Vm;
  readonly #protected = new Set<number>();
  readonly #dispose: () => void;
  /** Pages written after they were sent early, this epoch. */
  rewritten = 0;

  constructor(vm: Vm) {
    this.#vm = vm;
    this.#dispose = vm.onFault(FaultReason.WriteProtect, (f) => {
      if (!this.#protected.has(f.pfn)) return "pass";
      this.#protected.delete(f.pfn);
      this.#vm.unprotect(bitmapOf(this.#vm.pages, [f.pfn]));
      this.rewritten++;
      return "retry";
    });
  }

  get protectedPages(): number { return this.#protected.size; }

  protect(pfns: readonly number[]): void {
    if (pfns.length === 0) return;
    for (const pfn of pfns) this.#protected.add(pfn);
    this.#vm.writeProtect(bitmapOf(this.#vm.pages, pfns));
  }

  /** The pause: lifts every protection left; returns and resets the rewritten count. */
  endEpoch(): number {
    if (this.#protected.size > 0) this.#vm.unprotect(bitmapOf(this.#vm.pages, [...this.#protected]));
    this.#protected.clear();
    const n = this.rewritten;
    this.rewritten = 0;
    return n;
  }

  close(): void {
    if (!this.#vm.destroyed) this.endEpoch();
    this.#dispose();
  }
}

function bitmapOf(pages: number, pfns: readonly number[]): PageBitmap {
  const b = new PageBitmap(pages);
  for (const pfn of pfns) b.set(pfn);
  return b;
}

/**
 * A mid-epoch scan: syncs the reader, keeps in it the pages not predicted
 * stable (they wait for the pause), and returns the stable ones.
 */
export function takeStable(reader: PageLogReader, list: PfnList, history: ModificationHistory, epoch: number): number[] {
  reader.sync();
  const dirty = takeAll(reader, list);
  const stable: number[] = [];
  const hot: number[] = [];
  for (const pfn of dirty) (history.isStable(pfn, epoch) ? stable : hot).push(pfn);
  if (hot.length > 0) {
    list.set(hot);
    reader.requeue(list);
  }
  return stable;
}
