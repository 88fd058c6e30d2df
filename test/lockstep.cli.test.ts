// `hypermem lockstep`: the table, --json with a record per resync, a
// failover, --compare-checkpointing side by side, the nondeterminism sweep,
// and absurd flags refused naming the flag as typed.
import { describe, expect, it } from "vitest";
import { runCliCaptured } from "./cli-capture.js";

const lockstep = (args: string[]) => runCliCaptured(["lockstep", ...args]);

describe("hypermem lockstep", () => {
  it("prints COLO's figures and a progress line per simulated second", async () => {
    const r = await lockstep(["--guest", "2MiB", "--duration", "2s", "--rate", "20000", "--nondeterminism", "5"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/outputs compared \/ matched\s+\d+ \/ \d+/);
    expect(r.stdout).toMatch(/by cause\s+mismatch \d+, timeout 0, queue full 0, periodic 0/);
    expect(r.stdout).toMatch(/resyncs verified\s+(\d+) of \1/);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("lockstep: ")).length).toBe(2);
  });

  it("--json with --fail-at: failed over, every packet once", async () => {
    const r = await lockstep(["--guest", "2MiB", "--duration", "300ms", "--rate", "20000", "--nondeterminism", "20", "--fail-at", "150ms", "--json"]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe("failed-over");
    expect(j.failover.failAtMs).toBe(150);
    expect(j.packets.outOfOrder).toBe(0);
    expect(j.resyncRecords[0].cause).toBe("initial");
    expect(r.stderr).toBe("");
  });

  it("--compare-checkpointing prints both techniques; --sweep-nondeterminism one column per rate and checkpointing", async () => {
    const c = await lockstep(["--guest", "2MiB", "--duration", "300ms", "--rate", "20000", "--nondeterminism", "10", "--compare-checkpointing"]);
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/lockstep\s+checkpointing 25ms/);
    const s = await lockstep(["--guest", "2MiB", "--duration", "200ms", "--rate", "20000", "--sweep-nondeterminism", "0,100", "--json"]);
    expect(s.status).toBe(0);
    const j = JSON.parse(s.stdout);
    expect(j.lockstep.map((x: { nondeterminism: { perSec: number } }) => x.nondeterminism.perSec)).toEqual([0, 100]);
    expect(j.lockstep[0].checkpoints.total).toBe(0);
    expect(j.lockstep[1].checkpoints.total).toBeGreaterThan(0);
    expect(j.checkpointing.technique).toBe("checkpointing");
    expect(j.checkpointing.checkpoints).toBeGreaterThan(5);
  });

  it.each([
    [["--nondeterminism", "-3"], /--nondeterminism -3: must be a number from 0 to 1000000/],
    [["--compare-timeout", "0s"], /--compare-timeout 0s: /],
    [["--max-queue", "0"], /--max-queue 0: must be an integer from 1 to 1048576/],
    [["--sweep-nondeterminism", "1,,2"], /--sweep-nondeterminism 1,,2: an empty item in the list/],
    [["--workload", "trace:/nonexistent.trace"], /--workload/],
    [["--sweep-nondeterminism", "0,1", "--nondeterminism", "3"], /sweep/],
  ])("refuses %j naming the flag", async (args, message) => {
    const r = await lockstep(["--guest", "2MiB", ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });
});
