// `hypermem ft`: the table, --json with a record per epoch, a failover that
// verifies, the epoch sweep, progress per simulated second, and flags
// refused naming the flag as typed.
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli/cli.js";

async function ft(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const status = await runCli(["ft", ...args], {
    stdout: { write: (t: string) => { out += t; } },
    stderr: { write: (t: string) => { err += t; } },
    debug: false,
    watchInterrupts: () => () => {},
  });
  return { status, out, err };
}

describe("hypermem ft", () => {
  it("prints the figures and a progress line per simulated second", async () => {
    const r = await ft(["--guest", "4MiB", "--duration", "2s", "--rate", "50000"]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/checkpoints per second\s+\d/);
    expect(r.out).toMatch(/backup verified\s+yes/);
    expect(r.err.split("\n").filter((l) => l.startsWith("ft: ")).length).toBe(2);
  });

  it("--json has a record per epoch; --fail-at fails over and verifies", async () => {
    const r = await ft(["--guest", "4MiB", "--duration", "400ms", "--rate", "50000", "--fail-at", "200ms", "--json"]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.status).toBe("failed-over");
    expect(j.failover.verified).toBe(true);
    expect(j.failover.failoverTimeMs).toBeGreaterThanOrEqual(90);
    expect(j.epochRecords.filter((e: { checkpoint: number }) => e.checkpoint >= 0).length).toBe(j.epochs + 1);
    expect(j.epochRecords[3].epoch).toBe(3);
    expect(r.err).toBe("");
  });

  it("--sweep-epoch prints one column per epoch length; shorter epochs pause the guest more often", async () => {
    const r = await ft(["--guest", "4MiB", "--duration", "500ms", "--rate", "50000", "--sweep-epoch", "10ms,100ms", "--json"]);
    expect(r.status).toBe(0);
    const [short, long] = JSON.parse(r.out);
    expect(short.epochMs).toBe(10);
    expect(long.epochMs).toBe(100);
    expect(short.checkpointsPerSec).toBeGreaterThan(long.checkpointsPerSec * 5);
    expect(short.packetLatencyMs.p50).toBeLessThan(long.packetLatencyMs.p50);
  });

  it("refuses absurd flags naming the flag as typed", async () => {
    for (const [args, text] of [
      [["--epoch", "0ms"], "--epoch 0ms"],
      [["--epoch", "20s"], "--epoch 20s"],
      [["--sweep-epoch", "10ms,,20ms"], "--sweep-epoch 10ms,,20ms"],
      [["--sweep-epoch", "10ms", "--epoch", "25ms"], "--sweep-epoch"],
      [["--heartbeat-timeout", "5ms"], "--heartbeat-timeout 5ms"],
      [["--in-flight", "sometimes"], "--in-flight sometimes"],
    ] as const) {
      const r = await ft([...args]);
      expect(r.status).toBe(2);
      expect(r.err).toContain(text);
    }
  });
});
