// saveSnapshot: the guest's memory as it was at the instant of the request,
// saved while the guest keeps running (the seed T8; QEMU's
// background-snapshot).
//
//   request ─► pause ─► [instant: workload state, dirty tracking, every page
//              traced, fault handlers] ─► resume
//   background writer, page window by page window: fingerprints (XXH3-64),
//     zero and poisoned pages recorded as metadata, data pages not yet
//     saved read and written in chunks; each chunk's write time passes on
//     the timeline, the guest runs and its first touches fault into the
//     trace window (trace-window.ts), which takes a page before the access
//   trace window closes ─► working set written (the active pages' data,
//     pfn order) ─► index, active set, config, trailer, header ─► fsync,
//     rename (file-writer.ts)
//
// The guest's pause is only the instant: simulated time does not pass in
// it (pauseWallMs says what it cost here). A page is saved exactly once
// with its instant contents: either by the writer (still traced, so never
// touched since) or by the fault of its first touch (before the access).
import { resolve as resolvePath, dirname, relative } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import { xxh3Hash64 } from "../pages/pages.js";
import { fingerprintRange } from "../stream/fingerprints.js";
import { PAGE_SIZE, POISON_MARK } from "../wasm/codes.js";
import { randomBytes } from "node:crypto";
import { PageBits } from "./bits.js";
import { encodeConfig, workloadOptionsOf, type SavedWorkload } from "./config.js";
import { beginTrackedSnapshot, type TrackingStart } from "./dirty-tracking.js";
import { EntryLog } from "./entries.js";
import { SnapshotFile } from "./file-reader.js";
import { SnapshotFileWriter } from "./file-writer.js";
import { ID_BYTES, idHex, PageKind, pageChecksum } from "./format.js";
import { resolveSaveOptions, type ResolvedSaveOptions, type SaveOptions } from "./save-options.js";
import { writeNs } from "./storage.js";
import { TraceWindow, type TraceCounts } from "./trace-window.js";

/** Guest pages fingerprinted per step of the background writer (256 KiB of scratch). */
const SCAN_WINDOW_PAGES = 32_768;

/** What a save did and what it cost. */
export interface SaveResult {
  readonly path: string;
  /** 32 hex digits. */
  readonly snapshotId: string;
  readonly kind: "full" | "diff";
  /** The base of a diff, as given. */
  readonly basePath: string | null;
  readonly guestPages: number;
  readonly storage: string;
  /** Wall-clock ms the guest was paused: the instant of the request (tracing every page). No simulated time passes in it. */
  readonly pauseWallMs: number;
  /** Simulated time from the request until the file was durable, ns. */
  readonly saveNs: number;
  /** Simulated time the trace window stayed open, ns: the active set is what the guest touched in it. */
  readonly traceWindowNs: number;
  readonly wallMs: number;
  readonly fileBytes: number;
  /** Data pages in the file (slots), zero pages left out (in a diff: zero entries), poisoned and ballooned pages kept as metadata. */
  readonly dataPages: number;
  readonly zeroPages: number;
  readonly poisonedPages: number;
  readonly balloonedPages: number;
  /** Pages of the working set, and how many of them the writer had saved before they became active (stored twice). */
  readonly workingSetPages: number;
  readonly duplicatedPages: number;
  readonly activePages: number;
  readonly activeRuns: number;
  /** Latent uncorrectable errors the save found (now known on the VM). */
  readonly latentErrorsFound: number;
  /** Guest accesses during the save. */
  readonly guestAccesses: number;
  readonly trace: Readonly<TraceCounts>;
}

const saving = new WeakSet<Vm>();
let zeroHashCache: bigint | null = null;
const zeroHash = (): bigint => (zeroHashCache ??= xxh3Hash64(new Uint8Array(PAGE_SIZE)));

/**
 * Pages in a state the fingerprints do not tell, found at the instant:
 * ballooned (fingerprinted as zero), swapped or elsewhere (brought back by
 * the scan, untraced), and poisoned (kept in a diff whatever its dirty bit).
 */
interface SpecialPages {
  readonly ballooned: PageBits;
  readonly nonResident: PageBits;
  readonly poisoned: PageBits;
}

