// Trace files (src/host/trace.ts) where a mutation run (issue 19) found no
// test looking: records at gpas of 4 GiB and more checked by their whole
// address, the length rule's own message, the index a bad record is named
// by when it is not in the first append or the first 64 KiB chunk, the
// first bad record named when there are two, a file cut after it was
// opened, a file shorter than its header but not than 16 bytes, header
// errors naming the file, a guest too large for the header, the crc
// message's zero padding, the writer's exact refusals, and no file left
// open by the readers.
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import {
  encodeTraceHeader, readTrace, readTraceHeader, TRACE_HEADER, TRACE_HEADER_BYTES, TraceReader, TraceWriter,
} from "../src/host/trace.js";
import { thrownError } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-trace-mutants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmpPath = () => join(dir, `t-${fileNo++}.hmtr`);

/** One 16-byte access record. */
function record(gpa: bigint, length = 8, op = 0, rsvd = 0): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(gpa, 0);
  b.writeUInt32LE(7, 8);
  b.writeUInt16LE(length, 12);
  b[14] = op;
  b[15] = rsvd;
  return b;
}

/** A trace file of `records` as they are (the writer would refuse bad ones), with a correct header and crc unless given one. */
function rawTrace(records: Uint8Array, guestPages: number, crc = crc32(records)): string {
  const path = tmpPath();
  writeFileSync(path, Buffer.concat([encodeTraceHeader({ guestPages, recordCount: records.byteLength / 16, ratePerSec: 1, crc32: crc }), records]));
  return path;
}

/** `count` valid records (gpa 0, 8 bytes, a read) with `bad` records (index → reserved byte) made invalid. */
function recordsWith(count: number, bad: Record<number, number>): Uint8Array {
  const all = Buffer.concat(Array.from({ length: count }, () => record(0n)));
  for (const [i, rsvd] of Object.entries(bad)) all[Number(i) * 16 + 15] = rsvd;
  return all;
}

