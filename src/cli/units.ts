// Values with units for the command line: sizes (4KiB, 1GiB), rates
// (10Gbit, 1GiB/s, 100MB/s) and durations (300ms, 1.5s). A bad value is
// ERR_BAD_OPTION naming the option and the text.
import { ErrorCode, HypermemError } from "../errors.js";

const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1, k: 1024, kib: 1024, kb: 1e3, m: 2 ** 20, mib: 2 ** 20, mb: 1e6, g: 2 ** 30, gib: 2 ** 30, gb: 1e9, t: 2 ** 40, tib: 2 ** 40, tb: 1e12,
};
/** Bytes per second per unit; bit units are divided by 8. */
const RATE_UNITS: Record<string, number> = {
  "bit": 1 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "tbit": 1e12 / 8,
  "b/s": 1, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9, "kib/s": 1024, "mib/s": 2 ** 20, "gib/s": 2 ** 30,
  "bps": 1 / 8, "kbps": 1e3 / 8, "mbps": 1e6 / 8, "gbps": 1e9 / 8,
};
const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, min: 60e9 };

function bad(option: string, text: string, expected: string): HypermemError {
  return new HypermemError(ErrorCode.BadOption, `${option}: cannot read ${JSON.stringify(text)} as ${expected}`, { option, value: text });
}

function split(text: string): [number, string] | null {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zµ/]*)\s*$/i.exec(text);
  return m ? [Number(m[1]), m[2].toLowerCase()] : null;
}

/** Bytes, from "4096", "4KiB", "1GiB", "1.5GB". */
export function parseSize(option: string, text: string): number {
  const p = split(text);
  const unit = p ? SIZE_UNITS[p[1]] : undefined;
  if (!p || unit === undefined || !Number.isFinite(p[0] * unit)) throw bad(option, text, "a size such as 4096, 64MiB or 1GiB");
  return p[0] * unit;
}

/** Bytes per second, from "10Gbit", "1GiB/s", "100MB/s". */
export function parseRate(option: string, text: string): number {
  const p = split(text);
  const unit = p ? RATE_UNITS[p[1]] : undefined;
  if (!p || unit === undefined || p[0] <= 0) throw bad(option, text, "a rate such as 10Gbit, 1GiB/s or 100MB/s");
  return p[0] * unit;
}

/** Nanoseconds, from "300ms", "1.5s", "50us". */
export function parseDuration(option: string, text: string): number {
  const p = split(text);
  const unit = p ? DURATION_UNITS[p[1]] : undefined;
  if (!p || unit === undefined) throw bad(option, text, "a duration such as 300ms, 1.5s or 50us");
  return p[0] * unit;
}

/** A plain number in [min, max], for options without units. */
export function parseNumber(option: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < min || v > max) throw bad(option, text, `a number in [${min}, ${max}]`);
  return v;
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
