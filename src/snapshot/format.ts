// The snapshot file, version 1.0: one guest's memory at an instant, its
// active set and its configuration (docs/snapshot.md has the same diagrams).
// All integers are little endian.
//
//  0                                    4096 (dataOffset)
//  ┌──────────────────────────┬────────┬──────────────────────────────────────────┐
//  │ header "HMSN" 1.0        │ zeros  │ data area: dataPages slots of 4 KiB       │
//  │ (src/format/header.ts)   │        │  [0, workingSetSlot)  pages the background│
//  │                          │        │     writer saved, in pfn order (pages the │
//  │                          │        │     guest touched first may sit between)  │
//  │                          │        │  [workingSetSlot, dataPages) the working  │
//  │                          │        │     set: the active pages' data back to   │
//  │                          │        │     back in pfn order (REAP's WS file)    │
//  ├──────────────────────────┴────────┴──────────────────────────────────────────┤
//  │ index: indexEntries × 16 · active set: activeRuns × 8 · config: configBytes   │
//  │ of JSON · trailer: 24 bytes                                                   │
//  └──────────────────────────────────────────────────────────────────────────────┘
//
// Header fields after the shared 12 bytes (magic, major, minor, headerBytes):
//   12 u32 flags          bit 0: diff (the pages written since the base snapshot)
//   16 u64 guestPages     1 .. 2^28
//   24 16B snapshotId     random, names this snapshot
//   40 16B baseId         the base's snapshotId (diff), zeros otherwise
//   56 u64 dataOffset     4096 (a multiple of 4096 past the header)
//   64 u64 dataPages      slots in the data area, at most 2 × guestPages
//   72 u64 workingSetSlot first slot of the working set (<= dataPages)
//   80 u64 indexEntries   at most guestPages
//   88 u64 activeRuns     at most guestPages
//   96 u32 configBytes    2 .. 1 MiB
//  100 u32 crc            CRC-32 of bytes 0..99          (headerBytes = 104)
//
// Index entry (16 bytes), strictly ascending pfn:
//   0         4      5         8          12
//   ┌─────────┬──────┬─────────┬──────────┬──────────────┐
//   │ u32 pfn │ u8   │ 3 bytes │ u32 slot │ u32 checksum │
//   │         │ kind │ 0       │          │              │
//   └─────────┴──────┴─────────┴──────────┴──────────────┘
//   kind      0 zero (diff layers only: a page that became zero), 1 data,
//             2 poisoned (metadata: the bytes are never stored), 3 ballooned
//   slot      data: the page's slot in the data area, else 0
//   checksum  data: low 32 bits of the page's XXH3-64 (its fingerprint), else 0
//   A full snapshot lists no zero page: a page without an entry is zero.
//
// Active run (8 bytes): u32 firstPfn, u32 pageCount (>= 1); runs ascend and
// neither overlap nor touch; every page lies inside the guest.
//
// Trailer (24 bytes):
//   0        4        8                 16                20
//   ┌────────┬────────┬─────────────────┬─────────────────┬─────────┐
//   │ "HMSE" │ u32 0  │ u64 fileBytes   │ u32 metadata-   │ u32 crc │
//   │        │        │                 │ Crc32           │         │
//   └────────┴────────┴─────────────────┴─────────────────┴─────────┘
//   metadataCrc32  CRC-32 of the index, the active set and the config
//   crc            CRC-32 of trailer bytes 0..19
//
// Page data is covered by the per-page checksums (checked as each page is
// read, so a lazy restore need not read the whole file first); everything
// else by the header crc and the trailer. The writer puts the header last
// and the file in place with a rename (src/format/atomic-file.ts).
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { defineHeader, magicU32, type FieldsSoFar } from "../format/header.js";
import { MAX_GUEST_PAGES } from "../host/vm.js";
import { PAGE_SIZE } from "../wasm/codes.js";

export const SNAPSHOT_MAGIC = "HMSN";
export const SNAPSHOT_MAJOR = 1;
export const SNAPSHOT_MINOR = 0;
export const TRAILER_MAGIC = "HMSE";
export const DATA_OFFSET = 4096;
export const ENTRY_BYTES = 16;
export const RUN_BYTES = 8;
export const TRAILER_BYTES = 24;
export const MAX_CONFIG_BYTES = 1 << 20;
export const FLAG_DIFF = 1;
export const ID_BYTES = 16;

