// Hypervisor swap (src/swap): guest memory equals a plain model byte for
// byte after any sequence of swap-outs and swap-ins (fast-check); a slot
// whose bytes fail their checksum poisons the page and delivers a machine
// check instead of data; a full file, bad paths and bad options are typed
// errors and lose no page; the file is 0600 and removed on close.
import { chmodSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync, closeSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, HostSwap, Timeline, type Vm } from "../src/index.js";
import { thrownError } from "./helpers.js";

const PAGES = 64;
const dir = mkdtempSync(join(tmpdir(), "hypermem-swap-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const swapPath = (): string => join(dir, `swap-${++files}`);

/** What the MMU writes for an 8-byte guest write at `gpa` with `seed`: ~gpa ^ (seed × 0x9e3779b97f4a7c15), little-endian. */
function guestWord(gpa: number, seed: number): Uint8Array {
  const mask = (1n << 64n) - 1n;
  const v = (~BigInt(gpa) & mask) ^ ((BigInt(seed) * 0x9e3779b97f4a7c15n) & mask);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v, true);
  return out;
}

interface Rig { vm: Vm; swap: HostSwap; timeline: Timeline }

function rig(options: { limit?: number | null; capacityPages?: number } = {}): Rig {
  const vm = createHost({ memoryMiB: 8 }).createVm({ pages: PAGES });
  const timeline = new Timeline();
  const swap = new HostSwap(vm.host, timeline, { path: swapPath(), capacityPages: options.capacityPages ?? PAGES, reclaimBatchPages: 4, minFreeFrames: 2 });
  swap.attach(vm, { frameLimitPages: options.limit ?? null });
  return { vm, swap, timeline };
}

/** Every page of `vm` equals the model's (absent pages are zeros); the first differing page otherwise. */
function firstDifference(vm: Vm, model: Map<number, Uint8Array>): number {
  const all = vm.readPages(0, PAGES);
  for (let pfn = 0; pfn < PAGES; pfn++) {
    const want = model.get(pfn) ?? new Uint8Array(4096);
    if (Buffer.compare(all.subarray(pfn * 4096, (pfn + 1) * 4096), want) !== 0) return pfn;
  }
  return -1;
}

type Op =
  | { kind: "write"; pfn: number; fill: number }
  | { kind: "guestWrite"; pfn: number; word: number; seed: number }
  | { kind: "guestRead"; pfn: number }
  | { kind: "read"; pfn: number }
  | { kind: "swapOut"; count: number }
  | { kind: "advance"; ns: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), pfn: fc.nat(PAGES - 1), fill: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("guestWrite" as const), pfn: fc.nat(PAGES - 1), word: fc.nat(511), seed: fc.nat(1000) }),
  fc.record({ kind: fc.constant("guestRead" as const), pfn: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("read" as const), pfn: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("swapOut" as const), count: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant("advance" as const), ns: fc.integer({ min: 0, max: 200_000 }) }),
);

function apply(r: Rig, model: Map<number, Uint8Array>, op: Op): void {
  const page = (pfn: number): Uint8Array => {
    if (!model.has(pfn)) model.set(pfn, new Uint8Array(4096));
    return model.get(pfn)!;
  };
  switch (op.kind) {
    case "write":
      r.vm.write(op.pfn * 4096, new Uint8Array(4096).fill(op.fill));
      page(op.pfn).fill(op.fill);
      break;
    case "guestWrite": {
      const gpa = op.pfn * 4096 + op.word * 8;
      r.vm.run([{ op: "write", gpa, length: 8, seed: op.seed }]);
      page(op.pfn).set(guestWord(gpa, op.seed), op.word * 8);
      break;
    }
    case "guestRead":
      r.vm.run([{ op: "read", gpa: op.pfn * 4096, length: 8 }]);
      break;
    case "read":
      expect(Buffer.compare(r.vm.read(op.pfn * 4096, 4096), model.get(op.pfn) ?? new Uint8Array(4096))).toBe(0);
      break;
    case "swapOut":
      r.swap.swapOut(r.vm, op.count);
      break;
    case "advance":
      r.timeline.advance(op.ns);
      break;
  }
}

