// Parity groups: the parity of every group equals the XOR of its covered
// members at every instant a workload lets us look (fast-check over group
// sizes, workloads, rejoin times and run lengths, two VMs in the same
// groups), covered pages and only they are write-protected, a hypervisor
// write keeps parity current, rebuilds are byte-exact even when the bad
// frame's bytes are garbled, and two errors in one group deliver machine
// checks without losing anything else.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createHost, enableRas, injectMemoryError, RepairCheck, Timeline, type Host, type MachineCheck, type RasEngine, type Vm,
} from "../src/index.js";
import { mulberry32 } from "../src/sim/prng.js";

const PAGE = 4096;

/** XOR of pages, byte by byte: the oracle. */
function xorRef(pages: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(PAGE);
  for (const p of pages) for (let i = 0; i < PAGE; i++) out[i] ^= p[i];
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) new DataView(out.buffer).setUint32(i, rng(), true);
  return out;
}

/** Every group whose parity frame is not the XOR of its covered members, and every protection that disagrees with coverage. */
function invariantBreaks(host: Host, ras: RasEngine): string[] {
  const bad: string[] = [];
  const seen = new Set<string>();
  for (const g of ras.parity!.groups()) {
    if (g.members.length > ras.parity!.groupSizePages) bad.push(`group ${g.id} has ${g.members.length} members`);
    const covered: Uint8Array[] = [];
    for (const m of g.members) {
      const key = `${m.vm.id}:${m.pfn}`;
      if (seen.has(key)) bad.push(`${key} in two groups`);
      seen.add(key);
      const pte = m.vm.pteInfo(m.pfn);
      if (pte.writeProtected !== m.covered) bad.push(`${key} covered=${m.covered} but writeProtected=${pte.writeProtected}`);
      if (m.covered) covered.push(m.vm.read(m.pfn * PAGE, PAGE));
    }
    if (Buffer.compare(host.framePages.read(g.parityHfn), xorRef(covered)) !== 0) bad.push(`group ${g.id}: parity is not the XOR of its ${covered.length} covered members`);
  }
  return bad;
}

function guest(host: Host, pages: number, writtenPages: number, seed: number): Vm {
  const vm = host.createVm({ pages });
  vm.write(0, randomBytes(writtenPages * PAGE, seed));
  return vm;
}

