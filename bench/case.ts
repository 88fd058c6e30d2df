// One benchmark case: a kernel shape timed as wasm and as its TypeScript
// reference. A pass is one call over the case's whole working set; the runner
// turns passes per second into bytes/s and ops/s with the counts below.
// Every case verifies both implementations before anything is timed. Adding a
// case: write it here, list it in cases/index.ts, then record its gate with
// `npx tsx bench/calibrate.ts --case NAME --write` (see bench/gates.md).

export interface BenchImpl {
  /** One pass over the working set (timed). */
  run(): void;
  /** Untimed step before each pass (restores inputs a pass consumes). */
  beforeEach?(): void;
}

export interface BenchCase {
  /** Case name, as in ../shared/native/README.md (e.g. "xbzrle-encode-1pct"). */
  readonly name: string;
  /** Bytes counted per pass (the native harness's "bytes counted"). */
  readonly bytesPerPass: number;
  /** Operations counted per pass (pages, entries, accesses...). */
  readonly opsPerPass: number;
  /**
   * Bytes the reference counts per pass when it does other work than the
   * wasm side (a native 256 MiB copy beside a pause path of fewer bytes):
   * then rates are compared, not times. @default bytesPerPass
   */
  readonly referenceBytesPerPass?: number;
  /**
   * How the table shows throughput: counted bytes (GB/s) or operations
   * (M/s). The gate is not here: bench:check reads it from bench/gates.json,
   * calibrated per case by bench/calibrate.ts. @default "bytes"
   */
  readonly rateIn?: "bytes" | "ops";
  /** Builds inputs (untimed) and returns both implementations. */
  setup(): { wasm: BenchImpl; ts: BenchImpl; verify(): void; teardown?(): void };
}

/**
 * A whole scenario timed by wall clock (e.g. a migration): no TypeScript
 * reference, no gate. `run` does one timed pass and says how much it moved.
 */
export interface ScenarioBench {
  readonly name: string;
  /** Timed passes; the median is reported. */
  readonly passes: number;
  /** Untimed passes first (e.g. a destination faulting its memory in for the first time). @default 0 */
  readonly warmupPasses?: number;
  /** Builds the scenario (untimed). */
  setup(): Promise<{ run(): Promise<{ bytes: number; ops: number; wallMs: number }>; teardown?(): void }>;
}
