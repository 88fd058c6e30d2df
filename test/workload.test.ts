import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { findInvalidRecord } from "../src/host/trace.js";
import {
  AccessGenerator, parseWorkload, resolveWorkloadOptions, type WorkloadOptions,
} from "../src/host/workload.js";
import { Kernels } from "../src/wasm/kernels.js";
import {
  ReferenceWorkload, refExp, refExpm1, refLog, refLog1p, refTraceValidate, type ReferenceWorkloadParams,
} from "./reference/workload.js";

const kernels = new Kernels(1 << 20, 16);
const desc = kernels.workloads.descAddress(3);
const out = kernels.layout.scratchBase;
const MAX_BATCH = (1 << 20) / 16;

/** Runs the kernel directly: init, then batches of the given sizes; returns all the bytes. */
function wasmRecords(p: ReferenceWorkloadParams, batches: number[]): Uint8Array {
  kernels.workloads.init(desc, p.kind, p.seed, p.firstPage, p.pageCount, p.writeFraction, p.accessBytes, p.p1, p.p2);
  const parts = batches.map((n) => {
    kernels.workloads.generate(desc, out, n);
    return kernels.heap.copyOut(out, n * 16);
  });
  return Buffer.concat(parts);
}

function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength);
  if (Buffer.compare(actual, expected) !== 0) {
    const i = actual.findIndex((v, j) => v !== expected[j]);
    expect.fail(`first difference at byte ${i} (record ${i >> 4}): ${actual[i]} != ${expected[i]}`);
  }
}

