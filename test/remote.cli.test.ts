// `hypermem remote`: a run in a table and in JSON, the baseline kept where
// --baseline says, and bad input refused before any work, naming the flag as
// typed.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BASELINE_HEADER } from "../src/index.js";
import { loadBaseline } from "../src/remote/baseline.js";
import { runCliCaptured, type CapturedRun } from "./cli-capture.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-remote-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...argv: string[]): Promise<CapturedRun> => runCliCaptured(argv);
const SMALL = ["--guest", "2MiB", "--fail-at", "120ms", "--baseline-every", "50ms", "--rate", "200000"];

describe("hypermem remote", () => {
  it("prints the recovery, its time and its loss, and checks the recovered memory", async () => {
    const r = await cli("remote", ...SMALL);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    for (const label of ["guest", "write-back", "failure", "recovery", "pages copied one-sided", "memory host's thread", "recovery time (RTO)", "recovery point (RPO)", "check", "full copy instead", "baseline alone instead"]) {
      expect(lines.some((l) => l.startsWith(label)), label).toBe(true);
    }
    expect(lines.find((l) => l.startsWith("check"))).toContain("equals the guest at the recovery point, byte for byte");
    expect(lines.find((l) => l.startsWith("memory host's thread"))).toContain("0 requests served during recovery");
    expect(lines.find((l) => l.startsWith("recovery "))).toMatch(/baseline generation 3 \+ \d+ dirty lists/);
  }, 60_000);

  it("--json --memory-host-down --baseline FILE: the baseline alone, said so, and the file kept", async () => {
    const path = join(dir, "region.baseline");
    const r = await cli("remote", ...SMALL, "--memory-host-down", "--baseline", path, "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.recovery).toMatchObject({ mode: "baseline-only", fallbackReason: "the memory host is unreachable", generation: 3 });
    expect(out.check.pagesLost).toBe(out.compare.baselineOnlyPagesLost);
    expect(existsSync(path)).toBe(true);
    expect(loadBaseline(path, new Uint8Array(512 * 4096), 512).generation).toBe(3);
    expect(BASELINE_HEADER.magic).toBe("HMRB");
  }, 60_000);

  it("refuses bad flags naming them as typed", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--remote-fraction", "1.5"], /--remote-fraction 1\.5/],
      [["--epoch", "2s", "--baseline-every", "1s"], /--baseline-every 1s: must be at least --epoch 2s/],
      [["--link", "rdma-1t"], /--link rdma-1t/],
      [["--memory-host", "1MiB"], /does not fit the memory host/],
    ];
    const big = await cli("remote", "--guest", "3GiB");
    expect(big.status).toBe(2);
    expect(big.stderr).toMatch(/--guest 3GiB/);
    for (const [argv, message] of cases) {
      const r = await cli("remote", "--guest", "2MiB", "--fail-at", "20ms", ...argv);
      expect(r.status, argv.join(" ")).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});
