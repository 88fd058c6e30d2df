// The benchmark runner: every case (bench/cases/*) timed as wasm and as its
// TypeScript reference in the same process, after both were verified, in R
// alternating rounds (bench/rounds.ts); a case's ratio is the median of its
// rounds' ratios, judged against its calibrated gate (bench/gate.ts,
// bench/gates.json).
//
//   npm run bench                     table: throughput of each, ratio, rounds' range, gate
//   npm run bench -- --json           [{ case, impl, bytesPerSec, opsPerSec, roundsBytesPerSec }]
//   npm run bench -- --case NAME      only that case (repeatable)
//   npm run bench -- --rounds N       N alternating rounds per case (default 7)
//   npm run bench -- --time MS        time per implementation per round (default 150)
//   npm run bench:check               kernel cases only; exit 1 when a median ratio is under its gate
// Scenario benches follow the kernel cases: a whole in-process migration, a
// migration over loopback TCP between two processes, a plain Node socket
// sending the same bytes, and bench/cases' scenarios (the cluster's scale
// target); they have no reference and no gate.
import type { BenchCase, ScenarioBench } from "./case.js";
import { allCases, scenarioCases } from "./cases/index.js";
import { benchArgs, usageError } from "./cli-args.js";
import { judgeRatios, type GateVerdict } from "./gate.js";
import { loadGates } from "./gates-file.js";
import { migrationBench } from "./migration.bench.js";
import { measureRounds, roundRatio } from "./rounds.js";
import { median } from "./stats.js";
import { tcpBaselineBench, tcpBenches, tcpMigrationBench } from "./tcp.bench.js";

export interface BenchResult {
  case: string;
  impl: "wasm" | "ts";
  /** Median over the rounds (kernel cases) or the passes (scenarios). */
  bytesPerSec: number;
  opsPerSec: number;
  /** Kernel cases: bytes/s of each round, in round order. */
  roundsBytesPerSec?: number[];
}

/** 7 rounds of 150 ms: bench:check takes about 2 minutes on the project machine (bench/gates.md, "Cost"). */
const DEFAULT_ROUNDS = 7;
const DEFAULT_TIME_MS = 150;

const USAGE = "npm run bench [-- --json] [--case NAME ...] [--rounds N] [--time MS] | npm run bench:check";
const values = benchArgs("bench", USAGE, {
  options: {
    json: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    case: { type: "string", multiple: true },
    time: { type: "string", default: String(DEFAULT_TIME_MS) },
    rounds: { type: "string", default: String(DEFAULT_ROUNDS) },
  },
});
const timeMs = Number(values.time);
if (!Number.isFinite(timeMs) || timeMs <= 0) usageError("bench", USAGE, `--time ${values.time}: must be a positive number of ms`);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) usageError("bench", USAGE, `--rounds ${values.rounds}: must be a positive integer`);
const scenarios: readonly ScenarioBench[] = [migrationBench, ...tcpBenches, ...scenarioCases];
const known = new Set([...allCases, ...scenarios].map((c) => c.name));
for (const name of values.case ?? []) {
  if (!known.has(name)) usageError("bench", USAGE, `--case ${name}: unknown case (known: ${[...known].join(", ")})`);
}
const wanted = (name: string): boolean => !values.case || values.case.includes(name);
const selected = allCases.filter((c) => wanted(c.name));
const selectedScenarios = values.check ? [] : scenarios.filter((c) => wanted(c.name));
const gates = loadGates();

/** R alternating rounds of `c`: both results (medians over rounds) and the per-round ratios. */
function runCase(c: BenchCase): { results: [BenchResult, BenchResult]; ratios: number[] } {
  const samples = measureRounds(c, { rounds, timeMs });
  const referenceBytes = c.referenceBytesPerPass ?? c.bytesPerPass;
  const result = (impl: "wasm" | "ts", msPerPass: number[], bytesPerPass: number): BenchResult => {
    const passesPerSec = median(msPerPass.map((ms) => 1000 / ms));
    return {
      case: c.name,
      impl,
      bytesPerSec: passesPerSec * bytesPerPass,
      opsPerSec: passesPerSec * c.opsPerPass,
      roundsBytesPerSec: msPerPass.map((ms) => (1000 / ms) * bytesPerPass),
    };
  };
  return {
    results: [result("wasm", samples.map((s) => s.wasmMsPerPass), c.bytesPerPass), result("ts", samples.map((s) => s.tsMsPerPass), referenceBytes)],
    ratios: samples.map((s) => (roundRatio(s) * c.bytesPerPass) / referenceBytes),
  };
}

