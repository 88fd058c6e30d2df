// restoreSnapshot in its three modes: the same guest memory whatever the
// mode (and the memory of the instant), the resumed workload issuing the
// accesses the original would have, page faults exactly where the oracle
// (the accessed bits) says a page was touched that was not loaded yet, and
// the figures the storage model gives for the requests made (time to run,
// the cold start of the first N accesses, with and without prefetch).
import fc from "fast-check";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  compareRestoreModes, createHost, faultNs, guestDigest, measureColdStart, readNs, restoreSnapshot, saveSnapshot, STORAGE_PRESETS,
  type RestoreMode, type WorkloadOptions,
} from "../src/index.js";
import { SnapshotFile } from "../src/snapshot/file-reader.js";
import { HEADER_BYTES } from "../src/snapshot/format.js";
import { thrownCode } from "./helpers.js";
import { expectSameMemory, memoryOf, runningGuest, scratchDir } from "./snapshot.helpers.js";

const dir = scratchDir("snapshot-restore");
let fileNo = 0;
const nextFile = (): string => join(dir, `r${fileNo++}.hmsn`);
const MODES: readonly RestoreMode[] = ["eager", "lazy", "active-first"];
const nvme = STORAGE_PRESETS.nvme;

/** A snapshot of a prefilled guest saved while `workload` ran, with the memory at the instant. */
function savedGuest(pages: number, workload: WorkloadOptions, prefill = pages): { path: string; atInstant: Uint8Array } {
  const g = runningGuest(pages, prefill, workload);
  g.timeline.advance(2e6);
  const atInstant = memoryOf(g.vm);
  const path = nextFile();
  saveSnapshot(g.vm, path, { timeline: g.timeline, workload: g.workload, storage: "sata-ssd", chunkPages: 16 });
  g.workload.close();
  return { path, atInstant };
}

const HOTCOLD: WorkloadOptions = { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.95, ratePerSec: 1_000_000, writeFraction: 0.3, seed: 4 };

