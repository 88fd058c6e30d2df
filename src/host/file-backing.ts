// FileBacking: guest pages loaded from a real file (vm.mapFile), and which of
// them are still *clean-backed*: not written since they were loaded, so the
// file holds exactly what they hold and a lost frame can be refilled from it
// (Linux's me_pagecache_clean, seed T13's "indication of a page's disk
// location"). Writes are seen through the VM's dirty log (a reader of its
// own, so no other client loses a bit): a page written since it was loaded
// stops being clean at the next look. The frame of a clean-backed page
// carries the frame flag cleanBacked; a look that finds it written clears it.
// Each page's XXH3-64 at load time is kept, so a refill from a file that
// changed meanwhile is refused instead of trusted.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { FRAME_FLAGS, PAGE_SIZE } from "../wasm/codes.js";
import type { PageLogReader } from "./page-log.js";
import type { Vm } from "./vm.js";

/** Where a clean-backed page's bytes are on disk. */
export interface PageBacking {
  readonly path: string;
  readonly offsetBytes: number;
}

interface CleanPage extends PageBacking {
  readonly hash: bigint;
}

/** Bytes read from a file per vm.write while mapping (256 pages). */
const MAP_CHUNK_BYTES = 1 << 20;

function backingError(path: string, why: string, details: Record<string, unknown> = {}): HypermemError {
  return new HypermemError(ErrorCode.BackingFile, `backing file ${path}: ${why}`, { path, ...details });
}

/** Opens `path` for reading, or ERR_BACKING_FILE naming it and the OS code. */
function openBacking(path: string): number {
  try {
    return openSync(path, "r");
  } catch (err) {
    const osCode = (err as NodeJS.ErrnoException)?.code ?? "EUNKNOWN";
    throw backingError(path, `cannot open it (${osCode})`, { osCode });
  }
}

