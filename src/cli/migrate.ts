// `hypermem migrate`: builds a guest (prefilled, running a workload, with
// injected memory errors if asked), live-migrates it to a second host over a
// simulated link or to a `hypermem listen` destination over TCP, and prints
// QEMU's `info migrate` figures (or JSON). Exit status 0 when it completed and
// verified, 1 otherwise, 130 when interrupted (Ctrl-C: the figures so far, cancelled).
import { ExitStatus } from "./failure.js";
import { MIGRATE_OPTIONS, MIGRATE_RULES } from "./migrate-options.js";
import { planMigration, type MigratePlan } from "./migrate-plan.js";
import { runMigration, runTcpMigration, tcpRows } from "./migrate-run.js";
import { defineCommand, type CommandContext } from "./registry.js";
import { formatColumns, infoMigrateRows, roundRows } from "./report.js";
import { printWarnings } from "./token-file.js";

async function overTcp(plan: MigratePlan, ctx: CommandContext): Promise<number> {
  printWarnings("migrate", plan.to!.warnings, ctx.stderr);
  const signal = ctx.interrupts();
  const result = await runTcpMigration(plan.scenario, plan.migration, plan.to!, plan.json ? null : ctx.stderr, signal);
  if (plan.json) {
    ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const { tcp, ...rest } = result;
    ctx.stdout.write(`${formatColumns(["result"], [[...infoMigrateRows(rest), ...tcpRows(tcp)]])}\n\n${roundRows(rest)}\n`);
  }
  if (signal.aborted) return ExitStatus.interrupted;
  return result.status === "completed" && result.verification?.ok === true ? ExitStatus.ok : ExitStatus.failed;
}

async function inProcess(plan: MigratePlan, ctx: CommandContext): Promise<number> {
  const signal = ctx.interrupts();
  const result = await runMigration(plan.scenario, plan.migration, { progress: ctx.stderr, signal });
  if (plan.json) {
    ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    ctx.stdout.write(`${formatColumns(["result"], [infoMigrateRows(result)])}\n\n${roundRows(result)}\n`);
  }
  if (signal.aborted) return ExitStatus.interrupted;
  return result.status === "completed" && result.verification?.ok !== false ? ExitStatus.ok : ExitStatus.failed;
}

export const migrateCommand = defineCommand({
  name: "migrate",
  summary: "live-migrate a guest between two simulated hosts, or to a `hypermem listen` destination over TCP",
  description: "Builds a guest (prefilled with seeded data, running a workload, with injected memory errors if asked), " +
    "live-migrates it with pre-copy to a second host over a simulated link (or over TCP with --to), verifies the " +
    "destination's memory and prints QEMU's `info migrate` figures and the rounds. Progress goes to stderr. " +
    "A guest whose workload can outgrow its hosts is refused before any work, with the arithmetic.",
  options: MIGRATE_OPTIONS,
  rules: MIGRATE_RULES,
  examples: [
    "hypermem migrate --guest 1GiB --workload hotcold:0.1,0.9 --xbzrle --auto-converge --inject-errors 3",
    "hypermem migrate --guest 16GiB --prefill 0.125 --workload-pages 2GiB --host-memory 4GiB",
    "hypermem migrate --workload trace:run.hmtr --guest 64MiB --json",
    "hypermem migrate --to 127.0.0.1:7000 --token-file secret.txt --guest 1GiB --xbzrle",
  ],
  validate: planMigration,
  run: (plan, ctx) => (plan.to ? overTcp(plan, ctx) : inProcess(plan, ctx)),
});

/** Parses and checks `hypermem migrate` arguments into a plan (the work is not started). */
export function parseMigrateArgs(args: readonly string[]): Promise<MigratePlan> {
  return migrateCommand.prepare(args) as Promise<MigratePlan>;
}
