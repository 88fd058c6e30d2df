// saveSnapshot: the file holds the guest's memory exactly as it was at the
// instant of the request while the guest keeps writing during the save
// (fast-check over workloads, seeds and writer shapes), the active set is
// exactly the pages the guest touched in the trace window (the hardware
// accessed bits as the oracle), first touches copy a page before the
// access, zero pages take no room, poisoned and ballooned pages are
// metadata, pages living elsewhere at the instant are saved too, and the
// simulated save time is the storage model's for the bytes written.
import fc from "fast-check";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  createHost, injectMemoryError, restoreSnapshot, saveSnapshot, snapshotInfo, STORAGE_PRESETS, Timeline, writeNs,
  type MachineCheck, type TimelineProcess, type WorkloadOptions,
} from "../src/index.js";
import { SnapshotFile } from "../src/snapshot/file-reader.js";
import { PageKind } from "../src/snapshot/format.js";
import { ColdPageOffloader } from "./example/cold-pages.js";
import { thrownCode } from "./helpers.js";
import { expectSameMemory, memoryOf, runningGuest, scratchDir } from "./snapshot.helpers.js";

const dir = scratchDir("snapshot-save");
let fileNo = 0;
const nextFile = (): string => join(dir, `s${fileNo++}.hmsn`);

const workloadArb: fc.Arbitrary<WorkloadOptions> = fc.record({
  spec: fc.constantFrom<WorkloadOptions>(
    { kind: "uniform" }, { kind: "zipf", s: 1.1 }, { kind: "hotcold", hotFraction: 0.2, hotProbability: 0.9 }, { kind: "sequential" },
  ),
  seed: fc.nat(1_000_000),
  writeFraction: fc.constantFrom(0.3, 0.7, 1),
}).map(({ spec, seed, writeFraction }) => ({ ...spec, seed, writeFraction, ratePerSec: 2_000_000 }) as WorkloadOptions);

/** The restored guest's memory, eager. */
function restoredMemory(path: string): Uint8Array {
  const restored = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode: "eager", resumeWorkload: false });
  const bytes = memoryOf(restored.vm);
  restored.close();
  return bytes;
}

describe("a save while the guest runs holds memory as it was at the instant", () => {
  it("byte for byte, for workloads that write during the save (fast-check over workloads, seeds, chunk sizes, working-set room)", () => {
    let runsWithWrites = 0;
    fc.assert(fc.property(
      workloadArb, fc.constantFrom(0, 200, 512), fc.constantFrom(1, 8, 64), fc.constantFrom(0, 64 << 10, 256 << 20),
      (workload, prefill, chunkPages, workingSetLimitBytes) => {
        const g = runningGuest(512, prefill, workload);
        g.timeline.advance(1e6);
        const atInstant = memoryOf(g.vm);
        const path = nextFile();
        const r = saveSnapshot(g.vm, path, { timeline: g.timeline, workload: g.workload, storage: "sata-ssd", chunkPages, workingSetLimitBytes });
        expect(r.guestAccesses).toBeGreaterThan(0);
        if (r.trace.copiedBeforeWrite > 0) {
          runsWithWrites++;
          expect(Buffer.compare(memoryOf(g.vm), atInstant)).not.toBe(0); // the guest did change memory while it was saved
        }
        if (workingSetLimitBytes === 0) expect(r.workingSetPages).toBe(0);
        expectSameMemory(restoredMemory(path), atInstant, "restored vs instant");
        expect(g.vm.states.counts().tracedPages).toBe(0);
        g.workload.close();
      },
    ), { numRuns: 14 });
    expect(runsWithWrites).toBeGreaterThan(5);
  });

  it("the guest's pause is the instant: no simulated time passes in it, and the save takes the storage model's time for the bytes written", () => {
    const g = runningGuest(1024, 1024, { kind: "uniform", seed: 3, ratePerSec: 1_000_000 });
    const started = g.timeline.nowNs;
    const r = saveSnapshot(g.vm, nextFile(), { timeline: g.timeline, storage: "sata-ssd", workingSetLimitBytes: 1 << 30 });
    expect(r.trace.spilled).toBe(0);
    // Everything after the 4 KiB header area goes through the writer's timed writes.
    expect(r.saveNs).toBeCloseTo(writeNs(STORAGE_PRESETS["sata-ssd"], r.fileBytes - 4096), 3);
    expect(g.timeline.nowNs - started).toBeCloseTo(r.saveNs, 3);
    expect(r.guestAccesses).toBe(Math.floor(r.saveNs / 1e3)); // 1e6 accesses/s: the guest ran the whole save
    expect(r.traceWindowNs).toBeLessThan(r.saveNs);
    g.workload.close();
  });
});

