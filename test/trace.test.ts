import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import {
  readTrace, readTraceHeader, TRACE_HEADER, TRACE_HEADER_BYTES, TraceReader, TraceWriter,
} from "../src/host/trace.js";
import { AccessGenerator, recordTrace, resolveWorkloadOptions } from "../src/host/workload.js";
import { Kernels } from "../src/wasm/kernels.js";
import { ReferenceWorkload } from "./reference/workload.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-trace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmpPath = (name = "t") => join(dir, `${name}-${fileNo++}.hmtr`);

const GUEST_PAGES = 1024;
const kernels = new Kernels(1 << 20, 16);
const desc = kernels.workloads.descAddress(0);
const out = kernels.layout.scratchBase;

function refRecords(count: number, seed = 5n, pageCount = GUEST_PAGES): Uint8Array {
  return new ReferenceWorkload({ kind: 2, seed, firstPage: 0, pageCount, writeFraction: 0.4, accessBytes: 128, p1: 0.2, p2: 0.9 }).next(count);
}

function writeTrace(path: string, records: Uint8Array, chunkRecords = 1000, ratePerSec = 250_000): void {
  const w = new TraceWriter(path, { guestPages: GUEST_PAGES, ratePerSec });
  for (let off = 0; off < records.byteLength; off += chunkRecords * 16) w.append(records.subarray(off, off + chunkRecords * 16));
  w.close();
}

