// Access trace files: a recorded sequence of guest accesses, replayed by
// AccessGenerator (src/host/workload.ts) as the "trace" workload. The format is
// documented, with the same diagram, in docs/trace-format.md.
//
// Trace file, version 2.0 (all integers little endian): the versioned header
// of src/format/header.ts, then the records.
//
//   0      4     6     8        12       16           24            32     36       40     44
//   ┌──────┬─────┬─────┬────────┬────────┬────────────┬─────────────┬──────┬────────┬──────┐
//   │"HMTR"│major│minor│header- │record- │ guestPages │ recordCount │ rate │records-│ crc  │
//   │      │u16=2│u16=0│Bytes=44│Bytes=16│ u64        │ u64         │ u32  │Crc32   │ u32  │
//   ├──────┴─────┴─────┴────────┴────────┴────────────┴─────────────┴──────┴────────┴──────┤
//   │ 44: recordCount access records of 16 bytes (assembly/mmu.ts):                        │
//   │   +0 u64 gpa  +8 u32 seed  +12 u16 length  +14 u8 op  +15 u8 rsvd                    │
//   └──────────────────────────────────────────────────────────────────────────────────────┘
//   guestPages    size of the guest the trace was recorded on (1..2^52)
//   rate          accesses per simulated second when it was recorded (≥ 1)
//   recordsCrc32  CRC-32 (zlib polynomial) of the record bytes
//   crc           CRC-32 of header bytes 0..39
//   The file is exactly 44 + 16 × recordCount bytes.
//
// Readers check the header (magic, headerBytes, crc, version 2.0, then each
// field) and the count against the file size before they allocate; then the
// records' CRC and every record (gpa inside the guest, length 1..4096, no page
// crossing, op 0 or 1, rsvd 0). A version-1 trace (32-byte header without a
// header crc) is refused with ERR_FORMAT_VERSION; anything else wrong is a
// HypermemError with code TraceFormat naming the field and its value; a
// reader never returns part of a bad file. The writer streams records through
// an AtomicFile (src/format/atomic-file.ts): a crash leaves either no file or
// a whole one.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { AtomicFile } from "../format/atomic-file.js";
import { defineHeader, MIN_HEADER_BYTES } from "../format/header.js";

export const TRACE_MAGIC = "HMTR";
/** The major version this hypermem writes and reads (minor 0). */
export const TRACE_VERSION = 2;
/** Bytes of one access record (assembly/mmu.ts). */
export const TRACE_RECORD_BYTES = 16;
/** Largest guest a trace can describe, in pages (a gpa must fit in a u64). */
export const TRACE_MAX_GUEST_PAGES = 2 ** 52;
/** Largest trace readTrace() loads into one buffer (1 GiB of records). */
export const TRACE_MAX_READ_BYTES = 2 ** 30;

/** The trace file header codec. */
export const TRACE_HEADER = defineHeader({
  name: "trace",
  magic: TRACE_MAGIC,
  major: TRACE_VERSION,
  minor: 0,
  errorCode: ErrorCode.TraceFormat,
  // Version 1 put a u16 version (1) where the major now is, and had no header crc.
  olderLayout: (prefix) => (prefix.getUint16(4, true) === 1 ? "1" : null),
  fields: [
    { name: "recordBytes", type: "u32", validate: (n) => (n === TRACE_RECORD_BYTES ? null : `record size ${n} (expected ${TRACE_RECORD_BYTES})`) },
    { name: "guestPages", type: "u64", validate: (n: number) => (n >= 1 && n <= TRACE_MAX_GUEST_PAGES ? null : `guest pages ${n} outside 1..2^52`) },
    // A bigint, so that a count the file cannot hold is reported against the file size.
    { name: "recordCount", type: "u64", bigint: true },
    { name: "ratePerSec", type: "u32", validate: (n) => (n >= 1 ? null : `rate ${n} accesses per second`) },
    { name: "recordsCrc32", type: "u32" },
  ],
});
export const TRACE_HEADER_BYTES = TRACE_HEADER.byteLength;

const CHUNK_RECORDS = 4096; // 64 KiB of records per read while verifying

/** The fields of a trace file header. */
export interface TraceHeader {
  /** The major version (2). */
  readonly version: number;
  readonly recordBytes: number;
  readonly guestPages: number;
  readonly recordCount: number;
  readonly ratePerSec: number;
  /** CRC-32 of the records (the header field recordsCrc32). */
  readonly crc32: number;
}