function expectError(fn: () => unknown, code: ErrorCode, ...parts: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(HypermemError);
  const e = caught as HypermemError;
  expect(e.code).toBe(code);
  for (const part of parts) expect(e.message).toContain(part);
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
/** Guest page of every record (gpa below 2^52). */
function pagesOf(bytes: Uint8Array): Float64Array {
  const words = new Uint32Array(bytes.slice().buffer);
  const pages = new Float64Array(words.length / 4);
  for (let i = 0; i < pages.length; i++) pages[i] = words[i * 4 + 1] * 2 ** 20 + (words[i * 4] >>> 12);
  return pages;
}

const PAGE_COUNTS = [1, 63, 64, 65, 511, 512, 513, 100_000];
const SEEDS = [1n, 0xdeadbeefn, (1n << 64n) - 1n];

describe("wasm generators match the TypeScript reference byte for byte", () => {
  const base = { firstPage: 5, writeFraction: 0.3, accessBytes: 64, p1: 0, p2: 0 };
  const cases: [string, Partial<ReferenceWorkloadParams>][] = [
    ["uniform", { kind: 0 }],
    ["uniform, 4 KiB accesses, all writes", { kind: 0, accessBytes: 4096, writeFraction: 1 }],
    ["zipf s=0.6", { kind: 1, p1: 0.6 }],
    ["zipf s=1", { kind: 1, p1: 1 }],
    ["zipf s=1.2, 8-byte accesses", { kind: 1, p1: 1.2, accessBytes: 8 }],
    ["zipf s=3, no writes", { kind: 1, p1: 3, writeFraction: 0 }],
    ["hotcold 0.1,0.9", { kind: 2, p1: 0.1, p2: 0.9 }],
    ["hotcold 1,0.5 (no cold set)", { kind: 2, p1: 1, p2: 0.5 }],
    ["hotcold 0.5,0", { kind: 2, p1: 0.5, p2: 0 }],
    ["sequential", { kind: 3 }],
    ["sequential, 1 KiB accesses", { kind: 3, accessBytes: 1024 }],
  ];
  for (const [name, c] of cases) {
    it(name, () => {
      for (const pageCount of PAGE_COUNTS) {
        for (const seed of SEEDS) {
          const p = { ...base, ...c, pageCount, seed } as ReferenceWorkloadParams;
          // Two batches: the descriptor must carry the state across calls.
          const wasm = wasmRecords(p, [700, 1300]);
          expectSameBytes(wasm, new ReferenceWorkload(p).next(2000));
        }
      }
    });
  }

  it("fill() of an AccessGenerator gives the reference records for every kind", () => {
    const guestPages = 1000;
    const specs: WorkloadOptions[] = [
      { kind: "uniform", seed: 9 },
      { kind: "zipf", s: 1.2, seed: 9, firstPage: 100, pageCount: 513 },
      { kind: "hotcold", hotFraction: 0.2, hotProbability: 0.7, seed: 9, writeBytes: 256 },
      { kind: "sequential", seed: 9, writeFraction: 0.5, firstPage: 990 },
    ];
    for (const spec of specs) {
      const o = resolveWorkloadOptions(spec, guestPages);
      const gen = new AccessGenerator(kernels, desc, o);
      expect(gen.fill(out, 1500)).toBe(1500);
      const got = kernels.heap.copyOut(out, 1500 * 16);
      const s = o.spec;
      const ref = new ReferenceWorkload({
        kind: { uniform: 0, zipf: 1, hotcold: 2, sequential: 3, trace: -1 }[s.kind],
        seed: o.seed, firstPage: o.firstPage, pageCount: o.pageCount, writeFraction: o.writeFraction,
        accessBytes: o.writeBytes,
        p1: s.kind === "zipf" ? s.s : s.kind === "hotcold" ? s.hotFraction : 0,
        p2: s.kind === "hotcold" ? s.hotProbability : 0,
      });
      expectSameBytes(got, ref.next(1500));
      expect(gen.generated).toBe(1500);
      expect(gen.remaining).toBe(Infinity);
      expect(gen.ratePerSec).toBe(1_000_000);
    }
  });
});

describe("determinism", () => {
  const p: ReferenceWorkloadParams = { kind: 1, seed: 42n, firstPage: 0, pageCount: 4096, writeFraction: 0.3, accessBytes: 64, p1: 1.1, p2: 0 };

  it("the same seed gives the same bytes, twice", () => {
    expectSameBytes(wasmRecords(p, [5000]), wasmRecords(p, [5000]));
  });

  it("different seeds give different bytes, for every kind", () => {
    for (const kind of [0, 1, 2, 3]) {
      const a = wasmRecords({ ...p, kind, p1: kind === 2 ? 0.1 : 1.1, p2: 0.9 }, [1000]);
      const b = wasmRecords({ ...p, kind, p1: kind === 2 ? 0.1 : 1.1, p2: 0.9, seed: 43n }, [1000]);
      expect(Buffer.compare(a, b)).not.toBe(0);
    }
  });

  it("the oracle's fdlibm functions agree with Math.* within 1 ulp", () => {
    const ulps = (a: number, b: number) => {
      const bits = new BigInt64Array(new Float64Array([a, b]).buffer);
      const d = bits[0] - bits[1];
      return Number(d < 0n ? -d : d);
    };
    const xs: number[] = [];
    for (let i = 0; i < 2000; i++) xs.push(Math.exp((i - 1000) / 37)); // 1.8e-12 .. 5.6e11
    for (const x of [1, 1.5, 2.5, 1e-300, 5e-324, 1e300, Number.MAX_VALUE]) xs.push(x);
    for (const x of xs) expect(ulps(refLog(x), Math.log(x)), `log(${x})`).toBeLessThanOrEqual(1);
    const ys: number[] = [];
    for (let i = 0; i < 2000; i++) ys.push((i - 1000) / 3.7); // -270 .. 270
    for (const y of [0, 1e-10, -1e-10, 0.3, -0.3, 700, -740, 709.7]) ys.push(y);
    for (const y of ys) {
      expect(ulps(refExp(y), Math.exp(y)), `exp(${y})`).toBeLessThanOrEqual(1);
      expect(ulps(refExpm1(y), Math.expm1(y)), `expm1(${y})`).toBeLessThanOrEqual(1);
      if (y > -1) expect(ulps(refLog1p(y), Math.log1p(y)), `log1p(${y})`).toBeLessThanOrEqual(1);
    }
    expect(refLog1p(-1)).toBe(-Infinity);
    expect(refExp(1000)).toBe(Infinity);
    expect(refExp(-1000)).toBe(0);
  });
});

describe("distributions", () => {
  const N = 200_000;

  function generate(p: ReferenceWorkloadParams, count: number): Uint8Array {
    const parts: number[] = [];
    for (let left = count; left > 0; left -= MAX_BATCH) parts.push(Math.min(MAX_BATCH, left));
    return wasmRecords(p, parts);
  }

  /** Multiplier of the page scramble, as assembly/workload.ts documents it. */
  function multiplier(n: number): number {
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    let m = Math.max(1, Math.floor(n * 0.6180339887498949));
    while (gcd(m, n) !== 1) m++;
    return m;
  }

  for (const s of [1.2, 1]) {
    it(`zipf s=${s}: ranks 1 and 2 get their theoretical share`, () => {
      const n = 1000;
      const first = 50;
      const recs = generate({ kind: 1, seed: 7n, firstPage: first, pageCount: n, writeFraction: 0.3, accessBytes: 64, p1: s, p2: 0 }, N);
      let harmonic = 0;
      for (let k = 1; k <= n; k++) harmonic += k ** -s;
      const m = multiplier(n);
      const pages = pagesOf(recs);
      const counts = new Map<number, number>();
      for (const page of pages) counts.set(page, (counts.get(page) ?? 0) + 1);
      for (const rank of [1, 2]) {
        const p = rank ** -s / harmonic;
        const tolerance = 5 * Math.sqrt((p * (1 - p)) / N);
        const page = first + ((rank - 1) * m) % n;
        const share = (counts.get(page) ?? 0) / N;
        expect(Math.abs(share - p), `rank ${rank} (page ${page}) share ${share} vs ${p}`).toBeLessThan(tolerance);
      }
      // The hottest pages are spread over the range, not packed at its start.
      const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([page]) => page);
      expect(Math.max(...top) - Math.min(...top)).toBeGreaterThan(n / 2);
      expect(Math.min(...counts.keys())).toBeGreaterThanOrEqual(first);
      expect(Math.max(...counts.keys())).toBeLessThan(first + n);
    });
  }

  it("hotcold 0.1,0.8: the hot tenth of the pages gets 80% of the accesses", () => {
    const n = 1000;
    const recs = generate({ kind: 2, seed: 11n, firstPage: 0, pageCount: n, writeFraction: 0.3, accessBytes: 64, p1: 0.1, p2: 0.8 }, N);
    const m = multiplier(n);
    const hot = new Set<number>();
    for (let j = 0; j < 100; j++) hot.add((j * m) % n);
    const seenHot = new Set<number>();
    let hits = 0;
    for (const page of pagesOf(recs)) {
      if (hot.has(page)) {
        hits++;
        seenHot.add(page);
      }
    }
    expect(Math.abs(hits / N - 0.8)).toBeLessThan(5 * Math.sqrt((0.8 * 0.2) / N));
    expect(seenHot.size).toBe(100);
  });

  it("writeFraction: 0.3 within tolerance; 0 and 1 exactly", () => {
    for (const [wf, lo, hi] of [[0.3, 0.29, 0.31], [0, 0, 0], [1, 1, 1]]) {
      const recs = generate({ kind: 0, seed: 3n, firstPage: 0, pageCount: 512, writeFraction: wf, accessBytes: 64, p1: 0, p2: 0 }, 50_000);
      let writes = 0;
      for (let i = 0; i < 50_000; i++) writes += recs[i * 16 + 14];
      expect(writes / 50_000).toBeGreaterThanOrEqual(lo);
      expect(writes / 50_000).toBeLessThanOrEqual(hi);
    }
  });

  it("uniform: every page within 20% of its expected count, offsets aligned", () => {
    const n = 64;
    const recs = generate({ kind: 0, seed: 5n, firstPage: 0, pageCount: n, writeFraction: 0.3, accessBytes: 256, p1: 0, p2: 0 }, 64_000);
    const counts = new Array<number>(n).fill(0);
    const slots = new Array<number>(16).fill(0);
    const v = view(recs);
    let misaligned = 0;
    let wrongLength = 0;
    for (let i = 0; i < 64_000; i++) {
      counts[v.getUint32(i * 16 + 0, true) >>> 12]++;
      const offset = v.getUint32(i * 16, true) & 4095;
      if (offset % 256 !== 0) misaligned++;
      slots[offset >>> 8]++;
      if (v.getUint16(i * 16 + 12, true) !== 256) wrongLength++;
    }
    expect(misaligned).toBe(0);
    expect(wrongLength).toBe(0);
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(200);
    for (const c of slots) expect(Math.abs(c - 4000)).toBeLessThan(400);
  });

  it("sequential: visits the pages in order, slot by slot, and wraps", () => {
    const n = 5;
    const first = 10;
    const recs = generate({ kind: 3, seed: 1n, firstPage: first, pageCount: n, writeFraction: 0.3, accessBytes: 1024, p1: 0, p2: 0 }, 50);
    for (let i = 0; i < 50; i++) {
      const gpa = Number(view(recs).getBigUint64(i * 16, true));
      expect(gpa).toBe((first + (Math.floor(i / 4) % n)) * 4096 + (i % 4) * 1024);
    }
  });

  it("every generated record is valid for the guest; the kernel and the TS check agree", () => {
    for (const kind of [0, 1, 2, 3]) {
      for (const accessBytes of [8, 512, 4096]) {
        const p = { kind, seed: 77n, firstPage: 100, pageCount: 413, writeFraction: 0.5, accessBytes, p1: kind === 2 ? 0.3 : 0.9, p2: 0.6 };
        wasmRecords(p, [10_000]);
        expect(kernels.workloads.traceValidate(out, 10_000, 513)).toBe(10_000);
        expect(findInvalidRecord(kernels.heap.copyOut(out, 10_000 * 16), 513)).toBe(10_000);
      }
    }
  });
});