function specialPages(vm: Vm): SpecialPages | null {
  const c = vm.states.counts();
  if (c.balloonedPages + c.swappedPages + c.elsewherePages + c.poisonedPages === 0) return null;
  const special = { ballooned: new PageBits(vm.pages), nonResident: new PageBits(vm.pages), poisoned: new PageBits(vm.pages) };
  for (let pfn = 0; pfn < vm.pages; pfn++) {
    const kind = vm.states.of(pfn).kind;
    if (kind === "ballooned") special.ballooned.add(pfn);
    else if (kind === "poisoned") special.poisoned.add(pfn);
    else if (kind === "swapped" || kind === "elsewhere") special.nonResident.add(pfn);
  }
  return special;
}

/** The base of a diff: its id, checked to be a snapshot of a guest of this size. */
function openBase(vm: Vm, path: string): Uint8Array {
  let base: SnapshotFile;
  try {
    base = SnapshotFile.open(path);
  } catch (err) {
    if (err instanceof HypermemError && err.code === ErrorCode.FileIo && err.details.osCode === "ENOENT") {
      throw new HypermemError(ErrorCode.SnapshotBase, `the base snapshot ${path} is missing`, { reason: "missing", basePath: path });
    }
    throw err;
  }
  base.close();
  if (base.header.guestPages !== vm.pages) {
    throw new HypermemError(ErrorCode.SnapshotBase, `the base snapshot ${path} is of a ${base.header.guestPages}-page guest, vm ${vm.id} has ${vm.pages} pages`,
      { reason: "different", basePath: path, basePages: base.header.guestPages, pages: vm.pages });
  }
  return base.header.snapshotId;
}

/** One save in progress: the file, the trace window and what the writer found. */
class Save {
  readonly entries = new EntryLog();
  readonly writer: SnapshotFileWriter;
  readonly window: TraceWindow;
  readonly special: SpecialPages | null;
  readonly include: PageBits | null;
  readonly startNs: number;
  poisonedPages = 0;
  balloonedPages = 0;
  latentFound = 0;
  pagesScanned = 0;
  /** The background writer's read buffer: one chunk. */
  readonly #buffer: Uint8Array;

  constructor(readonly vm: Vm, readonly o: ResolvedSaveOptions, writer: SnapshotFileWriter, include: PageBits | null) {
    this.writer = writer;
    this.include = include;
    this.startNs = o.timeline.nowNs;
    this.#buffer = new Uint8Array(o.chunkPages * PAGE_SIZE);
    this.special = specialPages(vm);
    if (include && this.special) {
      // Metadata pages go into a diff whatever their dirty bit says.
      for (let pfn = 0; pfn < vm.pages; pfn++) if (this.special.ballooned.has(pfn) || this.special.poisoned.has(pfn)) include.add(pfn);
    }
    this.window = new TraceWindow(vm, this.entries, {
      include, workingSetLimitBytes: o.workingSetLimitBytes, zeroHash: zeroHash(),
      writeNow: (bytes) => writer.writePages(bytes),
    });
  }