describe("swap: guest memory against the model", () => {
  it("equals the model byte for byte after any sequence of swap-outs, swap-ins and accesses (with and without a frame limit)", () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.constantFrom(null, 12, 24), (ops, limit) => {
      const r = rig({ limit });
      const model = new Map<number, Uint8Array>();
      try {
        for (const op of ops) apply(r, model, op);
        const c = r.swap.counters(r.vm);
        expect(r.vm.states.counts().swappedPages).toBe(c.swap_out - c.swap_in);
        if (limit !== null) expect(r.vm.states.counts().privateFrames).toBeLessThanOrEqual(limit);
        expect(firstDifference(r.vm, model)).toBe(-1);
        expect(r.vm.states.counts().swappedPages).toBe(0);
      } finally {
        r.swap.close();
      }
    }), { numRuns: 60 });
  });

  it("swaps a page out to a slot (frame freed, state swapped) and back on the guest's fault", () => {
    const r = rig();
    r.vm.write(5 * 4096, new Uint8Array(4096).fill(0xab));
    const framesBefore = r.vm.host.stats().usedFrames;
    expect(r.swap.swapOut(r.vm, 1)).toBe(1);
    const state = r.vm.states.of(5);
    expect(state.kind).toBe("swapped");
    expect(r.vm.host.stats().usedFrames).toBe(framesBefore - 1);
    expect(r.swap.file.usedSlots).toBe(1);
    r.vm.run([{ op: "read", gpa: 5 * 4096, length: 8 }]);
    expect(r.vm.states.of(5).kind).toBe("present");
    expect(r.swap.file.usedSlots).toBe(0);
    expect(r.swap.counters(r.vm)).toMatchObject({ swap_out: 1, swap_in: 1, major_faults: 1, minor_faults: 0 });
    expect(r.vm.read(5 * 4096, 4096)).toEqual(new Uint8Array(4096).fill(0xab));
    r.swap.close();
  });

  it("keeps a guest under its frame limit by swapping out, a batch at a time, pages the clock finds not accessed", () => {
    const r = rig({ limit: 32 });
    for (let pfn = 0; pfn < PAGES; pfn++) r.vm.run([{ op: "write", gpa: pfn * 4096, length: 8, seed: pfn }]);
    const counts = r.vm.states.counts();
    // reserve = minFreeFrames 2 + batch 4: the limit holds with 6 frames to spare at each allocation.
    expect(counts.privateFrames).toBeLessThanOrEqual(32 - 2);
    expect(counts.privateFrames + counts.swappedPages).toBe(PAGES);
    expect(r.swap.counters(r.vm).swap_out % 4).toBe(0);
    r.swap.close();
  });
});

describe("swap: a slot that fails its checksum", () => {
  function swappedPage(): { r: Rig; slot: number } {
    const r = rig();
    r.vm.write(3 * 4096, new Uint8Array(4096).fill(0x5a));
    r.swap.swapOut(r.vm, 1);
    const state = r.vm.states.of(3);
    if (state.kind !== "swapped") throw new Error("not swapped");
    return { r, slot: state.slot };
  }

  function flipBit(path: string, offset: number): void {
    const fd = openSync(path, "r+");
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] ^= 0x10;
    writeSync(fd, b, 0, 1, offset);
    closeSync(fd);
  }

  it("poisons the page and delivers a virtual machine check to the guest instead of the bytes; counted", () => {
    const { r, slot } = swappedPage();
    flipBit(r.swap.file.path, slot * 4096 + 100);
    const mces: number[] = [];
    r.vm.onMachineCheck((m) => mces.push(m.pfn));
    r.vm.run([{ op: "read", gpa: 3 * 4096, length: 8 }]);
    expect(mces).toEqual([3]);
    expect(r.vm.states.of(3).kind).toBe("poisoned");
    expect(r.swap.counters(r.vm)).toMatchObject({ corruptSlots: 1, machineChecks: 1, swap_in: 0 });
    // The hypervisor gets an error, never the bytes; the guest gets another machine check on its next access.
    expect(thrownError(() => r.vm.read(3 * 4096, 4096))).toMatchObject({ code: "ERR_MEMORY_POISONED" });
    r.vm.run([{ op: "write", gpa: 3 * 4096, length: 8, seed: 1 }]);
    expect(mces).toEqual([3, 3]);
    expect(r.swap.counters(r.vm).machineChecks).toBe(2);
    r.swap.close();
  });

  it("a hypervisor read of a corrupt slot fails with ERR_MEMORY_POISONED and delivers nothing to the guest", () => {
    const { r, slot } = swappedPage();
    flipBit(r.swap.file.path, slot * 4096 + 4095);
    expect(thrownError(() => r.vm.read(3 * 4096, 4096))).toMatchObject({ code: "ERR_MEMORY_POISONED" });
    expect(r.vm.machineChecks).toBe(0);
    expect(r.swap.counters(r.vm).corruptSlots).toBe(1);
    r.swap.close();
  });

  it("swapoff (bringBackAll) poisons the page of a corrupt slot and brings every other page back intact", () => {
    const r = rig();
    for (let pfn = 0; pfn < 12; pfn++) r.vm.write(pfn * 4096, new Uint8Array(4096).fill(pfn + 1));
    expect(r.swap.swapOut(r.vm, 12)).toBe(12);
    const state = r.vm.states.of(7);
    if (state.kind !== "swapped") throw new Error("not swapped");
    flipBit(r.swap.file.path, state.slot * 4096 + 2048);
    expect(r.swap.bringBackAll(r.vm)).toBe(11);
    expect(r.vm.states.of(7).kind).toBe("poisoned");
    expect(r.swap.counters(r.vm)).toMatchObject({ corruptSlots: 1, swap_in: 11 });
    for (let pfn = 0; pfn < 12; pfn++) if (pfn !== 7) expect([pfn, r.vm.read(pfn * 4096, 4096)]).toEqual([pfn, new Uint8Array(4096).fill(pfn + 1)]);
    expect(r.swap.file.usedSlots).toBe(0);
    r.swap.close();
  });

  it("the same slot, untouched, comes back as its bytes (the check is what poisons)", () => {
    const { r } = swappedPage();
    r.vm.run([{ op: "read", gpa: 3 * 4096, length: 8 }]);
    expect(r.vm.machineChecks).toBe(0);
    expect(r.vm.read(3 * 4096, 4096)).toEqual(new Uint8Array(4096).fill(0x5a));
    r.swap.close();
  });
});

