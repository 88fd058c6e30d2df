// `hypermem trace record` and `hypermem trace info`: a recorded trace has the
// header the options ask for and the accesses the library records for them,
// info reports it and catches a corrupted file (exit 1), and
// `migrate --workload trace:FILE` replays it end to end.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCliCaptured as run } from "./cli-capture.js";
import { readTrace, readTraceHeader, TRACE_HEADER_BYTES } from "../src/host/trace.js";
import { recordTrace } from "../src/host/workload.js";


const dir = mkdtempSync(join(tmpdir(), "hypermem-cli-trace-"));

describe("trace record", () => {
  it("records rate × duration accesses: the same file the library records for those options", async () => {
    const out = join(dir, "zipf.hmtr");
    const r = await run(["trace", "record", "--workload", "zipf:1.2", "--duration", "500ms", "--rate", "200000", "--guest", "16MiB", "--write-fraction", "0.5", "--seed", "9", "--out", out, "--json"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`recording 100,000 accesses (1.53 MiB) of zipf:1.2 into ${out}\n`);
    const header = readTraceHeader(out);
    expect(header).toMatchObject({ version: 2, recordBytes: 16, guestPages: 4096, recordCount: 100_000, ratePerSec: 200_000 });
    expect(JSON.parse(r.stdout)).toMatchObject({ path: out, ...header, durationSec: 0.5 });
    const oracle = join(dir, "zipf-oracle.hmtr");
    recordTrace(oracle, { kind: "zipf", s: 1.2, ratePerSec: 200_000, writeFraction: 0.5, writeBytes: 64, seed: 9 }, 4096, 100_000);
    expect(Buffer.compare(readFileSync(out), readFileSync(oracle))).toBe(0);
  });

  it("--workload-pages keeps every access in the first pages; a different seed records different accesses", async () => {
    const out = join(dir, "range.hmtr");
    expect((await run(["trace", "record", "--workload", "uniform", "--duration", "10ms", "--guest", "1GiB", "--workload-pages", "16", "--out", out])).status).toBe(0);
    const { header, records } = readTrace(out);
    expect(header.recordCount).toBe(10_000);
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    const pages = new Set<number>();
    for (let i = 0; i < header.recordCount; i++) pages.add(Number(view.getBigUint64(i * 16, true) >> 12n));
    expect(Math.max(...pages)).toBe(15);
    expect(pages.size).toBe(16);
    const other = join(dir, "range-seed2.hmtr");
    await run(["trace", "record", "--workload", "uniform", "--duration", "10ms", "--guest", "1GiB", "--workload-pages", "16", "--seed", "2", "--out", other]);
    expect(readTraceHeader(other).crc32).not.toBe(header.crc32);
  });

  it("re-records a trace at another rate; the accesses stay the same", async () => {
    const source = join(dir, "source.hmtr");
    recordTrace(source, { kind: "sequential", ratePerSec: 1000, writeFraction: 1 }, 256, 2000);
    const out = join(dir, "rerecorded.hmtr");
    const r = await run(["trace", "record", "--workload", `trace:${source}`, "--guest", "1MiB", "--duration", "1s", "--rate", "2000", "--out", out]);
    expect(r.status).toBe(0);
    expect(readTraceHeader(out)).toMatchObject({ ratePerSec: 2000, recordCount: 2000, guestPages: 256 });
    expect(Buffer.compare(readTrace(out).records, readTrace(source).records)).toBe(0);
  });
});

describe("trace info", () => {
  const path = join(dir, "info.hmtr");
  const make = (): void => { recordTrace(path, { kind: "uniform", ratePerSec: 4000, seed: 5 }, 1024, 6000); };

  it("prints the header, the duration at the recorded rate and a passing check", async () => {
    make();
    const h = readTraceHeader(path);
    const text = await run(["trace", "info", path]);
    expect(text.status).toBe(0);
    expect(text.stdout).toBe([
      `trace ${path}`,
      "  format      HMTR version 2, 16-byte records",
      "  guest       4.00 MiB (1,024 pages)",
      "  records     6,000 accesses (93.8 KiB file)",
      "  rate        4,000 accesses/s",
      "  duration    1.500 s at the recorded rate",
      `  crc32       0x${h.crc32.toString(16).padStart(8, "0")}`,
      "  check       ok: CRC-32 and every record checked",
      "",
    ].join("\n"));
    const json = await run(["trace", "info", path, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ path, ...h, durationSec: 1.5, verified: true });
  });

  it("a corrupted record fails the CRC check: exit 1, and migrate refuses the trace before any work", async () => {
    make();
    const bytes = readFileSync(path);
    bytes[TRACE_HEADER_BYTES + 16 * 100 + 8] ^= 0xff; // the seed of record 100: still a valid access
    writeFileSync(path, bytes);
    const r = await run(["trace", "info", path, "--json"]);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.verified).toBe(false);
    expect(out.error.code).toBe("ERR_TRACE_FORMAT");
    expect(out.error.message).toMatch(/crc32 0x[0-9a-f]{8} in the header does not match the records' 0x[0-9a-f]{8}/);
    const text = await run(["trace", "info", path]);
    expect(text.stdout).toMatch(/^ {2}check {7}FAILED: ERR_TRACE_FORMAT: trace .*crc32/m);
    const m = await run(["migrate", "--guest", "4MiB", "--workload", `trace:${path}`]);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(new RegExp(`^hypermem migrate: --workload trace:${path}: trace ${path}: records crc32 `));
  });

  it("a file cut short is refused naming FILE", async () => {
    make();
    writeFileSync(path, readFileSync(path).subarray(0, 1000));
    const r = await run(["trace", "info", path]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`hypermem trace info: FILE ${path}: trace ${path}: truncated: record count 6000 needs ${44 + 6000 * 16} bytes but the file has 1000\n`);
  });
});

describe("record → info → migrate --workload trace:FILE", () => {
  it("replays the recorded trace on a small guest, verified, at the recorded rate", async () => {
    const out = join(dir, "e2e.hmtr");
    expect((await run(["trace", "record", "--workload", "hotcold:0.2,0.9", "--duration", "1s", "--rate", "100000", "--guest", "8MiB", "--write-fraction", "0.6", "--out", out])).status).toBe(0);
    const info = JSON.parse((await run(["trace", "info", out, "--json"])).stdout);
    expect(info).toMatchObject({ guestPages: 2048, recordCount: 100_000, ratePerSec: 100_000, verified: true });
    const m = await run(["migrate", "--guest", "8MiB", "--workload", `trace:${out}`, "--bandwidth", "1Gbit", "--json"]);
    expect(m.status).toBe(0);
    const result = JSON.parse(m.stdout);
    expect(result.status).toBe("completed");
    expect(result.verification).toMatchObject({ ok: true, pagesCompared: 2048 });
    expect(result.ram.total).toBe(8 * 2 ** 20);
    // Too small a guest for the trace's accesses: refused while parsing, naming the record.
    const small = await run(["migrate", "--guest", "4MiB", "--workload", `trace:${out}`]);
    expect(small.status).toBe(2);
    expect(small.stderr).toMatch(new RegExp(`^hypermem migrate: --workload trace:${out}: trace ${out}: record \\d+: gpa 0x[0-9a-f]+ is past the end of the 1024-page guest\\n$`));
  });
});