function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength);
  if (Buffer.compare(actual, expected) !== 0) {
    const i = actual.findIndex((v, j) => v !== expected[j]);
    expect.fail(`first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
  }
}

function catchError(fn: () => unknown): HypermemError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HypermemError);
    return err as HypermemError;
  }
  return expect.fail("expected a HypermemError");
}

function expectTraceError(fn: () => unknown, field: string, ...parts: string[]): void {
  const e = catchError(fn);
  expect(e.code).toBe(ErrorCode.TraceFormat);
  expect(e.details.field).toBe(field);
  for (const part of parts) expect(e.message).toContain(part);
}

describe("round trip", () => {
  it("writes then reads back the same records, byte for byte, and a checked header", () => {
    const path = tmpPath();
    const records = refRecords(10_000);
    writeTrace(path, records, 777);
    expect(statSync(path).size).toBe(TRACE_HEADER_BYTES + records.byteLength);
    const { header, records: back } = readTrace(path);
    expectSameBytes(back, records);
    expect(header).toEqual({ version: 2, recordBytes: 16, guestPages: GUEST_PAGES, recordCount: 10_000, ratePerSec: 250_000, crc32: crc32(records) });
    expect(readTraceHeader(path)).toEqual(header);
    const raw = readFileSync(path);
    expect(raw.subarray(0, 4).toString("latin1")).toBe("HMTR");
    expect(raw.readBigUInt64LE(24)).toBe(10_000n);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("an empty trace is valid", () => {
    const path = tmpPath();
    writeTrace(path, new Uint8Array(0));
    const { header, records } = readTrace(path);
    expect(header.recordCount).toBe(0);
    expect(records.byteLength).toBe(0);
  });

  it("TraceReader streams the records in any batch size", () => {
    const path = tmpPath();
    const records = refRecords(5000);
    writeTrace(path, records);
    const reader = TraceReader.open(path);
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 333 + 7); // a partial record at the end is ignored
    for (let n; (n = reader.read(buf)) > 0;) parts.push(buf.slice(0, n * 16));
    expect(reader.remaining).toBe(0);
    expectSameBytes(Buffer.concat(parts), records);
    reader.rewind();
    expect(reader.position).toBe(0);
    reader.close();
    expect(catchError(() => reader.read(buf)).code).toBe(ErrorCode.Destroyed);
  });
});

describe("the writer", () => {
  it("shows nothing at the target until close, and abort leaves nothing", () => {
    const path = tmpPath();
    const w = new TraceWriter(path, { guestPages: GUEST_PAGES, ratePerSec: 1 });
    w.append(refRecords(10));
    expect(() => statSync(path)).toThrow();
    w.abort();
    expect(() => statSync(path)).toThrow();
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses a record the reader would reject, and a partial record", () => {
    const path = tmpPath();
    const w = new TraceWriter(path, { guestPages: 8, ratePerSec: 1 });
    const e = catchError(() => w.append(refRecords(100)));
    expect(e.code).toBe(ErrorCode.TraceFormat);
    expect(e.message).toMatch(/record \d+: gpa 0x[0-9a-f]+ is past the end of the 8-page guest/);
    expect(w.recordCount).toBe(0);
    expect(catchError(() => w.append(new Uint8Array(17))).code).toBe(ErrorCode.Length);
    w.abort();
  });

  it("writes mode 0o600, and a folder that is missing is ERR_FILE_IO naming the path", () => {
    const path = tmpPath();
    writeTrace(path, refRecords(10));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const missing = join(dir, "no-such-folder", "t.hmtr");
    const e = catchError(() => new TraceWriter(missing, { guestPages: GUEST_PAGES, ratePerSec: 1 }));
    expect(e.code).toBe(ErrorCode.FileIo);
    expect(e.details).toMatchObject({ path: missing, osCode: "ENOENT" });
  });

  it("rejects a rate or a guest the header cannot hold", () => {
    expect(catchError(() => new TraceWriter(tmpPath(), { guestPages: 1, ratePerSec: 2 ** 32 })).message).toContain("4294967296");
    expect(catchError(() => new TraceWriter(tmpPath(), { guestPages: 0, ratePerSec: 1 })).code).toBe(ErrorCode.BadOption);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe("replay through AccessGenerator", () => {
  it("recordTrace then replay yields the generator's records, then stops", () => {
    const path = tmpPath();
    const header = recordTrace(path, { kind: "hotcold", hotFraction: 0.2, hotProbability: 0.9, writeFraction: 0.4, writeBytes: 128, seed: 5, ratePerSec: 250_000 }, GUEST_PAGES, 9000);
    expect(header.recordCount).toBe(9000);
    expect(header.ratePerSec).toBe(250_000);
    const expected = refRecords(9000);
    expectSameBytes(readTrace(path).records, expected);

    const gen = new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, GUEST_PAGES));
    expect(gen.ratePerSec).toBe(250_000);
    expect(gen.traceHeader?.recordCount).toBe(9000);
    const parts: Uint8Array[] = [];
    let n: number;
    const sizes: number[] = [];
    while ((n = gen.fill(out, 4000)) > 0) {
      sizes.push(n);
      parts.push(kernels.heap.copyOut(out, n * 16));
    }
    expect(sizes).toEqual([4000, 4000, 1000]);
    expect(gen.fill(out, 10)).toBe(0);
    expect(gen.generated).toBe(9000);
    expect(gen.remaining).toBe(0);
    expectSameBytes(Buffer.concat(parts), expected);
    gen.close();
  });

  it("an explicit rate wins over the header's", () => {
    const path = tmpPath();
    recordTrace(path, { kind: "uniform" }, GUEST_PAGES, 10);
    const gen = new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path, ratePerSec: 42 }, GUEST_PAGES));
    expect(gen.ratePerSec).toBe(42);
    expect(gen.traceHeader?.ratePerSec).toBe(1_000_000);
    gen.close();
  });

  it("a trace with accesses past a smaller guest fails when opened", () => {
    const path = tmpPath();
    recordTrace(path, { kind: "sequential", writeBytes: 4096 }, GUEST_PAGES, 600);
    expectTraceError(() => new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, 512)), "record",
      "record 512", "gpa 0x200000", "512-page guest");
  });

  it("a record corrupted after opening is caught by the kernel check, naming the record", () => {
    const path = tmpPath();
    const records = refRecords(3000);
    writeTrace(path, records);
    const gen = new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, GUEST_PAGES));
    expect(gen.fill(out, 1000)).toBe(1000);
    const bad = Buffer.from(readFileSync(path));
    bad[TRACE_HEADER_BYTES + 2500 * 16 + 14] = 9; // op 9, same file size
    writeFileSync(path, bad);
    expectTraceError(() => gen.fill(out, 2000), "record", "record 2500", "op 9");
    gen.close();
  });

  it("a missing file is an ENOENT error, not a trace", () => {
    expect(() => new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path: join(dir, "nope") }, 8))).toThrow(/ENOENT/);
  });
});

describe("corrupt files are TraceFormat errors naming the field and value, with no partial result", () => {
  const goodPath = tmpPath("good");
  const records = refRecords(2000);
  writeTrace(goodPath, records);
  const good = readFileSync(goodPath);

  /** Writes `good` after `edit`; the header crc is recomputed, unless told not to, so that the check under test is reached. */
  function corrupt(edit: (b: Buffer) => Buffer | void, reseal = true): string {
    const b = Buffer.from(good);
    const path = tmpPath("bad");
    const out = edit(b) ?? b;
    if (reseal && out.length >= TRACE_HEADER_BYTES) out.writeUInt32LE(crc32(out.subarray(0, TRACE_HEADER_BYTES - 4)), TRACE_HEADER_BYTES - 4);
    writeFileSync(path, out);
    return path;
  }
  const at = (field: string) => TRACE_HEADER.offsetOf(field);
  /** Every reader entry point refuses the version as ERR_FORMAT_VERSION. */
  function expectAllRejectVersion(path: string, found: string, ...parts: string[]): void {
    const entries = [() => readTrace(path), () => TraceReader.open(path), () => new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, GUEST_PAGES))];
    for (const entry of entries) {
      const e = catchError(entry);
      expect(e.code).toBe(ErrorCode.FormatVersion);
      expect(e.details).toMatchObject({ format: "trace", found, supported: "2.0" });
      for (const part of parts) expect(e.message).toContain(part);
    }
  }
  /** Every reader entry point fails the same way. */
  function expectAllReject(path: string, field: string, ...parts: string[]): void {
    expectTraceError(() => readTrace(path), field, ...parts);
    expectTraceError(() => TraceReader.open(path), field, ...parts);
    expectTraceError(() => new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, GUEST_PAGES)), field, ...parts);
  }

  it("truncated inside the records", () => {
    expectAllReject(corrupt((b) => b.subarray(0, b.length - 5)), "recordCount", "truncated", "record count 2000", `file has ${good.length - 5}`);
  });
  it("truncated inside the header", () => {
    expectAllReject(corrupt((b) => b.subarray(0, 10)), "fileSize", "truncated", "file size 10");
    expectAllReject(corrupt((b) => b.subarray(0, 0)), "fileSize", "file size 0");
  });
  it("trailing bytes", () => {
    expectAllReject(corrupt((b) => Buffer.concat([b, Buffer.alloc(16)])), "recordCount", "trailing", `file has ${good.length + 16}`);
  });
  it("bad magic", () => {
    expectAllReject(corrupt((b) => { b.write("XXXX", 0, "latin1"); }), "magic", `"XXXX"`, "0x58585858");
  });
  it("bad version: another major or a newer minor", () => {
    expectAllRejectVersion(corrupt((b) => { b.writeUInt16LE(3, 4); }), "3.0", "header version 3.0 is not supported (this hypermem reads 2.0 up to minor 0)");
    expectAllRejectVersion(corrupt((b) => { b.writeUInt16LE(1, 6); }), "2.1", "version 2.1");
  });
  it("a version-1 trace (32-byte header, no header crc) is refused as an old trace version", () => {
    const v1 = Buffer.alloc(32 + 16);
    v1.write("HMTR", 0, "latin1");
    v1.writeUInt16LE(1, 4);
    v1.writeUInt16LE(16, 6);
    v1.writeBigUInt64LE(BigInt(GUEST_PAGES), 8);
    v1.writeBigUInt64LE(1n, 16);
    v1.writeUInt32LE(1000, 24);
    v1.writeUInt32LE(crc32(v1.subarray(32)), 28);
    const path = tmpPath("v1");
    writeFileSync(path, v1);
    expectAllRejectVersion(path, "1", "version 1 is an old trace version");
    const empty = tmpPath("v1-empty"); // 32 bytes: shorter than a version-2 header, still named for what it is
    writeFileSync(empty, v1.subarray(0, 32));
    expectAllRejectVersion(empty, "1", "version 1 is an old trace version");
  });
  it("a header changed without its crc", () => {
    expectAllReject(corrupt((b) => { b.writeUInt32LE(1, at("ratePerSec")); }, false), "crc", "field crc (offset 40)");
  });
  it("wrong record size", () => {
    expectAllReject(corrupt((b) => { b.writeUInt32LE(12, at("recordBytes")); }), "recordBytes", "record size 12");
  });
  it("zero guest pages", () => {
    expectAllReject(corrupt((b) => { b.writeBigUInt64LE(0n, at("guestPages")); }), "guestPages", "guest pages 0");
  });
  it("count larger than the file", () => {
    expectAllReject(corrupt((b) => { b.writeBigUInt64LE(2001n, at("recordCount")); }), "recordCount", "record count 2001");
    expectAllReject(corrupt((b) => { b.writeBigUInt64LE(1n << 62n, at("recordCount")); }), "recordCount", `record count ${1n << 62n}`);
  });
  it("crc mismatch", () => {
    const crc = good.readUInt32LE(at("recordsCrc32"));
    const path = corrupt((b) => { b[TRACE_HEADER_BYTES + 1234 * 16 + 8] ^= 1; }); // a seed bit: the record stays valid
    expectAllReject(path, "crc32", `0x${crc.toString(16).padStart(8, "0")}`);
  });
  it("zero rate", () => {
    expectAllReject(corrupt((b) => { b.writeUInt32LE(0, at("ratePerSec")); }), "ratePerSec", "rate 0");
  });
  it("a record with a gpa past the guest (CRC intact)", () => {
    const path = corrupt((b) => {
      b.writeBigUInt64LE(BigInt(GUEST_PAGES) * 4096n + 64n, TRACE_HEADER_BYTES + 1500 * 16);
      b.writeUInt32LE(crc32(b.subarray(TRACE_HEADER_BYTES)), at("recordsCrc32"));
    });
    expectAllReject(path, "record", "record 1500", `gpa 0x${(GUEST_PAGES * 4096 + 64).toString(16)}`, `${GUEST_PAGES}-page guest`);
  });
  it("a record crossing a page, and a non-zero reserved byte (CRC intact)", () => {
    const crossing = corrupt((b) => {
      b.writeBigUInt64LE(0x5f90n, TRACE_HEADER_BYTES + 7 * 16);
      b.writeUInt16LE(128, TRACE_HEADER_BYTES + 7 * 16 + 12);
      b.writeUInt32LE(crc32(b.subarray(TRACE_HEADER_BYTES)), at("recordsCrc32"));
    });
    expectAllReject(crossing, "record", "record 7", "crosses a 4 KiB page");
    const rsvd = corrupt((b) => {
      b[TRACE_HEADER_BYTES + 1999 * 16 + 15] = 3;
      b.writeUInt32LE(crc32(b.subarray(TRACE_HEADER_BYTES)), at("recordsCrc32"));
    });
    expectAllReject(rsvd, "record", "record 1999", "reserved byte is 3");
  });
});
