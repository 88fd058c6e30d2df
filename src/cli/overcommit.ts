// `hypermem overcommit`: several VMs on a host with less memory than they add
// up to, under the memory scheduler (balloons, shares, reservations, limits,
// the idle-memory tax from sampled working sets); prints each VM's final
// allocation (QMP `actual`) and statistics and the host's state over time, or
// the whole time series as JSON. --experiment idle-tax reproduces
// Waldspurger's experiment; --experiment condition compares an application
// that follows the memory condition with one that sees free memory only.
// --swap-file adds hypervisor swap as the scheduler's last step below
// ballooning (overcommit-swap.ts) and prints pages ballooned against pages
// swapped per VM. Exit status 1 when the host was over-committed
// (ERR_HOST_OVERCOMMITTED).
import { conditionExperiment, idleTaxExperiment } from "../balloon/experiments.js";
import { runOvercommit } from "../balloon/run.js";
import { ExitStatus } from "./failure.js";
import { OVERCOMMIT_OPTIONS, planOvercommit, type OvercommitPlan } from "./overcommit-options.js";
import { OvercommitSwap, swapReport } from "./overcommit-swap.js";
import { conditionReport, idleTaxReport, overcommitReport } from "./overcommit-report.js";
import { defineCommand, type CommandContext } from "./registry.js";

function runExperiment(plan: Extract<OvercommitPlan, { kind: "experiment" }>, ctx: CommandContext): number {
  const v = plan.values;
  const options = { durationNs: v.duration, seed: v.seed, samplePeriodNs: v["sample-period"], reallocPeriodNs: v["realloc-period"] };
  ctx.stderr.write(`running the ${plan.experiment} experiment: two runs of ${v.duration / 1e9} s simulated...\n`);
  const rows = plan.experiment === "idle-tax" ? idleTaxExperiment(options) : conditionExperiment(options);
  if (v.json) ctx.stdout.write(`${JSON.stringify({ experiment: plan.experiment, rows }, null, 2)}\n`);
  else ctx.stdout.write(plan.experiment === "idle-tax" ? idleTaxReport(rows as ReturnType<typeof idleTaxExperiment>) : conditionReport(rows as ReturnType<typeof conditionExperiment>));
  return ExitStatus.ok;
}

function run(plan: OvercommitPlan, ctx: CommandContext): number {
  if (plan.kind === "experiment") return runExperiment(plan, ctx);
  const swap = plan.swap === null ? null : new OvercommitSwap(plan.swap.path, plan.swap.capacityPages);
  try {
    return runWith(plan, swap, ctx);
  } finally {
    swap?.close();
  }
}

function runWith(plan: Extract<OvercommitPlan, { kind: "run" }>, swap: OvercommitSwap | null, ctx: CommandContext): number {
  const v = plan.values;
  const tenth = Math.max(1e9, Math.round(v.duration / 10 / 1e9) * 1e9);
  const result = runOvercommit({
    hostMemoryMiB: v["host-memory"]! / 2 ** 20,
    vms: plan.vms.map((c) => c.config),
    durationNs: v.duration,
    scheduler: {
      idleTax: v["idle-tax"] / 100, samplePeriodNs: v["sample-period"], reallocPeriodNs: v["realloc-period"],
      samplePages: v["sample-pages"], balloonMaxFraction: v["balloon-max"] / 100, seed: v.seed,
    },
    ...(swap === null ? {} : { makeReclaimSteps: swap.makeSteps }),
    onProgress: (atNs) => { if (atNs % tenth === 0) ctx.stderr.write(`t=${atNs / 1e9} s\n`); },
  });
  const swapped = swap?.outcome() ?? null;
  if (v.json) ctx.stdout.write(`${JSON.stringify(swapped === null ? result : { ...result, hypervisorSwap: swapped }, null, 2)}\n`);
  else {
    ctx.stdout.write(overcommitReport(result, v["idle-tax"] / 100));
    if (swapped !== null) ctx.stdout.write(`\n${swapReport(swapped, new Map(result.vms.map((m) => [m.vm, m.balloonPages])))}`);
  }
  if (result.overcommitted) {
    ctx.stderr.write(`hypermem overcommit: ERR_HOST_OVERCOMMITTED: ${result.overcommitted.message}\n`);
    return ExitStatus.failed;
  }
  return ExitStatus.ok;
}

export const overcommitCommand = defineCommand({
  name: "overcommit",
  summary: "several VMs on too little memory: balloons, shares, the idle-memory tax, memory conditions",
  description: "Runs VMs whose memory adds up to more than the host's under an ESX-style memory scheduler: balloon " +
    "drivers in the guests, proportional shares with reservations and limits, the idle-memory tax from sampled " +
    "working sets, frames moved from one VM's balloon to another, reclamation states by free memory. Prints each " +
    "VM's final allocation (QMP `actual`) and virtio-balloon statistics and the host over time (or all of it as " +
    "JSON time series). With --swap-file, hypervisor swap is the last step below ballooning (ESX's order) and each VM's " +
    "pages ballooned and swapped are printed. Exit status 1 when the host would have run out of frames (ERR_HOST_OVERCOMMITTED).",
  options: OVERCOMMIT_OPTIONS,
  examples: [
    "hypermem overcommit --host-memory 96MiB --vm 64MiB,workload=idle,prefill=1 --vm 64MiB,workload=uniform,rate=5000 --duration 1min",
    "hypermem overcommit --host-memory 12MiB --vm 8MiB,workload=uniform,rate=4000 --vm 8MiB,workload=uniform,rate=4000 --balloon-max 10 --swap-file overcommit.swap --duration 3s",
    "hypermem overcommit --experiment idle-tax --duration 2min",
  ],
  validate: planOvercommit,
  run,
});
