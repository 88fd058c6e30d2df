// The trace window of a save (the seed's "traces while running"): from the
// instant of the request until the background writer has gone through
// every page, each populated page carries a trace, so the guest's first
// access to it, read or write, faults here. The handler
//   1. marks the page active (it is in the active set the file keeps);
//   2. if the page's instant contents are not in hand yet, takes them now,
//      before the access runs (copy before write, as QEMU's
//      background-snapshot does on a write-protect fault; here also before
//      a read, which costs the same copy and keeps the page's data for the
//      working set);
//   3. keeps a copy of an active data page for the working set while the
//      buffer has room (a page the writer already saved is copied again:
//      REAP's working-set file duplicates those pages too); past the room,
//      a page not yet saved is written to the file at once instead;
//   4. removes the trace and lets the access run.
// An untouched page has no entry to trace: its first access faults
// not-present, is marked active and goes on to the host's populate (its
// instant contents were zeros). A page swapped out or elsewhere at the
// instant faults as such: its contents are brought back through the page
// hook, kept, and the access retried.
import { FaultReason, type Disposer, type Fault, type FaultAction } from "../host/faults.js";
import { PageBitmap } from "../host/bitmap.js";
import type { Vm } from "../host/vm.js";
import { fingerprintRange } from "../stream/fingerprints.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import { PageBits } from "./bits.js";
import type { EntryLog } from "./entries.js";
import { PageKind, pageChecksum } from "./format.js";

/** What the trace window counted. */
export interface TraceCounts {
  /** Guest faults on traced pages (one per page the guest touched that had an entry). */
  traceFaults: number;
  /** First touches of pages that had no entry (untouched at the instant: zeros). */
  untouchedFirstTouches: number;
  /** Pages whose instant contents were taken by the fault, before a guest write (copy before write). */
  copiedBeforeWrite: number;
  /** The same, before a guest read. */
  copiedBeforeRead: number;
  /** Active pages copied for the working set after the writer had saved them. */
  copiedAfterSave: number;
  /** Pages not yet saved written to the file at once because the working-set buffer was full. */
  spilled: number;
}

export interface TraceWindowOptions {
  /** Pages the file must hold (a diff: those written since its base); null: every page. */
  readonly include: PageBits | null;
  /** Bytes of working-set copies held in memory until the end. */
  readonly workingSetLimitBytes: number;
  /** The fingerprint (XXH3-64) of a page of zeros. */
  readonly zeroHash: bigint;
  /** Writes a page to the file now; returns its slot. */
  readonly writeNow: (bytes: Uint8Array) => number;
}

export class TraceWindow {
  /** Pages the guest accessed during the window. */
  readonly active: PageBits;
  /** Pages whose instant contents are recorded (in the file, kept for the working set, or known to be zero or metadata). */
  readonly saved: PageBits;
  /** Pages recorded with data (the others were zero or metadata). */
  readonly savedData: PageBits;
  readonly counts: TraceCounts = { traceFaults: 0, untouchedFirstTouches: 0, copiedBeforeWrite: 0, copiedBeforeRead: 0, copiedAfterSave: 0, spilled: 0 };
  readonly #vm: Vm;
  readonly #entries: EntryLog;
  readonly #options: TraceWindowOptions;
  readonly #disposers: Disposer[] = [];
  #open = false;

  constructor(vm: Vm, entries: EntryLog, options: TraceWindowOptions) {
    this.#vm = vm;
    this.#entries = entries;
    this.#options = options;
    this.active = new PageBits(vm.pages);
    this.saved = new PageBits(vm.pages);
    this.savedData = new PageBits(vm.pages);
  }

