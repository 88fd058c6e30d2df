// Bad input to lockstep: unknown options, absurd values and impossible
// combinations are refused with typed errors naming the option and the
// value, before anything runs; a secondary host too small is refused.
import { describe, expect, it } from "vitest";
import { createHost } from "../src/host/host.js";
import { runLockstep } from "../src/lockstep/lockstep.js";
import { LOCKSTEP_DEFAULTS, resolveLockstepOptions } from "../src/lockstep/options.js";
import { thrownError } from "./helpers.js";
import { pair } from "./lockstep-helpers.js";

describe("lockstep options", () => {
  it("resolves COLO's defaults, frozen", () => {
    const o = resolveLockstepOptions({});
    expect(o.compareTimeoutNs).toBe(3000e6);
    expect(o.maxQueuePackets).toBe(1024);
    expect(o.checkpointDelayNs).toBe(20_000e6);
    expect(o.nondeterminismPerSec).toBe(0);
    expect(o.packetsPerSec).toBe(LOCKSTEP_DEFAULTS.packetsPerSec);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it.each([
    [{ nondeterminismPerSec: -1 }, "ERR_BAD_OPTION", /nondeterminismPerSec must be a number in \[0, 1000000\], got -1/],
    [{ compareTimeoutMs: 0 }, "ERR_BAD_OPTION", /compareTimeoutMs .* got 0/],
    [{ maxQueuePackets: 0 }, "ERR_BAD_OPTION", /maxQueuePackets .* got 0/],
    [{ checkpointDelayMs: Infinity }, "ERR_BAD_OPTION", /checkpointDelayMs .* got Infinity/],
    [{ packetBytes: 20000, ringPages: 4 }, "ERR_BAD_OPTION", /packetBytes \(20000\) must fit a transmit ring of ringPages \(4\) pages/],
    [{ durationMs: 100, failAtMs: 200 }, "ERR_BAD_OPTION", /failAtMs must be a number in \[0, 100\], got 200/],
    [{ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 40 }, "ERR_BAD_OPTION", /heartbeatTimeoutMs \(40\) must be longer/],
    [{ damageResyncs: [1, -2] }, "ERR_BAD_OPTION", /damageResyncs\[1\] .* got -2/],
    [{ workload: { kind: "trace", path: "x.trace" } }, "ERR_BAD_OPTION", /workload must be a generated workload/],
    [{ diffs: "yes" }, "ERR_BAD_OPTION", /diffs must be true or false, got "yes"/],
    [{ comparTimeoutMs: 5 }, "ERR_UNKNOWN_OPTION", /unknown option "comparTimeoutMs"/],
  ])("refuses %o", (options, code, message) => {
    const e = thrownError(() => resolveLockstepOptions(options as never));
    expect(e).not.toBe("none");
    if (e === "none") return;
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it("refuses rings that do not fit the guest, and a secondary host that cannot hold two copies", async () => {
    const { primary, secondaryHost } = pair(1);
    await expect(runLockstep(primary, secondaryHost, { connections: 100, ringPages: 4 })).rejects.toMatchObject({
      code: "ERR_BAD_OPTION", message: expect.stringMatching(/100 × 4 = 400 pages of transmit rings\) do not fit the 256-page guest/),
    });
    const small = createHost({ memoryMiB: 8 });
    const big = createHost({ memoryMiB: 64 }).createVm({ memoryMiB: 4 });
    await expect(runLockstep(big, small, {})).rejects.toMatchObject({
      code: "ERR_BACKUP_MEMORY", message: expect.stringMatching(/lockstep of a 1024-page guest needs 4096/),
    });
  });
});
