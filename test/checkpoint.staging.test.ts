// The pause copy (src/checkpoint/staging.ts) and the staged pages of one
// checkpoint (pending.ts): staged bytes equal the guest's at the copy, a
// page staged again before it went replaces its copy and one staged after
// it went is queued again, and staging buffers are reused only once their
// checkpoint is recycled.
import { describe, expect, it } from "vitest";
import { createHost } from "../src/index.js";
import { PendingCheckpoint } from "../src/checkpoint/pending.js";
import { StagingArea } from "../src/checkpoint/staging.js";

function drain(cp: PendingCheckpoint): Array<{ pfn: number; bytes: Uint8Array | null }> {
  const out: Array<{ pfn: number; bytes: Uint8Array | null }> = [];
  for (let p = cp.takeNext(); p; p = cp.takeNext()) out.push({ pfn: p.pfn, bytes: p.bytes && p.bytes.slice() });
  return out;
}

describe("checkpoint staging", () => {
  it("stages the guest's bytes at the copy (zero pages as null) and later writes do not change them", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 512 });
    for (const pfn of [3, 9, 200]) vm.write(pfn * 4096 + 5, Uint8Array.of(pfn, 7));
    const staging = new StagingArea(vm);
    const cp = new PendingCheckpoint(0);
    const before = [200, 3, 4, 9].map((pfn) => vm.read(pfn * 4096, 4096));
    expect(staging.stage([200, 3, 4, 9], cp)).toEqual({ copiedPages: 3, zeroPages: 1 });
    vm.write(3 * 4096, Uint8Array.of(0xff));
    const pages = drain(cp);
    expect(pages.map((p) => p.pfn)).toEqual([200, 3, 4, 9]);
    expect(pages[2].bytes).toBeNull();
    for (const i of [0, 1, 3]) expect(Buffer.compare(pages[i].bytes!, before[i])).toBe(0);
  });

  it("a page staged again before it went replaces its copy in place; one staged after it went is queued again", () => {
    const cp = new PendingCheckpoint(0);
    const page = (b: number): Uint8Array => new Uint8Array(4096).fill(b);
    const gathered = new Uint8Array(3 * 4096);
    gathered.fill(1, 0, 4096).fill(2, 4096, 8192).fill(3, 8192);
    cp.stageGathered([10, 11, 12], gathered, Uint8Array.of(0, 0, 0));
    expect(cp.takeNext()!.pfn).toBe(10);
    cp.stage(11, page(21)); // unsent: replaces
    cp.stage(10, page(20)); // sent: queued again
    cp.stageGathered([12, 13], gathered.subarray(0, 8192), Uint8Array.of(0, 1)); // 12 unsent: replaced by page 1's bytes
    expect(cp.unsentPages).toBe(4);
    const rest = drain(cp);
    expect(rest.map((p) => [p.pfn, p.bytes ? p.bytes[0] : null])).toEqual([[11, 21], [12, 1], [10, 20], [13, null]]);
    expect(cp.unsentPages).toBe(0);
  });

  it("reuses a recycled checkpoint's buffer for the next pause, never one still staged", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 512 });
    for (let pfn = 0; pfn < 100; pfn++) vm.write(pfn * 4096, Uint8Array.of(pfn + 1));
    const staging = new StagingArea(vm);
    const a = new PendingCheckpoint(0);
    staging.stage(Array.from({ length: 100 }, (_, i) => i), a);
    const b = new PendingCheckpoint(1);
    staging.stage(Array.from({ length: 90 }, (_, i) => i + 10), b);
    expect(staging.allocatedBuffers).toBe(2); // a still holds its buffer: b got its own
    expect(drain(a).every((p, i) => p.bytes![0] === i + 1)).toBe(true);
    staging.recycle(a);
    const c = new PendingCheckpoint(2);
    staging.stage(Array.from({ length: 80 }, (_, i) => 99 - i), c);
    expect(staging.allocatedBuffers).toBe(2); // c reused a's
    expect(drain(b).every((p, i) => p.bytes![0] === i + 11)).toBe(true);
    expect(drain(c).every((p, i) => p.bytes![0] === 100 - i)).toBe(true);
  });
});

describe("checkpoint staging in host frames", () => {
  it("stages into host frames when the host can lend them, else JS memory; close() returns every frame", () => {
    const roomy = createHost({ memoryMiB: 16 });
    const vm = roomy.createVm({ pages: 512 });
    for (let pfn = 0; pfn < 300; pfn++) vm.write(pfn * 4096, Uint8Array.of(pfn & 0xff, 1));
    const used = roomy.stats().usedFrames;
    const staging = new StagingArea(vm);
    const cp = new PendingCheckpoint(0);
    staging.stage(Array.from({ length: 300 }, (_, i) => i), cp);
    expect(staging.hostBuffersAllocated).toBe(1);
    expect(staging.hostBytes).toBeGreaterThanOrEqual(300 * 4096);
    expect(roomy.stats().usedFrames).toBe(used + staging.hostBytes / 4096);
    expect(drain(cp).every((p, i) => p.pfn === i && p.bytes![0] === (i & 0xff) && p.bytes![1] === 1)).toBe(true);
    staging.close();
    expect(roomy.stats().usedFrames).toBe(used);

    const tight = createHost({ memoryMiB: 4 }).createVm({ pages: 900 }); // 1024 frames: the guest could need 900 + tables
    for (let pfn = 0; pfn < 10; pfn++) tight.write(pfn * 4096, Uint8Array.of(pfn + 1));
    const fallback = new StagingArea(tight);
    const cp2 = new PendingCheckpoint(0);
    fallback.stage(Array.from({ length: 10 }, (_, i) => i), cp2);
    expect([fallback.allocatedBuffers, fallback.hostBuffersAllocated]).toEqual([1, 0]);
    expect(drain(cp2).map((p) => p.bytes![0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("staged copies in host frames survive linear memory growing, merged checkpoints included", () => {
    const host = createHost({ memoryMiB: 64 });
    const vm = host.createVm({ pages: 4096 });
    for (let pfn = 0; pfn < 64; pfn++) vm.write(pfn * 4096 + 100, Uint8Array.of(pfn, 0xc3));
    const staging = new StagingArea(vm);
    const a = new PendingCheckpoint(0);
    staging.stage(Array.from({ length: 32 }, (_, i) => i), a);
    const b = new PendingCheckpoint(1);
    staging.stage(Array.from({ length: 32 }, (_, i) => i + 32), b);
    a.absorb(b);
    expect(staging.hostBuffersAllocated).toBe(2);
    const before = host.stats().linearMemoryBytes;
    for (let pfn = 64; pfn < 4096; pfn++) vm.write(pfn * 4096, Uint8Array.of(0xee));
    expect(host.stats().linearMemoryBytes).toBeGreaterThan(before);
    const pages = drain(a);
    expect(pages.map((p) => p.pfn)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    for (const p of pages) expect([p.bytes![100], p.bytes![101]]).toEqual([p.pfn, 0xc3]);
    staging.close();
  });
});
