// The rules of src/host/workload.ts where a mutation run (issue 19) found
// no test looking: each option of resolveWorkloadOptions accepted at its
// limits and refused just past them, with the exact message and details;
// parseWorkload's exact complaints; AccessGenerator's count and output
// checks at their limits, save and restore going back to the same records,
// a trace replay refusing both, the record a kernel check names, and its
// file closed by close(); recordTrace's count, a trace source shorter than
// the count, and no file left open.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readTrace, TRACE_HEADER_BYTES } from "../src/host/trace.js";
import {
  AccessGenerator, parseWorkload, recordTrace, resolveWorkloadOptions, type WorkloadOptions,
} from "../src/host/workload.js";
import { Kernels } from "../src/wasm/kernels.js";
import { thrownError } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-workload-rules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmpPath = () => join(dir, `w-${fileNo++}.hmtr`);

const kernels = new Kernels(1 << 20, 16);
const desc = kernels.workloads.descAddress(0);
const out = kernels.layout.scratchBase;
const openFiles = () => readdirSync("/proc/self/fd").length;

describe("resolveWorkloadOptions", () => {
  const refused: [WorkloadOptions | unknown, number, string, Record<string, unknown>][] = [
    [null, 10, "workload options must be an object, got null", { option: "workload options", value: null }],
    ["uniform", 10, `workload options must be an object, got "uniform"`, { option: "workload options", value: "uniform" }],
    [{ kind: "zipfian" }, 10, `kind must be one of uniform, zipf, hotcold, sequential, trace, got "zipfian"`, { option: "kind", value: "zipfian" }],
    [{ kind: "zipf", s: 0 }, 10, "s must be a finite number > 0, got 0", { option: "s", value: 0 }],
    [{ kind: "hotcold", hotFraction: 1.5, hotProbability: 0.5 }, 10, "hotFraction must be a number in (0, 1], got 1.5", { option: "hotFraction", value: 1.5 }],
    [{ kind: "hotcold", hotFraction: 0.5, hotProbability: -0.5 }, 10, "hotProbability must be a number in [0, 1], got -0.5", { option: "hotProbability", value: -0.5 }],
    [{ kind: "trace", path: 5 }, 10, "path must be a non-empty file path, got 5", { option: "path", value: 5 }],
    [{ kind: "uniform" }, 0, "guestPages must be an integer in 1..2^52, got 0", { option: "guestPages", value: 0 }],
    [{ kind: "uniform" }, 2 ** 52 + 1, "guestPages must be an integer in 1..2^52, got 4503599627370497", { option: "guestPages", value: 2 ** 52 + 1 }],
    [{ kind: "uniform", ratePerSec: 2 ** 32 }, 10, "ratePerSec must be an integer in 1..4294967295, got 4294967296", { option: "ratePerSec", value: 2 ** 32 }],
    [{ kind: "uniform", writeFraction: "0.5" }, 10, `writeFraction must be a number in [0, 1], got "0.5"`, { option: "writeFraction", value: "0.5" }],
    [{ kind: "uniform", writeBytes: 8.5 }, 10, "writeBytes must be a power of two in 8..4096, got 8.5", { option: "writeBytes", value: 8.5 }],
    [{ kind: "uniform", seed: -1n }, 10, "seed must be an integer in 0..2^64-1 (a safe integer or a bigint), got -1", { option: "seed", value: -1n }],
    [{ kind: "uniform", firstPage: 1.5 }, 10, "firstPage must be an integer in 0..9 (the guest has 10 pages), got 1.5", { option: "firstPage", value: 1.5 }],
    [{ kind: "uniform", firstPage: -1 }, 10, "firstPage must be an integer in 0..9 (the guest has 10 pages), got -1", { option: "firstPage", value: -1 }],
    [{ kind: "uniform", firstPage: 4, pageCount: 7 }, 10, "pageCount must be an integer in 1..6 (guest of 10 pages from page 4), got 7", { option: "pageCount", value: 7 }],
    [{ kind: "uniform", pageCount: 2 ** 32 + 1 }, 2 ** 33, "pageCount must be an integer in 1..4294967296 (guest of 8589934592 pages from page 0), got 4294967297",
      { option: "pageCount", value: 2 ** 32 + 1 }],
  ];
  for (const [options, guestPages, message, details] of refused) {
    it(`refuses ${message}`, () => {
      expect(thrownError(() => resolveWorkloadOptions(options as WorkloadOptions, guestPages))).toEqual({ code: "ERR_BAD_OPTION", message, details });
    });
  }

  it("names an unknown key and its kind, and a common option a trace does not take", () => {
    expect(thrownError(() => resolveWorkloadOptions({ kind: "uniform", rate: 5 } as unknown as WorkloadOptions, 10))).toEqual({
      code: "ERR_UNKNOWN_OPTION", message: `unknown workload option "rate" for kind uniform`, details: { option: "rate", kind: "uniform" },
    });
    expect(thrownError(() => resolveWorkloadOptions({ kind: "trace", path: "/x", seed: 3 }, 10))).toEqual({
      code: "ERR_BAD_OPTION", message: "seed does not apply to a trace replay (got 3)", details: { option: "seed", value: 3 },
    });
  });

  it("takes every option at its limits", () => {
    expect(resolveWorkloadOptions({ kind: "hotcold", hotFraction: 1, hotProbability: 0, writeFraction: 0, seed: 0n, ratePerSec: 1, writeBytes: 8, pageCount: 1 }, 1))
      .toMatchObject({ spec: { kind: "hotcold", hotFraction: 1, hotProbability: 0 }, writeFraction: 0, seed: 0n, ratePerSec: 1, writeBytes: 8, pageCount: 1, guestPages: 1 });
    expect(resolveWorkloadOptions({ kind: "uniform", seed: 0, ratePerSec: 0xffffffff }, 2 ** 52))
      .toMatchObject({ seed: 0n, ratePerSec: 0xffffffff, pageCount: 2 ** 32, guestPages: 2 ** 52 });
    expect(resolveWorkloadOptions({ kind: "uniform", pageCount: 2 ** 32 }, 2 ** 33).pageCount).toBe(2 ** 32);
  });
});