/** Reads exactly `length` bytes at `position`, or ERR_BACKING_FILE. */
function readAt(fd: number, path: string, out: Uint8Array, position: number): void {
  let done = 0;
  try {
    while (done < out.length) {
      const n = readSync(fd, out, done, out.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
  } catch (err) {
    const osCode = (err as NodeJS.ErrnoException)?.code ?? "EUNKNOWN";
    throw backingError(path, `cannot read it at offset ${position} (${osCode})`, { osCode, offsetBytes: position });
  }
  if (done < out.length) throw backingError(path, `ends at offset ${position + done}, before the ${out.length} bytes at offset ${position}`, { offsetBytes: position });
}

export class FileBacking {
  readonly #vm: Vm;
  readonly #clean = new Map<number, CleanPage>();
  /** Every page loaded from a file, clean or written since. */
  readonly #mapped = new Map<number, PageBacking>();
  #reader: PageLogReader | null = null;

  constructor(vm: Vm) { this.#vm = vm; }

  /**
   * Loads `lengthBytes` of file `path` from `offsetBytes` into guest memory
   * at `gpa` (all three whole 4 KiB pages, as mmap wants) and marks the
   * pages clean-backed. Everything is checked before a byte is written: the
   * range, that the file opens, is a regular file and holds the whole range.
   * Returns the pages mapped.
   */
  map(gpa: number, path: string, offsetBytes: number, lengthBytes: number): number {
    const vm = this.#vm;
    const pageAligned = (name: string, v: unknown, max: number): number => {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v % PAGE_SIZE !== 0 || v > max) {
        throw new HypermemError(ErrorCode.BadOption, `mapFile: ${name} must be a whole number of 4 KiB pages from 0 to ${max}, got ${String(v)}`, { option: name, value: v });
      }
      return v;
    };
    if (typeof path !== "string" || path === "") throw new HypermemError(ErrorCode.BadOption, `mapFile: path must be a file path, got ${JSON.stringify(path)}`, { option: "path" });
    pageAligned("gpa", gpa, vm.memoryBytes - PAGE_SIZE);
    pageAligned("offsetBytes", offsetBytes, Number.MAX_SAFE_INTEGER);
    pageAligned("lengthBytes", lengthBytes, vm.memoryBytes - gpa);
    if (lengthBytes === 0) throw new HypermemError(ErrorCode.BadOption, "mapFile: lengthBytes must be at least one page (4096), got 0", { option: "lengthBytes", value: 0 });
    const fd = openBacking(path);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw backingError(path, "is not a regular file");
      if (st.size < offsetBytes + lengthBytes) {
        throw backingError(path, `is ${st.size} bytes; mapping ${lengthBytes} bytes at offset ${offsetBytes} needs ${offsetBytes + lengthBytes}`, { sizeBytes: st.size, needBytes: offsetBytes + lengthBytes });
      }
      this.#reader ??= vm.dirtyLog.open("file-backing");
      const chunk = new Uint8Array(Math.min(MAP_CHUNK_BYTES, lengthBytes));
      for (let at = 0; at < lengthBytes; at += chunk.length) {
        const piece = chunk.subarray(0, Math.min(chunk.length, lengthBytes - at));
        readAt(fd, path, piece, offsetBytes + at);
        vm.write(gpa + at, piece);
      }
    } finally {
      closeSync(fd);
    }
    this.#reader.sync(); // the load dirtied the pages: every other reader gets them, ours forgets them
    const first = gpa / PAGE_SIZE;
    const count = lengthBytes / PAGE_SIZE;
    for (let i = 0; i < count; i++) {
      const pfn = first + i;
      this.#reader.pages.delete(pfn);
      const hfn = this.#frameOf(pfn);
      this.#clean.set(pfn, { path, offsetBytes: offsetBytes + i * PAGE_SIZE, hash: this.#hashFrame(hfn) });
      this.#mapped.set(pfn, { path, offsetBytes: offsetBytes + i * PAGE_SIZE });
      vm.host.kernels.frames.updateFlags(hfn, FRAME_FLAGS.cleanBacked, 0);
    }
    return count;
  }

  /** Forgets the clean-backed pages written since the last look (one dirty-log sync) and clears their frames' flag. */
  refresh(): void {
    if (this.#reader === null || this.#clean.size === 0) return;
    this.#reader.sync();
    const written = this.#reader.pages.snapshot();
    this.#reader.pages.clear();
    for (const pfn of [...this.#clean.keys()]) {
      if (!written.has(pfn)) continue;
      this.#clean.delete(pfn);
      const state = this.#vm.states.of(pfn);
      if (state.kind === "present") this.#vm.host.kernels.frames.updateFlags(state.hfn, 0, FRAME_FLAGS.cleanBacked);
    }
  }

  /** Where page `pfn`'s bytes are on disk, if it is clean-backed now (not written since it was loaded); else null. */
  backingOf(pfn: number): PageBacking | null {
    this.refresh();
    return this.peek(pfn);
  }

  /** backingOf without the dirty-log sync: as of the last refresh() (for callers that check many pages at once). */
  peek(pfn: number): PageBacking | null {
    const page = this.#clean.get(pfn);
    return page ? { path: page.path, offsetBytes: page.offsetBytes } : null;
  }

  /** Where page `pfn` was loaded from, written since or not; null for a page never loaded from a file. */
  mappedFrom(pfn: number): PageBacking | null { return this.#mapped.get(pfn) ?? null; }

  /** Clean-backed pages now, ascending. */
  cleanPages(): number[] {
    this.refresh();
    return [...this.#clean.keys()].sort((a, b) => a - b);
  }

  /**
   * Page `pfn`'s bytes read again from its file, checked against what was
   * loaded (XXH3-64): ERR_BACKING_FILE when the page is not clean-backed,
   * the file cannot be read, or it changed since the page was loaded.
   */
  reread(pfn: number): Uint8Array {
    this.refresh();
    const page = this.#clean.get(pfn);
    if (!page) throw new HypermemError(ErrorCode.BackingFile, `vm ${this.#vm.id}: guest page ${pfn} is not clean-backed (never mapped from a file, or written since)`, { pfn });
    const bytes = new Uint8Array(PAGE_SIZE);
    const fd = openBacking(page.path);
    try {
      readAt(fd, page.path, bytes, page.offsetBytes);
    } finally {
      closeSync(fd);
    }
    const k = this.#vm.host.kernels;
    const hash = k.scratch.with(PAGE_SIZE, "reread", (ptr) => {
      k.heap.copyIn(ptr, bytes);
      return k.pages.xxh3(ptr, PAGE_SIZE);
    });
    if (hash !== page.hash) {
      throw backingError(page.path, `changed since guest page ${pfn} was loaded from offset ${page.offsetBytes} (XXH3-64 0x${hash.toString(16)}, loaded 0x${page.hash.toString(16)})`, { pfn, offsetBytes: page.offsetBytes });
    }
    return bytes;
  }

  /** Page `pfn` now lives on frame `hfn` with its file's bytes again (a refill): the frame is flagged clean-backed. */
  refilled(pfn: number, hfn: number): void {
    if (this.#clean.has(pfn)) this.#vm.host.kernels.frames.updateFlags(hfn, FRAME_FLAGS.cleanBacked, 0);
  }

  #frameOf(pfn: number): number {
    const state = this.#vm.states.of(pfn);
    if (state.kind !== "present") throw new HypermemError(ErrorCode.PageState, `vm ${this.#vm.id}: guest page ${pfn} is ${state.kind} after loading it`, { pfn });
    return state.hfn;
  }

  #hashFrame(hfn: number): bigint {
    const k = this.#vm.host.kernels;
    return k.pages.xxh3(k.frames.addr(hfn), PAGE_SIZE);
  }
}