describe("traceValidate", () => {
  function record(gpa: bigint, length: number, op = 0, rsvd = 0): Uint8Array {
    const r = new Uint8Array(16);
    const v = view(r);
    v.setBigUint64(0, gpa, true);
    v.setUint32(8, 0x1234, true);
    v.setUint16(12, length, true);
    v.setUint8(14, op);
    v.setUint8(15, rsvd);
    return r;
  }
  const good = record(0x3000n, 64, 1);
  const bad: [string, Uint8Array][] = [
    ["gpa past the guest", record(16n * 4096n, 8)],
    ["gpa far past the guest", record(0xffff_ffff_ffff_f000n, 8)],
    ["length 0", record(0x1000n, 0)],
    ["length 4097", record(0x1000n, 4097)],
    ["crossing a page", record(0x1ff8n, 16)],
    ["op 2", record(0x1000n, 8, 2)],
    ["rsvd 1", record(0x1000n, 8, 0, 1)],
  ];
  for (const [name, rec] of bad) {
    it(`finds ${name} at its index`, () => {
      const batch = Buffer.concat([good, good, good, rec, good]);
      kernels.heap.copyIn(out, batch);
      expect(kernels.workloads.traceValidate(out, 5, 16)).toBe(3);
      expect(refTraceValidate(batch, 16)).toBe(3);
      expect(findInvalidRecord(batch, 16)).toBe(3);
    });
  }
  it("accepts a full-page access and the last byte of the guest", () => {
    const batch = Buffer.concat([record(0xf000n, 4096), record(0xfff8n, 8, 1)]);
    kernels.heap.copyIn(out, batch);
    expect(kernels.workloads.traceValidate(out, 2, 16)).toBe(2);
    expect(kernels.workloads.traceValidate(out, 0, 16)).toBe(0);
  });
});

