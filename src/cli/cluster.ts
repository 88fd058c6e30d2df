// `hypermem cluster`: Kubernetes manifests (and a scenario of pods added and
// deleted over time) scheduled onto hosts as podVMs: by the unified flow (a
// VM scheduler picks the host, the container scheduler is bound to it), by
// two independent schedulers, or both side by side with --compare. Prints the
// totals, per host and per pod tables, or JSON; placements go to stderr as
// they happen (one line each for small runs, one line per scenario step for
// large ones).
import { clusterReport, type ClusterReport } from "../cluster/figures.js";
import { Cluster } from "../cluster/cluster.js";
import type { ClusterMode } from "../cluster/flows.js";
import { parseHostsFile, uniformHosts, type ClusterHost } from "../cluster/hosts.js";
import { checkMaterializable } from "../cluster/materialize.js";
import type { ClusterEvent } from "../cluster/options.js";
import { parseClusterScenario, runClusterScenario, type ClusterScenario, type ScenarioStep } from "../cluster/scenario.js";
import { HypermemError } from "../errors.js";
import { inputText, moreInputs, readInput, type InputText } from "./cluster-files.js";
import { eventLine, hostsTable, podsTable, totalsTable } from "./cluster-report.js";
import { choice, flag, integer, number, size } from "./option-kinds.js";
import { rewrapOptionError, usageError } from "./option-error.js";
import { defineCommand, type CommandContext } from "./registry.js";
import { formatCount } from "./units.js";

/** Runs with at most this many pods print one progress line per event. */
const EVENT_LINES_UP_TO_PODS = 100;

const OPTIONS = {
  pods: inputText({ help: "Kubernetes manifests (YAML or JSON: Pods, Lists, Deployments, RuntimeClasses, PriorityClasses), added at time 0; more files may follow" }),
  scenario: inputText({ help: "a scenario: pods added and deleted over time (manifest paths relative to it)" }),
  "hosts-file": inputText({ help: "the hosts: name, memory, CPUs, labels (and VMs outside Kubernetes)" }),
  hosts: integer({ help: "N identical hosts host-0 .. host-(N-1), instead of --hosts-file", min: 1, max: 100_000 }),
  "host-memory": size({ help: "memory of each of the --hosts", minBytes: 2 ** 20 }),
  "host-cpus": integer({ help: "CPUs of each of the --hosts", min: 1, max: 4096 }),
  "host-max-pods": integer({ help: "podVMs each of the --hosts runs at most (the node's maxPods)", default: "110", min: 1, max: 100_000 }),
  compare: flag({ help: "run the unified flow and the two independent schedulers side by side" }),
  mode: choice({ help: "the flow to run without --compare", choices: ["unified", "independent"] as const, default: "unified" }),
  headroom: number({ help: "share of each host's memory and CPU the VM layer keeps unreserved (admission control)", default: "0", min: 0, max: 0.9, placeholder: "F" }),
  seed: integer({ help: "seed of the container scheduler's tie-breaks", default: "1", min: 0, max: 2 ** 32 - 1 }),
  materialize: flag({ help: "make every podVM a real Vm on a real Host and measure memory used (at most 16 hosts, 8 GiB in all)" }),
  rows: integer({ help: "rows of the per-host and per-pod tables (0: all)", default: "20", min: 0, max: 1_000_000 }),
  json: flag({ help: "print every figure as one JSON object (an error too)" }),
} as const;

const POSITIONALS = {
  more: moreInputs({ help: "more manifest files, after --pods (one per word)" }),
} as const;

interface ClusterPlan {
  readonly hosts: readonly ClusterHost[];
  readonly scenario: ClusterScenario;
  readonly modes: readonly ClusterMode[];
  readonly headroom: number;
  readonly seed: number;
  readonly materialize: boolean;
  readonly rows: number;
  readonly json: boolean;
}

interface HostFlags {
  readonly "hosts-file"?: InputText;
  readonly hosts?: number;
  readonly "host-memory"?: number;
  readonly "host-cpus"?: number;
  readonly "host-max-pods": number;
}

/** The hosts of --hosts-file (its errors naming the flag), or of --hosts N --host-memory --host-cpus. */
function hostsOf(v: HostFlags): ClusterHost[] {
  const file = v["hosts-file"];
  if (file !== undefined) {
    try {
      return parseHostsFile(file.file, file.text);
    } catch (err) {
      throw rewrapOptionError(file.flag, file.given, err);
    }
  }
  if (v.hosts === undefined) throw usageError("missing --hosts-file FILE, or --hosts N with --host-memory SIZE and --host-cpus N", { option: "--hosts-file" });
  return uniformHosts({ count: v.hosts, memoryBytes: v["host-memory"]!, cpus: v["host-cpus"]!, maxPods: v["host-max-pods"] });
}

/** Progress on stderr: a line per event for small runs, a line per scenario step for large ones. */
class Progress {
  readonly #ctx: CommandContext;
  readonly #perEvent: boolean;
  readonly #counts = new Map<ClusterEvent["kind"], number>();

  constructor(ctx: CommandContext, scenario: ClusterScenario) {
    this.#ctx = ctx;
    this.#perEvent = scenario.steps.reduce((n, s) => n + s.add.length, 0) <= EVENT_LINES_UP_TO_PODS;
  }

