// Diff snapshots (Firecracker's): a diff holds exactly the pages written
// since its base's instant, a restore follows the chain down to the full
// snapshot and gives each layer's instant in every mode, a diff is only
// taken against the snapshot the VM tracks, a restored guest can be the
// base of a diff, and a save that fails hands the pages it took back.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createHost, restoreSnapshot, saveSnapshot, snapshotInfo, stopDirtyTracking, Timeline, trackedSnapshotOf, type Vm } from "../src/index.js";
import { SnapshotFile } from "../src/snapshot/file-reader.js";
import { PageKind } from "../src/snapshot/format.js";
import { thrownCode } from "./helpers.js";
import { expectSameMemory, memoryOf, runningGuest, scratchDir } from "./snapshot.helpers.js";

const dir = scratchDir("snapshot-diff");
let fileNo = 0;
const nextFile = (): string => join(dir, `d${fileNo++}.hmsn`);

function restoredMemory(path: string, mode: "eager" | "lazy" | "active-first"): Uint8Array {
  const restored = restoreSnapshot(createHost({ memoryMiB: 16 }), path, { mode, resumeWorkload: false });
  const bytes = memoryOf(restored.vm);
  restored.close();
  return bytes;
}

/** A guest of `pages` written pages and a timeline on which a script writes the pages it is given, one per turn. */
function scripted(pages: number): { vm: Vm; timeline: Timeline; write: (pfns: number[]) => void } {
  const vm = createHost({ memoryMiB: 16 }).createVm({ pages });
  vm.writePages(0, Uint8Array.from({ length: pages * 4096 }, (_, i) => ((i >> 12) * 13 + i) & 0xff));
  const queue: number[] = [];
  const timeline = new Timeline();
  let seed = 1;
  timeline.attach({ advance: () => { const pfn = queue.shift(); if (pfn !== undefined) vm.run([{ op: "write", gpa: pfn * 4096 + 64, length: 64, seed: seed++ }]); } });
  return { vm, timeline, write: (pfns) => queue.push(...pfns) };
}

function entryPfns(path: string): number[] {
  const file = SnapshotFile.open(path);
  const pfns = Array.from(file.index.pfn);
  file.close();
  return pfns;
}

describe("a diff snapshot", () => {
  it("holds exactly the pages written since its base's instant, those written during the base's own save included", () => {
    const s = scripted(256);
    const base = nextFile();
    s.write([200, 201, 7]); // written while the base is saved (after its instant)
    saveSnapshot(s.vm, base, { timeline: s.timeline, trackDirty: true, chunkPages: 8 });
    s.write([9, 201, 100, 101]);
    s.timeline.advance(1e7);
    const diff = nextFile();
    const r = saveSnapshot(s.vm, diff, { timeline: s.timeline, diffOf: base });
    expect(entryPfns(diff)).toEqual([7, 9, 100, 101, 200, 201]);
    expect(r).toMatchObject({ kind: "diff", dataPages: 6, zeroPages: 0 });
    expect(snapshotInfo(diff)).toMatchObject({ kind: "diff", chain: [diff, base], entries: { data: 6 } });
    expectSameMemory(restoredMemory(diff, "lazy"), memoryOf(s.vm), "diff chain vs the guest (idle since)");
  });

  it("a page that became zero is a zero entry, restored as zeros", () => {
    const s = scripted(64);
    const base = nextFile();
    saveSnapshot(s.vm, base, { trackDirty: true });
    s.vm.writePages(5, new Uint8Array(4096));
    const diff = nextFile();
    saveSnapshot(s.vm, diff, { diffOf: base });
    const file = SnapshotFile.open(diff);
    expect([Array.from(file.index.pfn), Array.from(file.index.kind)]).toEqual([[5], [PageKind.Zero]]);
    file.close();
    expect(restoredMemory(diff, "eager").subarray(5 * 4096, 6 * 4096).every((b) => b === 0)).toBe(true);
  });

  it("a chain of three restores to each layer's instant in every mode, while the guest writes during every save", () => {
    const g = runningGuest(1024, 1024, { kind: "hotcold", hotFraction: 0.2, hotProbability: 0.8, writeFraction: 0.6, ratePerSec: 2_000_000, seed: 12 });
    const layers: Array<{ path: string; atInstant: Uint8Array }> = [];
    for (let i = 0; i < 3; i++) {
      g.timeline.advance(3e6);
      const atInstant = memoryOf(g.vm);
      const path = nextFile();
      saveSnapshot(g.vm, path, { timeline: g.timeline, workload: g.workload, storage: "sata-ssd", ...(i === 0 ? { trackDirty: true } : { diffOf: layers[i - 1].path }) });
      layers.push({ path, atInstant });
    }
    expect(snapshotInfo(layers[2].path).chain).toEqual(layers.map((l) => l.path).reverse());
    expect(snapshotInfo(layers[2].path).entries.data).toBeLessThan(1024);
    for (const { path, atInstant } of layers) {
      for (const mode of ["eager", "lazy", "active-first"] as const) expectSameMemory(restoredMemory(path, mode), atInstant, `${path} ${mode}`);
    }
    g.workload.close();
  });

  it("a restored guest tracked from its snapshot can be the base of a diff", () => {
    const s = scripted(128);
    const base = nextFile();
    saveSnapshot(s.vm, base);
    const restored = restoreSnapshot(createHost({ memoryMiB: 8 }), base, { mode: "lazy", trackDirty: true });
    expect(trackedSnapshotOf(restored.vm)?.path).toBe(base);
    restored.vm.run([{ op: "write", gpa: 3 * 4096, seed: 9 }, { op: "read", gpa: 4 * 4096 }]);
    const diff = nextFile();
    saveSnapshot(restored.vm, diff, { diffOf: base });
    expect(entryPfns(diff)).toEqual([3]);
    expectSameMemory(restoredMemory(diff, "eager"), memoryOf(restored.vm), "diff of the restored guest");
    restored.close();
  });
});

