// The bench scripts refuse a bad flag or value in one line that names it,
// with the usage and exit status 2, never a stack trace (bench/cli-args.ts).
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;
const STACK_LINE = /^\s+at /m;

function bench(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("bench command lines", () => {
  it.each([
    ["bench/run.ts", ["--help"], "bench: Unknown option '--help'"],
    ["bench/calibrate.ts", ["--time", "0"], "calibrate: --time 0: must be a number of ms >= 1\nusage: npx tsx bench/calibrate.ts"],
    ["bench/calibrate.ts", ["--runs", "0", "--from", "x.json", "--lower-only"], "calibrate: --lower-only: only with --write (it chooses which gates are written)\nusage: npx tsx bench/calibrate.ts"],
    ["bench/migration-passes.ts", ["--guest", "8"], "migration-passes: --guest 8: must be a whole number of MiB from 16 to 3840\nusage: npx tsx bench/migration-passes.ts"],
  ])("%s %j is refused naming the flag, status 2, no stack", (script, args, start) => {
    const o = bench(script, args);
    expect(o.stderr.startsWith(start), o.stderr).toBe(true);
    expect(o.stderr).not.toMatch(STACK_LINE);
    expect(o.status).toBe(2);
    expect(o.stdout).toBe("");
  }, 60_000);

  it("bench/migration-passes.ts times the three passes and the plain copy of a small guest", () => {
    const o = bench("bench/migration-passes.ts", ["--guest", "16", "--passes", "1"]);
    expect(o.status, o.stderr).toBe(0);
    for (const row of ["source: pack", "destination: receive", "source: END_STREAM digest", "the three passes", "plain copy"]) {
      expect(o.stdout).toMatch(new RegExp(`^${row}.* \\d+ +\\d+\\.\\d\\d$`, "m"));
    }
    expect(o.stdout).toMatch(/^16 MiB guest, 0\.017 GB on the wire/m);
  }, 60_000);

  it("bench:native stops with the failing child's message, status 2, no stack", () => {
    const o = bench("bench/compare-native.ts", ["--rounds", "1", "--case", "no-such-case", "--native", process.execPath]);
    expect(o.stderr, o.stderr).toContain(
      "bench:native: npx tsx bench/run.ts --json --time 300 --case no-such-case failed (exit status 2):\nbench: --case no-such-case: unknown case (known: ",
    );
    expect(o.stderr).not.toMatch(STACK_LINE);
    expect(o.status).toBe(2);
    expect(o.stdout).toBe("");
  }, 60_000);
});
