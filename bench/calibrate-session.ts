// Calibration runs for bench/calibrate.ts: one run is one separate process of
// bench/run.ts --json, from which each case's per-round wasm/ts ratios are
// taken; a session (a list of runs) can be saved to and loaded from a JSON
// file, so sessions measured at different times (idle, loaded) can be pooled.
//
//   session file: { "runs": [ { "<case>": [ratio of round 1, ratio of round 2, ...], ... }, ... ] }
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { ErrorCode, HypermemError } from "../src/errors.js";
import type { BenchResult } from "./run.js";

/** One run: each case's per-round ratios. */
export type CalibrationRun = Map<string, number[]>;

/** Runs bench/run.ts once in a child process for `caseNames`; returns each case's per-round ratios. */
export function calibrationRun(caseNames: readonly string[], rounds: number, timeMs: number): CalibrationRun {
  const args = ["tsx", "bench/run.ts", "--json", "--rounds", String(rounds), "--time", String(timeMs), ...caseNames.flatMap((n) => ["--case", n])];
  const rows = JSON.parse(execFileSync("npx", args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 })) as BenchResult[];
  const run: CalibrationRun = new Map();
  for (const name of caseNames) {
    const wasm = rows.find((r) => r.case === name && r.impl === "wasm")?.roundsBytesPerSec;
    const ts = rows.find((r) => r.case === name && r.impl === "ts")?.roundsBytesPerSec;
    if (!wasm || !ts || wasm.length !== ts.length || wasm.length === 0) {
      throw new HypermemError(ErrorCode.Length, `calibrate: bench/run.ts gave no rounds for ${name} (wasm ${wasm?.length}, ts ${ts?.length})`, { case: name });
    }
    run.set(name, wasm.map((w, i) => w / ts[i]));
  }
  return run;
}

/** Writes `runs` to `path` as a session file. */
export function saveSession(path: string, runs: readonly CalibrationRun[]): void {
  writeFileSync(path, `${JSON.stringify({ runs: runs.map((r) => Object.fromEntries(r)) })}\n`);
}

/** The runs of the session file at `path`; `flag` names the option it came from, for errors. */
export function loadSession(path: string, flag: string): CalibrationRun[] {
  const bad = (problem: string): never => {
    throw new HypermemError(ErrorCode.BadOption, `${flag} ${path}: ${problem}`, { flag, value: path });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    return bad(`cannot be read as JSON (${(err as Error).message})`);
  }
  const runs = (raw as { runs?: unknown }).runs;
  if (!Array.isArray(runs)) return bad('has no "runs" array');
  return runs.map((run: unknown, i) => {
    if (typeof run !== "object" || run === null) return bad(`runs[${i}] is not an object`);
    return new Map(Object.entries(run).map(([name, ratios]: [string, unknown]) => {
      if (!Array.isArray(ratios) || ratios.some((r) => typeof r !== "number" || !(r > 0) || !Number.isFinite(r))) {
        return bad(`runs[${i}]["${name}"] is not a list of positive ratios`);
      }
      return [name, ratios as number[]];
    }));
  });
}
