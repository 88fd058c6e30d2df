// `hypermem overcommit`: a run's JSON (each VM's QMP `actual` as its final
// allocation, time series with QEMU's names), the table, the exit status of
// an over-committed host, and bad input refused before any work with the
// flag and the value (shares 0 or negative, a reservation above the host's
// memory, an unknown workload, unknown settings).
import { describe, expect, it } from "vitest";
import { runCliCaptured } from "./cli-capture.js";

const VMS = ["--vm", "16MiB,workload=idle,prefill=1", "--vm", "16MiB,shares=1000,workload=hotcold:0.5,0.9,rate=3000"];

describe("hypermem overcommit", () => {
  it("runs several VMs and reports each one's final allocation as QMP's actual, with the time series in JSON", async () => {
    const r = await runCliCaptured(["overcommit", "--host-memory", "24MiB", ...VMS, "--duration", "20s", "--sample-period", "5s", "--realloc-period", "5s", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.vms).toHaveLength(2);
    expect(out.overcommitted).toBeNull();
    for (const v of out.vms) expect(v.actual).toBe((4096 - v.balloonPages) * 4096);
    expect(out.vms[0].actual).toBeLessThan(out.vms[1].actual);
    const last = out.vmSamples.at(-1);
    for (const key of ["actual", "target", "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-free-memory", "stat-available-memory", "stat-total-memory", "shares", "rho", "activeEstimate", "activeTrue", "balloonPages"]) {
      expect(last).toHaveProperty(key);
    }
    expect(out.hostSamples.map((h: { atNs: number }) => h.atNs / 1e9)).toEqual([0, 5, 10, 15, 20]);
    expect(out.hostSamples[0]).toHaveProperty("state");
  }, 60_000);

  it("prints the VMs and the host over time as tables", async () => {
    const r = await runCliCaptured(["overcommit", "--host-memory", "24MiB", ...VMS, "--duration", "10s", "--idle-tax", "0"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/idle tax 0\.0 %/);
    expect(r.stdout).toMatch(/^vm +shares +actual +target +balloon/m);
    expect(r.stdout).toMatch(/^t +state +free +vm 1 actual +vm 2 actual$/m);
  }, 60_000);

  it("exits 1 and says so when the host would run out of frames", async () => {
    const r = await runCliCaptured(["overcommit", "--host-memory", "12MiB", "--balloon-max", "5", "--vm", "16MiB,workload=uniform,rate=50000", "--vm", "16MiB,workload=uniform,rate=50000", "--duration", "10s"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/STOPPED: host over-committed/);
    expect(r.stderr).toMatch(/ERR_HOST_OVERCOMMITTED/);
  }, 60_000);

  it.each([
    [["--vm", "16MiB,shares=0"], "ERR_BAD_OPTION", "--vm 16MiB,shares=0: shares must be a whole number of at least 1, got 0"],
    [["--vm", "16MiB,shares=-5"], "ERR_BAD_OPTION", "--vm 16MiB,shares=-5: shares must be a whole number of at least 1, got -5"],
    [["--vm", "64MiB,reservation=40MiB"], "ERR_ADMISSION", "--vm 64MiB,reservation=40MiB: a reservation of 40MiB is more than the host's memory (--host-memory 24MiB)"],
    [["--vm", "16MiB,workload=bogus"], "ERR_BAD_OPTION", "--vm 16MiB,workload=bogus: workload \"bogus\": unknown kind \"bogus\" (expected uniform, zipf:S, hotcold:F,P, sequential or trace:FILE), or idle"],
    [["--vm", "16MiB,weight=3"], "ERR_BAD_OPTION", "--vm 16MiB,weight=3: unknown setting \"weight=3\" (known: shares=, reservation=, limit=, workload=, rate=, prefill=)"],
    [["--vm", "16MiB,reservation=12MiB", "--vm", "16MiB,reservation=12MiB"], "ERR_ADMISSION", "--vm: the reservations add up to 24MiB, more than the 23100KiB the host can give its VMs (--host-memory 24MiB less the 6 % kept free)"],
    [["--vm", "16MiB", "--experiment", "idle-tax"], "ERR_BAD_OPTION", "--host-memory: not with --experiment (the experiment sets its own host and VMs)"],
  ])("refuses %j before any work", async (args, code, message) => {
    const r = await runCliCaptured(["overcommit", "--host-memory", "24MiB", ...args, "--json"]);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code, message });
  });

  it("needs a host and at least one VM", async () => {
    expect((await runCliCaptured(["overcommit", "--vm", "16MiB"])).stderr).toMatch(/missing --host-memory SIZE/);
    expect((await runCliCaptured(["overcommit", "--host-memory", "24MiB"])).stderr).toMatch(/missing --vm SPEC/);
  });
});
