// The progress record of a disk transfer, which is also the record of a
// fragment: the disk's identity, the committed offset and the hash (XXH3-64)
// of every committed block. The destination rewrites it crash-safely
// (AtomicFile: temporary file, fsync, rename, folder fsync) after the data
// below the new committed offset was fsynced, so after a crash at any byte
// the record on disk is a whole old or a whole new one, and every block it
// lists is on disk.
//
//   0                                    hb                      hb + 8·n     +4
//   ┌────────────────────────────────────┬───────────────────────┬──────────┐
//   │ header "HMDF" 1.0 (defineHeader)   │ n block hashes        │ u32 crc32│
//   │  sizeBytes      u64                │ (XXH3-64, 8 bytes     │ of the   │
//   │  committedBytes u64                │  each, block 0 first) │ hashes   │
//   │  blockBytes     u32                │                       │          │
//   │  hashCount      u32  (= n)         │                       │          │
//   │  createdMs      u64  (transfer's   │                       │          │
//   │                       first start) │                       │          │
//   │  updatedMs      u64  (last write)  │                       │          │
//   │  generation     16 bytes           │                       │          │
//   │  nameBytes      u16                │                       │          │
//   │  name           256 bytes (UTF-8,  │                       │          │
//   │                 zero padded)       │                       │          │
//   └────────────────────────────────────┴───────────────────────┴──────────┘
//   n = ceil(committedBytes / blockBytes); committedBytes is a multiple of
//   blockBytes, or sizeBytes. The whole record is rewritten at every commit:
//   8 bytes per committed block (a 64 GiB disk in 1 MiB blocks: 512 KiB).
import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { writeFileAtomic, writeFileAtomicAsync } from "../format/atomic-file.js";
import { defineHeader } from "../format/header.js";
import { BLOCK_HASH_BYTES, checkImageName, GENERATION_BYTES, MAX_NAME_BYTES } from "./identity.js";

const NAME_FIELD_BYTES = 256;

export const FRAGMENT_RECORD = defineHeader({
  name: "disk fragment record",
  magic: "HMDF",
  major: 1,
  minor: 0,
  errorCode: ErrorCode.DiskHash,
  fields: [
    { name: "sizeBytes", type: "u64" },
    { name: "committedBytes", type: "u64", bigint: false, validate: (n: number, f) => (n <= (f.sizeBytes as number) ? null : `committed ${n} bytes of a disk of ${String(f.sizeBytes)}`) },
    { name: "blockBytes", type: "u32", validate: (n) => (n >= 4096 && (n & (n - 1)) === 0 ? null : `a block of ${n} bytes is not a power of two >= 4096`) },
    {
      name: "hashCount", type: "u32",
      validate: (n, f) => (n === Math.ceil((f.committedBytes as number) / (f.blockBytes as number)) ? null : `${n} hashes for ${String(f.committedBytes)} committed bytes in blocks of ${String(f.blockBytes)}`),
    },
    { name: "createdMs", type: "u64" },
    { name: "updatedMs", type: "u64" },
    { name: "generation", type: "bytes", byteLength: GENERATION_BYTES },
    { name: "nameBytes", type: "u16", validate: (n) => (n >= 1 && n <= MAX_NAME_BYTES ? null : `a name of ${n} bytes`) },
    { name: "name", type: "bytes", byteLength: NAME_FIELD_BYTES },
  ],
});

/** A progress (or fragment) record, decoded. */
export interface DiskRecord {
  readonly name: string;
  readonly sizeBytes: number;
  readonly blockBytes: number;
  readonly generation: Uint8Array;
  readonly committedBytes: number;
  /** XXH3-64 of each committed block (8 bytes, little endian), block 0 first. */
  readonly hashes: readonly Uint8Array[];
  readonly createdMs: number;
  readonly updatedMs: number;
}

export function encodeRecord(r: DiskRecord): Uint8Array {
  const nameUtf8 = Buffer.from(r.name, "utf8");
  const name = new Uint8Array(NAME_FIELD_BYTES);
  name.set(nameUtf8);
  const header = FRAGMENT_RECORD.encode({
    sizeBytes: r.sizeBytes, committedBytes: r.committedBytes, blockBytes: r.blockBytes, hashCount: r.hashes.length,
    createdMs: Math.round(r.createdMs), updatedMs: Math.round(r.updatedMs), generation: r.generation, nameBytes: nameUtf8.length, name,
  });
  const out = new Uint8Array(header.length + r.hashes.length * BLOCK_HASH_BYTES + 4);
  out.set(header, 0);
  r.hashes.forEach((h, i) => out.set(h, header.length + i * BLOCK_HASH_BYTES));
  const body = out.subarray(header.length, out.length - 4);
  new DataView(out.buffer).setUint32(out.length - 4, crc32(body) >>> 0, true);
  return out;
}

/** Decodes a record; ERR_DISK_HASH (or ERR_FORMAT_VERSION) naming `source` and what does not hold. */
export function decodeRecord(bytes: Uint8Array, source: string): DiskRecord {
  const h = FRAGMENT_RECORD.decode(bytes, { source });
  const bodyBytes = h.hashCount * BLOCK_HASH_BYTES;
  if (bytes.length !== h.headerBytes + bodyBytes + 4) {
    throw new HypermemError(ErrorCode.DiskHash, `${source}: a record of ${bytes.length} bytes, expected ${h.headerBytes + bodyBytes + 4} for ${h.hashCount} hashes`, { source, length: bytes.length });
  }
  const body = bytes.subarray(h.headerBytes, h.headerBytes + bodyBytes);
  const crc = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true);
  if (crc !== crc32(body) >>> 0) {
    throw new HypermemError(ErrorCode.DiskHash, `${source}: the crc32 of the block hashes is ${crc.toString(16)}, expected ${(crc32(body) >>> 0).toString(16)}`, { source, field: "crc" });
  }
  const name = checkImageName(Buffer.from(h.name.subarray(0, h.nameBytes)).toString("utf8"), ErrorCode.DiskHash);
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < h.hashCount; i++) hashes.push(body.slice(i * BLOCK_HASH_BYTES, (i + 1) * BLOCK_HASH_BYTES));
  return {
    name, sizeBytes: h.sizeBytes, blockBytes: h.blockBytes, generation: h.generation.slice(), committedBytes: h.committedBytes,
    hashes, createdMs: h.createdMs, updatedMs: h.updatedMs,
  };
}

/** Writes the record crash-safely. */
export function writeRecord(path: string, r: DiskRecord): void {
  writeFileAtomic(path, encodeRecord(r));
}

/** writeRecord off the event loop (the same crash-safe steps on libuv's thread pool). */
export function writeRecordAsync(path: string, r: DiskRecord): Promise<void> {
  return writeFileAtomicAsync(path, encodeRecord(r));
}

/** Reads and decodes the record at `path`. ERR_FILE_IO when it cannot be read. */
export function readRecord(path: string): DiskRecord {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new HypermemError(ErrorCode.FileIo, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path, osCode: (err as NodeJS.ErrnoException).code });
  }
  return decodeRecord(bytes, path);
}
