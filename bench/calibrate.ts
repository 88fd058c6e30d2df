// Calibrates the bench gates: runs bench/run.ts --json in `--runs` separate
// processes of `--rounds` alternating rounds each, pools every round's
// wasm/ts ratio per kernel case, and derives each gate from that spread
// (bench/gate.ts: p5 / 1.25, kept above median / 2). Separate processes
// matter: part of the noise is per process (JIT decisions, where buffers
// land), not per round. Run part of it with the machine loaded (e.g. `npm
// test` in a loop in another terminal), as CI runs on a shared machine.
//
//   npx tsx bench/calibrate.ts [--runs 6] [--rounds 7] [--time 150] [--case NAME ...] [--write]
//
// Without --write it only prints the table. With --write it records the
// measured cases in bench/gates.json (other cases are kept), except a case
// whose derived gate would not catch a 2x slowdown: that one is reported and
// left as it was, and the exit code is 1 (see bench/gates.md for what to do).
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { allCases } from "./cases/index.js";
import { deriveGate, type GateDerivation } from "./gate.js";
import { loadGates, saveGates, type GateRecord } from "./gates-file.js";
import type { BenchResult } from "./run.js";
import { median, spread, type Spread } from "./stats.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "6" },
    rounds: { type: "string", default: "7" },
    time: { type: "string", default: "150" },
    case: { type: "string", multiple: true },
    write: { type: "boolean", default: false },
  },
});
for (const flag of ["runs", "rounds"] as const) {
  const n = Number(values[flag]);
  if (!Number.isInteger(n) || n < 1) throw new HypermemError(ErrorCode.BadOption, `--${flag} must be a positive integer, got ${values[flag]}`, { flag: `--${flag}`, value: values[flag] });
}
const kernelNames = allCases.map((c) => c.name);
for (const name of values.case ?? []) {
  if (!kernelNames.includes(name)) throw new HypermemError(ErrorCode.BadOption, `--case ${name}: not a kernel case (known: ${kernelNames.join(", ")})`, { flag: "--case", value: name });
}
const names = values.case ?? kernelNames;
const runs = Number(values.runs);

/** One process of bench/run.ts: each case's per-round ratios. */
function oneRun(run: number): Map<string, number[]> {
  process.stderr.write(`calibrate: run ${run + 1}/${runs}\n`);
  const args = ["tsx", "bench/run.ts", "--json", "--rounds", values.rounds, "--time", values.time, ...names.flatMap((n) => ["--case", n])];
  const rows = JSON.parse(execFileSync("npx", args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 })) as BenchResult[];
  const byCase = new Map<string, number[]>();
  for (const name of names) {
    const wasm = rows.find((r) => r.case === name && r.impl === "wasm")?.roundsBytesPerSec;
    const ts = rows.find((r) => r.case === name && r.impl === "ts")?.roundsBytesPerSec;
    if (!wasm || !ts || wasm.length !== ts.length) throw new Error(`calibrate: run ${run + 1} has no rounds for ${name}`);
    byCase.set(name, wasm.map((w, i) => w / ts[i]));
  }
  return byCase;
}

const perRun = Array.from({ length: runs }, (_, run) => oneRun(run));
const measured: Array<{ name: string; rounds: Spread; runMedians: number[]; derived: GateDerivation }> = names.map((name) => {
  const ratiosPerRun = perRun.map((r) => r.get(name) ?? []);
  const rounds = spread(ratiosPerRun.flat());
  return { name, rounds, runMedians: ratiosPerRun.map(median), derived: deriveGate(rounds) };
});

const x = (v: number): string => `${v < 10 ? v.toFixed(2) : v.toPrecision(3)}x`;
console.table(measured.map(({ name, rounds, runMedians, derived }) => ({
  case: name,
  rounds: rounds.n,
  "min / p5": `${x(rounds.min)} / ${x(rounds.p5)}`,
  median: x(rounds.median),
  "p95 / max": `${x(rounds.p95)} / ${x(rounds.max)}`,
  "run medians": `${x(Math.min(...runMedians))}-${x(Math.max(...runMedians))}`,
  gate: x(derived.gate),
  "2x slower": x(derived.slowdownMedian),
  "catches 2x": derived.catchesSlowdown ? "yes" : "NO",
})));
console.log(`${runs} runs x ${values.rounds} rounds, ${values.time} ms per implementation per round; gate = p5 / 1.25 (2 significant digits), must be > median / 2`);

const conflicts = measured.filter((m) => !m.derived.catchesSlowdown);
for (const m of conflicts) {
  console.error(`calibrate: ${m.name}: gate ${x(m.derived.gate)} is not above median / 2 = ${x(m.derived.slowdownMedian)}: too noisy to keep both promises; not written`);
}
if (values.write) {
  const old = loadGates();
  const cases: Record<string, GateRecord> = { ...old.cases };
  for (const m of measured) {
    if (!m.derived.catchesSlowdown) continue;
    const runMedians = { runs, min: Math.min(...m.runMedians), max: Math.max(...m.runMedians) };
    cases[m.name] = { gate: m.derived.gate, rounds: m.rounds, runMedians };
  }
  const cpu = cpus();
  saveGates({
    measured: {
      machine: `${cpu[0]?.model ?? "unknown cpu"}, ${cpu.length} cpus`,
      node: process.version,
      command: `npx tsx bench/calibrate.ts ${process.argv.slice(2).join(" ")}`.trim(),
      date: new Date().toISOString().slice(0, 10),
    },
    cases,
  });
  console.log(`calibrate: wrote ${measured.length - conflicts.length} gate(s) to bench/gates.json`);
}
process.exitCode = conflicts.length ? 1 : 0;