const fmtRate = (r: BenchResult, c: { rateIn?: "bytes" | "ops" }): string =>
  c.rateIn === "ops" ? `${(r.opsPerSec / 1e6).toFixed(1)} M/s` : `${(r.bytesPerSec / 1e9).toFixed(2)} GB/s`;
const fmtRatio = (x: number): string => `${x < 10 ? x.toFixed(2) : x.toPrecision(3)}x`;
const fmtMargin = (v: GateVerdict): string => (v.status === "ungated" ? "-" : `${v.margin >= 0 ? "+" : ""}${(v.margin * 100).toFixed(0)}%`);

const t0 = performance.now();
const results: BenchResult[] = [];
const rows: Array<Record<string, string>> = [];
const failures: string[] = [];
for (const c of selected) {
  const caseStart = performance.now();
  process.stderr.write(`bench: ${c.name}`);
  const { results: [w, t], ratios } = runCase(c);
  process.stderr.write(` (${((performance.now() - caseStart) / 1e3).toFixed(1)} s)\n`);
  results.push(w, t);
  const record = gates.cases[c.name];
  const verdict = judgeRatios(ratios, record?.gate);
  rows.push({
    case: c.name,
    wasm: fmtRate(w, c),
    ts: fmtRate(t, c),
    "wasm/ts": fmtRatio(verdict.median),
    "rounds min-max": `${fmtRatio(verdict.min)}-${fmtRatio(verdict.max)}`,
    gate: verdict.status === "ungated" ? "none" : `${fmtRatio(verdict.gate)}${record?.note ? "*" : ""}`,
    margin: fmtMargin(verdict),
  });
  if (verdict.status === "fail") {
    failures.push(`${c.name}: wasm is ${fmtRatio(verdict.median)} the TypeScript reference (median of ${rounds} rounds, ${fmtRatio(verdict.min)}-${fmtRatio(verdict.max)}), under the ${fmtRatio(verdict.gate)} gate`);
  } else if (verdict.status === "ungated") {
    failures.push(`${c.name}: no gate in bench/gates.json; record one with: npx tsx bench/calibrate.ts --case ${c.name} --write`);
  }
}
const kernelSeconds = (performance.now() - t0) / 1e3;

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
  rows.push({ case: c.name, wasm: fmtRate(r, {}), ts: "-", "wasm/ts": "-", "rounds min-max": "-", gate: "-", margin: "-" });
}

const tcpRate = results.find((r) => r.case === tcpMigrationBench.name)?.bytesPerSec;
const plainRate = results.find((r) => r.case === tcpBaselineBench.name)?.bytesPerSec;
if (values.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  console.table(rows);
  console.log(`node ${process.version}, ${process.arch}; kernel cases: median of ${rounds} alternating rounds, ${timeMs} ms per implementation per round (${kernelSeconds.toFixed(0)} s); GB/s = 10^9 counted bytes/s; higher is better`);
  if (selected.some((c) => gates.cases[c.name]?.note)) {
    console.log("gate*: the reference's speed varies too much between processes for this gate to catch a 2x slowdown in every run (bench/gates.json note, bench/gates.md)");
  }
  if (tcpRate && plainRate) {
    console.log(`migration over TCP / plain socket, same bytes, same run: ${(tcpRate / plainRate).toFixed(2)}x (target >= 0.5x)`);
  }
}
if (values.check) {
  for (const f of failures) console.error(`bench:check FAIL ${f}`);
  console.error(failures.length ? `bench:check: ${failures.length} case(s) fail their gates` : `bench:check: all ${selected.length} cases pass their gates`);
  process.exitCode = failures.length ? 1 : 0;
}
