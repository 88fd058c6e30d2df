// Option kinds of the command registry: what a flag's value is (a size, a
// rate, a duration, a number, a choice, a file...), how the user's text becomes
// that value, the rule it must meet and how help describes it. Every parse
// failure is ERR_BAD_OPTION from optionError(): the flag as typed, the user's
// text, and what is wrong in the user's own units. Builders are checked once
// and return frozen descriptions; the commands declare them in tables.
import { rejectUnknown } from "../options.js";
import { HypermemError } from "../errors.js";
import { optionError } from "./option-error.js";
import { checkInputFile, checkOutputFile } from "./file-checks.js";
import { parseHostPort } from "../migration/tcp.js";
import { PAGE_BYTES, parseDecimal, parseDuration, parseRate, parseSize, spellDuration, spellSize } from "./units.js";

/** One option (or positional argument) of a command: help, default and the parse of the user's text. */
export interface Opt<T, HasValue extends boolean = boolean> {
  /** Shown after the flag in usage and help ("SIZE"); null for a boolean flag. */
  readonly placeholder: string | null;
  readonly help: string;
  /** The rule in the user's units, for help ("4KiB..1TiB, whole 4 KiB pages"); null when there is none. */
  readonly rule: string | null;
  /** The default exactly as the user would type it; it goes through the same parse as the user's text. */
  readonly default: string | null;
  /** What an absent flag means when no fixed default can say it ("the trace's recorded rate"). */
  readonly defaultNote: string | null;
  readonly required: boolean;
  /** For the last positional argument only: it takes every remaining argument, joined by spaces. */
  readonly variadic: boolean;
  /** The user's text to the value; `flag` is the name messages start with ("--guest", "FILE"). */
  readonly parse: (text: string, flag: string) => T;
  /** The flag may be given several times: parse() returns a list, and the lists of every use are joined in order. */
  readonly repeatable?: boolean;
  /** Type-level only: true when the parsed value is always there (a default, or required). */
  readonly present?: HasValue;
}

/** What every kind's configuration may say. */
export interface Common {
  /** One line of help, without the rule or default (help adds those). */
  readonly help: string;
  readonly default?: string;
  readonly defaultNote?: string;
  readonly required?: boolean;
}

type Present<C> = C extends { readonly default: string } ? true : C extends { readonly required: true } ? true : false;

const COMMON_KEYS = ["help", "default", "defaultNote", "required"];

function define<T, C extends Common>(
  kind: string, config: C, keys: readonly string[], placeholder: string | null, rule: string | null, parse: (text: string, flag: string) => T,
): Opt<T, Present<C>> {
  rejectUnknown(config, [...COMMON_KEYS, ...keys], `${kind} option`);
  return Object.freeze({
    placeholder, help: config.help, rule, default: config.default ?? null, defaultNote: config.defaultNote ?? null,
    required: config.required ?? false, variadic: false, parse,
  });
}

const isPowerOfTwo = (v: number): boolean => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;
const floorPowerOfTwo = (v: number): number => 2 ** Math.floor(Math.log2(v));

export interface SizeConfig extends Common {
  /** @default 1 byte */
  readonly minBytes?: number;
  readonly maxBytes?: number;
  /** Why the maximum, after "at most 4GiB" ("per host (one WebAssembly memory)"). */
  readonly maxWhy?: string;
  /** The value must be a whole number of these. @default "byte" */
  readonly multipleOf?: "byte" | "page" | "MiB";
  /** The value must be a power of two: of bytes, or of 4 KiB pages. */
  readonly powerOfTwo?: "bytes" | "pages";
}

function sizeRule(c: SizeConfig): string {
  const min = spellSize(c.minBytes ?? 1);
  const range = c.maxBytes === undefined ? `at least ${min}` : `${min}..${spellSize(c.maxBytes)}`;
  if (c.powerOfTwo === "bytes") return `a power of two from ${c.minBytes ?? 1} to ${c.maxBytes} bytes`;
  if (c.powerOfTwo === "pages") return `a power-of-two number of 4 KiB pages, ${range}`;
  if (c.multipleOf === "page") return `${range}, whole 4 KiB pages`;
  if (c.multipleOf === "MiB") return `${range}, whole MiB`;
  return range;
}