  event(e: ClusterEvent): void {
    if (this.#perEvent) this.#ctx.stderr.write(`${eventLine(e)}\n`);
    else this.#counts.set(e.kind, (this.#counts.get(e.kind) ?? 0) + 1);
  }

  step(mode: ClusterMode, step: ScenarioStep): void {
    if (this.#perEvent) return;
    const n = (k: ClusterEvent["kind"]): string => formatCount(this.#counts.get(k) ?? 0);
    this.#ctx.stderr.write(`t=${step.atNs / 1e9}s ${mode}: ${n("deleted")} deleted, ${n("placed")} placed, ${n("refused")} refused, ${n("bind-failed")} binds failed\n`);
    this.#counts.clear();
  }
}

function runOne(plan: ClusterPlan, mode: ClusterMode, ctx: CommandContext): ClusterReport {
  const progress = new Progress(ctx, plan.scenario);
  const cluster = new Cluster(plan.hosts, {
    mode, headroom: plan.headroom, seed: plan.seed, materialize: plan.materialize, onEvent: (e) => progress.event(e),
  });
  try {
    const started = performance.now();
    runClusterScenario(cluster, plan.scenario, (step) => progress.step(mode, step));
    const report = clusterReport(cluster);
    const t = report.totals;
    ctx.stderr.write(`${mode}: ${formatCount(t.placed)} pods placed, ${formatCount(t.refused)} waiting, ${formatCount(t.bindFailures)} binds failed, in ${((performance.now() - started) / 1e3).toFixed(2)} s\n`);
    return report;
  } finally {
    cluster.close();
  }
}

export const clusterCommand = defineCommand({
  name: "cluster",
  summary: "schedule Kubernetes pods as podVMs: a VM scheduler picks the host and the container scheduler is bound to it",
  description: "Reads Kubernetes manifests (Pods, Lists, Deployments expanded to their replicas, RuntimeClasses with " +
    "overhead.podFixed, PriorityClasses) and sizes each pod's podVM from its containers' limits (requests where there " +
    "is no limit) plus the RuntimeClass overhead. The unified flow lets a DRS-like VM scheduler (admission control, " +
    "affinity rules, a balance score) pick the host, then runs the Kubernetes scheduling framework limited to that " +
    "host; the independent flow lets Kubernetes pick a node on its own, then the VM layer must fit the podVM there. " +
    "--compare runs both and prints pods placed, refused, binds failed, fragmentation and balance side by side. " +
    "A --scenario adds and deletes pods over time. Files may be given as example:NAME (hypermem's examples/ folder).",
  options: OPTIONS,
  positionals: POSITIONALS,
  rules: {
    notWith: [
      ["hosts-file", "hosts", "the hosts come from one or the other"],
      ["hosts-file", "host-memory", "the hosts file gives each host's memory"],
      ["hosts-file", "host-cpus", "the hosts file gives each host's CPUs"],
      ["compare", "mode", "--compare runs both flows"],
    ],
    needs: [
      ["hosts", "host-memory", "every host needs its memory"],
      ["hosts", "host-cpus", "every host needs its CPUs"],
      ["host-memory", "hosts", "the size of the --hosts"],
      ["host-cpus", "hosts", "the CPUs of the --hosts"],
      ["host-max-pods", "hosts", "the pod capacity of the --hosts"],
    ],
  },
  examples: [
    "hypermem cluster --pods example:runtimeclass.yaml example:web.yaml example:db.yaml --hosts-file example:hosts.yaml --compare",
    "hypermem cluster --scenario example:scenario.yaml --hosts-file example:hosts.yaml --compare --json",
    "hypermem cluster --pods example:small.yaml --hosts 2 --host-memory 512MiB --host-cpus 2 --materialize",
  ],
  validate(v): ClusterPlan {
    const hosts = hostsOf(v);
    const manifests = [...(v.pods ? [v.pods] : []), ...(v.more ?? [])];
    if (manifests.length === 0 && v.scenario === undefined) throw usageError("missing --pods FILE or --scenario FILE (the pods to schedule)", { option: "--pods" });
    let scenario: ClusterScenario;
    try {
      scenario = parseClusterScenario({ pods: manifests, scenario: v.scenario, readText: (path) => readInput("--scenario", path).text });
    } catch (err) {
      // Name the flag (or argument) and the words of the file at fault; files a scenario names are the scenario's.
      const file = err instanceof HypermemError ? err.details.file : undefined;
      const culprit = manifests.find((m) => m.file === file) ?? v.scenario ?? manifests[0];
      throw rewrapOptionError(culprit.flag, culprit.given, err);
    }
    if (v.materialize) {
      try {
        checkMaterializable(hosts);
      } catch (err) {
        if (!(err instanceof HypermemError)) throw err;
        throw new HypermemError(err.code, `--materialize: ${err.message.replace(/^materialize: /, "")}`, { ...err.details, option: "--materialize" });
      }
    }
    return Object.freeze({
      hosts, scenario, modes: v.compare ? ["unified", "independent"] as const : [v.mode], headroom: v.headroom, seed: v.seed,
      materialize: v.materialize, rows: v.rows, json: v.json,
    });
  },
  run(plan, ctx) {
    const warnings = plan.scenario.warnings.lines();
    for (const w of warnings) ctx.stderr.write(`warning: ${w}\n`);
    const reports = plan.modes.map((mode) => runOne(plan, mode, ctx));
    if (plan.json) {
      const results = Object.fromEntries(reports.map((r) => [r.mode, r]));
      ctx.stdout.write(`${JSON.stringify({ hosts: plan.hosts.length, warnings, results })}\n`);
      return 0;
    }
    const pods = plan.scenario.steps.reduce((n, s) => n + s.add.length, 0);
    const out = [
      `${formatCount(plan.hosts.length)} hosts, ${formatCount(pods)} pods in ${plan.scenario.steps.length} scenario step(s)`,
      "",
      totalsTable(reports),
      ...reports.flatMap((r) => ["", hostsTable(r, plan.rows), "", podsTable(r, plan.rows)]),
    ];
    ctx.stdout.write(`${out.join("\n")}\n`);
    return 0;
  },
});
