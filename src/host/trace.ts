// Access trace files: a recorded sequence of guest accesses, replayed by
// AccessGenerator (src/host/workload.ts) as the "trace" workload. The format is
// documented, with the same diagram, in docs/trace-format.md.
//
// Trace file, version 1 (all integers little endian):
//
//   0      4      6      8               16              24      28      32
//   ┌──────┬──────┬──────┬───────────────┬───────────────┬───────┬───────┐
//   │"HMTR"│ ver  │ rec  │ guestPages    │ recordCount   │ rate  │ crc32 │
//   │      │ u16=1│ u16= │ u64           │ u64           │ u32   │ u32   │
//   │      │      │  16  │               │               │       │       │
//   ├──────┴──────┴──────┴───────────────┴───────────────┴───────┴───────┤
//   │ 32: recordCount access records of 16 bytes (assembly/mmu.ts):      │
//   │   +0 u64 gpa  +8 u32 seed  +12 u16 length  +14 u8 op  +15 u8 rsvd  │
//   └────────────────────────────────────────────────────────────────────┘
//   guestPages  size of the guest the trace was recorded on (1..2^52)
//   rate        accesses per simulated second when it was recorded (≥ 1)
//   crc32       CRC-32 (zlib polynomial) of the record bytes, header excluded
//   The file is exactly 32 + 16 × recordCount bytes.
//
// Readers check every header field, and the count against the file size,
// before they allocate; then the CRC and every record (gpa inside the guest,
// length 1..4096, no page crossing, op 0 or 1, rsvd 0). Anything else is a
// HypermemError with code TraceFormat naming the field and its value; a
// reader never returns part of a bad file. The writer streams records to a
// temporary file next to the target, writes the count and CRC into the
// header, fsyncs, then renames: a crash leaves either no file or a whole one.
import { randomBytes } from "node:crypto";
import {
  closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";

export const TRACE_MAGIC = "HMTR";
export const TRACE_VERSION = 1;
export const TRACE_HEADER_BYTES = 32;
/** Bytes of one access record (assembly/mmu.ts). */
export const TRACE_RECORD_BYTES = 16;
/** Largest guest a trace can describe, in pages (a gpa must fit in a u64). */
export const TRACE_MAX_GUEST_PAGES = 2 ** 52;
/** Largest trace readTrace() loads into one buffer (1 GiB of records). */
export const TRACE_MAX_READ_BYTES = 2 ** 30;

const MAGIC_U32 = 0x52544d48; // "HMTR" read as a little-endian u32
const CHUNK_RECORDS = 4096; // 64 KiB of records per read while verifying

/** The fields of a trace file header. */
export interface TraceHeader {
  readonly version: number;
  readonly recordBytes: number;
  readonly guestPages: number;
  readonly recordCount: number;
  readonly ratePerSec: number;
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

/** The 32 header bytes for `header`. */
export function encodeTraceHeader(header: Omit<TraceHeader, "version" | "recordBytes">): Uint8Array {
  const bytes = new Uint8Array(TRACE_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC_U32, true);
  view.setUint16(4, TRACE_VERSION, true);
  view.setUint16(6, TRACE_RECORD_BYTES, true);
  view.setBigUint64(8, BigInt(header.guestPages), true);
  view.setBigUint64(16, BigInt(header.recordCount), true);
  view.setUint32(24, header.ratePerSec, true);
  view.setUint32(28, header.crc32, true);
  return bytes;
}

/**
 * Decodes and checks the header of a `fileBytes`-byte trace file, field by
 * field in file order, so the first bad field is the one reported.
 */
export function decodeTraceHeader(bytes: Uint8Array, fileBytes: number, path = "<buffer>"): TraceHeader {
  if (fileBytes < TRACE_HEADER_BYTES || bytes.byteLength < TRACE_HEADER_BYTES) {
    throw traceError(path, `truncated: file size ${fileBytes} is smaller than the ${TRACE_HEADER_BYTES}-byte header`, { field: "fileSize", value: fileBytes });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, TRACE_HEADER_BYTES);
  if (view.getUint32(0, true) !== MAGIC_U32) {
    const magic = Buffer.from(bytes.subarray(0, 4)).toString("latin1");
    const hex = Buffer.from(bytes.subarray(0, 4)).toString("hex");
    throw traceError(path, `bad magic ${JSON.stringify(magic)} (0x${hex}; expected "${TRACE_MAGIC}")`, { field: "magic", value: magic });
  }
  const version = view.getUint16(4, true);
  if (version !== TRACE_VERSION) {
    throw traceError(path, `unsupported version ${version} (this reader knows ${TRACE_VERSION})`, { field: "version", value: version });
  }
  const recordBytes = view.getUint16(6, true);
  if (recordBytes !== TRACE_RECORD_BYTES) {
    throw traceError(path, `record size ${recordBytes} (expected ${TRACE_RECORD_BYTES})`, { field: "recordBytes", value: recordBytes });
  }
  const guestPagesBig = view.getBigUint64(8, true);
  if (guestPagesBig === 0n || guestPagesBig > BigInt(TRACE_MAX_GUEST_PAGES)) {
    throw traceError(path, `guest pages ${guestPagesBig} outside 1..2^52`, { field: "guestPages", value: guestPagesBig });
  }
  const countBig = view.getBigUint64(16, true);
  const expectBytes = BigInt(TRACE_HEADER_BYTES) + countBig * BigInt(TRACE_RECORD_BYTES);
  if (expectBytes !== BigInt(fileBytes)) {
    const why = expectBytes > BigInt(fileBytes) ? "truncated: " : "trailing bytes: ";
    throw traceError(path, `${why}record count ${countBig} needs ${expectBytes} bytes but the file has ${fileBytes}`,
      { field: "recordCount", value: countBig, fileSize: fileBytes });
  }
  const ratePerSec = view.getUint32(24, true);
  if (ratePerSec === 0) throw traceError(path, "rate 0 accesses per second", { field: "ratePerSec", value: 0 });
  return Object.freeze({
    version, recordBytes, guestPages: Number(guestPagesBig), recordCount: Number(countBig),
    ratePerSec, crc32: view.getUint32(28, true),
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

function readHeader(fd: number, path: string): TraceHeader {
  const fileBytes = fstatSync(fd).size;
  const head = new Uint8Array(TRACE_HEADER_BYTES);
  if (fileBytes >= TRACE_HEADER_BYTES) readFully(fd, head, 0, path);
  return decodeTraceHeader(head, fileBytes, path);
}

function checkCrc(path: string, header: TraceHeader, crc: number): void {
  if (crc !== header.crc32) {
    const hex = (v: number) => `0x${v.toString(16).padStart(8, "0")}`;
    throw traceError(path, `crc32 ${hex(header.crc32)} in the header does not match the records' ${hex(crc)}`,
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
 * Writes a trace crash-safely: records stream into a temporary file in the
 * target's directory; close() writes the count and CRC into the header,
 * fsyncs and renames it onto `path`. abort() (or a failed append) removes it.
 */
export class TraceWriter {
  readonly path: string;
  readonly #tmpPath: string;
  readonly #guestPages: number;
  readonly #ratePerSec: number;
  #fd: number;
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
    this.#tmpPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    this.#fd = openSync(this.#tmpPath, "wx");
    try {
      writeSync(this.#fd, this.#header());
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Records appended so far. */
  get recordCount(): number { return this.#count; }

  #header(): Uint8Array {
    return encodeTraceHeader({ guestPages: this.#guestPages, recordCount: this.#count, ratePerSec: this.#ratePerSec, crc32: this.#crc });
  }

  #ensureOpen(): void {
    if (this.#fd < 0) throw new HypermemError(ErrorCode.Destroyed, `trace ${this.path}: writer is closed`, { path: this.path });
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
    let done = 0;
    while (done < records.byteLength) done += writeSync(this.#fd, records, done, records.byteLength - done, TRACE_HEADER_BYTES + this.#count * TRACE_RECORD_BYTES + done);
    this.#crc = crc32(records, this.#crc);
    this.#count += records.byteLength / TRACE_RECORD_BYTES;
  }

  /** Finishes the file (header, fsync, rename) and returns its header. */
  close(): TraceHeader {
    this.#ensureOpen();
    const header = this.#header();
    try {
      writeSync(this.#fd, header, 0, header.byteLength, 0);
      fsyncSync(this.#fd);
      closeSync(this.#fd);
      this.#fd = -1;
      renameSync(this.#tmpPath, this.path);
    } catch (err) {
      this.abort();
      throw err;
    }
    syncDirectory(dirname(this.path));
    return decodeTraceHeader(header, TRACE_HEADER_BYTES + this.#count * TRACE_RECORD_BYTES, this.path);
  }

  /** Drops the temporary file; the target is left untouched. Idempotent. */
  abort(): void {
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
    try {
      unlinkSync(this.#tmpPath);
    } catch {
      // already renamed or removed
    }
  }
}

/** fsync a directory so a rename in it is durable (a no-op where unsupported). */
function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // some platforms cannot open or fsync a directory; the rename still happened
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