  #progress(phase: "pages" | "working-set" | "done"): void {
    this.o.onProgress?.({ phase, pagesScanned: this.pagesScanned, guestPages: this.vm.pages, bytesWritten: this.writer.bytesWritten, elapsedNs: this.o.timeline.nowNs - this.startNs });
  }

  /** Lets the time of writing `bytes` pass on the timeline: the guest runs meanwhile. */
  #spend(bytes: number): void {
    this.o.timeline.advance(writeNs(this.o.storage, bytes));
  }

  #included(pfn: number): boolean { return this.include === null || this.include.has(pfn); }

  /** The background writer: every page, in windows of fingerprints, data pages in chunks. */
  writePages(): void {
    const vm = this.vm;
    for (let first = 0; first < vm.pages; first += SCAN_WINDOW_PAGES) {
      const count = Math.min(SCAN_WINDOW_PAGES, vm.pages - first);
      this.pagesScanned = first + count;
      if (this.include !== null && !this.include.anyIn(first, count)) continue; // a diff: nothing written here since the base
      const hashes = new BigUint64Array(fingerprintRange(vm, first, count).bytes.buffer);
      const pending: number[] = [];
      for (let i = 0; i < count; i++) {
        const pfn = first + i;
        if (this.special?.nonResident.has(pfn)) this.window.traceBroughtBack(pfn);
        if (this.window.saved.has(pfn) || !this.#included(pfn)) continue;
        if (this.special?.ballooned.has(pfn)) {
          this.#metadata(pfn, PageKind.Ballooned);
          this.balloonedPages++;
        } else if (hashes[i] === POISON_MARK && this.#poisoned(pfn)) {
          this.#metadata(pfn, PageKind.Poisoned);
          this.poisonedPages++;
        } else if (hashes[i] === zeroHash()) {
          if (this.include !== null) this.entries.metadata(pfn, PageKind.Zero);
          this.window.saved.add(pfn);
        } else {
          pending.push(pfn, pageChecksum(hashes[i]));
        }
      }
      this.#writeData(pending);
    }
  }

  #metadata(pfn: number, kind: PageKind): void {
    this.entries.metadata(pfn, kind);
    this.window.saved.add(pfn);
  }

  /** True when `pfn` is poisoned; a latent error found here becomes known (as a migration's exception-safe read makes it). */
  #poisoned(pfn: number): boolean {
    const state = this.vm.states.of(pfn);
    if (state.kind !== "poisoned") return false;
    if (state.latent) {
      this.vm.states.reportLatent(pfn);
      this.latentFound++;
    }
    return true;
  }

  /** Writes the data pages of `pending` ([pfn, checksum] pairs, ascending), chunk by chunk, skipping pages the guest's first touch saved meanwhile. */
  #writeData(pending: number[]): void {
    const vm = this.vm;
    for (let at = 0; at < pending.length;) {
      let chunkBytes = 0;
      const end = Math.min(pending.length, at + 2 * this.o.chunkPages);
      while (at < end) {
        if (this.window.saved.has(pending[at])) {
          at += 2;
          continue;
        }
        let n = 1;
        while (at + 2 * n < end && pending[at + 2 * n] === pending[at] + n && !this.window.saved.has(pending[at + 2 * n])) n++;
        const bytes = vm.readPages(pending[at], n, this.#buffer);
        const slot = this.writer.writePages(bytes.subarray(0, n * PAGE_SIZE));
        for (let k = 0; k < n; k++) {
          const pfn = pending[at + 2 * k];
          this.entries.data(pfn, slot + k, pending[at + 2 * k + 1]);
          this.window.saved.add(pfn);
          this.window.savedData.add(pfn);
        }
        chunkBytes += n * PAGE_SIZE;
        at += 2 * n;
      }
      this.#spend(chunkBytes);
      this.#progress("pages");
    }
  }

  /** Closes the trace window and writes the working set and the metadata; returns what finish() gave. */
  finish(snapshotId: Uint8Array, baseId: Uint8Array | null, saved: SavedWorkload | null, basePath: string | null) {
    const tracedUntilNs = this.o.timeline.nowNs;
    this.window.close();
    this.#progress("working-set");
    const workingSet = this.entries.sortedWorkingSet();
    const workingSetSlot = this.writer.slots;
    for (let at = 0; at < workingSet.length; at += this.o.chunkPages) {
      const chunk = workingSet.slice(at, at + this.o.chunkPages);
      const bytes = new Uint8Array(chunk.length * PAGE_SIZE);
      chunk.forEach((p, k) => bytes.set(p.bytes, k * PAGE_SIZE));
      this.writer.writePages(bytes);
      this.#spend(bytes.length);
    }
    const index = this.entries.build(workingSet, workingSetSlot);
    const runs = this.window.active.runs();
    const config = encodeConfig({
      guestPages: this.vm.pages,
      base: baseId && basePath ? { path: basePath, id: idHex(baseId) } : null,
      workload: saved,
    });
    const before = this.writer.bytesWritten;
    const file = this.writer.finish({ diff: baseId !== null, guestPages: this.vm.pages, snapshotId, baseId: baseId ?? new Uint8Array(ID_BYTES), workingSetSlot }, index, runs, config);
    this.#spend(file.fileBytes - before);
    this.#progress("done");
    return { file, index, runs, workingSet, traceWindowNs: tracedUntilNs - this.startNs };
  }
}

