// Snapshot figures as people read them: a save's rows (pause, save time,
// pages, active set, copies before write) and a restore's (time to run,
// the cold start of the first N accesses, faults, bytes read), side by side
// for several runs, and the line comparing active-first with lazy (REAP's
// figures: cold start faster by a factor, page faults fewer by a share).
import type { ColdStart } from "../snapshot/cold-start.js";
import type { SaveResult } from "../snapshot/save.js";
import { formatBytes, formatCount } from "./units.js";

const ms = (ns: number): string => `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
const wallMs = (v: number): string => `${v.toFixed(v < 10 ? 2 : 0)} ms`;

/** The rows of one save. */
export function saveRows(r: SaveResult): Array<[string, string]> {
  return [
    ["file", `${r.path} (${formatBytes(r.fileBytes)})`],
    ["snapshot", `${r.snapshotId} (${r.kind}${r.basePath ? ` of ${r.basePath}` : ""})`],
    ["pause", `${wallMs(r.pauseWallMs)} wall, no simulated time (the instant of the request)`],
    ["save time", `${ms(r.saveNs)} simulated on ${r.storage}, ${wallMs(r.wallMs)} wall`],
    ["trace window", ms(r.traceWindowNs)],
    ["data pages", formatCount(r.dataPages)],
    ["zero pages", `${formatCount(r.zeroPages)} ${r.kind === "diff" ? "(entries: pages that became zero)" : "(not stored)"}`],
    ["poisoned / ballooned", `${formatCount(r.poisonedPages)} / ${formatCount(r.balloonedPages)} (metadata)`],
    ["active set", `${formatCount(r.activePages)} pages in ${formatCount(r.activeRuns)} runs`],
    ["working set", `${formatCount(r.workingSetPages)} pages (${formatCount(r.duplicatedPages)} also saved before they became active)`],
    ["copied before write", `${formatCount(r.trace.copiedBeforeWrite)} pages (${formatCount(r.trace.copiedBeforeRead)} before a read)`],
    ["guest accesses", `${formatCount(r.guestAccesses)} during the save (${formatCount(r.trace.traceFaults + r.trace.untouchedFirstTouches)} first touches)`],
    ["latent errors found", formatCount(r.latentErrorsFound)],
  ];
}

/** The rows of one restore's cold start. */
export function coldStartRows(c: ColdStart): Array<[string, string]> {
  return [
    ["time to run", `${ms(c.timeToRunNs)} simulated, ${wallMs(c.timeToRunWallMs)} wall`],
    [`first ${formatCount(c.accesses)} accesses`, `${ms(c.coldStartNs)} simulated, ${wallMs(c.coldStartWallMs)} wall`],
    ["pages read before run", formatCount(c.pagesBeforeRun)],
    ["page faults served", formatCount(c.faultsServed)],
    ["prefetched pages", c.prefetch ? formatCount(c.prefetchedPages) : "(no prefetch)"],
    ["bytes read", `${formatBytes(c.bytesRead)} in ${formatCount(c.readRequests)} requests`],
  ];
}

/** How active-first did against lazy, in REAP's terms; null when a figure is missing. */
export function reapLine(rows: readonly ColdStart[]): string | null {
  const lazy = rows.find((r) => r.mode === "lazy");
  const active = rows.find((r) => r.mode === "active-first");
  if (!lazy || !active) return null;
  const speedup = lazy.coldStartNs / active.coldStartNs;
  const fewer = lazy.faultsServed === 0 ? 0 : 1 - active.faultsServed / lazy.faultsServed;
  return `active-first against lazy: cold start ${speedup.toFixed(2)}x faster, ${(fewer * 100).toFixed(0)}% fewer page faults (REAP reports 3.7x and 97% on serverless functions)`;
}
