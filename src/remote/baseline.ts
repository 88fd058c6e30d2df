// The baseline file: a copy of a region's home pages on shared storage, with a
// generation number, written crash-safely (src/format AtomicFile: a crash
// leaves the previous baseline or the whole new one). A failover host loads
// it before it applies the dirty-page lists read from the region.
//
//   0                  32              32 + pages×16                  32 + pages×16 + pages×4096
//   ┌──────────────────┬───────────────┬──────────────────────────────┐
//   │ header "HMRB" 2.0│ page metadata │ pages, 4096 bytes each       │
//   └──────────────────┴───────────────┴──────────────────────────────┘
//   header (src/format/header.ts, 32 bytes):
//     0 magic "HMRB" · 4 u16 major (2) · 6 u16 minor (0) · 8 u32 headerBytes (32)
//     12 u32 generation (>= 1) · 16 u32 epoch (the last epoch it holds) · 20 u32 pages
//     24 u32 metaCrc (crc32 of the page metadata) · 28 u32 crc32 of bytes 0..28
//   page metadata: pages × 16 bytes, the region's own (region-layout.ts):
//     u32 version · u32 reserved (0) · u32 xxh3 low · u32 xxh3 high (XXH3-64 of the page)
//
// Version 1.0 (8-byte metadata, a crc32 per page) is refused with
// ERR_FORMAT_VERSION naming it. BaselineReader.open() checks the header,
// the file's size and the metadata's crc32; the pages are read into a window
// of the kernels' memory 64 at a time, hashed there in one call while they
// are in cache, and each window is copied out only when every page in it
// matched (loadBaseline; recovery.ts runs the same loop with the listed
// pages laid over the window). ERR_REMOTE_BASELINE names what failed.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { AtomicFile, fileIoError } from "../format/atomic-file.js";
import { defineHeader } from "../format/header.js";
import { withPageWindow } from "../pages/page-window.js";
import { hashOf } from "./region.js";
import { M, MAX_REGION_PAGES, META_BYTES, META_WORDS, PAGE_BYTES } from "./region-layout.js";

export const BASELINE_HEADER = defineHeader({
  name: "remote-memory baseline",
  magic: "HMRB",
  major: 2,
  minor: 0,
  errorCode: ErrorCode.RemoteBaseline,
  fields: [
    { name: "generation", type: "u32", validate: (v) => (v >= 1 ? null : "generation 0 is never written") },
    { name: "epoch", type: "u32" },
    { name: "pages", type: "u32", validate: (v) => (v >= 1 && v <= MAX_REGION_PAGES ? null : `${v} pages; a region has 1 to ${MAX_REGION_PAGES}`) },
    { name: "metaCrc", type: "u32" },
  ],
} as const);

/** Pages written per write call: 16 MiB. */
const CHUNK_PAGES = 4096;
/** Pages read and hashed per window: 256 KiB, which stays in a core's L2 cache between the read, the hash and the copy out. */
export const LOAD_WINDOW_PAGES = 64;

/** Writes a baseline of `pages` (home pages) and `meta` (META_WORDS u32 per page: version, reserved, xxh3 low, high) at `path`. Returns the bytes written. */
export function writeBaseline(path: string, generation: number, epoch: number, pages: Uint8Array, meta: Uint32Array): number {
  const count = meta.length / META_WORDS;
  const metaBytes = new Uint8Array(meta.buffer, meta.byteOffset, meta.byteLength);
  const file = AtomicFile.open(path);
  try {
    file.append(BASELINE_HEADER.encode({ generation, epoch, pages: count, metaCrc: crc32(metaBytes) }));
    file.append(metaBytes);
    for (let p = 0; p < count; p += CHUNK_PAGES) {
      file.append(pages.subarray(p * PAGE_BYTES, Math.min(count, p + CHUNK_PAGES) * PAGE_BYTES));
    }
    file.commit();
  } catch (err) {
    file.abort();
    throw err;
  }
  return file.sizeBytes;
}

export interface LoadedBaseline {
  readonly generation: number;
  readonly epoch: number;
  readonly pages: number;
  /** META_WORDS u32 per page: version, reserved, xxh3 low, xxh3 high. */
  readonly meta: Uint32Array;
  /** Bytes read from the file. */
  readonly bytesRead: number;
}