describe("swap: bad input and a full file", () => {
  it("a full swap file is ERR_SWAP_FULL naming its size; the pages not written stay in memory, none is lost", () => {
    const r = rig({ capacityPages: 4 });
    const model = new Map<number, Uint8Array>();
    for (let pfn = 0; pfn < 10; pfn++) apply(r, model, { kind: "write", pfn, fill: pfn + 1 });
    const err = thrownError(() => r.swap.swapOut(r.vm, 8));
    expect(err).toMatchObject({ code: "ERR_SWAP_FULL" });
    expect(err !== "none" && err.message).toContain("0 of its 4 slots");
    expect(r.vm.states.counts().swappedPages).toBe(4);
    expect(r.vm.states.counts().privateFrames).toBe(6);
    expect(firstDifference(r.vm, model)).toBe(-1);
    r.swap.close();
  });

  it("a guest fault that needs room when the file is full is ERR_SWAP_FULL; memory still equals the model", () => {
    const r = rig({ capacityPages: 2, limit: 8 });
    const model = new Map<number, Uint8Array>();
    let code = "none";
    for (let pfn = 0; pfn < 20 && code === "none"; pfn++) {
      const e = thrownError(() => apply(r, model, { kind: "guestWrite", pfn, word: 0, seed: pfn }));
      if (e !== "none") {
        code = e.code;
        model.delete(pfn);
      }
    }
    expect(code).toBe("ERR_SWAP_FULL");
    expect(firstDifference(r.vm, model)).toBe(-1);
    r.swap.close();
  });

  it("a swap-in that finds no free frame is ERR_OUT_OF_FRAMES and loses nothing: the page stays swapped with its slot", () => {
    const r = rig();
    r.vm.write(0, new Uint8Array(4 * 4096).fill(0x5a));
    expect(r.swap.swapOut(r.vm, 4)).toBe(4);
    const host = r.vm.host;
    const hog = host.createVm({ pages: host.maxFrames });
    const bulk = host.maxFrames - host.stats().usedFrames - 8; // the hog's tables take some of the frames left
    hog.writePages(0, new Uint8Array(bulk * 4096));
    for (let pfn = bulk; host.stats().usedFrames < host.maxFrames; pfn++) hog.writePages(pfn, new Uint8Array(4096));
    expect(thrownError(() => r.vm.read(4096, 4096))).toMatchObject({ code: "ERR_OUT_OF_FRAMES" });
    expect(r.vm.states.of(1)).toMatchObject({ kind: "swapped" });
    expect([r.vm.states.counts().swappedPages, r.swap.file.usedSlots]).toEqual([4, 4]);
    hog.destroy();
    expect(r.vm.read(0, 4 * 4096)).toEqual(new Uint8Array(4 * 4096).fill(0x5a));
    expect([r.vm.states.counts().swappedPages, r.swap.file.usedSlots]).toEqual([0, 0]);
    r.swap.close();
  });

  it("a missing folder, a read-only folder, a folder, an existing file: ERR_SWAP_PATH naming the path", () => {
    const host = createHost({ memoryMiB: 8 });
    const t = new Timeline();
    const missing = join(dir, "no-such-folder", "swap");
    expect(thrownError(() => new HostSwap(host, t, { path: missing }))).toMatchObject({ code: "ERR_SWAP_PATH", message: expect.stringContaining(missing) });
    expect(thrownError(() => new HostSwap(host, t, { path: dir }))).toMatchObject({ code: "ERR_SWAP_PATH" });
    const existing = join(dir, "existing");
    writeFileSync(existing, "keep me");
    expect(thrownError(() => new HostSwap(host, t, { path: existing }))).toMatchObject({ code: "ERR_SWAP_PATH", message: expect.stringContaining("exists") });
    expect(statSync(existing).size).toBe(7);
    // A read-only folder: chmod 0500 stops a normal user; root writes anywhere but in /sys.
    const roDir = mkdtempSync(join(dir, "read-only-"));
    chmodSync(roDir, 0o500);
    try {
      const readOnly = process.getuid?.() === 0 ? "/sys/hypermem-swap" : join(roDir, "swap");
      expect(thrownError(() => new HostSwap(host, t, { path: readOnly }))).toMatchObject({ code: "ERR_SWAP_PATH", message: expect.stringContaining("not writable"), details: { path: readOnly } });
    } finally {
      chmodSync(roDir, 0o700);
    }
    expect(thrownError(() => new HostSwap(host, t, { path: "/proc/hypermem-swap" }))).toMatchObject({ code: "ERR_SWAP_PATH", details: { path: "/proc/hypermem-swap" } });
  });

  it("device options out of range and unknown keys are typed errors naming the value", () => {
    const host = createHost({ memoryMiB: 8 });
    const t = new Timeline();
    const cases: Array<[object, string, string]> = [
      [{ device: "floppy" }, "ERR_BAD_OPTION", "\"floppy\""],
      [{ device: { parallelism: 0 } }, "ERR_BAD_OPTION", "device.parallelism must be an integer in [1, 65536], got 0"],
      [{ device: { readNs: -1 } }, "ERR_BAD_OPTION", "got -1"],
      [{ device: { writeNs: 2e10 } }, "ERR_BAD_OPTION", "got 20000000000"],
      [{ device: { queueDepth: { writeBack: 0 } } }, "ERR_BAD_OPTION", "device.queueDepth.writeBack"],
      [{ device: { queueDepth: { urgent: 1 } } }, "ERR_UNKNOWN_OPTION", "urgent"],
      [{ device: { seekNs: 1 } }, "ERR_UNKNOWN_OPTION", "seekNs"],
      [{ queues: "lifo" }, "ERR_BAD_OPTION", "\"lifo\""],
      [{ pageCluster: 11 }, "ERR_BAD_OPTION", "got 11"],
      [{ capacityPages: 0 }, "ERR_BAD_OPTION", "got 0"],
      [{ swapiness: 60 }, "ERR_UNKNOWN_OPTION", "swapiness"],
    ];
    for (const [options, code, text] of cases) {
      const e = thrownError(() => new HostSwap(host, t, { path: swapPath(), ...options }));
      expect(e, JSON.stringify(options)).toMatchObject({ code, message: expect.stringContaining(text) });
    }
  });
});

describe("swap: the file", () => {
  it("is mode 0600 while open and removed when the swap device closes (every page brought back first)", () => {
    const r = rig();
    r.vm.write(0, new Uint8Array(8 * 4096).fill(9));
    r.swap.swapOut(r.vm, 8);
    const path = r.swap.file.path;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).size).toBe(PAGES * 4096);
    r.swap.close();
    expect(existsSync(path)).toBe(false);
    expect(r.vm.states.counts().swappedPages).toBe(0);
    expect(r.vm.read(0, 8 * 4096)).toEqual(new Uint8Array(8 * 4096).fill(9));
    r.swap.close();
  });
});
