// No test can hang: a migration whose policy can never converge (a 1 ns
// downtime limit) must end "cancelled" at its maxRounds or maxTotalTimeNs,
// in bounded time. Each migration runs in a child process
// (test/no-hang.child.ts) under a watchdog that kills it after WATCHDOG_MS:
// an engine that spins without yielding blocks its own event loop, so no
// timer in that process — vitest's test timeout included — could end it,
// but the parent's can. A hang is then a failure after WATCHDOG_MS, not a
// stuck test run. (docs/contributing.md: every migration in a test carries
// maxRounds or maxTotalTimeNs.)
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/** A run takes well under 5 s even on a loaded 2-core machine (tsx start-up included). */
const WATCHDOG_MS = 15_000;
const CHILD = fileURLToPath(new URL("./no-hang.child.ts", import.meta.url));

interface ChildOutcome {
  /** True when the watchdog had to kill the child. */
  readonly killed: boolean;
  readonly exitCode: number | null;
  readonly result: { status: string; stopReason: string; rounds: number; totalTimeMs: number } | null;
  readonly stderr: string;
}

/** Runs one scenario of test/no-hang.child.ts under a watchdog of `watchdogMs`. */
function runScenario(scenario: string, watchdogMs = WATCHDOG_MS): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", CHILD, scenario], { timeout: watchdogMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const killed = err !== null && err.killed === true;
      const exitCode = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      const line = stdout.trim().split("\n").at(-1) ?? "";
      resolve({ killed, exitCode, result: exitCode === 0 && line ? JSON.parse(line) : null, stderr });
    });
  });
}

function expectCancelledInTime(outcome: ChildOutcome, reason: RegExp): void {
  expect(outcome.killed, `killed by the ${WATCHDOG_MS} ms watchdog: the migration did not end`).toBe(false);
  expect(outcome.exitCode, outcome.stderr).toBe(0);
  expect(outcome.result).toMatchObject({ status: "cancelled", stopReason: expect.stringMatching(reason) });
}

describe("a migration that can never converge ends in bounded time", () => {
  it("a guest that keeps dirtying pages gives up at maxRounds: 5 rounds, cancelled", async () => {
    const outcome = await runScenario("busy-max-rounds");
    expectCancelledInTime(outcome, /5 rounds \(maxRounds\)/);
    expect(outcome.result?.rounds).toBe(5);
  });

  it("a guest that keeps dirtying pages gives up at maxTotalTimeNs (20 ms simulated)", async () => {
    const outcome = await runScenario("busy-max-time");
    expectCancelledInTime(outcome, /maxTotalTimeNs/);
    expect(outcome.result?.totalTimeMs).toBeGreaterThanOrEqual(20);
    expect(outcome.result?.totalTimeMs).toBeLessThan(40);
  });

  // A pass that finds nothing to send still moves the engine on: the second
  // such pass in a row syncs, so maxRounds and maxTotalTimeNs are checked and
  // an idle guest whose downtime limit (1 ns) is out of reach gives up.
  it("a guest that dirties nothing gives up at maxRounds and at maxTotalTimeNs", async () => {
    const [rounds, time] = await Promise.all([runScenario("idle-max-rounds"), runScenario("idle-max-time")]);
    expectCancelledInTime(rounds, /maxRounds/);
    expectCancelledInTime(time, /maxTotalTimeNs/);
  });

  it("the watchdog ends a child whose event loop never turns again, within its time", async () => {
    const started = performance.now();
    const outcome = await runScenario("spin", 3000);
    expect(outcome).toMatchObject({ killed: true, result: null });
    expect(performance.now() - started).toBeLessThan(3000 + 2000);
  });
});
