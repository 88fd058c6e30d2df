// The host's own bookkeeping, at the edges a mutation run found untested:
// createHost's argument, the frame count a host may hand out, VM slots and
// ids, workload slots, frameInfo's range and stats(); host.framePages'
// checks (frame range, a free frame, page size, a destination among its
// sources); host.retired (range checks, duplicates, frames past the host)
// and the retired-frame store's record checks (a record with an impossible
// cause or frame is dropped and named, the first record of a frame wins).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, FaultReason, injectMemoryError, RetiredStore, type RetiredFrame } from "../src/index.js";
import { maxFramesFor } from "../src/wasm/kernels.js";
import { thrownError } from "./helpers.js";

const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), "hypermem-host-mutants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = (): string => join(dir, `store-${files++}.hmrf`);

describe("createHost and the host's limits", () => {
  it.each([null, undefined, 7, "64"])("options %s (not an object) is ERR_BAD_OPTION naming it", (v) => {
    expect(thrownError(() => createHost(v as never))).toEqual({
      code: "ERR_BAD_OPTION",
      message: `createHost: options must be an object such as { memoryMiB: 1024 }, got ${String(v)}`,
      details: { option: "options" },
    });
  });

  it("a host hands out memoryMiB × 256 frames, capped by what fits beside the scratch in 4 GiB", () => {
    expect(createHost({ memoryMiB: 4 }).maxFrames).toBe(1024);
    expect(createHost({ memoryMiB: 4 }).stats().maxFrames).toBe(1024);
    const cap = maxFramesFor(16 << 20);
    expect(cap).toBeLessThan(4096 * 256);
    expect(createHost({ memoryMiB: 4096 }).maxFrames).toBe(cap);
  });

  it("runs at most 255 VMs; a destroyed VM's slot is the next one given; ids count up from 1", () => {
    const host = createHost({ memoryMiB: 16 });
    const vms = Array.from({ length: 255 }, () => host.createVm({ pages: 1 }));
    expect(vms.map((v) => v.slot)).toEqual(Array.from({ length: 255 }, (_, i) => i));
    expect(vms.map((v) => v.id)).toEqual(Array.from({ length: 255 }, (_, i) => i + 1));
    expect(host.stats().vms).toBe(255);
    expect(host.vms.length).toBe(255);
    expect(thrownError(() => host.createVm({ pages: 1 }))).toEqual({ code: "ERR_HOST_LIMIT", message: "a host runs at most 255 VMs", details: { vms: 255 } });
    vms[7].destroy();
    expect(host.vms).not.toContain(vms[7]);
    const again = host.createVm({ pages: 1 });
    expect([again.slot, again.id]).toEqual([7, 256]);
  });

  it("VM ids wrap from 65534 to 1 (they fit the frames' 16-bit owner field, 0 and 0xffff excluded), skipping the ids of live VMs", () => {
    const host = createHost({ memoryMiB: 4 });
    const [first, second] = [host.createVm({ pages: 1 }), host.createVm({ pages: 1 })];
    second.destroy();
    let last = 0;
    for (let i = 2; i < 0xfffe; i++) {
      const vm = host.createVm({ pages: 1 });
      last = vm.id;
      vm.destroy();
    }
    expect(last).toBe(0xfffe);
    const [a, b] = [host.createVm({ pages: 1 }), host.createVm({ pages: 1 })];
    expect([first.id, a.id, b.id]).toEqual([1, 2, 3]);
  });

  it("a memory error in a frame reaches the VM that owns it, also after the ids wrapped", () => {
    const host = createHost({ memoryMiB: 4 });
    const old = host.createVm({ pages: 1 });
    old.write(0, new Uint8Array([1]));
    for (let i = 1; i < 0xfffe; i++) host.createVm({ pages: 1 }).destroy();
    const young = host.createVm({ pages: 1 });
    young.write(0, new Uint8Array([2]));
    expect(young.id).not.toBe(old.id);
    const heard: string[] = [];
    old.onMachineCheck(() => heard.push("old"));
    young.onMachineCheck(() => heard.push("young"));
    injectMemoryError(host, { hfn: young.pteInfo(0).hfn });
    expect(() => young.read(0, 1)).toThrow(expect.objectContaining({ code: "ERR_MEMORY_POISONED" }));
    expect(old.read(0, 1)).toEqual(new Uint8Array([1]));
    expect(young.states.of(0).kind).toBe("poisoned");
    expect(old.states.of(0).kind).toBe("present");
  });

  it("runs at most 256 workloads at once; a released slot is the next one claimed", () => {
    const host = createHost({ memoryMiB: 4 });
    const slots = Array.from({ length: 256 }, () => host.claimWorkloadSlot());
    expect(slots).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(thrownError(() => host.claimWorkloadSlot())).toEqual({ code: "ERR_HOST_LIMIT", message: "a host runs at most 256 workloads at once", details: { workloads: 256 } });
    host.releaseWorkloadSlot(5);
    expect(host.claimWorkloadSlot()).toBe(5);
  });

  it("frameInfo takes 0 .. maxFrames - 1", () => {
    const host = createHost({ memoryMiB: 4 });
    expect(host.frameInfo(0).flags).toContain("zero");
    expect(host.frameInfo(1023)).toMatchObject({ hfn: 1023, owner: 0 });
    for (const hfn of [-1, 1024]) {
      expect(thrownError(() => host.frameInfo(hfn))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "hfn", value: hfn } });
    }
  });

  it("stats() counts VMs, frames in use, the peak, the free list and retired frames", () => {
    const host = createHost({ memoryMiB: 4 });
    const empty = host.stats();
    expect(empty).toMatchObject({ maxFrames: 1024, vms: 0, freeListFrames: 0, retiredFrames: 0 });
    expect(empty.peakUsedFrames).toBe(empty.usedFrames);
    const vm = host.createVm({ pages: 8 });
    vm.write(0, new Uint8Array(8 * PAGE).fill(1));
    const busy = host.stats();
    expect(busy.vms).toBe(1);
    expect(busy.usedFrames).toBeGreaterThanOrEqual(empty.usedFrames + 8);
    vm.destroy();
    const after = host.stats();
    expect(after).toMatchObject({ vms: 0, usedFrames: empty.usedFrames, peakUsedFrames: busy.usedFrames });
    expect(after.freeListFrames).toBe(busy.usedFrames - empty.usedFrames);
    expect(after.linearMemoryBytes).toBe(host.kernels.heap.byteLength);
    host.retired.record(5, "correctable", 3, 0);
    expect(host.stats().retiredFrames).toBe(1);
  });

  it("a host-wide fault handler is heard after the VM's own, before the defaults; its disposer removes it", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    const heard: string[] = [];
    vm.onFault(FaultReason.NotPresent, (f) => { heard.push(`vm ${f.pfn}`); return "pass"; });
    const off = host.onFault(FaultReason.NotPresent, (f) => { heard.push(`host ${f.pfn}`); return "pass"; });
    vm.run([{ gpa: 2 * PAGE, op: "write", length: 8, seed: 1 }]);
    off();
    vm.run([{ gpa: 3 * PAGE, op: "write", length: 8, seed: 1 }]);
    expect(heard).toEqual(["vm 2", "host 2", "vm 3"]);
    expect(vm.pteInfo(2).present && vm.pteInfo(3).present).toBe(true);
  });
});

