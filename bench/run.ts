// The benchmark runner: every case (bench/cases/*) timed as wasm and as its
// TypeScript reference in the same process, after both were verified.
//
//   npm run bench                  table: throughput of each and the ratio
//   npm run bench -- --json        [{ case, impl, bytesPerSec, opsPerSec }]
//   npm run bench -- --case NAME   only that case (repeatable)
//   npm run bench:check            exit 1 when wasm < gate × the reference
// Scenario benches follow the kernel cases: a whole in-process migration, a
// migration over loopback TCP between two processes, and a plain Node socket
// sending the same bytes; they have no reference and no gate.
import { parseArgs } from "node:util";
import { Bench } from "tinybench";
import type { BenchCase, BenchImpl, ScenarioBench } from "./case.js";
import { allCases } from "./cases/index.js";
import { migrationBench } from "./migration.bench.js";
import { tcpBaselineBench, tcpBenches, tcpMigrationBench } from "./tcp.bench.js";

export interface BenchResult {
  case: string;
  impl: "wasm" | "ts";
  bytesPerSec: number;
  opsPerSec: number;
}

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    case: { type: "string", multiple: true },
    time: { type: "string", default: "400" },
  },
});
const timeMs = Number(values.time);
if (!Number.isFinite(timeMs) || timeMs <= 0) throw new Error(`--time must be a positive number of ms, got ${values.time}`);
const scenarios: readonly ScenarioBench[] = [migrationBench, ...tcpBenches];
const known = new Set([...allCases, ...scenarios].map((c) => c.name));
for (const name of values.case ?? []) {
  if (!known.has(name)) throw new Error(`--case ${name}: unknown case (known: ${[...known].join(", ")})`);
}
const wanted = (name: string): boolean => !values.case || values.case.includes(name);
const selected = allCases.filter((c) => wanted(c.name));
const selectedScenarios = values.check ? [] : scenarios.filter((c) => wanted(c.name));

/** Median passes per second of one implementation. */
function passesPerSec(bench: Bench, name: string): number {
  const task = bench.getTask(name);
  const result = task?.result;
  if (!result || result.state !== "completed") throw new Error(`${bench.name} ${name}: ${result?.state ?? "missing"}`);
  return 1000 / result.latency.p50;
}

function addTask(bench: Bench, name: string, impl: BenchImpl): void {
  bench.add(name, () => impl.run(), impl.beforeEach ? { beforeEach: () => impl.beforeEach?.() } : {});
}

function runCase(c: BenchCase): BenchResult[] {
  const { wasm, ts, verify, teardown } = c.setup();
  verify();
  const bench = new Bench({ name: c.name, time: timeMs, warmupTime: Math.min(200, timeMs), iterations: 5, warmupIterations: 3, throws: true });
  addTask(bench, "wasm", wasm);
  addTask(bench, "ts", ts);
  bench.runSync();
  teardown?.();
  return (["wasm", "ts"] as const).map((impl) => {
    const pps = passesPerSec(bench, impl);
    return { case: c.name, impl, bytesPerSec: pps * c.bytesPerPass, opsPerSec: pps * c.opsPerPass };
  });
}

const fmtRate = (r: BenchResult): string =>
  r.case === "mmu-write" || r.case.startsWith("harvest") || r.case.startsWith("bitmap") || r.case.startsWith("workload")
    ? `${(r.opsPerSec / 1e6).toFixed(1)} M/s`
    : `${(r.bytesPerSec / 1e9).toFixed(2)} GB/s`;

const results: BenchResult[] = [];
const rows: Array<Record<string, string>> = [];
const failures: string[] = [];
for (const c of selected) {
  process.stderr.write(`bench: ${c.name}\n`);
  const [w, t] = runCase(c);
  results.push(w, t);
  const ratio = w.bytesPerSec / t.bytesPerSec;
  rows.push({ case: c.name, wasm: fmtRate(w), ts: fmtRate(t), "wasm/ts": `${ratio.toFixed(2)}x`, gate: `${c.gate}x` });
  if (ratio < c.gate) failures.push(`${c.name}: wasm is ${ratio.toFixed(2)}x the TypeScript reference, under the ${c.gate}x gate`);
}

/** Median bytes/s and ops/s over the scenario's timed passes. */
async function runScenario(c: ScenarioBench): Promise<BenchResult> {
  const { run, teardown } = await c.setup();
  const rates: Array<{ bytesPerSec: number; opsPerSec: number }> = [];
  for (let i = 0; i < (c.warmupPasses ?? 0); i++) await run();
  for (let i = 0; i < c.passes; i++) {
    const { bytes, ops, wallMs } = await run();
    rates.push({ bytesPerSec: bytes / (wallMs / 1e3), opsPerSec: ops / (wallMs / 1e3) });
  }
  teardown?.();
  rates.sort((a, b) => a.bytesPerSec - b.bytesPerSec);
  return { case: c.name, impl: "wasm", ...rates[Math.floor(rates.length / 2)] };
}

for (const c of selectedScenarios) {
  process.stderr.write(`bench: ${c.name}\n`);
  const r = await runScenario(c);
  results.push(r);
  rows.push({ case: c.name, wasm: fmtRate(r), ts: "-", "wasm/ts": "-", gate: "-" });
}

const tcpRate = results.find((r) => r.case === tcpMigrationBench.name)?.bytesPerSec;
const plainRate = results.find((r) => r.case === tcpBaselineBench.name)?.bytesPerSec;
if (values.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  console.table(rows);
  console.log(`node ${process.version}, ${process.arch}; median of >= 5 samples per case; higher is better`);
  if (tcpRate && plainRate) {
    console.log(`migration over TCP / plain socket, same bytes, same run: ${(tcpRate / plainRate).toFixed(2)}x (target >= 0.5x)`);
  }
}
if (values.check) {
  for (const f of failures) console.error(`bench:check FAIL ${f}`);
  console.error(failures.length ? `bench:check: ${failures.length} case(s) under the gate` : `bench:check: all ${selected.length} cases pass their gates`);
  process.exitCode = failures.length ? 1 : 0;
}
