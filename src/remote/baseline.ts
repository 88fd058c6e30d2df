// The baseline file: a copy of a region's home pages on shared storage, with a
// generation number, written crash-safely (src/format AtomicFile: a crash
// leaves the previous baseline or the whole new one). A failover host loads
// it before it applies the dirty-page lists read from the region.
//
//   0                  hb              hb + pages×8                   hb + pages×8 + pages×4096
//   ┌──────────────────┬───────────────┬──────────────────────────────┐
//   │ header "HMRB" 1.0│ page metadata │ pages, 4096 bytes each       │
//   └──────────────────┴───────────────┴──────────────────────────────┘
//   header (src/format/header.ts, 32 bytes):
//     0 magic "HMRB" · 4 u16 major (1) · 6 u16 minor (0) · 8 u32 headerBytes (32)
//     12 u32 generation (>= 1) · 16 u32 epoch (the last epoch it holds) · 20 u32 pages
//     24 u32 metaCrc (crc32 of the page metadata) · 28 u32 crc32 of bytes 0..28
//   page metadata: pages × (u32 version, u32 crc32 of the page)
//
// load() checks the header, the file's size, the metadata's crc32 and every
// page's crc32 as it reads the pages: ERR_REMOTE_BASELINE names what failed.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { AtomicFile, fileIoError } from "../format/atomic-file.js";
import { defineHeader } from "../format/header.js";
import { PAGE_BYTES, MAX_REGION_PAGES } from "./region-layout.js";

export const BASELINE_HEADER = defineHeader({
  name: "remote-memory baseline",
  magic: "HMRB",
  major: 1,
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

/** Writes a baseline of `pages` (home pages) and `meta` (version, crc32 per page) at `path`. Returns the bytes written. */
export function writeBaseline(path: string, generation: number, epoch: number, pages: Uint8Array, meta: Uint32Array): number {
  const count = meta.length / 2;
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
  /** version, crc32 per page. */
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
 * Loads the baseline at `path` into `into` (pages × 4096 bytes), checking
 * every page; `expectedPages` must match the file's.
 */
export function loadBaseline(path: string, into: Uint8Array, expectedPages: number): LoadedBaseline {
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
    const metaBytes = h.pages * 8;
    const total = h.headerBytes + metaBytes + h.pages * PAGE_BYTES;
    if (sizeBytes !== total) throw new HypermemError(ErrorCode.RemoteBaseline, `${path} is ${sizeBytes} bytes; a baseline of ${h.pages} pages is ${total}`, { path, reason: "size", sizeBytes });
    if (into.length < h.pages * PAGE_BYTES) throw new HypermemError(ErrorCode.Length, `loading a ${h.pages}-page baseline needs ${h.pages * PAGE_BYTES} bytes, got ${into.length}`, {});
    const meta = new Uint32Array(h.pages * 2);
    readExactly(fd, path, new Uint8Array(meta.buffer), h.headerBytes);
    const metaCrc = crc32(new Uint8Array(meta.buffer));
    if (metaCrc !== h.metaCrc) throw new HypermemError(ErrorCode.RemoteBaseline, `${path}: page metadata crc32 0x${metaCrc.toString(16)}, the header says 0x${h.metaCrc.toString(16)}`, { path, reason: "crc" });
    const dataAt = h.headerBytes + metaBytes;
    for (let p = 0; p < h.pages; p += CHUNK_PAGES) {
      const n = Math.min(CHUNK_PAGES, h.pages - p);
      const chunk = into.subarray(p * PAGE_BYTES, (p + n) * PAGE_BYTES);
      readExactly(fd, path, chunk, dataAt + p * PAGE_BYTES);
      for (let i = 0; i < n; i++) {
        const got = crc32(chunk.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES));
        if (got !== meta[(p + i) * 2 + 1]) {
          throw new HypermemError(ErrorCode.RemoteBaseline, `${path}: page ${p + i} has crc32 0x${got.toString(16)}, its metadata says 0x${meta[(p + i) * 2 + 1].toString(16)}`, { path, reason: "page crc", pfn: p + i });
        }
      }
    }
    return { generation: h.generation, epoch: h.epoch, pages: h.pages, meta, bytesRead: total };
  } finally {
    closeSync(fd);
  }
}