describe("kernel parameter checks", () => {
  it("rejects accessBytes that is not a power of two in 8..4096", () => {
    for (const ab of [0, 4, 12, 8192]) {
      expectError(() => kernels.workloads.init(desc, 0, 1n, 0, 10, 0.3, ab, 0, 0), ErrorCode.BadAccess);
    }
  });
  it("rejects an empty or oversized page range and bad parameters", () => {
    expectError(() => kernels.workloads.init(desc, 0, 1n, 0, 0, 0.3, 64, 0, 0), ErrorCode.GpaRange);
    expectError(() => kernels.workloads.init(desc, 0, 1n, 0, 2 ** 32 + 1, 0.3, 64, 0, 0), ErrorCode.GpaRange);
    expectError(() => kernels.workloads.init(desc, 1, 1n, 0, 10, 0.3, 64, 0, 0), ErrorCode.BadAccess);
    expectError(() => kernels.workloads.init(desc, 2, 1n, 0, 10, 0.3, 64, 0, 1.5), ErrorCode.BadAccess);
    expectError(() => kernels.workloads.init(desc, 4, 1n, 0, 10, 0.3, 64, 0, 0), ErrorCode.BadAccess);
    expectError(() => kernels.workloads.init(desc, 0, 1n, 0, 10, Number.NaN, 64, 0, 0), ErrorCode.BadAccess);
  });
});

