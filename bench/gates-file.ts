// bench/gates.json: the calibrated gate of every gated bench case, with the
// spread of the ratios it was derived from (written by bench/calibrate.ts,
// read by bench/run.ts; see bench/gates.md).
//
//   {
//     "cases": {
//       "<case>": {
//         "gate": 2.6,                                  judged against a run's median ratio
//         "rounds": { n, min, p5, median, p95, max },   every calibration round's ratio
//         "runMedians": { runs, min, max },             each calibration run's median ratio
//         "measured": { machine, node, command, date }, where and how
//         "note": "..."                                 optional: why the gate is not the derived one
//       }, ...
//     }
//   }
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ErrorCode, HypermemError } from "../src/errors.js";
import type { Spread } from "./stats.js";

export const GATES_PATH = fileURLToPath(new URL("./gates.json", import.meta.url));

/** Median ratio of each calibration run: how many runs, lowest and highest. */
export interface RunMedians {
  readonly runs: number;
  readonly min: number;
  readonly max: number;
}

/** Where and how a gate was calibrated. */
export interface Measured {
  readonly machine: string;
  readonly node: string;
  readonly command: string;
  readonly date: string;
}

export interface GateRecord {
  readonly gate: number;
  readonly rounds: Spread;
  readonly runMedians: RunMedians;
  readonly measured: Measured;
  readonly note?: string;
}

export interface GatesFile {
  readonly cases: Readonly<Record<string, GateRecord>>;
}

const SPREAD_KEYS = ["n", "min", "p5", "median", "p95", "max"] as const;
const RUN_KEYS = ["runs", "min", "max"] as const;
const MEASURED_KEYS = ["machine", "node", "command", "date"] as const;
const RECORD_KEYS = new Set(["gate", "rounds", "runMedians", "measured", "note"]);

function fail(where: string, problem: string, value: unknown): never {
  throw new HypermemError(ErrorCode.BadOption, `${GATES_PATH}: ${where} ${problem} (got ${JSON.stringify(value)})`, { where, value });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks that `v[key]` is a finite number for every key; returns `v` typed. */
function numbers<K extends string>(v: unknown, keys: readonly K[], where: string): Record<K, number> {
  if (!isObject(v)) fail(where, "is not an object", v);
  for (const k of keys) if (typeof v[k] !== "number" || !Number.isFinite(v[k])) fail(`${where}.${k}`, "is not a finite number", v[k]);
  return v as Record<K, number>;
}

function parseRecord(name: string, v: unknown): GateRecord {
  const where = `cases["${name}"]`;
  if (!isObject(v)) fail(where, "is not an object", v);
  for (const k of Object.keys(v)) if (!RECORD_KEYS.has(k)) fail(`${where}.${k}`, "is not a known key", k);
  if (typeof v.gate !== "number" || !(v.gate > 0) || !Number.isFinite(v.gate)) fail(`${where}.gate`, "is not a positive finite number", v.gate);
  if (v.note !== undefined && typeof v.note !== "string") fail(`${where}.note`, "is not a string", v.note);
  const rounds = numbers(v.rounds, SPREAD_KEYS, `${where}.rounds`);
  const runMedians = numbers(v.runMedians, RUN_KEYS, `${where}.runMedians`);
  const measured = v.measured;
  if (!isObject(measured)) fail(`${where}.measured`, "is not an object", measured);
  for (const k of MEASURED_KEYS) if (typeof measured[k] !== "string") fail(`${where}.measured.${k}`, "is not a string", measured[k]);
  return Object.freeze({
    gate: v.gate,
    rounds: Object.freeze({ ...rounds }),
    runMedians: Object.freeze({ ...runMedians }),
    measured: Object.freeze({ ...(measured as unknown as Measured) }),
    ...(v.note === undefined ? {} : { note: v.note }),
  });
}

/** Parses and checks the text of a gates file. */
export function parseGates(text: string): GatesFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HypermemError(ErrorCode.BadOption, `${GATES_PATH}: not JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) fail("the file", "is not an object", raw);
  if (!isObject(raw.cases)) fail("cases", "is not an object", raw.cases);
  const cases: Record<string, GateRecord> = {};
  for (const [name, v] of Object.entries(raw.cases)) cases[name] = parseRecord(name, v);
  return Object.freeze({ cases: Object.freeze(cases) });
}

/** The committed gates file. */
export function loadGates(): GatesFile {
  return parseGates(readFileSync(GATES_PATH, "utf8"));
}

/** Writes `gates` to the committed file, cases in name order. */
export function saveGates(gates: GatesFile): void {
  const cases = Object.fromEntries(Object.entries(gates.cases).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(GATES_PATH, `${JSON.stringify({ cases }, null, 2)}\n`);
}
