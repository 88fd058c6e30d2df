// `hypermem nvm`: --compare side by side and in JSON, and bad flags refused
// before any work, naming the flag as typed.
import { describe, expect, it } from "vitest";
import { runCliCaptured, type CapturedRun } from "./cli-capture.js";

const cli = (...argv: string[]): Promise<CapturedRun> => runCliCaptured(argv);
const SMALL = ["--guest", "2MiB", "--nvm", "2MiB", "--dram", "1MiB", "--duration", "50ms", "--rate", "100000", "--workload", "uniform"];

describe("hypermem nvm", () => {
  it("--compare: virtblocks beside direct mappings, no page-table update on the virtblock side", async () => {
    const r = await cli("nvm", ...SMALL, "--compare");
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^\s+virtblocks\s+direct$/);
    expect(lines.find((l) => l.startsWith("page-table updates"))).toMatch(/^page-table updates\s+0\s+[1-9][\d,]*$/);
    expect(lines.find((l) => l.startsWith("TLB shootdowns"))).toMatch(/^TLB shootdowns\s+0\s+[1-9][\d,]*$/);
    expect(lines.filter((l) => l.includes("equals the all-DRAM run, byte for byte"))).toHaveLength(1);
  }, 60_000);

  it("--json: one run per mode with the figures", async () => {
    const r = await cli("nvm", ...SMALL, "--watermarks", "0.2,0.4", "--json");
    expect(r.status, r.stderr).toBe(0);
    const { runs } = JSON.parse(r.stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ virtblocks: true, pteUpdates: 0, tlbShootdowns: 0, equalsOracle: true });
    expect(runs[0].purges).toBeGreaterThan(0);
    expect(runs[0].freeNvmFraction).toBeGreaterThanOrEqual(0.2);
  }, 60_000);

  it("refuses bad flags naming them as typed", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--watermarks", "0.3,0.2"], /--watermarks 0\.3,0\.2: must satisfy 0 <= LOW < HIGH <= 0\.95/],
      [["--watermarks", "0.3"], /--watermarks 0\.3: must be two fractions/],
      [["--dram", "4MiB", "--nvm", "4MiB", "--guest", "8MiB"], /--dram 4MiB: must be less than --nvm 4MiB/],
      [["--compare", "--no-virtblocks"], /--no-virtblocks/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli("nvm", "--duration", "10ms", ...argv);
      expect(r.status, argv.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});