describe("resolveWorkloadOptions", () => {
  it("fills the defaults, freezes the result and leaves the input alone", () => {
    const input = { kind: "zipf", s: 1.1 } as const;
    const copy = structuredClone(input);
    const o = resolveWorkloadOptions(input, 1000);
    expect(o).toEqual({
      spec: { kind: "zipf", s: 1.1 }, ratePerSec: 1_000_000, writeFraction: 0.3, writeBytes: 64,
      seed: 1n, firstPage: 0, pageCount: 1000, guestPages: 1000,
    });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.spec)).toBe(true);
    expect(input).toEqual(copy);
    expect(Object.isFrozen(input)).toBe(false);
  });

  it("takes explicit values, undefined as absent, and a bigint seed", () => {
    const o = resolveWorkloadOptions({
      kind: "hotcold", hotFraction: 0.25, hotProbability: 0.75, ratePerSec: 5000, writeFraction: 1,
      writeBytes: 4096, seed: (1n << 64n) - 1n, firstPage: 10, pageCount: 90, s: undefined,
    } as WorkloadOptions, 100);
    expect(o).toMatchObject({ ratePerSec: 5000, writeFraction: 1, writeBytes: 4096, seed: (1n << 64n) - 1n, firstPage: 10, pageCount: 90 });
    expect(resolveWorkloadOptions({ kind: "uniform", firstPage: 30 }, 100).pageCount).toBe(70);
  });

  it("leaves a trace's rate to its header unless given", () => {
    expect(resolveWorkloadOptions({ kind: "trace", path: "/x" }, 10).ratePerSec).toBeNull();
    expect(resolveWorkloadOptions({ kind: "trace", path: "/x", ratePerSec: 7 }, 10).ratePerSec).toBe(7);
  });

  it("rejects unknown keys with UnknownOption", () => {
    expectError(() => resolveWorkloadOptions({ kind: "uniform", rate: 5 } as unknown as WorkloadOptions, 10), ErrorCode.UnknownOption, `"rate"`);
    expectError(() => resolveWorkloadOptions({ kind: "uniform", s: 1.2 } as unknown as WorkloadOptions, 10), ErrorCode.UnknownOption, `"s"`, "uniform");
    expectError(() => resolveWorkloadOptions({ kind: "zipf", s: 1, hotFraction: 0.1 } as unknown as WorkloadOptions, 10), ErrorCode.UnknownOption, "hotFraction");
  });

  const bad: [string, WorkloadOptions | Record<string, unknown>, number, string[]][] = [
    ["kind", { kind: "zipfian" }, 10, ["kind", `"zipfian"`]],
    ["s = 0", { kind: "zipf", s: 0 }, 10, ["s must be", "got 0"]],
    ["s missing", { kind: "zipf" }, 10, ["s must be", "got undefined"]],
    ["s = Infinity", { kind: "zipf", s: Infinity }, 10, ["got Infinity"]],
    ["hotFraction 0", { kind: "hotcold", hotFraction: 0, hotProbability: 0.5 }, 10, ["hotFraction", "got 0"]],
    ["hotProbability 1.5", { kind: "hotcold", hotFraction: 0.5, hotProbability: 1.5 }, 10, ["hotProbability", "got 1.5"]],
    ["trace path", { kind: "trace", path: "" }, 10, ["path", `got ""`]],
    ["ratePerSec 0", { kind: "uniform", ratePerSec: 0 }, 10, ["ratePerSec", "got 0"]],
    ["ratePerSec 1.5", { kind: "uniform", ratePerSec: 1.5 }, 10, ["ratePerSec", "got 1.5"]],
    ["writeFraction -0.1", { kind: "uniform", writeFraction: -0.1 }, 10, ["writeFraction", "got -0.1"]],
    ["writeFraction NaN", { kind: "uniform", writeFraction: Number.NaN }, 10, ["writeFraction", "got NaN"]],
    ["writeBytes 48", { kind: "uniform", writeBytes: 48 }, 10, ["writeBytes", "got 48"]],
    ["writeBytes 8192", { kind: "uniform", writeBytes: 8192 }, 10, ["writeBytes", "got 8192"]],
    ["writeBytes 4", { kind: "uniform", writeBytes: 4 }, 10, ["writeBytes", "got 4"]],
    ["seed -1", { kind: "uniform", seed: -1 }, 10, ["seed", "got -1"]],
    ["seed 1.5", { kind: "uniform", seed: 1.5 }, 10, ["seed", "got 1.5"]],
    ["seed 2^64", { kind: "uniform", seed: 1n << 64n }, 10, ["seed", "got 18446744073709551616"]],
    ["firstPage past the guest", { kind: "uniform", firstPage: 10 }, 10, ["firstPage", "got 10"]],
    ["pageCount past the guest", { kind: "uniform", firstPage: 4, pageCount: 7 }, 10, ["pageCount", "got 7"]],
    ["pageCount 0", { kind: "uniform", pageCount: 0 }, 10, ["pageCount", "got 0"]],
    ["pageCount above 2^32", { kind: "uniform", pageCount: 2 ** 32 + 1 }, 2 ** 33, ["pageCount", "got 4294967297"]],
    ["guestPages 0", { kind: "uniform" }, 0, ["guestPages", "got 0"]],
    ["seed on a trace", { kind: "trace", path: "/x", seed: 3 }, 10, ["seed", "trace", "3"]],
    ["writeFraction on a trace", { kind: "trace", path: "/x", writeFraction: 0.5 }, 10, ["writeFraction", "0.5"]],
  ];
  for (const [name, opts, guestPages, parts] of bad) {
    it(`rejects ${name} with BadOption naming the value`, () => {
      expectError(() => resolveWorkloadOptions(opts as WorkloadOptions, guestPages), ErrorCode.BadOption, ...parts);
    });
  }
});

