// The table of `hypermem swap`: one column per run (priority and fifo side
// by side with --compare), the demand-read latency under write-back bursts
// first; then the demand-read histogram and the queue depths over time.
import type { LatencyFigures } from "../swap/figures.js";
import type { SwapRunResult } from "../swap/scenario.js";
import { formatColumns } from "./report.js";
import { formatBytes, formatCount } from "./units.js";

/** 45.5 µs, 2.07 ms, 1.20 s. */
export function formatNs(ns: number): string {
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

const latencyText = (l: LatencyFigures): string =>
  l.count === 0 ? "none" : `${formatCount(l.count)}: p50 ${formatNs(l.p50Ns)}, p99 ${formatNs(l.p99Ns)}, p99.9 ${formatNs(l.p999Ns)}`;

/** The rows of one run (label, value). */
export function swapRows(r: SwapRunResult, wallMs: number): Array<[string, string]> {
  const c = r.counters;
  const p = r.prefetch;
  const rows: Array<[string, string]> = [
    ["guest", `${formatBytes(r.guestPages * 4096)}, ${r.vcpus} vCPUs, limit ${formatBytes(r.frameLimitPages * 4096)}`],
    ["device", `${r.device}, page-cluster ${r.pageCluster}`],
    ["write-back bursts", `${r.bursts} × ${formatBytes(r.burstPages * 4096)}`],
    ["demand reads under burst", latencyText(r.demandUnderBurst)],
    ["demand reads", latencyText(r.latency.demand)],
    ["prefetch reads", latencyText(r.latency.prefetch)],
    ["write-backs", latencyText(r.latency.writeBack)],
    ["prefetch", `${formatCount(p.issued)} issued, ${formatCount(p.hits)} hits, ${formatCount(p.promoted)} promoted, ${formatCount(p.wasted)} wasted, ${formatCount(p.cancelled)} cancelled`],
    ["swap_in", formatCount(c.swap_in)],
    ["swap_out", formatCount(c.swap_out)],
    ["major_faults", formatCount(c.major_faults)],
    ["minor_faults", formatCount(c.minor_faults)],
    ["guest stall", `${formatNs(r.stallNs)} (${(100 * r.stallFraction).toFixed(1)} % of vCPU time)`],
    ["guest accesses", formatCount(r.accesses)],
    ["max queue depth", `demand ${r.maxDepth.demand}, prefetch ${r.maxDepth.prefetch}, write-back ${r.maxDepth.writeBack}`],
    ["corrupt slots", `${c.corruptSlots} (${c.machineChecks} machine checks)`],
  ];
  if (r.real) {
    rows.push(
      ["real I/O: demand reads", latencyText(r.real.latency.demand)],
      ["real I/O: prefetch reads", latencyText(r.real.latency.prefetch)],
      ["real I/O: write-backs", latencyText(r.real.latency.writeBack)],
      ["real I/O: bytes", `${formatBytes(r.real.bytesRead)} read, ${formatBytes(r.real.bytesWritten)} written in ${r.real.wallMs.toFixed(0)} ms`],
    );
  }
  rows.push(["simulation wall time", `${wallMs.toFixed(0)} ms`]);
  return rows;
}

/** Demand-read histogram: one row per bucket, a count per run. */
export function histogramRows(runs: readonly SwapRunResult[]): Array<Array<[string, string]>> {
  const edges = [...new Set(runs.flatMap((r) => r.latency.demand.histogram.map((b) => b.upToNs)))].sort((a, b) => a - b);
  return runs.map((r) => edges.map((upTo): [string, string] => [`<= ${formatNs(upTo)}`, formatCount(r.latency.demand.histogram.find((b) => b.upToNs === upTo)?.count ?? 0)]));
}

/** Queue depths over time: the deepest of each type in each tenth of the run, "demand/prefetch/write-back". */
export function depthRows(runs: readonly SwapRunResult[]): Array<Array<[string, string]>> {
  return runs.map((r) => {
    const tenth = r.simulatedNs / 10;
    return Array.from({ length: 10 }, (_, i): [string, string] => {
      const inside = r.depth.filter((s) => s.atNs >= i * tenth && s.atNs < (i + 1) * tenth);
      const max = (k: "demand" | "prefetch" | "writeBack"): number => inside.reduce((m, s) => Math.max(m, s[k]), 0);
      return [`${formatNs(i * tenth)}..`, `${max("demand")}/${max("prefetch")}/${max("writeBack")}`];
    });
  });
}

/** The whole text report. */
export function swapReport(runs: ReadonlyArray<{ result: SwapRunResult; wallMs: number }>): string {
  const titles = runs.map(({ result }) => result.queues);
  const results = runs.map(({ result }) => result);
  return [
    formatColumns(titles, runs.map(({ result, wallMs }) => swapRows(result, wallMs))),
    "",
    formatColumns(titles.map((t) => `${t}`), histogramRows(results)).replace(/^/, "demand-read latency (count per bucket)\n"),
    "",
    formatColumns(titles, depthRows(results)).replace(/^/, "queue depth over time (max demand/prefetch/write-back)\n"),
  ].join("\n");
}