/** What an index entry says about its page. */
export const PageKind = { Zero: 0, Data: 1, Poisoned: 2, Ballooned: 3 } as const;
export type PageKind = (typeof PageKind)[keyof typeof PageKind];
export const KIND_NAMES: Readonly<Record<PageKind, string>> = { 0: "zero", 1: "data", 2: "poisoned", 3: "ballooned" };

const isZeroId = (id: Uint8Array): boolean => id.every((b) => b === 0);

export const SNAPSHOT_HEADER = defineHeader({
  name: "snapshot",
  magic: SNAPSHOT_MAGIC,
  major: SNAPSHOT_MAJOR,
  minor: SNAPSHOT_MINOR,
  errorCode: ErrorCode.SnapshotCorrupt,
  fields: [
    { name: "flags", type: "u32", validate: (f) => ((f & ~FLAG_DIFF) === 0 ? null : `unknown flag bits 0x${(f & ~FLAG_DIFF).toString(16)}`) },
    { name: "guestPages", type: "u64", validate: (n: number) => (n >= 1 && n <= MAX_GUEST_PAGES ? null : `guest of ${n} pages is outside 1..${MAX_GUEST_PAGES}`) },
    { name: "snapshotId", type: "bytes", byteLength: ID_BYTES, validate: (id) => (isZeroId(id) ? "a snapshot id of zeros" : null) },
    {
      name: "baseId", type: "bytes", byteLength: ID_BYTES,
      validate: (id, f) => ((((f.flags as number) & FLAG_DIFF) !== 0) === !isZeroId(id) ? null
        : ((f.flags as number) & FLAG_DIFF) !== 0 ? "a diff snapshot without a base id" : "a base id in a snapshot that is not a diff"),
    },
    { name: "dataOffset", type: "u64", validate: (n: number) => (n === DATA_OFFSET ? null : `data offset ${n}, expected ${DATA_OFFSET}`) },
    {
      name: "dataPages", type: "u64",
      validate: (n: number, f: FieldsSoFar) => (n <= 2 * (f.guestPages as number) ? null : `${n} data slots for a guest of ${f.guestPages as number} pages (at most twice as many)`),
    },
    { name: "workingSetSlot", type: "u64", validate: (n: number, f: FieldsSoFar) => (n <= (f.dataPages as number) ? null : `working set from slot ${n}, past the ${f.dataPages as number} data slots`) },
    { name: "indexEntries", type: "u64", validate: (n: number, f: FieldsSoFar) => (n <= (f.guestPages as number) ? null : `${n} index entries for a guest of ${f.guestPages as number} pages`) },
    { name: "activeRuns", type: "u64", validate: (n: number, f: FieldsSoFar) => (n <= (f.guestPages as number) ? null : `${n} active runs for a guest of ${f.guestPages as number} pages`) },
    { name: "configBytes", type: "u32", validate: (n: number) => (n >= 2 && n <= MAX_CONFIG_BYTES ? null : `config of ${n} bytes is outside 2..${MAX_CONFIG_BYTES}`) },
  ],
});
export const HEADER_BYTES = SNAPSHOT_HEADER.byteLength;

/** The decoded header fields a reader uses. */
export interface SnapshotHeader {
  readonly diff: boolean;
  readonly guestPages: number;
  readonly snapshotId: Uint8Array;
  readonly baseId: Uint8Array;
  readonly dataPages: number;
  readonly workingSetSlot: number;
  readonly indexEntries: number;
  readonly activeRuns: number;
  readonly configBytes: number;
}

/** Where each section starts, from the header. */
export interface SectionOffsets {
  readonly dataOffset: number;
  readonly indexOffset: number;
  readonly activeOffset: number;
  readonly configOffset: number;
  readonly trailerOffset: number;
  readonly fileBytes: number;
}

export function sectionsOf(h: SnapshotHeader): SectionOffsets {
  const indexOffset = DATA_OFFSET + h.dataPages * PAGE_SIZE;
  const activeOffset = indexOffset + h.indexEntries * ENTRY_BYTES;
  const configOffset = activeOffset + h.activeRuns * RUN_BYTES;
  const trailerOffset = configOffset + h.configBytes;
  return { dataOffset: DATA_OFFSET, indexOffset, activeOffset, configOffset, trailerOffset, fileBytes: trailerOffset + TRAILER_BYTES };
}

export function encodeHeader(h: SnapshotHeader): Uint8Array {
  return SNAPSHOT_HEADER.encode({
    flags: h.diff ? FLAG_DIFF : 0, guestPages: h.guestPages, snapshotId: h.snapshotId, baseId: h.baseId, dataOffset: DATA_OFFSET,
    dataPages: h.dataPages, workingSetSlot: h.workingSetSlot, indexEntries: h.indexEntries, activeRuns: h.activeRuns, configBytes: h.configBytes,
  });
}

