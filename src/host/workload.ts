// Guest workloads: what a vCPU touches. A WorkloadSpec names the access
// pattern (uniform, Zipf, hot/cold, sequential sweep, or the replay of a
// trace file); resolveWorkloadOptions() checks it with the common options
// once; an AccessGenerator then fills batches of 16-byte access records
// (assembly/mmu.ts) for the MMU. The random patterns run in wasm
// (assembly/workload.ts, whose header documents every draw); the same seed
// gives the same records on every machine.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Persist } from "../format/persist.js";
import { ACCESS_BYTES } from "../wasm/codes.js";
import { Kernels } from "../wasm/kernels.js";
import { describeInvalidRecord, TRACE_MAX_GUEST_PAGES, TraceReader, TraceWriter, type TraceHeader } from "./trace.js";

/** The access pattern. CLI syntax: see parseWorkload(). */
export type WorkloadSpec =
  /** Every page of the range equally likely. */
  | { kind: "uniform" }
  /** Page popularity follows Zipf's law with exponent `s` (> 0; 1 is classic Zipf). */
  | { kind: "zipf"; s: number }
  /**
   * A hot set of `hotFraction` (0, 1] of the range receives `hotProbability`
   * [0, 1] of the accesses; the rest go uniformly to the cold pages.
   */
  | { kind: "hotcold"; hotFraction: number; hotProbability: number }
  /** Sweeps the range page after page, `writeBytes` at a time, wrapping at the end. */
  | { kind: "sequential" }
  /** Replays the accesses of a trace file (src/host/trace.ts), once, then stops. */
  | { kind: "trace"; path: string };

export type WorkloadKind = WorkloadSpec["kind"];

/** Options shared by every kind (a trace takes only ratePerSec). */
export interface WorkloadCommonOptions {
  /**
   * Accesses per simulated second of vCPU time, an integer 1..2^32-1.
   * @default 1_000_000, or for a trace the rate recorded in its header
   */
  ratePerSec?: number;
  /** Fraction of accesses that are writes, 0..1. @default 0.3 */
  writeFraction?: number;
  /** Bytes of every access, read or write: a power of two in 8..4096. @default 64 */
  writeBytes?: number;
  /** PRNG seed, an integer 0..2^64-1: the same seed gives the same accesses. @default 1 */
  seed?: number | bigint;
  /** First guest page of the range the workload touches. @default 0 */
  firstPage?: number;
  /** Pages in that range, at most 2^32. @default min(guestPages - firstPage, 2^32) */
  pageCount?: number;
}

/** A workload: its pattern and the common options, in one flat object. */
export type WorkloadOptions = WorkloadSpec & WorkloadCommonOptions;

/** resolveWorkloadOptions()'s result: every value checked and defaulted, frozen. */
export interface ResolvedWorkloadOptions {
  readonly spec: Readonly<WorkloadSpec>;
  /** null only for a trace without an explicit rate: the header's rate applies. */
  readonly ratePerSec: number | null;
  readonly writeFraction: number;
  readonly writeBytes: number;
  readonly seed: bigint;
  readonly firstPage: number;
  readonly pageCount: number;
  readonly guestPages: number;
}

export const WORKLOAD_DEFAULTS = Object.freeze({
  ratePerSec: 1_000_000,
  writeFraction: 0.3,
  writeBytes: 64,
  seed: 1,
});

/** Largest page range of a generated workload (assembly/workload.ts MAX_WORKLOAD_PAGES). */
export const MAX_WORKLOAD_PAGES = 2 ** 32;

const KERNEL_KIND: Record<Exclude<WorkloadKind, "trace">, number> = { uniform: 0, zipf: 1, hotcold: 2, sequential: 3 };
const COMMON_KEYS = ["kind", "ratePerSec", "writeFraction", "writeBytes", "seed", "firstPage", "pageCount"];
const KIND_KEYS: Record<WorkloadKind, readonly string[]> = {
  uniform: [],
  zipf: ["s"],
  hotcold: ["hotFraction", "hotProbability"],
  sequential: [],
  trace: ["path"],
};
/** Common options that mean nothing for a replayed trace. */
const NOT_FOR_TRACE = ["writeFraction", "writeBytes", "seed", "firstPage", "pageCount"];

function badOption(option: string, value: unknown, rule: string): HypermemError {
  const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  return new HypermemError(ErrorCode.BadOption, `${option} must be ${rule}, got ${shown}`, { option, value });
}

function checkNumber(option: string, value: unknown, ok: (v: number) => boolean, rule: string): number {
  if (typeof value !== "number" || !ok(value)) throw badOption(option, value, rule);
  return value;
}