function traceError(path: string, message: string, details: Record<string, unknown>): HypermemError {
  return new HypermemError(ErrorCode.TraceFormat, `trace ${path}: ${message}`, { path, ...details });
}

/**
 * Why access record `index` of `records` is invalid for a guest of
 * `guestPages` pages, or null when it is valid. Mirrors the kernel's
 * traceValidate rules.
 */
export function describeInvalidRecord(records: Uint8Array, index: number, guestPages: number): string | null {
  const view = new DataView(records.buffer, records.byteOffset + index * TRACE_RECORD_BYTES, TRACE_RECORD_BYTES);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const pfn = hi * 2 ** 20 + Math.floor(lo / 4096); // exact: < 2^52
  const offset = lo & 4095;
  const length = view.getUint16(12, true);
  const op = view.getUint8(14);
  const rsvd = view.getUint8(15);
  const gpa = () => `0x${view.getBigUint64(0, true).toString(16)}`;
  if (pfn >= guestPages) return `gpa ${gpa()} is past the end of the ${guestPages}-page guest`;
  if (length === 0 || length > 4096) return `length ${length} is outside 1..4096`;
  if (offset + length > 4096) return `access of ${length} bytes at gpa ${gpa()} crosses a 4 KiB page`;
  if (op > 1) return `op ${op} is neither 0 (read) nor 1 (write)`;
  if (rsvd !== 0) return `reserved byte is ${rsvd}, not 0`;
  return null;
}

/** Index of the first invalid record of `records` for a guest of `guestPages` pages, or the record count. */
export function findInvalidRecord(records: Uint8Array, guestPages: number): number {
  const count = Math.floor(records.byteLength / TRACE_RECORD_BYTES);
  for (let i = 0; i < count; i++) if (describeInvalidRecord(records, i, guestPages) !== null) return i;
  return count;
}

function checkRecords(path: string, records: Uint8Array, firstIndex: number, guestPages: number): void {
  const i = findInvalidRecord(records, guestPages);
  if (i < records.byteLength / TRACE_RECORD_BYTES) {
    const why = describeInvalidRecord(records, i, guestPages);
    throw traceError(path, `record ${firstIndex + i}: ${why}`, { field: "record", record: firstIndex + i, guestPages });
  }
}

/** The header bytes for `header`. */
export function encodeTraceHeader(header: Omit<TraceHeader, "version" | "recordBytes">): Uint8Array {
  return TRACE_HEADER.encode({
    recordBytes: TRACE_RECORD_BYTES, guestPages: header.guestPages, recordCount: BigInt(header.recordCount),
    ratePerSec: header.ratePerSec, recordsCrc32: header.crc32,
  });
}

function truncatedHeader(path: string, fileBytes: number, headerBytes: number): HypermemError {
  return traceError(path, `truncated: file size ${fileBytes} is smaller than the ${headerBytes}-byte header`, { field: "fileSize", value: fileBytes });
}

/**
 * The size of the header that starts with `prefix` (its first
 * min(fileBytes, 16) bytes) in a `fileBytes`-byte file: checks the magic,
 * the version-1 layout and headerBytes, and that the file holds the header.
 */
function headerBytesOf(prefix: Uint8Array, fileBytes: number, path: string): number {
  if (fileBytes < MIN_HEADER_BYTES || prefix.byteLength < MIN_HEADER_BYTES) throw truncatedHeader(path, fileBytes, TRACE_HEADER_BYTES);
  const { headerBytes } = TRACE_HEADER.decodePrefix(prefix, { source: path });
  if (fileBytes < headerBytes) throw truncatedHeader(path, fileBytes, headerBytes);
  return headerBytes;
}

/**
 * Decodes and checks the header at the start of `bytes` of a `fileBytes`-byte
 * trace file: the header's own checks (src/format/header.ts) in their order,
 * then the record count against the file size.
 */
export function decodeTraceHeader(bytes: Uint8Array, fileBytes: number, path = "<buffer>"): TraceHeader {
  const headerBytes = headerBytesOf(bytes.subarray(0, MIN_HEADER_BYTES), fileBytes, path);
  const h = TRACE_HEADER.decode(bytes.subarray(0, headerBytes), { source: path });
  const expectBytes = BigInt(headerBytes) + h.recordCount * BigInt(TRACE_RECORD_BYTES);
  if (expectBytes !== BigInt(fileBytes)) {
    const why = expectBytes > BigInt(fileBytes) ? "truncated: " : "trailing bytes: ";
    throw traceError(path, `${why}record count ${h.recordCount} needs ${expectBytes} bytes but the file has ${fileBytes}`,
      { field: "recordCount", value: h.recordCount, fileSize: fileBytes });
  }
  return Object.freeze({
    version: h.major, recordBytes: h.recordBytes, guestPages: h.guestPages, recordCount: Number(h.recordCount),
    ratePerSec: h.ratePerSec, crc32: h.recordsCrc32,
  });
}