export function decodeHeader(bytes: Uint8Array, source: string): SnapshotHeader {
  const h = SNAPSHOT_HEADER.decode(bytes, { source });
  return Object.freeze({
    diff: (h.flags & FLAG_DIFF) !== 0, guestPages: h.guestPages, snapshotId: h.snapshotId, baseId: h.baseId, dataPages: h.dataPages,
    workingSetSlot: h.workingSetSlot, indexEntries: h.indexEntries, activeRuns: h.activeRuns, configBytes: h.configBytes,
  });
}

/** A snapshot id as 32 hex digits. */
export function idHex(id: Uint8Array): string {
  return Buffer.from(id).toString("hex");
}

/** The SnapshotCorrupt error for `path`, naming the field and what is wrong. */
export function corrupt(path: string, field: string, message: string, details: Record<string, unknown> = {}): HypermemError {
  return new HypermemError(ErrorCode.SnapshotCorrupt, `snapshot ${path}: ${message}`, { path, field, ...details });
}

const hex8 = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** The error for a stored page whose bytes do not match its checksum. */
export function checksumMismatch(path: string, pfn: number, slot: number, found: number, expected: number): HypermemError {
  return corrupt(path, "page", `page ${pfn} (slot ${slot}) has checksum ${hex8(found)}, the index says ${hex8(expected)}`, { pfn, slot, value: found, expected });
}

/** The checksum an index entry keeps for `page`: the low 32 bits of its XXH3-64. */
export function pageChecksum(hash: bigint): number {
  return Number(hash & 0xffffffffn);
}

/** The index of a snapshot: parallel arrays, one element per entry, ascending pfn. */
export interface SnapshotIndex {
  readonly pfn: Uint32Array;
  readonly kind: Uint8Array;
  readonly slot: Uint32Array;
  readonly checksum: Uint32Array;
}

export function encodeIndex(index: SnapshotIndex): Uint8Array {
  const n = index.pfn.length;
  const out = new Uint8Array(n * ENTRY_BYTES);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const at = i * ENTRY_BYTES;
    v.setUint32(at, index.pfn[i], true);
    v.setUint8(at + 4, index.kind[i]);
    v.setUint32(at + 8, index.slot[i], true);
    v.setUint32(at + 12, index.checksum[i], true);
  }
  return out;
}

/**
 * Decodes and checks `count` entries: known kinds, zero reserved bytes,
 * ascending pfns inside the guest, data slots inside the data area and
 * used once, zero slot and checksum for the other kinds, and no zero entry
 * in a full snapshot.
 */
export function decodeIndex(bytes: Uint8Array, h: SnapshotHeader, path: string): SnapshotIndex {
  const n = h.indexEntries;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const index: SnapshotIndex = { pfn: new Uint32Array(n), kind: new Uint8Array(n), slot: new Uint32Array(n), checksum: new Uint32Array(n) };
  const slotUsed = new Uint8Array(Math.ceil(h.dataPages / 8));
  let last = -1;
  for (let i = 0; i < n; i++) {
    const at = i * ENTRY_BYTES;
    const pfn = v.getUint32(at, true);
    const kind = v.getUint8(at + 4);
    const slot = v.getUint32(at + 8, true);
    const checksum = v.getUint32(at + 12, true);
    const where = { entry: i, pfn };
    if (pfn >= h.guestPages) throw corrupt(path, "index", `index entry ${i}: page ${pfn} is beyond the ${h.guestPages}-page guest`, where);
    if (pfn <= last) throw corrupt(path, "index", `index entry ${i}: page ${pfn} does not come after page ${last}`, where);
    if (kind > PageKind.Ballooned) throw corrupt(path, "index", `index entry ${i} (page ${pfn}): unknown kind ${kind}`, where);
    if (v.getUint8(at + 5) !== 0 || v.getUint16(at + 6, true) !== 0) throw corrupt(path, "index", `index entry ${i} (page ${pfn}): reserved bytes are not 0`, where);
    if (kind === PageKind.Zero && !h.diff) throw corrupt(path, "index", `index entry ${i} (page ${pfn}): a zero entry in a full snapshot`, where);
    if (kind === PageKind.Data) {
      if (slot >= h.dataPages) {
        throw corrupt(path, "index", `index entry ${i} (page ${pfn}) points at slot ${slot}, outside the file's ${h.dataPages} data slots`, { ...where, slot });
      }
      if ((slotUsed[slot >>> 3] & (1 << (slot & 7))) !== 0) throw corrupt(path, "index", `index entry ${i} (page ${pfn}): slot ${slot} is used twice`, { ...where, slot });
      slotUsed[slot >>> 3] |= 1 << (slot & 7);
    } else if (slot !== 0 || checksum !== 0) {
      throw corrupt(path, "index", `index entry ${i} (page ${pfn}): a ${KIND_NAMES[kind as PageKind]} page with slot ${slot} and checksum ${checksum}`, where);
    }
    index.pfn[i] = pfn;
    index.kind[i] = kind;
    index.slot[i] = slot;
    index.checksum[i] = checksum;
    last = pfn;
  }
  return index;
}