describe("host.framePages checks", () => {
  it("frame numbers run 1 .. maxFrames - 1, and a free frame holds no page", () => {
    const host = createHost({ memoryMiB: 4 });
    const fp = host.framePages;
    const h = fp.alloc();
    expect(h).toBeGreaterThanOrEqual(1);
    expect(fp.read(h)).toEqual(new Uint8Array(PAGE));
    for (const bad of [0, 1024, 1.5]) {
      expect(thrownError(() => fp.read(bad))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "hfn", value: bad } });
    }
    expect(thrownError(() => fp.read(1023))).toEqual({ code: "ERR_PAGE_STATE", message: "host frame 1023 (hfn) is free: it holds no page", details: { hfn: 1023 } });
    expect(thrownError(() => fp.xor(1023, []))).toMatchObject({ code: "ERR_PAGE_STATE", message: "host frame 1023 (dst) is free: it holds no page" });
    expect(thrownError(() => fp.xorOf([h, 1023]))).toMatchObject({ code: "ERR_PAGE_STATE", message: "host frame 1023 (srcs[1]) is free: it holds no page" });
  });

  it("write takes exactly 4096 bytes, naming what it got", () => {
    const fp = createHost({ memoryMiB: 4 }).framePages;
    const h = fp.alloc();
    expect(thrownError(() => fp.write(h, new Uint8Array(4095)))).toEqual({ code: "ERR_PAGE_SIZE", message: "a frame holds 4096 bytes, got 4095", details: { hfn: h } });
    expect(thrownError(() => fp.write(h, "x".repeat(4096) as never))).toEqual({ code: "ERR_PAGE_SIZE", message: "a frame holds 4096 bytes, got string", details: { hfn: h } });
    expect(fp.read(h)).toEqual(new Uint8Array(PAGE));
  });

  it("xor of no frames is zeros; a destination among the sources is refused, naming it", () => {
    const fp = createHost({ memoryMiB: 4 }).framePages;
    const [a, b] = [fp.alloc(), fp.alloc()];
    fp.write(a, new Uint8Array(PAGE).fill(0x5a));
    fp.xor(a, []);
    expect(fp.read(a)).toEqual(new Uint8Array(PAGE));
    expect(fp.xorOf([])).toEqual(new Uint8Array(PAGE));
    expect(thrownError(() => fp.xor(b, [a, b]))).toEqual({ code: "ERR_BAD_OPTION", message: `xor: the destination frame ${b} is also a source`, details: { hfn: b } });
  });

  it("a retired frame is never handed out again; a free frame cannot be retired", () => {
    const host = createHost({ memoryMiB: 4 });
    const fp = host.framePages;
    const h = fp.alloc();
    fp.retire(h);
    expect(host.frameInfo(h).flags).toContain("retired");
    expect(Array.from({ length: 50 }, () => fp.alloc())).not.toContain(h);
    expect(thrownError(() => fp.retire(1023))).toMatchObject({ code: "ERR_PAGE_STATE" });
    const g = fp.alloc();
    fp.free(g);
    expect(thrownError(() => fp.read(g))).toMatchObject({ code: "ERR_PAGE_STATE" });
  });
});