const zipfExponentOk = (v: number) => Number.isFinite(v) && v > 0;
const hotFractionOk = (v: number) => v > 0 && v <= 1;
const probabilityOk = (v: number) => v >= 0 && v <= 1;
const isPowerOfTwo = (v: number) => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;

function resolveSeed(value: unknown): bigint {
  if (typeof value === "bigint" && value >= 0n && value < 1n << 64n) return value;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw badOption("seed", value, "an integer in 0..2^64-1 (a safe integer or a bigint)");
}

function resolveSpec(o: Record<string, unknown>): Readonly<WorkloadSpec> {
  switch (o.kind as WorkloadKind) {
    case "uniform": return Object.freeze({ kind: "uniform" });
    case "sequential": return Object.freeze({ kind: "sequential" });
    case "zipf": return Object.freeze({ kind: "zipf", s: checkNumber("s", o.s, zipfExponentOk, "a finite number > 0") });
    case "hotcold": return Object.freeze({
      kind: "hotcold",
      hotFraction: checkNumber("hotFraction", o.hotFraction, hotFractionOk, "a number in (0, 1]"),
      hotProbability: checkNumber("hotProbability", o.hotProbability, probabilityOk, "a number in [0, 1]"),
    });
    case "trace":
      if (typeof o.path !== "string" || o.path === "") throw badOption("path", o.path, "a non-empty file path");
      return Object.freeze({ kind: "trace", path: o.path });
    default:
      throw badOption("kind", o.kind, "one of uniform, zipf, hotcold, sequential, trace");
  }
}

/**
 * Checks `options` for a guest of `guestPages` pages and fills in the
 * defaults. Unknown keys (for the kind) throw ErrorCode.UnknownOption, bad
 * values ErrorCode.BadOption naming the option and the value. Keys whose
 * value is undefined count as absent. Never mutates `options`.
 */
