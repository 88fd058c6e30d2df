// `hypermem swap` and the scenario behind it: --compare puts priority and
// fifo side by side on the same workload and seed (demand reads under a
// write-back burst are the headline); runs are deterministic; --io real
// replays the requests and reports bytes; bad input is refused before any
// work, naming the flag as typed.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compareQueues, type SwapScenarioOptions } from "../src/index.js";
import { runCliCaptured, type CapturedRun } from "./cli-capture.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-swap-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...argv: string[]): Promise<CapturedRun> => runCliCaptured(argv);
const SMALL = ["--guest", "8MiB", "--frames-limit", "4MiB", "--duration", "20ms"];

/** SMALL with `flags` ("--name", value pairs) replacing or added to its own. */
function small(...flags: string[]): string[] {
  const out = [...SMALL];
  for (let i = 0; i < flags.length; i += 2) {
    const at = out.indexOf(flags[i]);
    if (at >= 0) out.splice(at, 2, flags[i], flags[i + 1]);
    else out.push(flags[i], flags[i + 1]);
  }
  return out;
}

describe("swap scenario", () => {
  const options: SwapScenarioOptions = {
    guestPages: 2048, frameLimitPages: 1024, workload: { kind: "zipf", s: 0.8, seed: 7 }, durationNs: 20e6, swap: { path: join(dir, "scenario.swap") },
  };

  it("priority keeps demand reads ahead of a write-back burst; fifo queues them behind it; the counters agree with the device", async () => {
    const [priority, fifo] = await compareQueues(options);
    expect([priority.queues, fifo.queues]).toEqual(["priority", "fifo"]);
    expect(priority.bursts).toBe(4);
    expect(priority.demandUnderBurst.count).toBeGreaterThan(0);
    expect(fifo.demandUnderBurst.count).toBeGreaterThan(0);
    expect(priority.demandUnderBurst.p99Ns * 2).toBeLessThan(fifo.demandUnderBurst.p99Ns);
    expect(priority.latency.demand.p99Ns * 2).toBeLessThan(fifo.latency.demand.p99Ns);
    for (const r of [priority, fifo]) {
      expect(r.counters.swap_in).toBe(r.counters.major_faults + r.counters.minor_faults);
      expect(r.counters.swap_out).toBe(r.latency.writeBack.count + r.depth.at(-1)!.writeBack);
      expect(r.prefetch.hits).toBe(r.counters.minor_faults);
      expect(r.latency.demand.histogram.reduce((n, b) => n + b.count, 0)).toBe(r.latency.demand.count);
      expect(r.stallNs).toBe(r.counters.stallNs);
    }
    expect(existsSync(options.swap!.path!)).toBe(false);
  }, 120_000);

  it("is deterministic: the same options give the same figures", async () => {
    const a = await compareQueues({ ...options, durationNs: 5e6 });
    const b = await compareQueues({ ...options, durationNs: 5e6 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  }, 120_000);
});

describe("hypermem swap", () => {
  it("--compare prints priority and fifo side by side, the demand reads under bursts first", async () => {
    const r = await cli("swap", ...SMALL, "--compare");
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^\s+priority\s+fifo$/);
    for (const label of ["demand reads under burst", "demand reads", "prefetch reads", "write-backs", "prefetch", "swap_in", "swap_out", "major_faults", "guest stall", "max queue depth", "demand-read latency", "queue depth over time"]) {
      expect(lines.some((l) => l.startsWith(label)), label).toBe(true);
    }
    expect(lines.find((l) => l.startsWith("demand reads under burst"))).toMatch(/p50 .* p99 .* p99\.9 .*p50 .* p99 .* p99\.9/);
    expect(r.stderr).toContain("swap: queues priority");
    expect(r.stderr).toContain("swap: queues fifo");
  }, 120_000);

  it("--json --io real --swap-file: one run with the replay's bytes; the swap file is gone afterwards", async () => {
    const path = join(dir, "cli.swap");
    const r = await cli("swap", ...small("--duration", "10ms", "--device", "sata-ssd", "--io", "real", "--swap-file", path), "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { runs: Array<{ queues: string; device: string; real: { bytesRead: number; bytesWritten: number; latency: Record<string, { count: number }> } }> };
    expect(out.runs).toHaveLength(1);
    const run = out.runs[0];
    expect(run).toMatchObject({ queues: "priority", device: "sata-ssd" });
    const reads = run.real.latency.demand.count + run.real.latency.prefetch.count;
    expect(run.real.bytesRead).toBe(reads * 4096);
    expect(run.real.bytesWritten).toBe(run.real.latency.writeBack.count * 4096);
    expect(run.real.latency.writeBack.count).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/replaying [\d,]+ requests/);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith("cli.swap"))).toEqual([]);
  }, 120_000);

  it("refuses bad input before any work, naming the flag as typed", async () => {
    const existing = join(dir, "existing.swap");
    writeFileSync(existing, "x");
    const cases: Array<[string[], string]> = [
      [["--frames-limit", "8MiB"], "--frames-limit 8MiB: must be less than the guest's 8MiB"],
      [["--burst", "4MiB"], "--burst 4MiB: must be less than the frame limit"],
      [["--device", "floppy"], "--device floppy"],
      [["--queues", "lifo"], "--queues lifo"],
      [["--page-cluster", "11"], "--page-cluster 11"],
      [["--swap-file", existing], `--swap-file ${existing}: exists`],
      [["--swap-file", join(dir, "missing", "swap")], "--swap-file"],
      [["--vcpus", "0"], "--vcpus 0"],
      [["--io", "mmap"], "--io mmap"],
    ];
    for (const [args, text] of cases) {
      const r = await cli("swap", ...small(...args), "--json");
      expect(r.status, args.join(" ")).not.toBe(0);
      expect(r.stdout + r.stderr, args.join(" ")).toContain(text);
      expect(r.stderr, args.join(" ")).not.toContain("swap: queues");
    }
  }, 60_000);
});