function readExactly(fd: number, path: string, into: Uint8Array, position: number): void {
  let done = 0;
  try {
    while (done < into.length) {
      const n = readSync(fd, into, done, into.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
  } catch (err) {
    throw fileIoError(path, "read", err);
  }
  if (done < into.length) throw new HypermemError(ErrorCode.RemoteBaseline, `${path}: truncated at byte ${position + done}`, { path, reason: "truncated" });
}

/**
 * An open baseline whose header, size and metadata passed their checks:
 * its pages are read a window at a time (readPages) and each is checked
 * against its metadata's XXH3-64 once hashed (checkPage). close() it.
 */
export class BaselineReader {
  readonly path: string;
  readonly generation: number;
  readonly epoch: number;
  readonly pages: number;
  /** META_WORDS u32 per page: version, reserved, xxh3 low, xxh3 high. */
  readonly meta: Uint32Array;
  readonly sizeBytes: number;
  readonly #fd: number;
  readonly #dataAt: number;

  private constructor(path: string, fd: number, h: { generation: number; epoch: number; pages: number }, meta: Uint32Array, sizeBytes: number, dataAt: number) {
    this.path = path;
    this.#fd = fd;
    this.generation = h.generation;
    this.epoch = h.epoch;
    this.pages = h.pages;
    this.meta = meta;
    this.sizeBytes = sizeBytes;
    this.#dataAt = dataAt;
  }

  /** Opens the baseline at `path` and checks its header, its size and its metadata's crc32; `expectedPages` must match the file's. */
  static open(path: string, expectedPages: number): BaselineReader {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw new HypermemError(ErrorCode.RemoteBaseline, `cannot open the baseline ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path, reason: "open" });
    }
    try {
      const sizeBytes = fstatSync(fd).size;
      const head = new Uint8Array(BASELINE_HEADER.byteLength);
      readExactly(fd, path, head, 0);
      const h = BASELINE_HEADER.decode(head, { source: path });
      if (h.pages !== expectedPages) {
        throw new HypermemError(ErrorCode.RemoteBaseline, `${path} holds ${h.pages} pages, the region has ${expectedPages}`, { path, reason: "pages", pages: h.pages });
      }
      const metaBytes = h.pages * META_BYTES;
      const total = h.headerBytes + metaBytes + h.pages * PAGE_BYTES;
      if (sizeBytes !== total) throw new HypermemError(ErrorCode.RemoteBaseline, `${path} is ${sizeBytes} bytes; a baseline of ${h.pages} pages is ${total}`, { path, reason: "size", sizeBytes });
      const meta = new Uint32Array(h.pages * META_WORDS);
      readExactly(fd, path, new Uint8Array(meta.buffer), h.headerBytes);
      const metaCrc = crc32(new Uint8Array(meta.buffer));
      if (metaCrc !== h.metaCrc) throw new HypermemError(ErrorCode.RemoteBaseline, `${path}: page metadata crc32 0x${metaCrc.toString(16)}, the header says 0x${h.metaCrc.toString(16)}`, { path, reason: "crc" });
      return new BaselineReader(path, fd, h, meta, sizeBytes, h.headerBytes + metaBytes);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Reads pages [first, first + out.length / 4096) into `out`, unchecked: checkPage each once hashed. */
  readPages(first: number, out: Uint8Array): void {
    readExactly(this.#fd, this.path, out, this.#dataAt + first * PAGE_BYTES);
  }

  /** Checks page `pfn` against XXH3-64 pair `i` of `hashes`: ERR_REMOTE_BASELINE (reason "page hash") when they differ. */
  checkPage(pfn: number, hashes: Uint32Array, i: number): void {
    const m = pfn * META_WORDS;
    if (hashes[i * 2] !== this.meta[m + M.hashLow] || hashes[i * 2 + 1] !== this.meta[m + M.hashHigh]) {
      throw new HypermemError(ErrorCode.RemoteBaseline, `${this.path}: page ${pfn} has XXH3-64 0x${hashOf(hashes[i * 2], hashes[i * 2 + 1]).toString(16)}, its metadata says 0x${hashOf(this.meta[m + M.hashLow], this.meta[m + M.hashHigh]).toString(16)}`, { path: this.path, reason: "page hash", pfn });
    }
  }

  close(): void { closeSync(this.#fd); }
}

/**
 * Loads the baseline at `path` into `into` (pages × 4096 bytes), checking
 * every page; `expectedPages` must match the file's. Each window of pages is
 * copied into `into` only after all its pages matched.
 */
export function loadBaseline(path: string, into: Uint8Array, expectedPages: number): LoadedBaseline {
  const file = BaselineReader.open(path, expectedPages);
  try {
    if (into.length < file.pages * PAGE_BYTES) throw new HypermemError(ErrorCode.Length, `loading a ${file.pages}-page baseline needs ${file.pages * PAGE_BYTES} bytes, got ${into.length}`, {});
    withPageWindow(LOAD_WINDOW_PAGES, (window) => {
      for (let p = 0; p < file.pages; p += LOAD_WINDOW_PAGES) {
        const n = Math.min(LOAD_WINDOW_PAGES, file.pages - p);
        const bytes = window.bytes.subarray(0, n * PAGE_BYTES);
        file.readPages(p, bytes);
        const hashes = window.hashPages(n);
        for (let i = 0; i < n; i++) file.checkPage(p + i, hashes, i);
        into.set(bytes, p * PAGE_BYTES);
      }
    });
    return { generation: file.generation, epoch: file.epoch, pages: file.pages, meta: file.meta, bytesRead: file.sizeBytes };
  } finally {
    file.close();
  }
}
