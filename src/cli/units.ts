// Values with units for the command line: sizes (4KiB, 1GiB), rates (10Gbit,
// 1GiB/s, 100MB/s) and durations (300ms, 1.5s), read from the user's text and
// spelled back the way a user would type them (for defaults and limits in help
// and messages). Unreadable text is ERR_BAD_OPTION naming the flag and the text.
import { optionError } from "./option-error.js";

/** The simulator's page (and host frame) size: guest sizes on the command line are whole pages of it. */
export const PAGE_BYTES = 4096;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1, b: 1, k: 1024, kib: 1024, kb: 1e3, m: 2 ** 20, mib: 2 ** 20, mb: 1e6, g: 2 ** 30, gib: 2 ** 30, gb: 1e9, t: 2 ** 40, tib: 2 ** 40, tb: 1e12,
};
/** Bytes per second per unit; bit units are divided by 8. */
const RATE_UNITS: Readonly<Record<string, number>> = {
  "bit": 1 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "tbit": 1e12 / 8,
  "b/s": 1, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9, "kib/s": 1024, "mib/s": 2 ** 20, "gib/s": 2 ** 30,
  "bps": 1 / 8, "kbps": 1e3 / 8, "mbps": 1e6 / 8, "gbps": 1e9 / 8,
};
/** Nanoseconds per unit. */
const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, min: 60e9 };

/** A decimal number (sign, fraction and exponent allowed) and an optional unit. */
const NUMBER_AND_UNIT = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-zµ/]*)\s*$/i;

function read(flag: string, text: string, units: Readonly<Record<string, number>>, expected: string): number {
  const m = NUMBER_AND_UNIT.exec(text);
  const unit = m ? units[m[2].toLowerCase()] : undefined;
  const value = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isFinite(value)) throw optionError(flag, text, `not ${expected}`);
  return value;
}

/** Bytes, from "4096", "4KiB", "1GiB", "1.5GB" (may be negative or fractional: the caller checks the range). */
export function parseSize(flag: string, text: string): number {
  return read(flag, text, SIZE_UNITS, "a size; write a number and a unit, such as 4096, 64MiB or 1GiB");
}

/** Bytes per second, from "10Gbit", "1GiB/s", "100MB/s" (the caller checks the range). */
export function parseRate(flag: string, text: string): number {
  return read(flag, text, RATE_UNITS, "a rate; write a number and a unit, such as 10Gbit, 1GiB/s or 100MB/s");
}

/** Nanoseconds, from "300ms", "1.5s", "50us" (the caller checks the range). */
export function parseDuration(flag: string, text: string): number {
  return read(flag, text, DURATION_UNITS, "a duration; write a number and a unit, such as 300ms, 1.5s or 50us");
}

const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?\s*$/i;

/** A plain decimal number ("0.3", "-5", "1e6"), or ERR_BAD_OPTION. */
export function parseDecimal(flag: string, text: string): number {
  if (!DECIMAL.test(text)) throw optionError(flag, text, "not a number");
  return Number(text);
}

const BINARY_UNITS: ReadonlyArray<readonly [string, number]> = [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 1024]];

/** `bytes` as a user would type it: "4GiB", "3840MiB", "4KiB", "1.5GiB", or plain bytes ("64"). */
export function spellSize(bytes: number): string {
  for (const [unit, factor] of BINARY_UNITS) {
    const v = bytes / factor;
    if (Math.abs(v) >= 1 && Number.isInteger(v * 100)) return `${v}${unit}`;
  }
  return String(bytes);
}

/** `ns` as a user would type it: "300ms", "1.5s", "100us", "60s". */
export function spellDuration(ns: number): string {
  if (ns >= 1e9 || ns === 0) return `${ns / 1e9}s`;
  if (ns >= 1e6) return `${ns / 1e6}ms`;
  if (ns >= 1e3) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

/** "1.5 GiB", "512 MiB", "4 KiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