describe("records", () => {
  it("a gpa of 4 GiB and more is checked by its whole address (the high word counts 2^20 pages)", () => {
    const at4GiB = record(2n ** 32n, 8, 1);
    const big = new TraceWriter(tmpPath(), { guestPages: 2 ** 21, ratePerSec: 1 });
    big.append(at4GiB); // pfn 2^20 of a 2^21-page guest
    expect(big.close().recordCount).toBe(1);
    const path = tmpPath();
    const small = new TraceWriter(path, { guestPages: 2 ** 20, ratePerSec: 1 });
    expect(thrownError(() => small.append(at4GiB))).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${path}: record 0: gpa 0x100000000 is past the end of the 1048576-page guest`,
      details: { path, field: "record", record: 0, guestPages: 2 ** 20 },
    });
    small.abort();
  });

  it("a length of 0 or over 4096 is named as such (not as a page crossing)", () => {
    const path = tmpPath();
    const w = new TraceWriter(path, { guestPages: 4, ratePerSec: 1 });
    expect(thrownError(() => w.append(record(0n, 4097)))).toMatchObject({ message: `trace ${path}: record 0: length 4097 is outside 1..4096` });
    expect(thrownError(() => w.append(record(0n, 0)))).toMatchObject({ message: `trace ${path}: record 0: length 0 is outside 1..4096` });
    w.append(record(0n, 4096));
    w.abort();
  });

  it("the writer names a bad record by its index in the whole trace, not in the append", () => {
    const path = tmpPath();
    const w = new TraceWriter(path, { guestPages: 4, ratePerSec: 1 });
    w.append(record(0n));
    const e = thrownError(() => w.append(Buffer.concat([record(4096n), record(0n, 8, 2)])));
    expect(e).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${path}: record 2: op 2 is neither 0 (read) nor 1 (write)`,
      details: { path, field: "record", record: 2, guestPages: 4 },
    });
    expect(w.recordCount).toBe(1);
    w.abort();
  });

  it("TraceReader.open names a bad record past its first 64 KiB chunk by its index, and the first of two bad records", () => {
    const late = rawTrace(recordsWith(6000, { 5000: 2 }), 16);
    expect(thrownError(() => TraceReader.open(late))).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${late}: record 5000: reserved byte is 2, not 0`,
      details: { path: late, field: "record", record: 5000, guestPages: 16 },
    });
    const two = rawTrace(recordsWith(6000, { 100: 1, 5000: 2 }), 16);
    expect(thrownError(() => TraceReader.open(two))).toMatchObject({ message: `trace ${two}: record 100: reserved byte is 1, not 0`, details: { record: 100 } });
    expect(thrownError(() => readTrace(two))).toMatchObject({ message: `trace ${two}: record 100: reserved byte is 1, not 0`, details: { record: 100 } });
  });
});

describe("files", () => {
  it("a file cut after it was opened fails the read that meets its end, naming the byte", () => {
    const path = rawTrace(recordsWith(10, {}), 16);
    const reader = TraceReader.open(path);
    truncateSync(path, TRACE_HEADER_BYTES + 4 * 16 + 8); // four records and half of one left
    const end = TRACE_HEADER_BYTES + 4 * 16 + 8;
    expect(thrownError(() => reader.read(new Uint8Array(10 * 16)))).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${path}: truncated: file ended at byte ${end}`, details: { path, field: "fileSize", value: end },
    });
    reader.close();
  });

  it("a file longer than 16 bytes but shorter than the header is truncated, naming both sizes", () => {
    const path = tmpPath();
    writeFileSync(path, encodeTraceHeader({ guestPages: 1, recordCount: 0, ratePerSec: 1, crc32: 0 }).subarray(0, 20));
    expect(thrownError(() => readTraceHeader(path))).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${path}: truncated: file size 20 is smaller than the 44-byte header`, details: { path, field: "fileSize", value: 20 },
    });
  });

  it("errors of the header codec name the file, in the message and the details", () => {
    const header = Buffer.from(encodeTraceHeader({ guestPages: 1, recordCount: 0, ratePerSec: 1, crc32: 0 }));
    const magic = tmpPath();
    writeFileSync(magic, Buffer.concat([Buffer.from("XXXX"), header.subarray(4)]));
    const m = thrownError(() => readTraceHeader(magic));
    expect(m).toMatchObject({ code: "ERR_TRACE_FORMAT", details: { field: "magic", source: magic } });
    expect(m === "none" ? "" : m.message).toMatch(new RegExp(`^trace ${magic}: header field magic`));
    const crc = tmpPath();
    header[TRACE_HEADER_BYTES - 1] ^= 1;
    writeFileSync(crc, header);
    const c = thrownError(() => readTraceHeader(crc));
    expect(c).toMatchObject({ code: "ERR_TRACE_FORMAT", details: { field: "crc", source: crc } });
    expect(c === "none" ? "" : c.message).toMatch(new RegExp(`^trace ${crc}: header field crc`));
  });

  it("a header for a guest over 2^52 pages is refused", () => {
    const path = tmpPath();
    const header = Buffer.from(encodeTraceHeader({ guestPages: 1, recordCount: 0, ratePerSec: 1, crc32: 0 }));
    header.writeBigUInt64LE(2n ** 52n + 1n, TRACE_HEADER.offsetOf("guestPages"));
    header.writeUInt32LE(crc32(header.subarray(0, TRACE_HEADER_BYTES - 4)), TRACE_HEADER_BYTES - 4);
    writeFileSync(path, header);
    expect(thrownError(() => readTraceHeader(path))).toMatchObject({
      code: "ERR_TRACE_FORMAT", message: expect.stringContaining("guest pages 4503599627370497 outside 1..2^52"), details: { field: "guestPages" },
    });
  });

  it("the records' crc mismatch shows both crcs as eight hex digits", () => {
    const records = recordsWith(3, {});
    const path = rawTrace(records, 16, 1);
    const actual = crc32(records).toString(16).padStart(8, "0");
    expect(thrownError(() => readTrace(path))).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${path}: records crc32 0x00000001 in the header does not match the records' 0x${actual}`,
      details: { path, field: "crc32", value: 1, actual: crc32(records) },
    });
  });

  it.skipIf(!existsSync("/proc/self/fd"))("leaves no file open: readTraceHeader, readTrace (read or refused) and a closed TraceReader", () => {
    const good = rawTrace(recordsWith(5, {}), 16);
    const bad = rawTrace(recordsWith(5, { 3: 1 }), 16);
    const open = () => readdirSync("/proc/self/fd").length;
    const before = open();
    for (let i = 0; i < 20; i++) {
      readTraceHeader(good);
      readTrace(good);
      expect(thrownError(() => readTrace(bad))).toMatchObject({ code: "ERR_TRACE_FORMAT" });
      TraceReader.open(good).close();
    }
    expect(open() - before).toBeLessThan(5); // a leak would be 20 a call site
  });
});

describe("the writer's refusals", () => {
  it("say what they refuse", () => {
    expect(thrownError(() => new TraceWriter(tmpPath(), { guestPages: 0, ratePerSec: 1 }))).toEqual({
      code: "ERR_BAD_OPTION", message: "guestPages must be an integer in 1..2^52, got 0", details: { option: "guestPages", value: 0 },
    });
    const path = tmpPath();
    const w = new TraceWriter(path, { guestPages: 4, ratePerSec: 1 });
    expect(thrownError(() => w.append(new Uint8Array(17)))).toEqual({
      code: "ERR_LENGTH", message: `trace ${path}: 17 bytes is not a whole number of 16-byte records`, details: { bytes: 17 },
    });
    w.close();
    expect(thrownError(() => w.append(record(0n)))).toEqual({ code: "ERR_DESTROYED", message: `trace ${path}: writer is closed`, details: { path } });
  });
});