describe("the active set", () => {
  it("is exactly the pages the guest touched while the trace window was open (the accessed bits as oracle)", () => {
    fc.assert(fc.property(workloadArb, fc.constantFrom(200, 512), (workload, prefill) => {
      const g = runningGuest(512, prefill, workload);
      const oracle = g.vm.accessedLog.open("oracle");
      oracle.sync();
      oracle.pages.clear();
      let touched: number[] | null = null;
      const path = nextFile();
      saveSnapshot(g.vm, path, {
        timeline: g.timeline, storage: "sata-ssd", chunkPages: 4,
        onProgress: (p) => {
          if (p.phase !== "working-set") return;
          oracle.sync();
          touched = oracle.pages.snapshot().toArray();
        },
      });
      const file = SnapshotFile.open(path);
      const active = file.activeRuns.flatMap(([first, count]) => Array.from({ length: count }, (_, i) => first + i));
      file.close();
      expect(touched!.length).toBeGreaterThan(0);
      expect(active).toEqual(touched);
      g.workload.close();
    }), { numRuns: 8 });
  });

  it("a first touch copies the page before the access: before a write, before a read, or again after the writer saved it", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 64 });
    vm.writePages(0, Uint8Array.from({ length: 64 * 4096 }, (_, i) => (i >> 12) + 1));
    const atInstant = memoryOf(vm);
    const timeline = new Timeline();
    const script: Array<() => void> = [
      () => vm.run([{ op: "write", gpa: 60 * 4096, seed: 1 }]), // not saved yet: copied before the write
      () => vm.run([{ op: "read", gpa: 61 * 4096 }]), // not saved yet: copied before the read
      () => vm.run([{ op: "write", gpa: 0, seed: 2 }]), // saved in the first chunk: copied again for the working set
      () => vm.run([{ op: "write", gpa: 60 * 4096 + 8, seed: 3 }]), // already untraced: no fault
    ];
    const process: TimelineProcess = { advance: () => script.shift()?.() };
    timeline.attach(process);
    const path = nextFile();
    const r = saveSnapshot(vm, path, { timeline, chunkPages: 1 });
    expect(r.trace).toEqual({ traceFaults: 3, untouchedFirstTouches: 0, copiedBeforeWrite: 1, copiedBeforeRead: 1, copiedAfterSave: 1, spilled: 0 });
    expect([r.activePages, r.workingSetPages, r.duplicatedPages]).toEqual([3, 3, 1]);
    expect(snapshotInfo(path)).toMatchObject({ activePages: 3, activeRuns: 2, workingSetPages: 3, dataSlots: 65 });
    expectSameMemory(restoredMemory(path), atInstant, "restored vs instant");
  });

  it("an untouched page's first touch is active and its instant contents were zeros", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 32 });
    const timeline = new Timeline();
    timeline.attach({ advance: () => { if (vm.states.of(9).kind === "unpopulated") vm.run([{ op: "write", gpa: 9 * 4096, seed: 5 }]); } });
    vm.writePages(0, new Uint8Array(4096).fill(1));
    const path = nextFile();
    const r = saveSnapshot(vm, path, { timeline });
    expect(r.trace.untouchedFirstTouches).toBe(1);
    expect(snapshotInfo(path)).toMatchObject({ activePages: 1, entries: { data: 1 } });
    expect(restoredMemory(path).subarray(9 * 4096, 10 * 4096).every((b) => b === 0)).toBe(true);
  });
});

