// What `hypermem cluster` prints: the totals of each flow side by side, then
// per host and per pod tables (the first --rows rows; --json has them all),
// and the progress lines written to stderr as placements happen.
import type { ClusterEvent } from "../cluster/options.js";
import type { ClusterReport, HostFigures, PodFigures } from "../cluster/figures.js";
import { formatColumns } from "./report.js";
import { formatBytes, formatCount } from "./units.js";

const TITLES: Readonly<Record<ClusterReport["mode"], string>> = { unified: "unified (podVM)", independent: "independent" };

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const cpus = (milli: number): string => (milli / 1000).toFixed(2);

/** "147 µs", "2.35 ms", "1.20 s". */
export function formatMicros(us: number): string {
  if (us < 1000) return `${us.toFixed(0)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

function totalRows(r: ClusterReport): Array<[string, string]> {
  const t = r.totals;
  return [
    ["pods", formatCount(t.pods)],
    ["pods placed (running)", formatCount(t.placed)],
    ["pods refused (waiting)", formatCount(t.refused)],
    ["pods deleted", formatCount(t.deleted)],
    ["binds failed (layers disagreed)", formatCount(t.bindFailures)],
    ["memory reserved", `${formatBytes(t.memoryReservedBytes)} of ${formatBytes(t.memoryBytes)}`],
    [`memory used (${t.memoryUsed})`, formatBytes(t.memoryUsedBytes)],
    ["CPUs reserved", `${cpus(t.milliCpuReserved)} of ${cpus(t.milliCpu)}`],
    ["fragmentation (free memory stranded)", pct(t.fragmentation)],
    ["balance: stdev of host memory use", pct(t.memoryBalanceStdDev)],
    ["balance: stdev of host CPU use", pct(t.cpuBalanceStdDev)],
    ["scheduling latency p50", formatMicros(t.schedulingLatencyUs.p50)],
    ["scheduling latency p99", formatMicros(t.schedulingLatencyUs.p99)],
    ["scheduling time, all attempts", formatMicros(t.schedulingLatencyUs.total)],
    ...(t.memoryUsed === "measured" ? [["making podVMs real (materialize)", formatMicros(t.materializeWallMs * 1000)] as [string, string]] : []),
  ];
}

/** The totals of each report, one column per flow. */
export function totalsTable(reports: readonly ClusterReport[]): string {
  return formatColumns(reports.map((r) => TITLES[r.mode]), reports.map(totalRows));
}

/** A left-aligned table of `rows` under `head`. */
function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)) + 2);
  const line = (cells: readonly string[]): string => cells.map((c, j) => c.padEnd(widths[j])).join("").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

function clipped<T>(items: readonly T[], rows: number, what: string, render: (shown: readonly T[]) => string): string {
  const shown = rows === 0 ? items : items.slice(0, rows);
  const more = items.length - shown.length;
  return `${render(shown)}${more > 0 ? `\n(${formatCount(more)} more ${what}: --rows N, or --json for all)` : ""}`;
}

/** Per host: podVMs, memory reserved and used, what Kubernetes thinks is requested there, CPUs. */
export function hostsTable(r: ClusterReport, rows: number): string {
  const head = ["host", "podVMs", "other VMs", "memory", "reserved", "used", "k8s requests", "CPUs", "reserved", "vCPUs"];
  return `hosts, ${TITLES[r.mode]}\n${clipped(r.hosts, rows, "hosts", (hs) => table(head, hs.map((h: HostFigures) => [
    h.name, String(h.podVms), String(h.otherVms), formatBytes(h.memoryBytes), formatBytes(h.memoryReservedBytes), formatBytes(h.memoryUsedBytes),
    formatBytes(h.kubernetesRequestedBytes), String(h.cpus), cpus(h.milliCpuReserved), String(h.vcpus),
  ])))}`;
}

/** Per pod: where it runs, its podVM, what Kubernetes accounts, its scheduling latency, its state. */
export function podsTable(r: ClusterReport, rows: number): string {
  const head = ["pod", "status", "host", "podVM memory", "vCPUs", "k8s requests", "attempts", "latency", "why waiting"];
  return `pods, ${TITLES[r.mode]}\n${clipped(r.pods, rows, "pods", (ps) => table(head, ps.map((p: PodFigures) => [
    p.pod, p.status, p.host ?? "-", formatBytes(p.podVm.memoryBytes), String(p.podVm.vcpus),
    `${formatBytes(p.requests.memoryBytes)}, ${cpus(p.requests.milliCpu)} CPU`, String(p.attempts), formatMicros(p.schedulingLatencyUs),
    p.status === "pending" ? p.reason ?? "" : "",
  ])))}`;
}

/** One progress line for an event: "t=60s independent: bind-failed default/web-5 on esx-b1 (VM layer refused ...)". */
export function eventLine(e: ClusterEvent): string {
  const where = e.host ? (e.kind === "placed" ? ` on ${e.host}` : e.kind === "bind-failed" ? ` to ${e.host}` : ` from ${e.host}`) : "";
  return `t=${e.atNs / 1e9}s ${e.mode}: ${e.kind} ${e.pod}${where}${e.reason ? ` (${e.reason})` : ""}`;
}