describe("host.retired", () => {
  it("record checks the frame (1 .. maxFrames - 1) and the count (1 .. 2^32 - 1), floors the time, refuses a duplicate", () => {
    const host = createHost({ memoryMiB: 4 });
    const r = host.retired;
    expect(r.store).toBe(null);
    expect(r.loadReport).toBe(null);
    for (const hfn of [0, 1024]) expect(thrownError(() => r.record(hfn, "uncorrectable", 1))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "hfn" } });
    for (const n of [0, 2 ** 32]) expect(thrownError(() => r.record(9, "uncorrectable", n))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "errorCount" } });
    expect(r.count).toBe(0);
    expect(r.record(1023, "correctable", 2 ** 32 - 1, 1234.9)).toBe(true);
    expect(r.record(1, "uncorrectable", 1, 5)).toBe(true);
    expect(r.record(1, "correctable", 7, 6)).toBe(false);
    expect(r.list()).toEqual([
      { hfn: 1, cause: "uncorrectable", timeMs: 5, errorCount: 1 },
      { hfn: 1023, cause: "correctable", timeMs: 1234, errorCount: 2 ** 32 - 1 },
    ]);
    expect([r.has(1), r.has(1023), r.has(2), r.count]).toEqual([true, true, false, 2]);
  });

  it("a host with a store appends what it records; frames the store names past the host are kept aside, not reserved", () => {
    const path = freshPath();
    const big = createHost({ memoryMiB: 8, retiredStore: path });
    expect(big.retired.record(100, "uncorrectable", 1, 10)).toBe(true);
    expect(big.retired.record(2000, "correctable", 4, 11)).toBe(true);
    expect(big.retired.record(1024, "correctable", 4, 11)).toBe(true); // exactly the small host's frame count: outside it
    expect(big.retired.record(100, "uncorrectable", 1, 12)).toBe(false);
    expect(RetiredStore.open(path).list().map((f) => f.hfn)).toEqual([100, 1024, 2000]);
    const small = createHost({ memoryMiB: 4, retiredStore: path });
    expect(small.retired.outsideHost).toEqual([1024, 2000]);
    expect(small.retired.list().map((f) => f.hfn)).toEqual([100]);
    expect([small.retired.count, small.retired.has(2000), small.stats().retiredFrames]).toEqual([1, false, 1]);
    expect(small.frameInfo(100).flags).toContain("retired");
    expect(small.retired.loadReport).toMatchObject({ records: 3, invalid: [] });
  });
});