describe("parseWorkload", () => {
  const complaints: [unknown, string][] = [
    [5, "not a string"],
    [":x", `unknown kind ""`],
    ["random", `unknown kind "random"`],
    ["zipf", "zipf needs an exponent, as in zipf:1.2"],
    ["zipf:0", `exponent "0" is not a number > 0`],
    ["hotcold", "hotcold needs a hot fraction and a probability, as in hotcold:0.1,0.9"],
    ["hotcold:0,0.5", `hot fraction "0" is not a number in (0, 1]`],
    ["hotcold:0.1,2", `hot probability "2" is not a number in [0, 1]`],
    ["uniform:3", "uniform takes no parameter"],
    ["trace:", "trace needs a file, as in trace:run.hmtr"],
  ];
  for (const [text, why] of complaints) {
    it(`refuses ${JSON.stringify(text)}: ${why}`, () => {
      expect(thrownError(() => parseWorkload(text as string))).toEqual({
        code: "ERR_BAD_OPTION", message: `bad workload ${JSON.stringify(text)}: ${why} (expected uniform, zipf:S, hotcold:F,P, sequential or trace:FILE)`,
        details: { option: "workload", value: text },
      });
    });
  }
});

/** A trace of the first `count` accesses of a uniform workload on a 64-page guest. */
function uniformTrace(count: number): string {
  const path = tmpPath();
  recordTrace(path, { kind: "uniform", seed: 3 }, 64, count);
  return path;
}

