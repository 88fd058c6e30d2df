// Child process of test/no-hang.test.ts: runs one in-process migration that
// can never converge (a 1 ns downtime limit) and prints its outcome as one
// JSON line. It runs in a process of its own so that the test can kill it
// from outside: a migration engine that spins without yielding blocks its
// event loop, and no timer inside that process (vitest's test timeout
// included) can then fire.
//
// Usage: node --import tsx test/no-hang.child.ts SCENARIO
//   busy-max-rounds  a guest dirtying pages all along; maxRounds 5
//   busy-max-time    the same guest; maxTotalTimeNs 20 ms (simulated)
//   idle-max-rounds  a guest that dirties nothing; maxRounds 5
//   idle-max-time    the same idle guest; maxTotalTimeNs 20 ms
//   spin             no migration: a synchronous endless loop (the watchdog's own test)
import { createHost, migrate, type MigrationOptions } from "../src/index.js";

const GUEST_PAGES = 4096;
const SCENARIOS: Readonly<Record<string, { busy: boolean; limits: MigrationOptions }>> = {
  "busy-max-rounds": { busy: true, limits: { maxRounds: 5 } },
  "busy-max-time": { busy: true, limits: { maxTotalTimeNs: 20e6 } },
  "idle-max-rounds": { busy: false, limits: { maxRounds: 5 } },
  "idle-max-time": { busy: false, limits: { maxTotalTimeNs: 20e6 } },
};

const name = process.argv[2] ?? "";
if (name === "spin") for (;;);
const scenario = SCENARIOS[name];
if (!scenario) {
  process.stderr.write(`no-hang.child: unknown scenario ${JSON.stringify(name)} (known: ${Object.keys(SCENARIOS).join(", ")}, spin)\n`);
  process.exit(2);
}

const source = createHost({ memoryMiB: 64 });
const destination = createHost({ memoryMiB: 64 });
const vm = source.createVm({ pages: GUEST_PAGES });
vm.write(0, new Uint8Array(64 * 4096).fill(0x5a));
const workload = scenario.busy ? vm.startWorkload({ kind: "uniform", ratePerSec: 1_000_000, writeFraction: 0.5, seed: 7 }) : null;
const started = performance.now();
const result = await migrate(vm, destination, { downtimeLimitNs: 1, workload, ...scenario.limits });
workload?.close();
process.stdout.write(`${JSON.stringify({
  status: result.status,
  stopReason: result.stopReason,
  rounds: result.rounds.length,
  totalTimeMs: result.totalTime,
  wallMs: performance.now() - started,
})}\n`);