  get isOpen(): boolean { return this.#open; }

  /** Traces every page that has an entry and registers the fault handlers (at the instant, with the guest paused). */
  open(): void {
    const vm = this.#vm;
    vm.trace(allPages(vm.pages));
    this.#disposers.push(
      vm.onFault(FaultReason.Traced, (f) => this.#onTraced(f)),
      vm.onFault(FaultReason.NotPresent, (f) => this.#onNotPresent(f)),
      vm.onFault(FaultReason.Swapped, (f) => this.#onNonResident(f)),
      vm.onFault(FaultReason.Elsewhere, (f) => this.#onNonResident(f)),
    );
    this.#open = true;
  }

  /** Removes the handlers and every trace left. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    for (const dispose of this.#disposers.splice(0)) dispose();
    this.#vm.untrace(allPages(this.#vm.pages));
  }

  /** A page the writer brought back from swap or elsewhere (untraced then): traced from now on, unless the guest touched it already. */
  traceBroughtBack(pfn: number): void {
    if (!this.active.has(pfn) && this.#vm.states.of(pfn).kind === "present") this.#vm.states.trace(pfn);
  }

  #onTraced(f: Fault): FaultAction {
    if (f.by !== "guest" || this.#vm.states.of(f.pfn).kind !== "traced") return "pass";
    this.counts.traceFaults++;
    this.#firstAccess(f.pfn, f.write);
    this.#vm.states.untrace(f.pfn);
    return "retry";
  }

  #onNotPresent(f: Fault): FaultAction {
    if (f.by === "guest" && !this.active.has(f.pfn)) {
      this.active.add(f.pfn);
      this.counts.untouchedFirstTouches++;
      this.#recordZero(f.pfn);
    }
    return "pass";
  }

  /** A page swapped out or elsewhere: bring it back through the page hook (the hypervisor fault goes to its owner), keep it, retry. */
  #onNonResident(f: Fault): FaultAction {
    if (f.by !== "guest" || this.active.has(f.pfn)) return "pass";
    this.#vm.accessPage(f.pfn, false);
    this.#firstAccess(f.pfn, f.write);
    return "retry";
  }

  /** A page the file needs but whose contents were zeros at the instant (a diff names it explicitly). */
  #recordZero(pfn: number): void {
    if (this.saved.has(pfn) || !this.#included(pfn)) return;
    this.saved.add(pfn);
    if (this.#options.include !== null) this.#entries.metadata(pfn, PageKind.Zero);
  }

  #included(pfn: number): boolean { return this.#options.include === null || this.#options.include.has(pfn); }

  /** The guest's first access to `pfn` in the window; the page still holds its instant contents. */
  #firstAccess(pfn: number, write: boolean): void {
    this.active.add(pfn);
    if (!this.#included(pfn)) return;
    const wasSaved = this.saved.has(pfn);
    if (wasSaved && !this.savedData.has(pfn)) return;
    const vm = this.#vm;
    const hash = new DataView(fingerprintRange(vm, pfn, 1).bytes.buffer).getBigUint64(0, true);
    if (hash === this.#options.zeroHash) {
      this.#recordZero(pfn);
      return;
    }
    const checksum = pageChecksum(hash);
    const room = this.#entries.workingSetBytes + PAGE_SIZE <= this.#options.workingSetLimitBytes;
    if (!room && wasSaved) return;
    const bytes = vm.readPages(pfn, 1);
    if (room) this.#entries.keepForWorkingSet({ pfn, bytes, checksum });
    else {
      this.#entries.data(pfn, this.#options.writeNow(bytes), checksum);
      this.counts.spilled++;
    }
    if (wasSaved) this.counts.copiedAfterSave++;
    else if (write) this.counts.copiedBeforeWrite++;
    else this.counts.copiedBeforeRead++;
    this.saved.add(pfn);
    this.savedData.add(pfn);
  }
}

/** A bitmap of every page of a `pages`-page guest. */
function allPages(pages: number): PageBitmap {
  const bitmap = new PageBitmap(pages);
  bitmap.bytes.fill(0xff, 0, pages >>> 3);
  for (let pfn = pages & ~7; pfn < pages; pfn++) bitmap.set(pfn);
  return bitmap;
}
