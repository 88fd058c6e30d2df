// An append-only log of fixed-size, checksummed records behind a versioned
// header, that survives crashes: each append opens the file for appending,
// writes one record, fsyncs and closes (no descriptor is held between
// appends), so a crash loses at most the record being written; a load keeps
// every record whose own magic and crc hold, says what it dropped (a torn
// tail, a corrupted record, a damaged header) and, when it dropped anything,
// rewrites the file crash-safely (AtomicFile) with the good records, so the
// next append lands after good data. Records are fixed-size so one bad
// record never hides the ones after it. The file is created (and rewritten)
// mode 0o600 by AtomicFile; an append never creates it (a log removed since
// it was opened is ERR_FILE_IO, not a new file without a header).
//
//   0                 hb                hb + rb           hb + 2·rb
//   ┌─────────────────┬─────────────────┬─────────────────┬─────
//   │ header          │ record 0        │ record 1        │ ...
//   │ (defineHeader)  │                 │                 │
//   └─────────────────┴─────────────────┴─────────────────┴─────
//   hb = the header's byteLength, rb = recordBytes (16 .. 4096, a multiple of 8)
//
//   record:  0          4                                   rb-4        rb
//            ┌──────────┬───────────────────────────────────┬───────────┐
//            │ u32 magic│ payload (rb - 8 bytes, the format's)│ u32 crc32 │
//            └──────────┴───────────────────────────────────┴───────────┘
//            crc32 (zlib polynomial) of bytes [0, rb-4) of the record
//
// A header of another major version, or a newer minor, is refused
// (ERR_FORMAT_VERSION) and the file is left alone; a file whose magic is not
// the format's is refused (the spec's error code): neither is ever rewritten.
import { closeSync, constants, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError, writeFileAtomic } from "./atomic-file.js";
import type { HeaderCodec } from "./header.js";
import { magicU32 } from "./header.js";

export interface RecordLogSpec<V> {
  /** The header every file of the log starts with. */
  readonly header: HeaderCodec<V>;
  /** The header values a new (or rewritten) file gets. */
  readonly headerValues: V;
  /** 4 ASCII bytes at the start of every record. */
  readonly recordMagic: string;
  readonly recordBytes: number;
}

/** Something a load dropped, and why. */
export interface DroppedPart {
  /** Byte offset in the file as it was found. */
  readonly offset: number;
  readonly bytes: number;
  readonly reason: "torn tail" | "bad record magic" | "bad record crc" | "damaged header";
}

/** What a load found. */
export interface LoadReport {
  /** Records kept. */
  readonly records: number;
  readonly dropped: readonly DroppedPart[];
  /** True when the file was rewritten with the good records (something was dropped, or the file was new). */
  readonly rewritten: boolean;
}

const RECORD_OVERHEAD_BYTES = 8;

export class RecordLog<V> {
  readonly path: string;
  readonly spec: RecordLogSpec<V>;
  /** What opening it found. */
  readonly loadReport: LoadReport;
  readonly #magic: number;
  #payloads: Uint8Array[];

  private constructor(path: string, spec: RecordLogSpec<V>, payloads: Uint8Array[], report: LoadReport) {
    this.path = path;
    this.spec = spec;
    this.#magic = magicU32(spec.recordMagic);
    this.#payloads = payloads;
    this.loadReport = report;
  }

  /**
   * Opens the log at `path`, creating it (header only) when there is no file
   * or an empty one. Keeps every good record; see the file header for what
   * is dropped, refused and rewritten.
   */
  static open<V>(path: string, spec: RecordLogSpec<V>): RecordLog<V> {
    const rb = spec.recordBytes;
    if (!Number.isInteger(rb) || rb < 16 || rb > 4096 || rb % 8 !== 0) {
      throw new HypermemError(ErrorCode.BadOption, `recordBytes must be a multiple of 8 from 16 to 4096, got ${String(rb)}`, { option: "recordBytes", value: rb });
    }
    const bytes = readExisting(path);
    if (bytes === null || bytes.length === 0) {
      writeFileAtomic(path, spec.header.encode(spec.headerValues));
      return new RecordLog(path, spec, [], { records: 0, dropped: [], rewritten: true });
    }
    const { payloads, dropped } = parse(bytes, spec, path);
    if (dropped.length > 0) writeFileAtomic(path, encodeFile(spec, payloads));
    return new RecordLog(path, spec, payloads, { records: payloads.length, dropped, rewritten: dropped.length > 0 });
  }

