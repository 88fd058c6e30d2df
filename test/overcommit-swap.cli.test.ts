// `hypermem overcommit --swap-file PATH`: hypervisor swap as the scheduler's
// last step below ballooning. The JSON and the table show each VM's pages
// ballooned (at the balloon cap) and swapped; the swap file is gone
// afterwards; --swap-size without --swap-file, an existing swap file, and
// either with --experiment are refused naming the flag.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCliCaptured } from "./cli-capture.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-oc-swap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Two 8 MiB guests writing all over on a 12 MiB host whose balloons may take 10 % of each.
const RUN = ["overcommit", "--host-memory", "12MiB", "--vm", "8MiB,workload=uniform,rate=4000", "--vm", "8MiB,workload=uniform,rate=4000", "--balloon-max", "10", "--duration", "3s"];

describe("hypermem overcommit --swap-file", () => {
  it("swaps what the balloons at their cap could not reclaim; pages ballooned and swapped per VM; the file is removed", async () => {
    const path = join(dir, "run.swap");
    const r = await runCliCaptured([...RUN, "--swap-file", path, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.overcommitted).toBeNull();
    const swap = out.hypervisorSwap;
    expect(swap).toMatchObject({ file: path, capacityPages: 2 * 2048 });
    expect(out.vms.map((v: { balloonPages: number }) => v.balloonPages)).toEqual([204, 204]); // floor(10 % of 2,048): the cap
    expect(swap.vms.map((v: { vm: number }) => v.vm)).toEqual(out.vms.map((v: { vm: number }) => v.vm));
    for (const v of swap.vms) {
      expect(v.swap_out).toBeGreaterThan(0);
      expect(v.swappedPages).toBe(v.swap_out - v.swap_in);
      expect(v.corruptSlots).toBe(0);
    }
    expect(swap.step.freedFrames).toBe(swap.vms.reduce((sum: number, v: { swap_out: number }) => sum + v.swap_out, 0));
    expect(existsSync(path)).toBe(false);
  }, 60_000);

  it("the same run without swap stops over-committed", async () => {
    const r = await runCliCaptured([...RUN]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERR_HOST_OVERCOMMITTED: .*no reclamation step after it \(hypervisor swap\) is plugged in/);
  }, 60_000);

  it("prints the pages ballooned and swapped per VM as a table", async () => {
    const r = await runCliCaptured([...RUN, "--swap-file", join(dir, "table.swap"), "--swap-size", "16MiB"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hypervisor swap \(last step, below ballooning\): [\d,]+ calls, [\d,]+ frames freed, 0 wanted and not found; swap file 16\.0 MiB$/m);
    expect(r.stdout).toMatch(/^vm +ballooned +swapped +swap_out +swap_in +major_faults +corrupt$/m);
    expect(r.stdout).toMatch(/^1 +204 +[\d,]+ +[1-9][\d,]* /m);
  }, 60_000);

  it("refuses --swap-size alone, an existing swap file, and either with --experiment, naming the flag", async () => {
    const taken = join(dir, "taken.swap");
    writeFileSync(taken, "mine");
    const cases: [string[], string][] = [
      [[...RUN, "--swap-size", "16MiB"], "--swap-size 16MiB: only with --swap-file PATH (hypervisor swap is off without it)"],
      [[...RUN, "--swap-file", taken], `--swap-file ${taken}: exists: the swap device creates its own file (mode 0600) and removes it at the end; name a new file`],
      [["overcommit", "--experiment", "idle-tax", "--swap-file", join(dir, "x.swap")], "--swap-file: not with --experiment (the experiment sets its own host and VMs)"],
    ];
    for (const [args, message] of cases) {
      const r = await runCliCaptured([...args, "--json"]);
      expect([r.status, JSON.parse(r.stdout).error.message]).toEqual([2, message]);
    }
    expect(existsSync(taken)).toBe(true);
  });
});