/**
 * Saves `vm`'s memory at the instant of the call into a snapshot file at
 * `path` while the guest keeps running on `options.timeline` (see the file
 * header and docs/snapshot.md). Returns when the file is durable at `path`;
 * a save that fails leaves nothing there (and the VM as it was, untraced).
 */
export function saveSnapshot(vm: Vm, path: string, options: SaveOptions = {}): SaveResult {
  const o = resolveSaveOptions(options);
  if (typeof path !== "string" || path === "") throw new HypermemError(ErrorCode.BadOption, `the snapshot path must be a file path, got ${JSON.stringify(path)}`, { option: "path" });
  if (vm.destroyed) throw new HypermemError(ErrorCode.Destroyed, `vm ${vm.id} was destroyed`, { vm: vm.id });
  if (saving.has(vm)) throw new HypermemError(ErrorCode.SnapshotBusy, `vm ${vm.id} is already being saved`, { vm: vm.id });
  const baseId = o.diffOf === null ? null : openBase(vm, o.diffOf);
  const wallStart = performance.now();
  const accessesBefore = vm.counters.accesses;
  const writer = new SnapshotFileWriter(path);
  let save: Save | null = null;
  let tracking: TrackingStart | null = null;
  saving.add(vm);
  try {
    const snapshotId = new Uint8Array(randomBytes(ID_BYTES));
    const wasPaused = vm.paused;
    vm.pause();
    let workload: SavedWorkload | null;
    try {
      if (vm.states.counts().tracedPages > 0) {
        throw new HypermemError(ErrorCode.SnapshotBusy, `vm ${vm.id} has ${vm.states.counts().tracedPages} pages traced by someone else: a snapshot traces every page`, { vm: vm.id });
      }
      workload = o.workload ? { options: workloadOptionsOf(o.workload), state: o.workload.save() } : null;
      tracking = o.trackDirty ? beginTrackedSnapshot(vm, baseId, o.diffOf) : null;
      const include = tracking?.dirty && baseId ? new PageBits(vm.pages) : null;
      if (include) include.addBitmap(tracking!.dirty!.bytes);
      save = new Save(vm, o, writer, include);
      save.window.open();
    } finally {
      if (!wasPaused) vm.resume();
    }
    const pauseWallMs = performance.now() - wallStart;
    save.writePages();
    const absolute = resolvePath(path);
    const basePath = o.diffOf === null ? null : relative(dirname(absolute), resolvePath(o.diffOf));
    const done = save.finish(snapshotId, baseId, workload, basePath);
    tracking?.commit(snapshotId, absolute);
    const kinds = done.index.kind;
    const zeroPages = baseId ? kinds.filter((k) => k === PageKind.Zero).length : vm.pages - kinds.length;
    return Object.freeze({
      path,
      snapshotId: idHex(snapshotId),
      kind: baseId ? "diff" : "full",
      basePath: o.diffOf,
      guestPages: vm.pages,
      storage: o.storage.name,
      pauseWallMs,
      saveNs: o.timeline.nowNs - save.startNs,
      traceWindowNs: done.traceWindowNs,
      wallMs: performance.now() - wallStart,
      fileBytes: done.file.fileBytes,
      dataPages: done.file.header.dataPages,
      zeroPages,
      poisonedPages: save.poisonedPages,
      balloonedPages: save.balloonedPages,
      workingSetPages: done.workingSet.length,
      duplicatedPages: save.window.counts.copiedAfterSave,
      activePages: save.window.active.count(),
      activeRuns: done.runs.length,
      latentErrorsFound: save.latentFound,
      guestAccesses: vm.counters.accesses - accessesBefore,
      trace: Object.freeze({ ...save.window.counts }),
    } satisfies SaveResult);
  } catch (err) {
    save?.window.close();
    writer.abort();
    tracking?.rollback();
    throw err;
  } finally {
    saving.delete(vm);
  }
}