/** Runs of active pages: [firstPfn, pageCount] pairs, ascending. */
export type ActiveRuns = ReadonlyArray<readonly [number, number]>;

export function encodeRuns(runs: ActiveRuns): Uint8Array {
  const out = new Uint8Array(runs.length * RUN_BYTES);
  const v = new DataView(out.buffer);
  runs.forEach(([first, count], i) => {
    v.setUint32(i * RUN_BYTES, first, true);
    v.setUint32(i * RUN_BYTES + 4, count, true);
  });
  return out;
}

/** Decodes and checks the active runs: each non-empty, inside the guest, after (and not touching) the one before. */
export function decodeRuns(bytes: Uint8Array, h: SnapshotHeader, path: string): ActiveRuns {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const runs: Array<readonly [number, number]> = [];
  let end = -1;
  for (let i = 0; i < h.activeRuns; i++) {
    const first = v.getUint32(i * RUN_BYTES, true);
    const count = v.getUint32(i * RUN_BYTES + 4, true);
    if (count === 0) throw corrupt(path, "activeSet", `active run ${i} (from page ${first}) is empty`, { run: i });
    if (first + count > h.guestPages) {
      throw corrupt(path, "activeSet", `active run ${i} names pages ${first}..${first + count - 1}, beyond the ${h.guestPages}-page guest`, { run: i, firstPfn: first, pageCount: count });
    }
    if (first <= end) throw corrupt(path, "activeSet", `active run ${i} starts at page ${first}, not after the run before (which ends at page ${end - 1})`, { run: i });
    runs.push(Object.freeze([first, count] as const));
    end = first + count;
  }
  return Object.freeze(runs);
}

export function encodeTrailer(fileBytes: number, metadataCrc32: number): Uint8Array {
  const out = new Uint8Array(TRAILER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, magicU32(TRAILER_MAGIC), true);
  v.setBigUint64(8, BigInt(fileBytes), true);
  v.setUint32(16, metadataCrc32 >>> 0, true);
  v.setUint32(20, crc32(out.subarray(0, 20)) >>> 0, true);
  return out;
}

/** Checks the trailer against the file size and the metadata it covers (index, active set, config). */
export function checkTrailer(trailer: Uint8Array, metadata: Uint8Array, fileBytes: number, path: string): void {
  const v = new DataView(trailer.buffer, trailer.byteOffset, TRAILER_BYTES);
  if (v.getUint32(0, true) !== magicU32(TRAILER_MAGIC)) throw corrupt(path, "trailer", `the trailer's magic is not "${TRAILER_MAGIC}" (a file cut short or overwritten)`);
  const stored = v.getUint32(20, true);
  const actual = crc32(trailer.subarray(0, 20)) >>> 0;
  if (stored !== actual) throw corrupt(path, "trailer", `the trailer's crc is ${hex8(stored)}, its bytes give ${hex8(actual)}`, { value: stored, expected: actual });
  if (v.getUint32(4, true) !== 0) throw corrupt(path, "trailer", "the trailer's reserved word is not 0");
  const recorded = Number(v.getBigUint64(8, true));
  if (recorded !== fileBytes) throw corrupt(path, "trailer", `the trailer records a ${recorded}-byte file, the header lays out ${fileBytes} bytes`, { value: recorded, expected: fileBytes });
  const metaStored = v.getUint32(16, true);
  const metaActual = crc32(metadata) >>> 0;
  if (metaStored !== metaActual) {
    throw corrupt(path, "metadataCrc32", `the index, active set and config have crc ${hex8(metaActual)}, the trailer says ${hex8(metaStored)}`, { value: metaStored, expected: metaActual });
  }
}