describe("AccessGenerator", () => {
  it("refuses a descriptor address, naming the rule", () => {
    expect(thrownError(() => new AccessGenerator(kernels, desc + 8, resolveWorkloadOptions({ kind: "uniform" }, 10)))).toEqual({
      code: "ERR_BAD_OPTION", message: `descPtr must be the address of a workload descriptor slot (see kernels.workloads.descAddress), got ${desc + 8}`,
      details: { option: "descPtr", value: desc + 8 },
    });
  });

  it("fill takes counts up to 2^32 - 1 and outputs inside linear memory, to its last byte", () => {
    const k = new Kernels(1 << 16, 16);
    const gen = new AccessGenerator(k, k.workloads.descAddress(0), resolveWorkloadOptions({ kind: "uniform" }, 10));
    const end = k.heap.byteLength;
    expect(gen.traceHeader).toBeNull();
    expect(gen.remaining).toBe(Infinity);
    expect(thrownError(() => gen.fill(out, 2 ** 32))).toEqual({
      code: "ERR_BAD_OPTION", message: "count must be an integer in 0..2^32-1, got 4294967296", details: { option: "count", value: 2 ** 32 },
    });
    expect(thrownError(() => gen.fill(16, 2 ** 32 - 1))).toEqual({
      code: "ERR_LENGTH", message: `fill of 4294967295 records at 16 runs past linear memory (${end} bytes)`, details: { outPtr: 16, count: 2 ** 32 - 1 },
    });
    for (const ptr of [-16, 1.5, end - 15]) expect(thrownError(() => gen.fill(ptr, 1))).toMatchObject({ code: "ERR_LENGTH", details: { outPtr: ptr, count: 1 } });
    expect(gen.fill(0, 0)).toBe(0);
    expect(gen.fill(end - 16, 1)).toBe(1);
    expect(gen.generated).toBe(1);
  });

  it("restore goes back to the saved records and count", () => {
    const gen = new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "zipf", s: 1.1, seed: 9 }, 500));
    gen.fill(out, 10);
    const saved = gen.save();
    expect(saved.generated).toBe(10);
    gen.fill(out, 100);
    const first = kernels.heap.copyOut(out, 1600);
    gen.fill(out, 100);
    gen.restore(saved);
    expect(gen.generated).toBe(10);
    gen.fill(out, 100);
    expect(Buffer.compare(kernels.heap.copyOut(out, 1600), first)).toBe(0);
    expect(gen.generated).toBe(110);
  });

  it("a trace replay has no state to save or restore, and close() releases its file", () => {
    const path = uniformTrace(10);
    const gen = new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, 64));
    const state = { desc: new Uint8Array(0), generated: 0 };
    expect(thrownError(() => gen.save())).toEqual({
      code: "ERR_BAD_OPTION", message: `a trace replay (${path}) has no generator state to save`, details: { option: "kind", value: "trace" },
    });
    expect(thrownError(() => gen.restore(state))).toEqual({
      code: "ERR_BAD_OPTION", message: `a trace replay (${path}) has no generator state to restore`, details: { option: "kind", value: "trace" },
    });
    gen.close();
    expect(thrownError(() => gen.fill(out, 1))).toMatchObject({ code: "ERR_DESTROYED" });
  });

  it.skipIf(!existsSync("/proc/self/fd"))("close() of trace replays leaves no file open", () => {
    const path = uniformTrace(10);
    const before = openFiles();
    for (let i = 0; i < 20; i++) new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, 64)).close();
    expect(openFiles() - before).toBeLessThan(5); // a leak would be 20
  });

  it("a record the kernel refuses after opening is named by its index in the trace", () => {
    const path = uniformTrace(3000);
    const gen = new AccessGenerator(kernels, desc, resolveWorkloadOptions({ kind: "trace", path }, 64));
    expect(gen.fill(out, 1000)).toBe(1000);
    const bad = Buffer.from(readFileSync(path));
    bad[TRACE_HEADER_BYTES + 2500 * 16 + 15] = 4; // rsvd 4, same size
    writeFileSync(path, bad);
    expect(thrownError(() => gen.fill(out, 2000))).toEqual({
      code: "ERR_TRACE_FORMAT", message: `trace ${path}: record 2500: reserved byte is 4, not 0`,
      details: { path, field: "record", record: 2500, guestPages: 64 },
    });
    gen.close();
  });
});

describe("recordTrace", () => {
  it("takes a count of 0 and refuses one that is negative or not an integer", () => {
    expect(recordTrace(tmpPath(), { kind: "uniform" }, 8, 0).recordCount).toBe(0);
    for (const count of [-1, 1.5]) {
      expect(thrownError(() => recordTrace(tmpPath(), { kind: "uniform" }, 8, count))).toEqual({
        code: "ERR_BAD_OPTION", message: `count must be a non-negative integer, got ${count}`, details: { option: "count", value: count },
      });
    }
  });

  it("ends early at the end of a trace source shorter than the count, with its records", () => {
    const source = uniformTrace(10);
    const copy = tmpPath();
    expect(recordTrace(copy, { kind: "trace", path: source }, 64, 100).recordCount).toBe(10);
    expect(Buffer.compare(readTrace(copy).records, readTrace(source).records)).toBe(0);
  });

  it.skipIf(!existsSync("/proc/self/fd"))("leaves no file open when it replays a trace", () => {
    const source = uniformTrace(10);
    const before = openFiles();
    for (let i = 0; i < 20; i++) recordTrace(tmpPath(), { kind: "trace", path: source }, 64, 5);
    expect(openFiles() - before).toBeLessThan(5); // a leak would be 20
  });
});
