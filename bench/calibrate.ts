// Calibrates the bench gates: runs bench/run.ts --json in `--runs` separate
// processes of `--rounds` alternating rounds each, pools every round's
// wasm/ts ratio per kernel case, and derives each gate from that spread
// (bench/gate.ts: p5 / 1.25, which must be above median / 2). Separate
// processes matter: part of the spread is per process (how V8 compiled the
// TypeScript reference in that process), not per round. Run part of it with
// the machine loaded (e.g. `npm test` in a loop in another terminal), as CI
// runs on a shared machine.
//
//   npx tsx bench/calibrate.ts [--runs 6] [--rounds 7] [--time 150] [--case NAME ...]
//                              [--save FILE] [--from FILE ...] [--write [--lower-only]] [--accept-noisy NAME ...]
//
// --save keeps this session's runs in FILE (after every run); --from adds the
// runs of earlier sessions before the gates are derived, so `--runs 0 --from
// a.json --from b.json` derives from those alone. Without --write it only
// prints the table. With --write it records the measured cases in
// bench/gates.json (other cases are kept), except a case whose gate would not
// be above median / 2: that one is left as it was and the exit code is 1,
// unless it is named by --accept-noisy, which records the noise-proof gate
// with a note saying in how many calibration runs a 2x slower kernel would
// have failed (bench/gates.md). With --lower-only it writes only the cases
// whose new gate is under the committed one: on a second CI machine (another
// CPU), a gate is lowered where that machine needs it and never raised, so
// every gate holds on every machine calibrated so far.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { calibrationRun, loadSession, saveSession, type CalibrationRun } from "./calibrate-session.js";
import { allCases } from "./cases/index.js";
import { benchArgs, usageError } from "./cli-args.js";
import { CAUGHT_SLOWDOWN, deriveGate, keepsCommittedGate, type GateDerivation } from "./gate.js";
import { loadGates, saveGates, type GateRecord } from "./gates-file.js";
import { median, spread, type Spread } from "./stats.js";

/** The note of a gate recorded by --accept-noisy. */
const noisyNote = (caught: number, runs: number): string =>
  `gate = p5 / 1.25 is not above median / 2: the kernel made 2x slower would have failed ${caught} of the ${runs} calibration runs (bench/gates.md)`;

const USAGE = "npx tsx bench/calibrate.ts [--runs 6] [--rounds 7] [--time 150] [--case NAME ...] [--save FILE] [--from FILE ...] [--write [--lower-only]] [--accept-noisy NAME ...]";
const values = benchArgs("calibrate", USAGE, {
  options: {
    runs: { type: "string", default: "6" },
    rounds: { type: "string", default: "7" },
    time: { type: "string", default: "150" },
    case: { type: "string", multiple: true },
    save: { type: "string" },
    from: { type: "string", multiple: true },
    write: { type: "boolean", default: false },
    "lower-only": { type: "boolean", default: false },
    "accept-noisy": { type: "string", multiple: true },
  },
});
const positive = (flag: "runs" | "rounds" | "time", least: number): number => {
  const n = Number(values[flag]);
  if (!Number.isFinite(n) || n < least || (flag !== "time" && !Number.isInteger(n))) {
    usageError("calibrate", USAGE, `--${flag} ${values[flag]}: must be ${flag === "time" ? "a number of ms" : "an integer"} >= ${least}`);
  }
  return n;
};
const runs = positive("runs", values.from ? 0 : 1);
const rounds = positive("rounds", 1);
const timeMs = positive("time", 1);
const kernelNames = allCases.map((c) => c.name);
for (const [flag, list] of [["--case", values.case], ["--accept-noisy", values["accept-noisy"]]] as const) {
  for (const name of list ?? []) {
    if (!kernelNames.includes(name)) usageError("calibrate", USAGE, `${flag} ${name}: not a kernel case (known: ${kernelNames.join(", ")})`);
  }
}
if (values["lower-only"] && !values.write) usageError("calibrate", USAGE, "--lower-only: only with --write (it chooses which gates are written)");
const names = values.case ?? kernelNames;
const acceptNoisy = new Set(values["accept-noisy"] ?? []);

const session: CalibrationRun[] = [];
for (let run = 0; run < runs; run++) {
  process.stderr.write(`calibrate: run ${run + 1}/${runs}\n`);
  session.push(calibrationRun(names, rounds, timeMs));
  if (values.save) saveSession(values.save, session);
}
const allRuns = [...(values.from ?? []).flatMap((path) => loadSession(path, "--from")), ...session];