describe("what the file keeps", () => {
  it("zero pages take no room: only data pages have slots, a page of zeros written by the guest included", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 1024 });
    vm.writePages(0, Uint8Array.from({ length: 100 * 4096 }, (_, i) => (i % 251) + 1));
    vm.writePages(500, new Uint8Array(20 * 4096)); // private frames holding zeros
    vm.run([{ op: "read", gpa: 900 * 4096 }]); // zero-mapped
    const path = nextFile();
    const r = saveSnapshot(vm, path);
    expect([r.dataPages, r.zeroPages]).toEqual([100, 924]);
    const info = snapshotInfo(path);
    expect(info.entries).toEqual({ data: 100, zero: 0, poisoned: 0, ballooned: 0 });
    const configBytes = readFileSync(path).length - (4096 + 100 * 4096 + 100 * 16 + 24);
    expect(statSync(path).size).toBe(r.fileBytes);
    expect(configBytes).toBeLessThan(200); // the rest is the small JSON config
  });

  it("poisoned pages are metadata, never data; a latent error is found and made known; the restored page raises a machine check", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 64 });
    vm.writePages(0, Uint8Array.from({ length: 64 * 4096 }, (_, i) => (i >> 12) + 7));
    injectMemoryError(host, { vm, gpa: 5 * 4096 });
    injectMemoryError(host, { vm, gpa: 9 * 4096 }, { latent: true });
    const path = nextFile();
    const r = saveSnapshot(vm, path);
    expect([r.dataPages, r.poisonedPages, r.latentErrorsFound]).toEqual([62, 2, 1]);
    expect(vm.states.of(9)).toMatchObject({ kind: "poisoned", latent: false });
    const file = SnapshotFile.open(path);
    const kinds = new Map(Array.from(file.index.pfn, (pfn, i) => [pfn, file.index.kind[i]]));
    file.close();
    expect([kinds.get(5), kinds.get(9), kinds.get(6)]).toEqual([PageKind.Poisoned, PageKind.Poisoned, PageKind.Data]);
    const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode: "lazy" });
    const mces: MachineCheck[] = [];
    restored.vm.onMachineCheck((m) => mces.push(m));
    expect(restored.vm.states.of(5)).toEqual({ kind: "poisoned", hfn: 0, latent: false });
    restored.vm.run([{ op: "read", gpa: 9 * 4096 }, { op: "read", gpa: 6 * 4096 }]);
    expect(mces.map((m) => m.pfn)).toEqual([9]);
    expect(restored.vm.readPages(10, 54)).toEqual(vm.readPages(10, 54));
    restored.close();
  });

  it("ballooned pages are metadata and come back ballooned", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 64 });
    vm.writePages(0, new Uint8Array(64 * 4096).fill(3));
    vm.states.balloon(4);
    vm.states.balloon(40);
    const path = nextFile();
    const r = saveSnapshot(vm, path);
    expect([r.dataPages, r.balloonedPages]).toEqual([62, 2]);
    const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), path, { mode: "eager" });
    expect([restored.vm.states.of(4).kind, restored.vm.states.of(40).kind, restored.vm.states.of(41).kind]).toEqual(["ballooned", "ballooned", "present"]);
    restored.close();
  });

  it("pages that live elsewhere at the instant (cold pages moved out) are saved with their contents while the guest runs", () => {
    const workload: WorkloadOptions = { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.99, ratePerSec: 50_000, writeFraction: 0.5, seed: 5 };
    const a = runningGuest(2048, 2048, workload);
    const b = runningGuest(2048, 2048, workload); // a twin without the offloader: the same contents
    const offloader = new ColdPageOffloader(a.vm, a.timeline);
    a.timeline.advance(5e8);
    b.timeline.advance(5e8);
    expect(offloader.storedPages).toBeGreaterThan(1000);
    const atInstant = memoryOf(b.vm);
    const path = nextFile();
    const r = saveSnapshot(a.vm, path, { timeline: a.timeline, storage: "sata-ssd" });
    expect(r.dataPages).toBeGreaterThanOrEqual(2048);
    expectSameMemory(restoredMemory(path), atInstant, "restored vs the twin at the instant");
    offloader.close();
    a.workload.close();
    b.workload.close();
  });
});

describe("a save that cannot start", () => {
  it("a VM already being saved, or with pages traced by someone else, is ERR_SNAPSHOT_BUSY and left as it was", () => {
    const g = runningGuest(64, 64, { kind: "uniform", seed: 1 });
    let inner = "";
    saveSnapshot(g.vm, nextFile(), { timeline: g.timeline, onProgress: () => { inner ||= thrownCode(() => saveSnapshot(g.vm, nextFile())); } });
    expect(inner).toBe("ERR_SNAPSHOT_BUSY");
    g.vm.states.trace(3);
    expect(thrownCode(() => saveSnapshot(g.vm, nextFile()))).toBe("ERR_SNAPSHOT_BUSY");
    expect(g.vm.states.counts().tracedPages).toBe(1);
    expect(g.vm.paused).toBe(false);
    g.workload.close();
  });

  it("bad options are typed errors naming them", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 8 });
    expect(thrownCode(() => saveSnapshot(vm, nextFile(), { chunkPages: 0 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => saveSnapshot(vm, nextFile(), { storage: "tape" as never }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => saveSnapshot(vm, nextFile(), { colour: 1 } as never))).toBe("ERR_UNKNOWN_OPTION");
    expect(thrownCode(() => saveSnapshot(vm, nextFile(), { diffOf: "x", trackDirty: false }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => saveSnapshot(vm, join(dir, "no-such-folder", "x.hmsn")))).toBe("ERR_FILE_IO");
  });
});
