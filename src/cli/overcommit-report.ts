// The tables of `hypermem overcommit`: each VM's final figures (QMP `actual`
// and `target`, virtio-balloon statistics, shares, ρ, the active fraction
// estimated and true), the host's reclamation state and free memory over
// time, and the two experiments' comparisons.
import type { ConditionRow, IdleTaxRow } from "../balloon/experiments.js";
import type { OvercommitResult } from "../balloon/run.js";
import { formatBytes, formatCount } from "./units.js";

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const secs = (ns: number): string => `${(ns / 1e9).toFixed(0)} s`;

/** Fixed-width columns from a header and rows of cells. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: readonly string[]): string => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

export function overcommitReport(r: OvercommitResult, idleTax: number): string {
  const last = r.hostSamples.at(-1)!;
  const head = [
    `host: ${formatCount(r.hostFrames)} frames (${formatBytes(r.hostFrames * 4096)}), ${r.vms.length} VMs, ${secs(r.durationNs)} simulated, idle tax ${pct(idleTax)}`,
    `reclamation state ${last.state}, ${formatCount(last.freeFrames)} frames free (${pct(last.freeFraction)}); ${formatCount(r.movedFrames)} frames moved from one VM's balloon to another`,
  ];
  if (r.overcommitted) head.push(`STOPPED: ${r.overcommitted.message}`);
  const vmRows = r.vms.map((v) => {
    const s = r.vmSamples.filter((x) => x.vm === v.vm).at(-1)!;
    return [
      String(v.vm), formatCount(v.shares), formatBytes(s.actual), formatBytes(s.target), formatCount(s.balloonPages), formatCount(s.residentPages),
      s.activeEstimate.toFixed(2), s.activeTrue.toFixed(2), s.rho.toPrecision(3), formatCount(s["stat-major-faults"]), formatCount(s["stat-minor-faults"]),
      formatCount(s["stat-swap-in"]), formatCount(s["stat-swap-out"]), s.level, s.someAvg10.toFixed(1), formatCount(v.throughputPerSec),
    ];
  });
  const vmTable = table(["vm", "shares", "actual", "target", "balloon", "resident", "f est", "f true", "rho", "major", "minor", "swap-in", "swap-out", "level", "some10", "throughput/s"], vmRows);
  const ids = r.vms.map((v) => v.vm);
  const step = Math.max(1, Math.ceil(r.hostSamples.length / 12));
  const series = r.hostSamples.filter((_, i) => i % step === 0 || i === r.hostSamples.length - 1).map((h) => [
    secs(h.atNs), h.state, pct(h.freeFraction),
    ...ids.map((id) => formatBytes(r.vmSamples.find((v) => v.vm === id && v.atNs === h.atNs)?.actual ?? 0)),
  ]);
  const seriesTable = table(["t", "state", "free", ...ids.map((id) => `vm ${id} actual`)], series);
  return `${head.join("\n")}\n\n${vmTable}\n\n${seriesTable}\n`;
}

export function idleTaxReport(rows: readonly IdleTaxRow[]): string {
  return `${table(
    ["idle tax", "idle VM actual", "active VM actual", "active f est", "major faults", "stall", "throughput/s", "frames moved"],
    rows.map((r) => [pct(r.idleTax), formatBytes(r.idle.actual), formatBytes(r.active.actual), r.active.activeEstimate.toFixed(2),
      formatCount(r.active.majorFaults), `${(r.active.stallNs / 1e9).toFixed(1)} s`, formatCount(r.active.throughputPerSec), formatCount(r.movedFrames)]),
  )}\n`;
}

export function conditionReport(rows: readonly ConditionRow[]): string {
  return `${table(
    ["application follows", "hit rate", "cache", "pages taken by balloon", "major faults", "minor faults", "swap-in", "swap-out", "stall", "notifications"],
    rows.map((r) => [r.policy === "signal" ? "memory condition" : "guest free memory", pct(r.cache.hitRate), formatBytes(r.cache.sizePages * 4096),
      formatCount(r.cache.pagesTakenByBalloon), formatCount(r.majorFaults), formatCount(r.minorFaults), formatCount(r.swapInPages), formatCount(r.swapOutPages),
      `${(r.stallNs / 1e9).toFixed(2)} s`, formatCount(r.cache.notifications)]),
  )}\n`;
}