describe("the three modes", () => {
  it("give the memory of the instant, and identical memory after the same first N accesses (fast-check over workloads and seeds)", () => {
    fc.assert(fc.property(
      fc.constantFrom<WorkloadOptions>({ kind: "uniform" }, { kind: "zipf", s: 1.2 }, { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }),
      fc.nat(100_000), fc.constantFrom(128, 400),
      (spec, seed, prefill) => {
        const { path, atInstant } = savedGuest(512, { ...spec, seed, ratePerSec: 1_000_000 } as WorkloadOptions, prefill);
        for (const mode of MODES) {
          const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode });
          expectSameMemory(memoryOf(restored.vm), atInstant, `${mode} restore vs the instant`);
          restored.close();
        }
        const c = compareRestoreModes(path, { accesses: 3000 });
        expect(c.identicalMemory).toBe(true);
        expect(new Set(c.digests).size).toBe(1);
      },
    ), { numRuns: 6 });
  });

  it("the resumed workload goes on with the accesses the original would have issued after the instant", () => {
    const g = runningGuest(256, 256, { ...HOTCOLD, writeFraction: 0.8 });
    g.timeline.advance(1e6);
    const path = nextFile();
    saveSnapshot(g.vm, path, { workload: g.workload }); // no timeline: the guest does not run during this save
    g.workload.runFor(5e6);
    for (const mode of MODES) {
      const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode });
      restored.workload!.runFor(5e6);
      expectSameMemory(memoryOf(restored.vm), memoryOf(g.vm), `${mode}: restored and run vs the original run on`);
      restored.workload!.close();
      restored.close();
    }
    g.workload.close();
  });

  it("a lazily restored page is loaded by the guest's first touch or by any hypervisor read (verification sees every page)", () => {
    const { path, atInstant } = savedGuest(256, HOTCOLD);
    const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode: "lazy" });
    const stored = restored.stats.pendingPages;
    expect(stored).toBe(256);
    expect(restored.vm.states.counts()).toMatchObject({ elsewherePages: 256, privateFrames: 0 });
    restored.vm.run([{ op: "read", gpa: 7 * 4096 }, { op: "write", gpa: 8 * 4096, seed: 1 }, { op: "read", gpa: 7 * 4096 + 64 }]);
    expect(restored.stats).toMatchObject({ faultsServed: 2, hypervisorLoads: 0, pendingPages: 254, stallNs: 2 * faultNs(nvme) });
    const digest = guestDigest(restored.vm);
    expect(restored.stats).toMatchObject({ faultsServed: 2, hypervisorLoads: 254, pendingPages: 0 });
    const twin = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode: "eager" });
    twin.vm.run([{ op: "read", gpa: 7 * 4096 }, { op: "write", gpa: 8 * 4096, seed: 1 }, { op: "read", gpa: 7 * 4096 + 64 }]);
    expect(guestDigest(twin.vm)).toEqual(digest);
    expect(Buffer.compare(memoryOf(twin.vm).subarray(0, 7 * 4096), atInstant.subarray(0, 7 * 4096))).toBe(0);
    restored.close();
    twin.close();
  });

  it("close() loads what is left, so the guest no longer needs the file", () => {
    const { path, atInstant } = savedGuest(128, HOTCOLD);
    const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode: "lazy" });
    restored.close();
    rmSync(path);
    expect(restored.stats.pendingPages).toBe(0);
    expectSameMemory(memoryOf(restored.vm), atInstant, "after close, file gone");
  });

  it("bad options are typed errors naming them, before any guest is created", () => {
    const { path } = savedGuest(16, HOTCOLD);
    const host = createHost({ memoryMiB: 4 });
    expect(thrownCode(() => restoreSnapshot(host, path, { mode: "fast" as never }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => restoreSnapshot(host, path, { mode: "eager", prefetch: true }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => restoreSnapshot(host, path, { mode: "lazy", speed: 2 } as never))).toBe("ERR_UNKNOWN_OPTION");
    expect(thrownCode(() => restoreSnapshot(host, path, { mode: "lazy", storage: { name: "x", seqReadBytesPerSec: 1e6, seqWriteBytesPerSec: 1e6, randomReadIops: 1e6, faultOverheadNs: 0 } }))).toBe("ERR_BAD_OPTION");
    expect(host.vms).toHaveLength(0);
  });

  it("compareRestoreModes refuses bad options by name before it reads the file", () => {
    const missing = join(dir, "not-there.hmsn");
    expect(thrownCode(() => compareRestoreModes(missing, { accesses: 0 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => compareRestoreModes(missing, { prefetch: "yes" as never }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => compareRestoreModes(missing, { storage: "tape" as never }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => compareRestoreModes(missing, { rounds: 2 } as never))).toBe("ERR_UNKNOWN_OPTION");
    expect(thrownCode(() => compareRestoreModes(missing, {}))).toBe("ERR_FILE_IO");
  });
});

describe("the figures follow the storage model", () => {
  /** A guest saved with no guest running: data pages in slots 0.., no working set. */
  function quietSnapshot(pages: number): string {
    const vm = createHost({ memoryMiB: 16 }).createVm({ pages });
    vm.writePages(0, Uint8Array.from({ length: pages * 4096 }, (_, i) => (i * 7 + (i >> 12)) & 0xff));
    const path = nextFile();
    saveSnapshot(vm, path);
    return path;
  }

  it("time to run: the metadata (header, then the tail), then every request the mode reads first", () => {
    const path = quietSnapshot(2500);
    const file = SnapshotFile.open(path);
    const metadataNs = readNs(nvme, HEADER_BYTES) + readNs(nvme, file.tailBytes);
    file.close();
    const eager = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode: "eager" });
    // 2,500 consecutive slots: requests of 1,024, 1,024 and 452 pages.
    expect(eager.stats.timeToRunNs).toBeCloseTo(metadataNs + readNs(nvme, 1024 * 4096) * 2 + readNs(nvme, 452 * 4096), 6);
    expect(eager.stats).toMatchObject({ readRequests: 5, pagesBeforeRun: 2500, pendingPages: 0 });
    const lazy = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode: "lazy", storage: "sata-ssd" });
    expect(lazy.stats.timeToRunNs).toBeCloseTo(readNs(STORAGE_PRESETS["sata-ssd"], HEADER_BYTES) + readNs(STORAGE_PRESETS["sata-ssd"], lazy.stats.bytesRead - HEADER_BYTES), 6);
    expect(lazy.stats).toMatchObject({ readRequests: 2, pagesBeforeRun: 0, pendingPages: 2500 });
    eager.close();
    lazy.close();
  });

  it("active-first reads the working set in one request, and faults exactly the pages touched first that were neither active nor loaded", () => {
    const { path } = savedGuest(2048, HOTCOLD);
    const file = SnapshotFile.open(path);
    const workingSetBytes = file.workingSetPages * 4096;
    const activePages = file.activeRuns.reduce((n, [, c]) => n + c, 0);
    file.close();
    expect(workingSetBytes).toBeGreaterThan(0);
    const active = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode: "active-first" });
    expect(active.stats.readRequests).toBe(3);
    expect(active.stats.pagesBeforeRun).toBe(workingSetBytes / 4096);
    expect(active.stats.pagesBeforeRun).toBeLessThanOrEqual(activePages);
    const oracle = active.vm.accessedLog.open("oracle");
    const wasPending = Array.from({ length: 2048 }, (_, pfn) => active.vm.states.of(pfn).kind === "elsewhere");
    const cold = measureColdStart(active, 20_000);
    oracle.sync();
    const touched = oracle.pages.snapshot().toArray();
    expect(cold.faultsServed).toBe(touched.filter((pfn) => wasPending[pfn]).length);
    expect(cold.faultsServed).toBeGreaterThan(0);
    // Without prefetch: the guest's time plus one served fault per fault.
    expect(cold.coldStartNs).toBeCloseTo(active.stats.timeToRunNs + 20_000 * 1e3 + cold.faultsServed * faultNs(nvme), 3);
    active.workload!.close();
    active.close();
  });

  it("prefetch streams the rest in behind the guest: fewer faults, every page loaded once", () => {
    const { path } = savedGuest(2048, HOTCOLD);
    const without = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode: "active-first" });
    const withPrefetch = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode: "active-first", prefetch: true, storage: "sata-ssd" });
    const pendingAtRun = withPrefetch.stats.pendingPages;
    const a = measureColdStart(without, 50_000);
    const b = measureColdStart(withPrefetch, 50_000);
    expect(b.prefetchedPages).toBeGreaterThan(0);
    expect(b.faultsServed).toBeLessThan(a.faultsServed);
    expect(b.faultsServed + b.prefetchedPages + withPrefetch.stats.pendingPages).toBe(pendingAtRun);
    expect(b.coldStartNs).toBeGreaterThan(withPrefetch.stats.timeToRunNs + 50_000 * 1e3);
    expect(withPrefetch.prefetchUntil(Number.MAX_SAFE_INTEGER)).toBe(withPrefetch.stats.prefetchedPages - b.prefetchedPages);
    expect(withPrefetch.stats.pendingPages).toBe(0);
    for (const r of [without, withPrefetch]) {
      r.workload!.close();
      r.close();
    }
    expect(guestDigest(without.vm)).toEqual(guestDigest(withPrefetch.vm));
  });

  it("a snapshot without a saved workload has no cold start to measure", () => {
    const path = quietSnapshot(8);
    const restored = restoreSnapshot(createHost({ memoryMiB: 4 }), path, { mode: "lazy" });
    expect(restored.workload).toBeNull();
    expect(thrownCode(() => measureColdStart(restored, 10))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => measureColdStart(restored, 0))).toBe("ERR_BAD_OPTION");
    restored.close();
  });
});
