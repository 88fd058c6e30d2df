// Splits a command's arguments into flags and positional arguments with
// node:util parseArgs, in its non-strict mode with `tokens: true`:
//
// - Non-strict parseArgs takes the argument after a flag that has a value as
//   that value even when it starts with a dash, so `--rate -5` reaches the
//   option's own check (`--rate -5: must be an integer from 1 to ...`) instead
//   of Node's "argument is ambiguous". `--rate=-5` works too.
// - The strict checks are ours, made on the tokens, with our messages: an
//   unknown flag (with the nearest known one), a flag with a value missing
//   (at the end, or followed by another `--flag`), a value given to a boolean
//   flag, and a flag given twice. They are ERR_USAGE.
// - `--` ends the flags. (`--help` and `-h` are found before this runs: see
//   wantsHelp().)
import { parseArgs } from "node:util";
import { usageError } from "./option-error.js";

export interface ArgvSpec {
  /** Flags that take a value, with the placeholder help shows for it. */
  readonly valued: ReadonlyMap<string, string>;
  /** Flags without a value. */
  readonly booleans: ReadonlySet<string>;
  /** Valued flags that may be given more than once (`--vm A --vm B`). */
  readonly repeatable?: ReadonlySet<string>;
}

export interface ParsedArgv {
  /** Each flag given, by name, with the user's text ("" for a boolean flag). */
  readonly given: ReadonlyMap<string, string>;
  /** Every value of each repeatable flag given, in order (its first is in `given`). */
  readonly repeated: ReadonlyMap<string, readonly string[]>;
  readonly positionals: readonly string[];
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length];
}

/** The known word nearest to `word` (a prefix of it, or at most 2 edits away), or null. */
export function nearest(word: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const k of known) {
    const d = k.startsWith(word) && word.length >= 2 ? 1 : distance(word, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Parses `args` against `spec`. Throws ERR_USAGE for anything that is not a flag of the command. */
export function splitArgs(args: readonly string[], spec: ArgvSpec): ParsedArgv {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const name of spec.valued.keys()) options[name] = { type: "string" };
  for (const name of spec.booleans) options[name] = { type: "boolean" };
  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const given = new Map<string, string>();
  const repeated = new Map<string, string[]>();
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    const placeholder = spec.valued.get(t.name);
    if (placeholder === undefined && !spec.booleans.has(t.name)) {
      const guess = t.rawName.startsWith("--") ? nearest(t.name, [...spec.valued.keys(), ...spec.booleans]) : null;
      throw usageError(`unknown option ${t.rawName}${guess ? ` (did you mean --${guess}?)` : ""}`, { option: t.rawName });
    }
    if (placeholder !== undefined && (t.value === undefined || (!t.inlineValue && t.value.startsWith("--")))) {
      throw usageError(`${t.rawName} needs a value (${t.rawName} ${placeholder})`, { option: t.rawName });
    }
    if (placeholder === undefined && t.value !== undefined) {
      throw usageError(`${t.rawName} takes no value (got ${JSON.stringify(t.value)})`, { option: t.rawName, value: t.value });
    }
    if (spec.repeatable?.has(t.name)) {
      const values = repeated.get(t.name) ?? [];
      repeated.set(t.name, [...values, t.value ?? ""]);
      if (values.length > 0) continue;
    } else if (given.has(t.name)) {
      throw usageError(`${t.rawName} is given twice`, { option: t.rawName });
    }
    given.set(t.name, t.value ?? "");
  }
  return { given, repeated, positionals };
}

/** The flags before `--`. */
function flagsOf(args: readonly string[]): readonly string[] {
  const end = args.indexOf("--");
  return end < 0 ? args : args.slice(0, end);
}

/** --help or -h is among the flags. */
export function wantsHelp(args: readonly string[]): boolean {
  return flagsOf(args).some((a) => a === "--help" || a === "-h");
}

/** --json is among the flags (then errors are printed as JSON too, even when parsing fails). */
export function wantsJson(args: readonly string[]): boolean {
  return flagsOf(args).includes("--json");
}