/** Bytes, from "4096", "64MiB", "1GiB". */
export function size<const C extends SizeConfig>(c: C): Opt<number, Present<C>> {
  const minBytes = c.minBytes ?? 1;
  const rule = sizeRule(c);
  return define("size", c, ["minBytes", "maxBytes", "maxWhy", "multipleOf", "powerOfTwo"], "SIZE", rule, (text, flag) => {
    const bytes = parseSize(flag, text);
    const powerOfTwo = c.powerOfTwo === "bytes" ? isPowerOfTwo(bytes) : c.powerOfTwo === "pages" ? isPowerOfTwo(bytes / PAGE_BYTES) : true;
    const inRange = bytes >= minBytes && (c.maxBytes === undefined || bytes <= c.maxBytes);
    if (!powerOfTwo || (c.powerOfTwo && !inRange)) {
      const unit = c.powerOfTwo === "pages" ? PAGE_BYTES : 1;
      const low = floorPowerOfTwo(Math.max(bytes / unit, 1)) * unit;
      const near = bytes > minBytes && (c.maxBytes === undefined || bytes < c.maxBytes) ? `, such as ${spellSize(low)} or ${spellSize(low * 2)}` : "";
      throw optionError(flag, text, `must be ${rule}${near}`, { bytes });
    }
    if (!Number.isInteger(bytes)) throw optionError(flag, text, "not a whole number of bytes", { bytes });
    if (bytes < minBytes) throw optionError(flag, text, `at least ${spellSize(minBytes)}`, { bytes });
    if (c.maxBytes !== undefined && bytes > c.maxBytes) {
      throw optionError(flag, text, `at most ${spellSize(c.maxBytes)}${c.maxWhy ? ` ${c.maxWhy}` : ""}`, { bytes });
    }
    const unitBytes = c.multipleOf === "page" ? PAGE_BYTES : c.multipleOf === "MiB" ? 2 ** 20 : 1;
    if (bytes % unitBytes !== 0) {
      const low = Math.floor(bytes / unitBytes) * unitBytes;
      const choices = low > 0 ? `${spellSize(low)} or ${spellSize(low + unitBytes)}` : spellSize(unitBytes);
      throw optionError(flag, text, `not a whole number of ${c.multipleOf === "page" ? "4 KiB pages" : "MiB"} (${choices} would be)`, { bytes });
    }
    return bytes;
  });
}

export interface RateConfig extends Common {
  /** @default 1e15 bytes/s */
  readonly maxBytesPerSec?: number;
}

/** Bytes per second, from "10Gbit", "1GiB/s", "100MB/s"; always more than 0. */
export function rate<const C extends RateConfig>(c: C): Opt<number, Present<C>> {
  const max = c.maxBytesPerSec ?? 1e15;
  return define("rate", c, ["maxBytesPerSec"], "RATE", "such as 10Gbit, 1GiB/s, 100MB/s", (text, flag) => {
    const bytesPerSec = parseRate(flag, text);
    if (bytesPerSec <= 0) throw optionError(flag, text, "must be more than 0");
    if (bytesPerSec > max) throw optionError(flag, text, `at most ${max / 1e9}GB/s`);
    return bytesPerSec;
  });
}

export interface DurationConfig extends Common {
  /** @default 0 */
  readonly minNs?: number;
  readonly maxNs?: number;
}

/** Nanoseconds, from "300ms", "1.5s", "100us". */
export function duration<const C extends DurationConfig>(c: C): Opt<number, Present<C>> {
  const minNs = c.minNs ?? 0;
  const rule = c.maxNs === undefined ? `at least ${spellDuration(minNs)}` : `${spellDuration(minNs)}..${spellDuration(c.maxNs)}`;
  return define("duration", c, ["minNs", "maxNs"], "DURATION", rule, (text, flag) => {
    const ns = parseDuration(flag, text);
    if (ns < minNs) throw optionError(flag, text, minNs === 0 ? "must not be negative" : `at least ${spellDuration(minNs)}`);
    if (c.maxNs !== undefined && ns > c.maxNs) throw optionError(flag, text, `at most ${spellDuration(c.maxNs)}`);
    return ns;
  });
}

export interface IntegerConfig extends Common {
  readonly min: number;
  readonly max: number;
  /** @default "N" */
  readonly placeholder?: string;
}

/** A whole number in [min, max] ("1000000", "1e6"). */
export function integer<const C extends IntegerConfig>(c: C): Opt<number, Present<C>> {
  const rule = `an integer from ${c.min} to ${c.max}`;
  return define("integer", c, ["min", "max", "placeholder"], c.placeholder ?? "N", `${c.min}..${c.max}`, (text, flag) => {
    const v = parseDecimal(flag, text);
    if (!Number.isSafeInteger(v) || v < c.min || v > c.max) throw optionError(flag, text, `must be ${rule}`);
    return v;
  });
}

export interface NumberConfig extends Common {
  readonly min: number;
  readonly max: number;
  /** The minimum itself is not allowed. @default false */
  readonly aboveMin?: boolean;
  /** @default "X" */
  readonly placeholder?: string;
}