describe("a diff that cannot be taken", () => {
  it("from a VM that tracks nothing, or another snapshot than the base, is ERR_SNAPSHOT_BASE", () => {
    const s = scripted(32);
    const a = nextFile();
    saveSnapshot(s.vm, a);
    expect(thrownCode(() => saveSnapshot(s.vm, nextFile(), { diffOf: a }))).toBe("ERR_SNAPSHOT_BASE");
    saveSnapshot(s.vm, a, { trackDirty: true });
    const b = nextFile();
    saveSnapshot(s.vm, b, { trackDirty: true }); // tracking now counts from b
    expect(() => saveSnapshot(s.vm, nextFile(), { diffOf: a })).toThrow(expect.objectContaining({ code: "ERR_SNAPSHOT_BASE", details: expect.objectContaining({ reason: "different" }) }));
    expect(() => saveSnapshot(s.vm, nextFile(), { diffOf: join(dir, "nothing.hmsn") })).toThrow(expect.objectContaining({ code: "ERR_SNAPSHOT_BASE", details: expect.objectContaining({ reason: "missing" }) }));
    stopDirtyTracking(s.vm);
    expect(trackedSnapshotOf(s.vm)).toBeNull();
    expect(() => saveSnapshot(s.vm, nextFile(), { diffOf: b })).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: "untracked" }) }));
  });

  it("a diff save that fails midway leaves no file and gives the pages back: the next diff still holds them", () => {
    const s = scripted(64);
    const base = nextFile();
    saveSnapshot(s.vm, base, { trackDirty: true });
    s.write([10, 11, 12]);
    s.timeline.advance(1e7);
    const failed = nextFile();
    expect(() => saveSnapshot(s.vm, failed, { diffOf: base, onProgress: () => { throw new Error("disk gone"); } })).toThrow("disk gone");
    expect(() => SnapshotFile.open(failed)).toThrow(expect.objectContaining({ code: "ERR_FILE_IO" }));
    expect(s.vm.states.counts().tracedPages).toBe(0);
    s.write([20]);
    s.timeline.advance(1e7);
    const diff = nextFile();
    saveSnapshot(s.vm, diff, { diffOf: base });
    expect(entryPfns(diff)).toEqual([10, 11, 12, 20]);
  });
});