describe("parity groups: the invariant", () => {
  it("parity = XOR of the covered members at every sampled instant, under running workloads (fast-check)", () => {
    fc.assert(fc.property(
      fc.record({
        k: fc.integer({ min: 2, max: 12 }),
        pages: fc.integer({ min: 24, max: 160 }),
        kind: fc.constantFrom("uniform", "hotcold", "zipf", "sequential"),
        writeFraction: fc.double({ min: 0.05, max: 1, noNaN: true }),
        rejoinMs: fc.integer({ min: 0, max: 30 }),
        intervalMs: fc.integer({ min: 1, max: 10 }),
        steps: fc.array(fc.integer({ min: 50_000, max: 15_000_000 }), { minLength: 2, maxLength: 6 }),
        samples: fc.array(fc.integer({ min: 0, max: 40_000_000 }), { maxLength: 6 }),
        seed: fc.integer({ min: 0, max: 2 ** 31 }),
      }),
      (c) => {
        const host = createHost({ memoryMiB: 8 });
        const a = guest(host, c.pages, Math.floor(c.pages * 0.75), c.seed);
        const b = guest(host, Math.ceil(c.pages / 2), Math.ceil(c.pages / 4), c.seed + 1);
        const timeline = new Timeline();
        const ras = enableRas(host, timeline, { groupSizePages: c.k, rejoinAfterNs: c.rejoinMs * 1e6, maintainIntervalNs: c.intervalMs * 1e6 });
        const spec = c.kind === "hotcold" ? { kind: "hotcold" as const, hotFraction: 0.2, hotProbability: 0.8 } : c.kind === "zipf" ? { kind: "zipf" as const, s: 1.1 } : { kind: c.kind };
        for (const vm of [a, b]) vm.startWorkload({ ...spec, ratePerSec: 100_000, writeFraction: c.writeFraction, seed: c.seed }).attach(timeline);
        const breaks: string[] = [];
        for (const at of c.samples) timeline.schedule(at, () => breaks.push(...invariantBreaks(host, ras)));
        for (const step of c.steps) {
          timeline.advance(step);
          breaks.push(...invariantBreaks(host, ras));
        }
        expect(breaks).toEqual([]);
        const stats = ras.parity!.stats();
        expect(stats.coveredPages + stats.openPages).toBe(ras.parity!.groups().reduce((n, g) => n + g.members.length, 0));
        ras.close();
        for (const vm of [a, b]) for (let p = 0; p < vm.pages; p++) expect(vm.pteInfo(p).writeProtected).toBe(false);
      },
    ), { numRuns: 12 });
  }, 60_000);

  it("the oracle sees a stale parity: a member changed behind the chain's back breaks the invariant", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = guest(host, 16, 16, 7);
    const ras = enableRas(host, new Timeline(), { groupSizePages: 4 });
    expect(invariantBreaks(host, ras)).toEqual([]);
    const hfn = vm.pteInfo(5).hfn;
    host.framePages.write(hfn, randomBytes(PAGE, 99));
    expect(invariantBreaks(host, ras)).toEqual([expect.stringContaining("parity is not the XOR")]);
  });

  it("groups k pages with one parity frame each, and counts the frames, faults and rejoins it costs", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = guest(host, 40, 37, 3);
    const before = host.stats().usedFrames;
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { groupSizePages: 8, rejoinAfterNs: 0, maintainIntervalNs: 1e6 });
    const s = ras.parity!.stats();
    expect([s.groups, s.parityFrames, s.coveredPages, s.openPages, s.writeFaults]).toEqual([5, 5, 37, 0, 0]);
    expect(host.stats().usedFrames - before).toBe(5 + 1); // the parity frames, and the bitmap of its dirty-log reader
    // Three covered pages written, one of them twice: three write faults; every member stays in its group.
    vm.run([{ op: "write", gpa: 1 * PAGE, seed: 1 }, { op: "write", gpa: 2 * PAGE, seed: 2 }, { op: "write", gpa: 1 * PAGE + 64, seed: 3 }, { op: "write", gpa: 9 * PAGE, seed: 4 }]);
    expect(ras.parity!.stats()).toMatchObject({ writeFaults: 3, openPages: 3, coveredPages: 34 });
    expect(ras.parity!.statusOf(vm, 1)).toBe("open");
    expect(invariantBreaks(host, ras)).toEqual([]);
    // Page 39 was never written: it joins when it is (a new member of the vacant fifth group).
    vm.run([{ op: "write", gpa: 39 * PAGE, seed: 5 }]);
    expect(ras.parity!.statusOf(vm, 39)).toBe(null);
    timeline.advance(1e6);
    expect(ras.parity!.stats()).toMatchObject({ coveredPages: 38, openPages: 0, rejoins: 3, groups: 5 });
    expect(ras.parity!.statusOf(vm, 39)).toBe("covered");
    expect(invariantBreaks(host, ras)).toEqual([]);
    const report = ras.report();
    expect(report.parity).toMatchObject({ memberPages: 38, overheadFraction: 5 / 38, writeFaults: 3 });
    expect(report.parity!.writeFaultsPerSec).toBeCloseTo(3 / 1e-3, 6);
  });

  it("a page written again before rejoinAfterNs stays open; quiet for that long, it rejoins", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = guest(host, 8, 8, 4);
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { groupSizePages: 4, rejoinAfterNs: 20e6, maintainIntervalNs: 5e6 });
    vm.run([{ op: "write", gpa: 0, seed: 1 }]);
    for (let t = 0; t < 4; t++) {
      timeline.advance(5e6);
      vm.run([{ op: "write", gpa: 0, seed: t }]);
    }
    expect(ras.parity!.statusOf(vm, 0)).toBe("open");
    timeline.advance(20e6);
    expect(ras.parity!.statusOf(vm, 0)).toBe("open");
    timeline.advance(5e6);
    expect(ras.parity!.statusOf(vm, 0)).toBe("covered");
    expect(invariantBreaks(host, ras)).toEqual([]);
  });

  it("a hypervisor write (vm.write) to a covered page drops it from the parity before the bytes change", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = guest(host, 16, 16, 5);
    const ras = enableRas(host, new Timeline(), { groupSizePages: 4 });
    vm.write(6 * PAGE + 100, randomBytes(8200, 6));
    expect([ras.parity!.statusOf(vm, 6), ras.parity!.statusOf(vm, 7), ras.parity!.statusOf(vm, 8)]).toEqual(["open", "open", "open"]);
    expect(ras.parity!.stats().writeFaults).toBe(3);
    expect(invariantBreaks(host, ras)).toEqual([]);
  });

  it("a covered page another technique moves (balloon, then deflate) leaves its group at the next maintenance, parity recomputed, protection gone", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = guest(host, 16, 16, 8);
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { groupSizePages: 4, maintainIntervalNs: 1e6 });
    vm.states.balloon(2);
    vm.states.deflate(2);
    timeline.advance(1e6);
    expect(ras.parity!.statusOf(vm, 2)).toBe(null);
    expect(vm.pteInfo(2).writeProtected).toBe(false);
    expect(invariantBreaks(host, ras)).toEqual([]);
    vm.run([{ op: "write", gpa: 2 * PAGE, seed: 1 }]);
    timeline.advance(1e6);
    expect(ras.parity!.statusOf(vm, 2)).toBe("covered");
    expect(invariantBreaks(host, ras)).toEqual([]);
  });
});