/** A decimal number in [min, max] (or (min, max] with aboveMin). */
export function number<const C extends NumberConfig>(c: C): Opt<number, Present<C>> {
  const rule = c.aboveMin ? `more than ${c.min}, at most ${c.max}` : `${c.min}..${c.max}`;
  return define("number", c, ["min", "max", "aboveMin", "placeholder"], c.placeholder ?? "X", rule, (text, flag) => {
    const v = parseDecimal(flag, text);
    if (v < c.min || (c.aboveMin && v === c.min) || v > c.max) {
      throw optionError(flag, text, c.aboveMin ? `must be a number more than ${c.min} and at most ${c.max}` : `must be a number from ${c.min} to ${c.max}`);
    }
    return v;
  });
}

/** A share from 0 to 1 ("0.3"). */
export function fraction<const C extends Common>(c: C): Opt<number, Present<C>> {
  return define("fraction", c, [], "F", "0..1", (text, flag) => {
    const v = parseDecimal(flag, text);
    if (v < 0 || v > 1) throw optionError(flag, text, "must be a fraction from 0 to 1, such as 0.25");
    return v;
  });
}

/** One of a fixed set of words. */
export function choice<const T extends string, const C extends Common>(c: C & { readonly choices: readonly T[] }): Opt<T, Present<C>> {
  return define("choice", c, ["choices"], c.choices.join("|"), null, (text, flag) => {
    const hit = c.choices.find((x) => x === text);
    if (hit === undefined) throw optionError(flag, text, `must be one of ${c.choices.join(", ")}`);
    return hit;
  });
}

export interface TextConfig extends Common {
  readonly placeholder: string;
  /** Why `text` is refused, or null when it is fine. */
  readonly check?: (text: string) => string | null;
  readonly rule?: string;
}

/** Free text, optionally checked. */
export function text<const C extends TextConfig>(c: C): Opt<string, Present<C>> {
  return define("text", c, ["placeholder", "check", "rule"], c.placeholder, c.rule ?? null, (value, flag) => {
    const why = c.check?.(value) ?? null;
    if (why !== null) throw optionError(flag, value, why);
    return value;
  });
}

/** Every remaining positional argument, joined by spaces (the last positional only). */
export function words<const C extends Common & { readonly placeholder: string }>(c: C): Opt<string, Present<C>> {
  return Object.freeze({ ...define("words", c, ["placeholder"], c.placeholder, null, (value) => value), variadic: true });
}

/** An input file: it exists, is a regular file, can be read and is not empty (checked when parsed). */
export function inputFile<const C extends Common>(c: C): Opt<string, Present<C>> {
  return define("inputFile", c, [], "FILE", null, (value, flag) => {
    checkInputFile(flag, value, value);
    return value;
  });
}

/** A file to write: its folder exists and is writable, and it is not itself a folder. */
export function outputFile<const C extends Common>(c: C): Opt<string, Present<C>> {
  return define("outputFile", c, [], "FILE", null, (value, flag) => {
    checkOutputFile(flag, value);
    return value;
  });
}

/** HOST:PORT ("127.0.0.1:7000", "[::1]:7000"), port 1..65535. */
export function hostPort<const C extends Common>(c: C): Opt<{ readonly host: string; readonly port: number }, Present<C>> {
  return define("hostPort", c, [], "HOST:PORT", null, (value, flag) => {
    try {
      return Object.freeze(parseHostPort(flag, value));
    } catch (err) {
      if (!(err instanceof HypermemError)) throw err;
      throw optionError(flag, value, "must be HOST:PORT with a port from 1 to 65535, such as 127.0.0.1:7000");
    }
  });
}

/** A flag without a value: true when given, false otherwise. */
export function flag(c: { readonly help: string }): Opt<boolean, true> {
  rejectUnknown(c, ["help"], "flag option");
  return Object.freeze({
    placeholder: null, help: c.help, rule: null, default: null, defaultNote: null, required: false, variadic: false, parse: () => true,
  });
}

/** Any other kind: the caller parses (and throws optionError itself). */
export function custom<T, const C extends Common & { readonly placeholder: string; readonly rule?: string }>(
  c: C, parse: (text: string, flag: string) => T,
): Opt<T, Present<C>> {
  return define("custom", c, ["placeholder", "rule"], c.placeholder, c.rule ?? null, parse);
}

/**
 * A flag that may be given several times (`--vm A --vm B`): each use is
 * parsed by `one`, and the value is the list of them in order. A default
 * is one use.
 */
export function repeated<T, H extends boolean>(one: Opt<T, H>): Opt<T[], H> {
  return Object.freeze({ ...one, repeatable: true, parse: (text: string, flag: string) => [one.parse(text, flag)] });
}