describe("parseWorkload", () => {
  it("parses every kind", () => {
    expect(parseWorkload("uniform")).toEqual({ kind: "uniform" });
    expect(parseWorkload("sequential")).toEqual({ kind: "sequential" });
    expect(parseWorkload("zipf:1.2")).toEqual({ kind: "zipf", s: 1.2 });
    expect(parseWorkload("zipf:1")).toEqual({ kind: "zipf", s: 1 });
    expect(parseWorkload("zipf:.5e0")).toEqual({ kind: "zipf", s: 0.5 });
    expect(parseWorkload("hotcold:0.1,0.9")).toEqual({ kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 });
    expect(parseWorkload("trace:/tmp/a:b.hmtr")).toEqual({ kind: "trace", path: "/tmp/a:b.hmtr" });
  });
  for (const text of ["", "Uniform", "zipf", "zipf:", "zipf:0", "zipf:-1", "zipf:abc", "zipf:1.2x", "zipf:0x10", "zipf:Infinity",
    "hotcold:0.1", "hotcold:0,0.5", "hotcold:0.1,2", "hotcold:0.1,0.9,3", "uniform:3", "sequential:1", "trace:", "random"]) {
    it(`rejects ${JSON.stringify(text)} naming the text`, () => {
      expectError(() => parseWorkload(text), ErrorCode.BadOption, JSON.stringify(text));
    });
  }
});

describe("AccessGenerator", () => {
  it("checks the descriptor slot, the count and the output range", () => {
    const o = resolveWorkloadOptions({ kind: "uniform" }, 100);
    expectError(() => new AccessGenerator(kernels, desc + 8, o), ErrorCode.BadOption, "descPtr");
    expectError(() => new AccessGenerator(kernels, kernels.workloads.descAddress(255) + 128, o), ErrorCode.BadOption, "descPtr");
    expectError(() => kernels.workloads.descAddress(256), ErrorCode.BadOption, "256");
    const gen = new AccessGenerator(kernels, desc, o);
    expectError(() => gen.fill(out, -1), ErrorCode.BadOption, "-1");
    expectError(() => gen.fill(kernels.heap.byteLength - 16, 2), ErrorCode.Length, "2 records");
    expect(gen.fill(out, 0)).toBe(0);
  });

  it("generators in different slots do not disturb each other", () => {
    const a = new AccessGenerator(kernels, kernels.workloads.descAddress(0), resolveWorkloadOptions({ kind: "zipf", s: 1.3, seed: 1 }, 500));
    const first = (() => { a.fill(out, 100); return kernels.heap.copyOut(out, 1600); })();
    const a2 = new AccessGenerator(kernels, kernels.workloads.descAddress(0), resolveWorkloadOptions({ kind: "zipf", s: 1.3, seed: 1 }, 500));
    const b = new AccessGenerator(kernels, kernels.workloads.descAddress(1), resolveWorkloadOptions({ kind: "uniform", seed: 1 }, 500));
    a2.fill(out, 50);
    const x = kernels.heap.copyOut(out, 800);
    b.fill(out, 1000);
    a2.fill(out, 50);
    expectSameBytes(Buffer.concat([x, kernels.heap.copyOut(out, 800)]), first);
  });
});