function readFully(fd: number, dst: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < dst.byteLength) {
    const n = readSync(fd, dst, done, dst.byteLength - done, position + done);
    if (n === 0) throw traceError(path, `truncated: file ended at byte ${position + done}`, { field: "fileSize", value: position + done });
    done += n;
  }
}

/** Reads the fixed part, then the whole header (at most 64 KiB), and checks it. */
function readHeader(fd: number, path: string): TraceHeader {
  const fileBytes = fstatSync(fd).size;
  const prefix = new Uint8Array(Math.min(fileBytes, MIN_HEADER_BYTES));
  readFully(fd, prefix, 0, path);
  const head = new Uint8Array(headerBytesOf(prefix, fileBytes, path));
  readFully(fd, head, 0, path);
  return decodeTraceHeader(head, fileBytes, path);
}

function checkCrc(path: string, header: TraceHeader, crc: number): void {
  if (crc !== header.crc32) {
    const hex = (v: number) => `0x${v.toString(16).padStart(8, "0")}`;
    throw traceError(path, `records crc32 ${hex(header.crc32)} in the header does not match the records' ${hex(crc)}`,
      { field: "crc32", value: header.crc32, actual: crc });
  }
}

/** Reads and checks only the header of the trace at `path`. */
export function readTraceHeader(path: string): TraceHeader {
  const fd = openSync(path, "r");
  try {
    return readHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

export interface TraceReadOptions {
  /** Guest size the records are checked against. @default the header's guestPages */
  guestPages?: number;
}

/**
 * Reads a whole trace: the header, then every record, checked (CRC and each
 * record) before anything is returned. Traces above TRACE_MAX_READ_BYTES of
 * records throw ErrorCode.Length: stream them with TraceReader instead.
 */
export function readTrace(path: string, options: TraceReadOptions = {}): { header: TraceHeader; records: Uint8Array } {
  const fd = openSync(path, "r");
  try {
    const header = readHeader(fd, path);
    const bytes = header.recordCount * TRACE_RECORD_BYTES;
    if (bytes > TRACE_MAX_READ_BYTES) {
      throw new HypermemError(ErrorCode.Length, `trace ${path}: ${bytes} bytes of records exceed readTrace's ${TRACE_MAX_READ_BYTES}; use TraceReader`, { path, bytes });
    }
    const records = new Uint8Array(bytes);
    readFully(fd, records, TRACE_HEADER_BYTES, path);
    checkCrc(path, header, crc32(records));
    checkRecords(path, records, 0, options.guestPages ?? header.guestPages);
    return { header, records };
  } finally {
    closeSync(fd);
  }
}

/**
 * Streams the records of a trace file. open() checks the header, then reads
 * the whole file once in 64 KiB chunks to verify the CRC and every record, so
 * a bad file fails before the first record is handed out.
 */
export class TraceReader {
  readonly path: string;
  readonly header: TraceHeader;
  #fd: number;
  #next = 0;

  private constructor(path: string, fd: number, header: TraceHeader) {
    this.path = path;
    this.#fd = fd;
    this.header = header;
  }

  /** Opens and fully verifies the trace at `path`. */
  static open(path: string, options: TraceReadOptions = {}): TraceReader {
    const fd = openSync(path, "r");
    try {
      const header = readHeader(fd, path);
      const guestPages = options.guestPages ?? header.guestPages;
      const chunk = new Uint8Array(CHUNK_RECORDS * TRACE_RECORD_BYTES);
      let crc = 0;
      let firstBad: HypermemError | null = null;
      for (let i = 0; i < header.recordCount; i += CHUNK_RECORDS) {
        const part = chunk.subarray(0, Math.min(CHUNK_RECORDS, header.recordCount - i) * TRACE_RECORD_BYTES);
        readFully(fd, part, TRACE_HEADER_BYTES + i * TRACE_RECORD_BYTES, path);
        crc = crc32(part, crc);
        if (firstBad === null) {
          try {
            checkRecords(path, part, i, guestPages);
          } catch (err) {
            firstBad = err as HypermemError;
          }
        }
      }
      // A CRC mismatch explains a bad record, so it is reported first (as readTrace does).
      checkCrc(path, header, crc);
      if (firstBad !== null) throw firstBad;
      return new TraceReader(path, fd, header);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Index of the next record read() returns. */
  get position(): number { return this.#next; }
  /** Records not yet read. */
  get remaining(): number { return this.header.recordCount - this.#next; }

  /**
   * Reads the next records into `dst` (as many whole records as fit and
   * remain) and returns how many; 0 at the end of the trace.
   */
  read(dst: Uint8Array): number {
    if (this.#fd < 0) throw new HypermemError(ErrorCode.Destroyed, `trace ${this.path}: reader is closed`, { path: this.path });
    const count = Math.min(Math.floor(dst.byteLength / TRACE_RECORD_BYTES), this.remaining);
    if (count === 0) return 0;
    readFully(this.#fd, dst.subarray(0, count * TRACE_RECORD_BYTES), TRACE_HEADER_BYTES + this.#next * TRACE_RECORD_BYTES, this.path);
    this.#next += count;
    return count;
  }

  /** Rewinds to the first record. */
  rewind(): void { this.#next = 0; }

  /** Closes the file; further reads throw. Idempotent. */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}

export interface TraceWriterOptions {
  /** Guest size, in pages, the records are checked against and recorded for. */
  guestPages: number;
  /** Accesses per simulated second, stored in the header (an integer 1..2^32-1). */
  ratePerSec: number;
}

/**
 * Writes a trace crash-safely through an AtomicFile: records stream into a
 * temporary file in the target's folder; close() writes the count and CRC
 * into the header, fsyncs and renames it onto `path`. abort() (or a failed
 * write) removes it.
 */
export class TraceWriter {
  readonly path: string;
  readonly #guestPages: number;
  readonly #ratePerSec: number;
  readonly #file: AtomicFile;
  #count = 0;
  #crc = 0;

  constructor(path: string, options: TraceWriterOptions) {
    const { guestPages, ratePerSec } = options;
    if (!Number.isSafeInteger(guestPages) || guestPages < 1 || guestPages > TRACE_MAX_GUEST_PAGES) {
      throw new HypermemError(ErrorCode.BadOption, `guestPages must be an integer in 1..2^52, got ${guestPages}`, { option: "guestPages", value: guestPages });
    }
    if (!Number.isInteger(ratePerSec) || ratePerSec < 1 || ratePerSec > 0xffffffff) {
      throw new HypermemError(ErrorCode.BadOption, `ratePerSec must be an integer in 1..4294967295 for a trace, got ${ratePerSec}`, { option: "ratePerSec", value: ratePerSec });
    }
    this.path = path;
    this.#guestPages = guestPages;
    this.#ratePerSec = ratePerSec;
    this.#file = AtomicFile.open(path);
    this.#file.append(this.#header()); // a placeholder until close()
  }

  /** Records appended so far. */
  get recordCount(): number { return this.#count; }

  #header(): Uint8Array {
    return encodeTraceHeader({ guestPages: this.#guestPages, recordCount: this.#count, ratePerSec: this.#ratePerSec, crc32: this.#crc });
  }

  #ensureOpen(): void {
    if (!this.#file.isOpen) throw new HypermemError(ErrorCode.Destroyed, `trace ${this.path}: writer is closed`, { path: this.path });
  }

  /**
   * Appends whole 16-byte records. Each is checked against the guest first
   * (a TraceFormat error names the bad one and nothing of `records` is
   * written), so a finished file always reads back.
   */
  append(records: Uint8Array): void {
    this.#ensureOpen();
    if (records.byteLength % TRACE_RECORD_BYTES !== 0) {
      throw new HypermemError(ErrorCode.Length, `trace ${this.path}: ${records.byteLength} bytes is not a whole number of ${TRACE_RECORD_BYTES}-byte records`, { bytes: records.byteLength });
    }
    checkRecords(this.path, records, this.#count, this.#guestPages);
    this.#file.append(records);
    this.#crc = crc32(records, this.#crc);
    this.#count += records.byteLength / TRACE_RECORD_BYTES;
  }

  /** Finishes the file (header, fsync, rename, folder fsync) and returns its header. */
  close(): TraceHeader {
    this.#ensureOpen();
    const header = this.#header();
    this.#file.pwrite(header, 0);
    this.#file.commit();
    return decodeTraceHeader(header, TRACE_HEADER_BYTES + this.#count * TRACE_RECORD_BYTES, this.path);
  }

  /** Drops the temporary file; the target is left untouched. Idempotent. */
  abort(): void {
    this.#file.abort();
  }
}