export function resolveWorkloadOptions(options: WorkloadOptions, guestPages: number): ResolvedWorkloadOptions {
  if (typeof options !== "object" || options === null) throw badOption("workload options", options, "an object");
  if (!Number.isSafeInteger(guestPages) || guestPages < 1 || guestPages > TRACE_MAX_GUEST_PAGES) {
    throw badOption("guestPages", guestPages, "an integer in 1..2^52");
  }
  const o = options as unknown as Record<string, unknown>;
  const spec = resolveSpec(o);
  const known = new Set([...COMMON_KEYS, ...KIND_KEYS[spec.kind]]);
  for (const key of Object.keys(o)) {
    if (o[key] === undefined) continue;
    if (!known.has(key)) {
      throw new HypermemError(ErrorCode.UnknownOption, `unknown workload option "${key}" for kind ${spec.kind}`, { option: key, kind: spec.kind });
    }
    if (spec.kind === "trace" && NOT_FOR_TRACE.includes(key)) {
      throw new HypermemError(ErrorCode.BadOption, `${key} does not apply to a trace replay (got ${String(o[key])})`, { option: key, value: o[key] });
    }
  }
  const rate = o.ratePerSec === undefined ? undefined
    : checkNumber("ratePerSec", o.ratePerSec, (v) => Number.isInteger(v) && v >= 1 && v <= 0xffffffff, "an integer in 1..4294967295");
  const writeFraction = checkNumber("writeFraction", o.writeFraction ?? WORKLOAD_DEFAULTS.writeFraction, probabilityOk, "a number in [0, 1]");
  const writeBytes = checkNumber("writeBytes", o.writeBytes ?? WORKLOAD_DEFAULTS.writeBytes,
    (v) => isPowerOfTwo(v) && v >= 8 && v <= 4096, "a power of two in 8..4096");
  const seed = resolveSeed(o.seed ?? WORKLOAD_DEFAULTS.seed);
  const firstPage = checkNumber("firstPage", o.firstPage ?? 0, (v) => Number.isSafeInteger(v) && v >= 0 && v < guestPages,
    `an integer in 0..${guestPages - 1} (the guest has ${guestPages} pages)`);
  const room = guestPages - firstPage;
  const pageCount = checkNumber("pageCount", o.pageCount ?? Math.min(room, MAX_WORKLOAD_PAGES),
    (v) => Number.isSafeInteger(v) && v >= 1 && v <= room && v <= MAX_WORKLOAD_PAGES,
    `an integer in 1..${Math.min(room, MAX_WORKLOAD_PAGES)} (guest of ${guestPages} pages from page ${firstPage})`);
  return Object.freeze({
    spec,
    ratePerSec: rate ?? (spec.kind === "trace" ? null : WORKLOAD_DEFAULTS.ratePerSec),
    writeFraction, writeBytes, seed, firstPage, pageCount, guestPages,
  });
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses the CLI syntax `uniform | zipf:S | hotcold:F,P | sequential |
 * trace:FILE` into a WorkloadSpec (values checked as resolveWorkloadOptions
 * does). Anything else throws ErrorCode.BadOption naming the text.
 */
export function parseWorkload(text: string): WorkloadSpec {
  const fail = (why: string) => new HypermemError(ErrorCode.BadOption,
    `bad workload ${JSON.stringify(text)}: ${why} (expected uniform, zipf:S, hotcold:F,P, sequential or trace:FILE)`, { option: "workload", value: text });
  if (typeof text !== "string") throw fail("not a string");
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  const arg = colon < 0 ? undefined : text.slice(colon + 1);
  const num = (s: string, what: string, ok: (v: number) => boolean, rule: string): number => {
    if (!NUMBER.test(s) || !ok(Number(s))) throw fail(`${what} ${JSON.stringify(s)} is not ${rule}`);
    return Number(s);
  };
  switch (name) {
    case "uniform":
    case "sequential":
      if (arg !== undefined) throw fail(`${name} takes no parameter`);
      return { kind: name };
    case "zipf":
      if (arg === undefined) throw fail("zipf needs an exponent, as in zipf:1.2");
      return { kind: "zipf", s: num(arg, "exponent", zipfExponentOk, "a number > 0") };
    case "hotcold": {
      const parts = arg?.split(",") ?? [];
      if (parts.length !== 2) throw fail("hotcold needs a hot fraction and a probability, as in hotcold:0.1,0.9");
      return {
        kind: "hotcold",
        hotFraction: num(parts[0], "hot fraction", hotFractionOk, "a number in (0, 1]"),
        hotProbability: num(parts[1], "hot probability", probabilityOk, "a number in [0, 1]"),
      };
    }
    case "trace":
      if (!arg) throw fail("trace needs a file, as in trace:run.hmtr");
      return { kind: "trace", path: arg };
    default:
      throw fail(`unknown kind ${JSON.stringify(name)}`);
  }
}

/** A generator's saved state (AccessGenerator.save). */
export interface GeneratorState {
  /** The descriptor bytes: kind, parameters and PRNG state. */
  readonly desc: Uint8Array;
  readonly generated: number;
}

/**
 * Fills batches of access records for one workload. Generated kinds never
 * end; a trace replays its records once, in order, then fill() returns 0
 * (it does not loop: a replay is a recording, not a distribution). Trace
 * records are checked against the guest when the generator opens the file
 * (all of them, before the first fill) and again, by the kernel, as each
 * batch is read.
 *
 * Call close() when done with a trace generator (it holds the file open).
 */
export class AccessGenerator implements Persist<GeneratorState> {
  readonly options: ResolvedWorkloadOptions;
  /** Accesses per simulated second (for a trace without a rate option: the header's). */
  readonly ratePerSec: number;
  readonly #kernels: Kernels;
  readonly #descPtr: number;
  readonly #trace: TraceReader | null;
  #generated = 0;

  /**
   * `descPtr` is a free workload descriptor slot (kernels.workloads.descAddress()); the
   * generator owns it until it is dropped. A trace is opened and verified
   * here: a bad file throws ErrorCode.TraceFormat before any record is used.
   */
  constructor(kernels: Kernels, descPtr: number, options: ResolvedWorkloadOptions) {
    if (!kernels.workloads.isDescAddress(descPtr)) {
      throw badOption("descPtr", descPtr, "the address of a workload descriptor slot (see kernels.workloads.descAddress)");
    }
    this.#kernels = kernels;
    this.#descPtr = descPtr;
    this.options = options;
    const spec = options.spec;
    if (spec.kind === "trace") {
      this.#trace = TraceReader.open(spec.path, { guestPages: options.guestPages });
      this.ratePerSec = options.ratePerSec ?? this.#trace.header.ratePerSec;
      return;
    }
    this.#trace = null;
    this.ratePerSec = options.ratePerSec ?? WORKLOAD_DEFAULTS.ratePerSec;
    const p1 = spec.kind === "zipf" ? spec.s : spec.kind === "hotcold" ? spec.hotFraction : 0;
    const p2 = spec.kind === "hotcold" ? spec.hotProbability : 0;
    kernels.workloads.init(descPtr, KERNEL_KIND[spec.kind], options.seed, options.firstPage, options.pageCount,
      options.writeFraction, options.writeBytes, p1, p2);
  }

  /** Records produced so far. */
  get generated(): number { return this.#generated; }

  /** Header of the replayed trace, or null for a generated workload. */
  get traceHeader(): TraceHeader | null { return this.#trace?.header ?? null; }

  /** Records still to come: Infinity for a generated workload. */
  get remaining(): number { return this.#trace ? this.#trace.remaining : Infinity; }

  /**
   * Writes up to `count` access records at `outPtr` (linear memory, count × 16
   * bytes) and returns how many: always `count` for a generated workload;
   * for a trace, fewer at its end and then 0.
   */
  fill(outPtr: number, count: number): number {
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw badOption("count", count, "an integer in 0..2^32-1");
    const bytes = count * ACCESS_BYTES;
    if (!Number.isInteger(outPtr) || outPtr < 0 || outPtr + bytes > this.#kernels.heap.byteLength) {
      throw new HypermemError(ErrorCode.Length, `fill of ${count} records at ${outPtr} runs past linear memory (${this.#kernels.heap.byteLength} bytes)`, { outPtr, count });
    }
    if (this.#trace === null) {
      this.#kernels.workloads.generate(this.#descPtr, outPtr, count);
      this.#generated += count;
      return count;
    }
    const first = this.#trace.position;
    // Reads straight into linear memory; nothing calls wasm until the read is done.
    const n = this.#trace.read(this.#kernels.heap.borrow(outPtr, bytes));
    const bad = this.#kernels.workloads.traceValidate(outPtr, n, this.options.guestPages);
    if (bad < n) {
      const why = describeInvalidRecord(this.#kernels.heap.borrow(outPtr, bytes), bad, this.options.guestPages) ?? "rejected by the kernel";
      throw new HypermemError(ErrorCode.TraceFormat, `trace ${this.#trace.path}: record ${first + bad}: ${why}`,
        { path: this.#trace.path, field: "record", record: first + bad, guestPages: this.options.guestPages });
    }
    this.#generated += n;
    return n;
  }

  /**
   * The generator's state (Persist): its descriptor (kind, parameters, PRNG
   * state) and the records produced so far. A trace replay is not saved this
   * way: its position is in the file, replayed from the start.
   */
  save(): GeneratorState {
    if (this.#trace) throw new HypermemError(ErrorCode.BadOption, `a trace replay (${this.#trace.path}) has no generator state to save`, { option: "kind", value: "trace" });
    return { desc: this.#kernels.workloads.saveDesc(this.#descPtr), generated: this.#generated };
  }

  /** Restores a state saved by save() of a generator with the same options: it goes on with the same records. */
  restore(state: GeneratorState): void {
    if (this.#trace) throw new HypermemError(ErrorCode.BadOption, `a trace replay (${this.#trace.path}) has no generator state to restore`, { option: "kind", value: "trace" });
    this.#kernels.workloads.restoreDesc(this.#descPtr, state.desc);
    this.#generated = state.generated;
  }

  /** Releases the trace file (a no-op for generated workloads). Idempotent. */
  close(): void { this.#trace?.close(); }
}

/** Records per batch in recordTrace (64 KiB of scratch). */
const RECORD_BATCH = 4096;

/**
 * Records the first `count` accesses of `options` on a guest of `guestPages`
 * pages into a trace file at `path` (crash-safe: see TraceWriter), with the
 * workload's rate in the header. Runs in a private kernel instance. A trace
 * source shorter than `count` ends the recording early. Returns the header.
 */
export function recordTrace(path: string, options: WorkloadOptions, guestPages: number, count: number): TraceHeader {
  const resolved = resolveWorkloadOptions(options, guestPages);
  if (!Number.isSafeInteger(count) || count < 0) throw badOption("count", count, "a non-negative integer");
  const kernels = new Kernels(RECORD_BATCH * ACCESS_BYTES, 1);
  const generator = new AccessGenerator(kernels, kernels.workloads.descAddress(0), resolved);
  let writer: TraceWriter | undefined;
  try {
    writer = new TraceWriter(path, { guestPages, ratePerSec: generator.ratePerSec });
    const out = kernels.scratch.lease(RECORD_BATCH * ACCESS_BYTES, "recordTrace").ptr;
    for (let left = count; left > 0;) {
      const n = generator.fill(out, Math.min(RECORD_BATCH, left));
      if (n === 0) break;
      writer.append(kernels.heap.borrow(out, n * ACCESS_BYTES));
      left -= n;
    }
    const header = writer.close();
    writer = undefined;
    return header;
  } finally {
    writer?.abort();
    generator.close();
  }
}