describe("retired-frame store records", () => {
  const frame = (hfn: number, cause: string = "uncorrectable"): RetiredFrame => ({ hfn, cause: cause as RetiredFrame["cause"], timeMs: 1_700_000_000_000 + hfn, errorCount: 3 });

  it("open refuses a path that is not a non-empty string, naming the option", () => {
    for (const p of ["", 5]) {
      expect(thrownError(() => RetiredStore.open(p as never))).toEqual({
        code: "ERR_BAD_OPTION", message: `retiredStore must be a file path, got ${JSON.stringify(p)}`, details: { option: "retiredStore", value: p },
      });
    }
  });

  it("a record with a cause other than 1 or 2, or a frame 0 or past 2^53 - 1, is dropped and named; the largest safe frame is kept", () => {
    const path = freshPath();
    const s = RetiredStore.open(path);
    for (const f of [frame(4), frame(5, "bogus"), frame(0), frame(2 ** 53), frame(Number.MAX_SAFE_INTEGER, "correctable")]) s.append(f);
    expect(s.size).toBe(5);
    const again = RetiredStore.open(path);
    expect(again.loadReport.invalid).toEqual([
      "record 1: cause 0 is not 1 (uncorrectable) or 2 (correctable)",
      "record 2: frame 0 cannot be retired",
      "record 3: frame 9007199254740992 cannot be retired",
    ]);
    expect(again.list()).toEqual([frame(4), frame(Number.MAX_SAFE_INTEGER, "correctable")]);
    expect([again.size, again.has(4), again.has(0)]).toEqual([2, true, false]);
  });

  it("two records of one frame (two writers): the first one is kept", () => {
    const path = freshPath();
    const a = RetiredStore.open(path);
    const b = RetiredStore.open(path);
    a.append(frame(9, "uncorrectable"));
    b.append({ ...frame(9, "correctable"), errorCount: 8 });
    expect(RetiredStore.open(path).list()).toEqual([frame(9, "uncorrectable")]);
  });

  it("an appended frame is copied: changing the caller's object changes nothing stored", () => {
    const s = RetiredStore.open(freshPath());
    const f = frame(12);
    s.append(f);
    (f as { errorCount: number }).errorCount = 99;
    expect(s.list()).toEqual([frame(12)]);
    expect(Object.isFrozen(s.list()[0])).toBe(true);
  });

  it("clear counts only the frames it held", () => {
    const path = freshPath();
    const s = RetiredStore.open(path);
    for (const h of [3, 4, 5]) s.append(frame(h));
    expect(s.clear([4, 77])).toBe(1);
    expect(RetiredStore.open(path).list().map((f) => f.hfn)).toEqual([3, 5]);
  });
});