describe("parity groups: rebuild", () => {
  function protectedGuest() {
    const host = createHost({ memoryMiB: 4 });
    const vm = guest(host, 32, 32, 11);
    const mces: MachineCheck[] = [];
    vm.onMachineCheck((m) => mces.push(m));
    const timeline = new Timeline();
    const ras = enableRas(host, timeline, { groupSizePages: 8 });
    return { host, vm, mces, ras, timeline };
  }

  it("a known error is rebuilt at once from parity and the survivors, byte for byte, though the bad frame's bytes are garbled", () => {
    const { host, vm, mces, ras } = protectedGuest();
    const copy = vm.read(13 * PAGE, PAGE);
    const bad = vm.pteInfo(13).hfn;
    const out = ras.inject({ vm, gpa: 13 * PAGE + 5 }, { kind: "known", corrupt: true });
    expect(out).toMatchObject({ kind: "known", entry: { outcome: "parity", detectedBy: "report" } });
    expect(Buffer.compare(host.framePages.read(bad), copy)).not.toBe(0);
    const now = vm.pteInfo(13);
    expect(now).toMatchObject({ present: true, poisoned: false, writeProtected: true });
    expect(now.hfn).not.toBe(bad);
    expect(Buffer.compare(host.framePages.read(now.hfn), copy)).toBe(0);
    expect(host.frameInfo(bad).flags).toEqual(expect.arrayContaining(["poisoned", "retired"]));
    expect(host.retired.list()).toEqual([expect.objectContaining({ hfn: bad, cause: "uncorrectable", errorCount: 1 })]);
    vm.run([{ op: "read", gpa: 13 * PAGE }, { op: "write", gpa: 13 * PAGE, seed: 9 }]);
    expect([mces.length, vm.counters.skipped]).toEqual([0, 0]);
    expect(ras.report()).toMatchObject({ recoveredByParity: 1, pagesLost: 0, linux: { Recovered: 1, Failed: 0, Delayed: 0, Ignored: 0 } });
  });

  it("a latent error found by a hypervisor read (vm.read) is rebuilt and the read returns the page's bytes", () => {
    const { vm, mces, ras } = protectedGuest();
    const copy = vm.read(22 * PAGE, PAGE);
    ras.inject({ vm, gpa: 22 * PAGE }, { kind: "latent", corrupt: true });
    expect(Buffer.compare(vm.read(22 * PAGE, PAGE), copy)).toBe(0);
    expect(mces).toEqual([]);
    expect(ras.log.entries()).toEqual([expect.objectContaining({ pfn: 22, detectedBy: "hypervisor", outcome: "parity" })]);
  });

  it("a latent error found by a guest read is rebuilt and the read retried: no machine check", () => {
    const { vm, mces, ras } = protectedGuest();
    const copy = vm.read(20 * PAGE, PAGE);
    ras.inject({ vm, gpa: 20 * PAGE }, { kind: "latent" });
    expect(vm.pteInfo(20).latentError).toBe(true);
    vm.run([{ op: "read", gpa: 20 * PAGE + 8 }]);
    expect([mces.length, vm.counters.skipped, vm.counters.faults.poisoned]).toEqual([0, 0, 1]);
    expect(Buffer.compare(vm.read(20 * PAGE, PAGE), copy)).toBe(0);
    expect(ras.log.entries()).toEqual([expect.objectContaining({ pfn: 20, latent: true, detectedBy: "guest", outcome: "parity" })]);
  });

  it("two errors in one group: both pages get a machine check, nothing else is lost, and the group protects its other members again", () => {
    const { host, vm, mces, ras } = protectedGuest();
    const group = ras.parity!.groups().find((g) => g.members.some((m) => m.pfn === 9))!;
    const peers = group.members.map((m) => m.pfn).filter((p) => p !== 9 && p !== 10);
    expect(group.members.map((m) => m.pfn)).toContain(10);
    const before = vm.read(0, 32 * PAGE);
    injectMemoryError(host, { vm, gpa: 9 * PAGE }, { corrupt: true });
    injectMemoryError(host, { vm, gpa: 10 * PAGE }, { latent: true, corrupt: true });
    vm.run([{ op: "read", gpa: 9 * PAGE }, { op: "read", gpa: 10 * PAGE }]);
    expect(mces.map((m) => m.pfn)).toEqual([9, 10]);
    expect(ras.report()).toMatchObject({ pagesLost: 2, recoveredByParity: 0, linux: { Failed: 2 } });
    for (let p = 0; p < 32; p++) {
      if (p === 9 || p === 10) continue;
      expect(Buffer.compare(vm.read(p * PAGE, PAGE), before.subarray(p * PAGE, (p + 1) * PAGE)), `page ${p}`).toBe(0);
    }
    expect(invariantBreaks(host, ras)).toEqual([]);
    const third = peers[0];
    const copy = vm.read(third * PAGE, PAGE);
    expect(ras.inject({ vm, gpa: third * PAGE }, { corrupt: true })).toMatchObject({ entry: { outcome: "parity" } });
    expect(Buffer.compare(vm.read(third * PAGE, PAGE), copy)).toBe(0);
  });

  it("the repair check catches a wrong rebuild: a parity frame garbled behind the engine's back gives a mismatch naming page and offset", () => {
    const { host, vm, ras } = protectedGuest();
    const check = new RepairCheck(host);
    ras.onRecovery(check.onRecovery);
    for (const pfn of [4, 17]) {
      check.keep(vm.pteInfo(pfn).hfn, vm.read(pfn * PAGE, PAGE));
      if (pfn === 17) {
        const parity = ras.parity!.groups().find((g) => g.members.some((m) => m.pfn === 17))!.parityHfn;
        const bytes = host.framePages.read(parity);
        bytes[123] ^= 0x40;
        host.framePages.write(parity, bytes);
      }
      ras.inject({ vm, gpa: pfn * PAGE });
    }
    expect(check.result()).toEqual({ repaired: 2, verified: 1, mismatched: [`${vm.id}:17 at offset 123`] });
  });

  it("a page written and not yet rejoined is not protected: its error is a machine check", () => {
    const { vm, mces, ras } = protectedGuest();
    vm.run([{ op: "write", gpa: 3 * PAGE, seed: 1 }]);
    expect(ras.inject({ vm, gpa: 3 * PAGE })).toMatchObject({ entry: { outcome: "lost" } });
    vm.run([{ op: "read", gpa: 3 * PAGE }]);
    expect(mces.map((m) => m.pfn)).toEqual([3]);
    expect(ras.report().linux).toMatchObject({ Failed: 1, Recovered: 0 });
  });
});
