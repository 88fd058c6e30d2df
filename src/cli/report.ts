// Migration results as people read them: QEMU `info migrate` labels in a
// two-column table, and a side-by-side comparison of several runs.
import type { MigrationResult } from "../migration/stats.js";
import { formatCount } from "./units.js";

const kb = (bytes: number): string => `${formatCount(bytes / 1024)} kbytes`;
const ms = (v: number): string => `${v.toFixed(v < 10 ? 2 : 0)} ms`;

/** The rows of QEMU's `info migrate` for one result (label, value). */
export function infoMigrateRows(r: MigrationResult): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ["Migration status", r.status],
    ["stop reason", r.stopReason],
    ["total time", ms(r.totalTime)],
    ["expected downtime", ms(r.expectedDowntime)],
    ["downtime", ms(r.downtime)],
    ["setup", ms(r.setupTime)],
    ["transferred ram", kb(r.ram.transferred)],
    ["throughput", `${r.ram.mbps.toFixed(2)} mbps`],
    ["remaining ram", kb(r.ram.remaining)],
    ["total ram", kb(r.ram.total)],
    ["duplicate", `${formatCount(r.ram.duplicate)} pages`],
    ["normal", `${formatCount(r.ram.normal)} pages`],
    ["normal bytes", kb(r.ram.normalBytes)],
    ["dirty sync count", formatCount(r.ram.dirtySyncCount)],
    ["page size", "4 kbytes"],
    ["pages-per-second", formatCount(r.ram.pagesPerSecond)],
    ["dirty pages rate", `${formatCount(r.ram.dirtyPagesRate)} pages/s`],
    ["precopy ram", kb(r.ram.precopyBytes)],
    ["downtime ram", kb(r.ram.downtimeBytes)],
  ];
  if (r.xbzrleCache) {
    const x = r.xbzrleCache;
    rows.push(
      ["xbzrle cache size", kb(x.cacheSize)],
      ["xbzrle transferred", kb(x.bytes)],
      ["xbzrle pages", `${formatCount(x.pages)} pages`],
      ["xbzrle cache miss", formatCount(x.cacheMiss)],
      ["xbzrle cache miss rate", x.cacheMissRate.toFixed(2)],
      ["xbzrle encoding rate", x.encodingRate.toFixed(2)],
      ["xbzrle overflow", formatCount(x.overflow)],
    );
  }
  rows.push(
    ["cpu throttle percentage", String(r.cpuThrottlePercentage)],
    ["poisoned pages sent", formatCount(r.poisonedPagesSent)],
    ["latent errors found", formatCount(r.latentErrorsFound)],
  );
  if (r.verification) {
    const v = r.verification;
    const ok = v.method === "digest"
      ? `ok: the destination's memory digest matched the source's (${formatCount(v.pagesCompared)} pages, ${v.poisonedPages} poisoned)`
      : `ok: ${formatCount(v.pagesCompared)} pages equal (${v.poisonedPages} poisoned on both)`;
    rows.push(["verification", v.ok ? ok : `MISMATCH at guest page ${v.firstMismatchPfn}`]);
  }
  if (r.error) rows.push(["error", `${r.error.code}: ${r.error.message}`]);
  rows.push(["simulation wall time", ms(r.wallTimeMs)]);
  return rows;
}

/** Aligned columns: a label column, then one value column per result (rows matched by label). */
export function formatColumns(titles: string[], columns: Array<Array<[string, string]>>): string {
  const labels: string[] = [];
  for (const column of columns) {
    let after = -1;
    for (const [label] of column) {
      const at = labels.indexOf(label);
      if (at >= 0) after = at;
      else labels.splice(++after, 0, label);
    }
  }
  const maps = columns.map((c) => new Map(c));
  const labelWidth = Math.max(...labels.map((l) => l.length)) + 2;
  const widths = maps.map((m, j) => Math.max(titles[j].length, ...[...m.values()].map((v) => v.length)) + 2);
  const line = (label: string, values: string[]): string =>
    `${label.padEnd(labelWidth)}${values.map((v, j) => v.padEnd(widths[j])).join("")}`.trimEnd();
  return [line("", titles), ...labels.map((l) => line(l, maps.map((m) => m.get(l) ?? "-")))].join("\n");
}

/** One line per round: round, pages, MiB, ms, pages dirtied, throttle. */
export function roundRows(r: MigrationResult): string {
  const head = "round     pages      MiB  duration ms  dirtied  throttle";
  const rows = r.rounds.map((x) =>
    `${String(x.round).padStart(5)} ${formatCount(x.pagesSent).padStart(9)} ${(x.bytes / 2 ** 20).toFixed(1).padStart(8)} ${x.durationMs.toFixed(1).padStart(12)} ${formatCount(x.pagesDirtied).padStart(8)} ${`${x.throttlePct}%`.padStart(9)}`);
  return [head, ...rows].join("\n");
}