/** 4 significant digits: what gates.json records of a ratio. */
const sig4 = (v: number): number => Number(v.toPrecision(4));
const recorded = (v: Spread): Spread => ({ n: v.n, min: sig4(v.min), p5: sig4(v.p5), median: sig4(v.median), p95: sig4(v.p95), max: sig4(v.max) });

interface Measured { name: string; rounds: Spread; runMedians: number[]; derived: GateDerivation; caughtRuns: number }
const measured: Measured[] = names.flatMap((name) => {
  const perRun = allRuns.map((r) => r.get(name)).filter((r): r is number[] => r !== undefined && r.length > 0);
  if (perRun.length === 0) return [];
  const all = recorded(spread(perRun.flat()));
  const derived = deriveGate(all); // from the recorded (rounded) spread, so the file re-derives to the same gate
  const runMedians = perRun.map((r) => sig4(median(r)));
  // runs whose median, halved as by a 2x slower kernel, would be under the gate
  const caughtRuns = runMedians.filter((m) => m / CAUGHT_SLOWDOWN < derived.gate).length;
  return [{ name, rounds: all, runMedians, derived, caughtRuns }];
});

const x = (v: number): string => `${v < 10 ? v.toFixed(2) : v.toPrecision(3)}x`;
console.table(measured.map(({ name, rounds: r, runMedians, derived, caughtRuns }) => ({
  case: name,
  rounds: r.n,
  "min / p5": `${x(r.min)} / ${x(r.p5)}`,
  median: x(r.median),
  "p95 / max": `${x(r.p95)} / ${x(r.max)}`,
  "run medians": `${x(Math.min(...runMedians))}-${x(Math.max(...runMedians))}`,
  gate: x(derived.gate),
  "median / 2": x(derived.slowdownMedian),
  "gate > median / 2": derived.catchesSlowdown ? "yes" : "NO",
  "2x slower fails": `${caughtRuns}/${runMedians.length} runs`,
})));
console.log(`${allRuns.length} runs (${runs} new); gate = p5 / 1.25 (2 significant digits), must be > median / 2`);

const conflicts = measured.filter((m) => !m.derived.catchesSlowdown && !acceptNoisy.has(m.name));
for (const m of conflicts) {
  console.error(`calibrate: ${m.name}: gate ${x(m.derived.gate)} is not above median / 2 = ${x(m.derived.slowdownMedian)}; not written (see bench/gates.md, --accept-noisy)`);
}
/** The widest x86 vector extension this CPU reports (the native kernels' and V8's width differ by it). */
function vectorWidth(): string {
  try {
    const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim().split(/\s+/) ?? []);
    return ["avx512f", "avx2", "sse4_2"].find((f) => flags.has(f)) ?? "no avx";
  } catch {
    return "vector width unknown";
  }
}

if (values.write) {
  const cpu = cpus();
  const measuredBy = {
    machine: `${cpu[0]?.model ?? "unknown cpu"} (${vectorWidth()}), ${cpu.length} cpus`,
    node: process.version,
    command: `npx tsx bench/calibrate.ts ${process.argv.slice(2).join(" ")}`,
    date: new Date().toISOString().slice(0, 10),
  };
  const cases: Record<string, GateRecord> = { ...loadGates().cases };
  const committed = (m: Measured): number | undefined => cases[m.name]?.gate;
  const kept = values["lower-only"] ? measured.filter((m) => !conflicts.includes(m) && keepsCommittedGate(committed(m), m.derived.gate)) : [];
  for (const m of kept) console.log(`calibrate: ${m.name}: kept the committed gate ${x(committed(m) ?? 0)} (this machine's would be ${x(m.derived.gate)}; --lower-only)`);
  const written = measured.filter((m) => !conflicts.includes(m) && !kept.includes(m));
  for (const m of written) {
    const runMedians = { runs: m.runMedians.length, min: Math.min(...m.runMedians), max: Math.max(...m.runMedians) };
    const note = m.derived.catchesSlowdown ? {} : { note: noisyNote(m.caughtRuns, m.runMedians.length) };
    cases[m.name] = { gate: m.derived.gate, rounds: m.rounds, runMedians, measured: measuredBy, ...note };
  }
  saveGates({ cases });
  console.log(`calibrate: wrote ${written.length} gate(s) to bench/gates.json`);
}
process.exitCode = conflicts.length ? 1 : 0;