  /** Payloads of the records, oldest first (copies). */
  payloads(): Uint8Array[] { return this.#payloads.map((p) => p.slice()); }

  get records(): number { return this.#payloads.length; }

  /** Appends one record (its payload: recordBytes - 8 bytes) and makes it durable before returning. */
  append(payload: Uint8Array): void {
    const record = encodeRecord(this.#magic, payload, this.spec.recordBytes);
    let fd = -1;
    try {
      fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND); // no O_CREAT: the header is open()'s
      let done = 0;
      while (done < record.length) done += writeSync(fd, record, done, record.length - done);
      fsyncSync(fd);
    } catch (err) {
      throw fileIoError(this.path, "append a record to", err);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    this.#payloads.push(payload.slice());
  }

  /** Replaces every record by `payloads`, crash-safely (a temporary file renamed over the log). */
  rewrite(payloads: readonly Uint8Array[]): void {
    writeFileAtomic(this.path, encodeFile(this.spec, payloads));
    this.#payloads = payloads.map((p) => p.slice());
  }
}

function readExisting(path: string): Uint8Array | null {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === "ENOENT") return null;
    throw fileIoError(path, "read", err);
  }
}

function encodeRecord(magic: number, payload: Uint8Array, recordBytes: number): Uint8Array {
  if (!(payload instanceof Uint8Array) || payload.length !== recordBytes - RECORD_OVERHEAD_BYTES) {
    throw new HypermemError(ErrorCode.Length, `a record payload is ${recordBytes - RECORD_OVERHEAD_BYTES} bytes, got ${payload instanceof Uint8Array ? payload.length : typeof payload}`, { length: payload?.length });
  }
  const record = new Uint8Array(recordBytes);
  const view = new DataView(record.buffer);
  view.setUint32(0, magic, true);
  record.set(payload, 4);
  view.setUint32(recordBytes - 4, crc32(record.subarray(0, recordBytes - 4)), true);
  return record;
}

function encodeFile<V>(spec: RecordLogSpec<V>, payloads: readonly Uint8Array[]): Uint8Array {
  const header = spec.header.encode(spec.headerValues);
  const magic = magicU32(spec.recordMagic);
  const out = new Uint8Array(header.length + payloads.length * spec.recordBytes);
  out.set(header, 0);
  payloads.forEach((p, i) => out.set(encodeRecord(magic, p, spec.recordBytes), header.length + i * spec.recordBytes));
  return out;
}

/** The good records of a file and what was dropped. Refuses another format or version (the file is left alone). */
function parse<V>(bytes: Uint8Array, spec: RecordLogSpec<V>, path: string): { payloads: Uint8Array[]; dropped: DroppedPart[] } {
  const rb = spec.recordBytes;
  const headerBytes = spec.header.byteLength;
  const dropped: DroppedPart[] = [];
  spec.header.checkMagic(bytes, { source: path });
  try {
    spec.header.decode(bytes, { source: path });
  } catch (err) {
    if (!(err instanceof HypermemError) || err.code === ErrorCode.FormatVersion) throw err;
    dropped.push({ offset: 0, bytes: Math.min(headerBytes, bytes.length), reason: "damaged header" });
  }
  const magic = magicU32(spec.recordMagic);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloads: Uint8Array[] = [];
  let at = headerBytes;
  for (; at + rb <= bytes.length; at += rb) {
    if (view.getUint32(at, true) !== magic) {
      dropped.push({ offset: at, bytes: rb, reason: "bad record magic" });
    } else if (view.getUint32(at + rb - 4, true) !== crc32(bytes.subarray(at, at + rb - 4))) {
      dropped.push({ offset: at, bytes: rb, reason: "bad record crc" });
    } else {
      payloads.push(bytes.slice(at + 4, at + rb - 4));
    }
  }
  if (at < bytes.length) dropped.push({ offset: at, bytes: bytes.length - at, reason: "torn tail" });
  return { payloads, dropped };
}
