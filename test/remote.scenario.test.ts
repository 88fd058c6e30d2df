// The memory host (a worker thread owning SharedArrayBuffer regions) and a
// whole remote-memory run: the compute host fails, the failover recovers
// one-sided while the memory host's thread serves nothing, and the loss is
// what the compute host had not published.
import { describe, expect, it } from "vitest";
import { MemoryHost, regionGeometry, RemoteRegion, resolveRemoteLink, resolveRemoteOptions, runRemoteScenario, writeEpoch } from "../src/index.js";
import { thrownError } from "./helpers.js";

describe("the memory host", () => {
  it("hands out regions within its capacity from its own thread, and they outlive it", async () => {
    const host = new MemoryHost(1 << 20);
    try {
      const g = regionGeometry(64, 16, 4096);
      const region = RemoteRegion.format(host.allocate(g.totalBytes), g, () => host.reachable);
      expect(host.requestsServed).toBe(1);
      expect(host.leftBytes()).toBe((1 << 20) - g.totalBytes);
      expect(thrownError(() => host.allocate(1 << 20))).toMatchObject({ code: "ERR_REMOTE_CAPACITY", details: { bytes: 1 << 20, leftBytes: (1 << 20) - g.totalBytes } });
      const served = host.requestsServed;
      writeEpoch(region, 1, [7], new Uint8Array(4096).fill(9));
      expect(region.readLists()).toHaveLength(1);
      expect(host.requestsServed).toBe(served); // one-sided: the worker took no part
      host.disconnect();
      expect(thrownError(() => region.readHeader())).toMatchObject({ code: "ERR_REMOTE_UNREACHABLE" });
      expect(thrownError(() => host.allocate(4096))).toMatchObject({ code: "ERR_REMOTE_UNREACHABLE" });
      host.reconnect();
      await host.close();
      const out = new Uint8Array(4096);
      region.readHome(7, out);
      expect(out[0]).toBe(9); // the memory survives its host's thread (Zombieland's premise)
    } finally {
      await host.close();
    }
  });

  it("refuses a capacity or a region size that is not a positive whole number", () => {
    expect(thrownError(() => new MemoryHost(100))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 100 } });
  });
});

describe("runRemoteScenario", () => {
  const base = { guestMiB: 4, failAtNs: 0.25e9, baselineEveryNs: 0.1e9, epochNs: 5e6 };

  it("recovers the guest's memory at the last published list; the loss is what came after it", async () => {
    const r = await runRemoteScenario(base);
    expect(r.check.equalsRecoveryPoint).toBe(true);
    expect(r.recovery.mode).toBe("baseline+lists");
    expect(r.memoryHostRequestsDuringRecovery).toBe(0);
    expect(r.run.remoteFaults).toBeGreaterThan(0);
    expect(r.run.baselines).toBe(3); // at 0, 100 and 200 ms
    expect(r.recovery.generation).toBe(3);
    expect(r.recovery.recoveredEpoch).toBe(r.failure.lastPublishedEpoch);
    expect(r.check.pagesLost).toBe(r.failure.pagesLost);
    expect(r.check.lostWindowNs).toBeLessThanOrEqual(2 * base.epochNs);
    expect(r.compare.baselineOnlyPagesLost).toBeGreaterThan(r.check.pagesLost);
    expect(r.recovery.oneSidedBytesRead).toBeGreaterThanOrEqual(r.recovery.pagesCopied * 4096);
  });

  it("falls back to the baseline alone when the memory host is unreachable too, and says so", async () => {
    const r = await runRemoteScenario({ ...base, memoryHostUnreachable: true });
    expect(r.recovery).toMatchObject({ mode: "baseline-only", fallbackReason: "the memory host is unreachable", oneSidedReads: 0 });
    expect(r.check.pagesLost).toBe(r.compare.baselineOnlyPagesLost);
    expect(r.check.lostWindowNs).toBe(50e6);
  });

  it("refuses a guest larger than the memory host, absurd latencies and unknown options, naming the value", async () => {
    await expect(runRemoteScenario({ ...base, memoryHostMiB: 4 })).rejects.toMatchObject({ code: "ERR_REMOTE_CAPACITY" });
    expect(thrownError(() => resolveRemoteLink({ name: "x", bytesPerSec: 1e9, latencyNs: 1e12, queueDepth: 4 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "latencyNs", value: 1e12 } });
    expect(thrownError(() => resolveRemoteLink({ name: "x", bytesPerSec: 1e9, latencyNs: 0, queueDepth: 4 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 0 } });
    expect(thrownError(() => resolveRemoteLink("rdma-1t" as "rdma-56g"))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: "rdma-1t" } });
    expect(thrownError(() => resolveRemoteOptions({ guestMiB: 4, remoteFraction: 1 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "remoteFraction", value: 1 } });
    expect(thrownError(() => resolveRemoteOptions({ guestMiB: 4, colour: 1 } as never))).toMatchObject({ code: "ERR_UNKNOWN_OPTION" });
  });
});
