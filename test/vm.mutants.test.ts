// Vm's checks and page hook at the edges a mutation run found untested: the
// typed errors (code, message, details) of every argument check, the hook's
// write-protect notice and its retry limit, the poisoned and latent
// messages, page I/O in more than one kernel batch (readPages and
// fillPages 1024 pages, gatherPages 256, run 65,536 accesses) against
// plain reads, fingerprints against the hash kernel, a paused or destroyed
// VM, and machine-check listeners.
import { describe, expect, it } from "vitest";
import { createHost, FaultReason, PageBitmap, type Fault, type MachineCheck } from "../src/index.js";
import { thrownError } from "./helpers.js";

const PAGE = 4096;

/** Pages [first, first + count), each byte a function of its gpa (and `salt`). */
function pages(first: number, count: number, salt = 0): Uint8Array {
  const out = new Uint8Array(count * PAGE);
  for (let i = 0; i < out.length; i++) {
    const gpa = first * PAGE + i;
    out[i] = (gpa * 31 + salt + Math.floor(gpa / PAGE) * 7) & 0xff;
  }
  return out;
}

describe("argument checks", () => {
  const host = createHost({ memoryMiB: 8 });
  const vm = host.createVm({ pages: 4 });

  it("createVm's options: not an object, neither or both sizes, a size off the page grid", () => {
    expect(thrownError(() => host.createVm(null as never))).toEqual({ code: "ERR_BAD_OPTION", message: "createVm: options must be an object ({ memoryMiB } or { pages }), got null", details: { option: "options" } });
    expect(thrownError(() => host.createVm(7 as never))).toMatchObject({ message: "createVm: options must be an object ({ memoryMiB } or { pages }), got 7" });
    expect(thrownError(() => host.createVm({ memoryMiB: 1, pages: 256 }))).toEqual({ code: "ERR_BAD_OPTION", message: "createVm: give exactly one of memoryMiB and pages", details: { memoryMiB: 1, pages: 256 } });
    expect(thrownError(() => host.createVm({ memoryMiB: -1 }))).toMatchObject({ details: { option: "memoryMiB", value: -1 } });
    expect(thrownError(() => host.createVm({ pages: 0 }))).toMatchObject({ details: { option: "pages", value: 0 } });
    expect(thrownError(() => host.createVm({ pages: 1, huge: 1 } as never))).toMatchObject({ code: "ERR_UNKNOWN_OPTION", message: expect.stringMatching(/^createVm: unknown option "huge"/) });
    expect(thrownError(() => vm.pte(4))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "pfn", value: 4 } });
    expect(thrownError(() => host.createVm({ memoryMiB: 1.001 }))).toEqual({ code: "ERR_BAD_OPTION", message: "memoryMiB 1.001 is not a whole number of 4 KiB pages", details: { memoryMiB: 1.001 } });
    expect(thrownError(() => host.createVm({ pages: 2 ** 28 + 1 }))).toEqual({ code: "ERR_GUEST_TOO_LARGE", message: `a guest of ${2 ** 28 + 1} pages (${(2 ** 28 + 1) / 256} MiB) exceeds the ${2 ** 28}-page (1 TiB) limit`, details: { pages: 2 ** 28 + 1 } });
    expect(host.createVm({ memoryMiB: 0.5 }).pages).toBe(128);
    expect(host.createVm({ pages: 2 ** 28 }).pages).toBe(2 ** 28);
  });

  it("read and write ranges: gpa in the guest, length to its end at most", () => {
    expect(thrownError(() => vm.read(4 * PAGE, 0))).toEqual({ code: "ERR_GPA_RANGE", message: `gpa ${4 * PAGE} is outside the ${4 * PAGE}-byte guest of vm ${vm.id}`, details: { gpa: 4 * PAGE } });
    expect(thrownError(() => vm.read(PAGE, 3 * PAGE + 1))).toEqual({ code: "ERR_LENGTH", message: `length ${3 * PAGE + 1} at gpa ${PAGE} runs past the end of the ${4 * PAGE}-byte guest`, details: { gpa: PAGE, length: 3 * PAGE + 1 } });
    expect(thrownError(() => vm.read(0, 1.5))).toMatchObject({ code: "ERR_LENGTH" });
    expect(vm.read(PAGE, 3 * PAGE)).toEqual(new Uint8Array(3 * PAGE));
    expect(vm.read(4 * PAGE - 1, 1)).toEqual(new Uint8Array(1));
    const v = host.createVm({ pages: 2 });
    v.write(PAGE - 2, new Uint8Array([1, 2, 3, 4]));
    expect(Array.from(v.read(PAGE - 3, 6))).toEqual([0, 1, 2, 3, 4, 0]);
    expect(vm.read(0, 0)).toEqual(new Uint8Array(0));
  });

  it("write takes a Uint8Array, naming what it got", () => {
    const got = (v: unknown) => thrownError(() => vm.write(0, v as never));
    expect(got(null)).toEqual({ code: "ERR_BAD_OPTION", message: "vm.write takes a Uint8Array of bytes, got null", details: { option: "bytes", got: "null" } });
    expect(got([1, 2])).toMatchObject({ message: "vm.write takes a Uint8Array of bytes, got Array" });
    expect(got(Object.create(null))).toMatchObject({ message: "vm.write takes a Uint8Array of bytes, got object" });
    expect(got("ab")).toMatchObject({ message: "vm.write takes a Uint8Array of bytes, got string" });
    expect(got(new Uint16Array(2))).toMatchObject({ message: "vm.write takes a Uint8Array of bytes, got Uint16Array" });
  });

  it("page ranges of readPages, fillPages: first pfn in the guest, count to its end at most", () => {
    expect(thrownError(() => vm.readPages(4, 0))).toEqual({ code: "ERR_GPA_RANGE", message: `pfn 4 is outside the 4-page guest of vm ${vm.id}`, details: { pfn: 4 } });
    expect(thrownError(() => vm.readPages(1, 4))).toEqual({ code: "ERR_LENGTH", message: `4 pages from pfn 1 run past the end of the 4-page guest`, details: { pfn: 1, count: 4 } });
    expect(thrownError(() => vm.readPages(-1, 1))).toEqual({ code: "ERR_GPA_RANGE", message: `pfn -1 is outside the 4-page guest of vm ${vm.id}`, details: { pfn: -1 } });
    expect(thrownError(() => vm.readPages(0, -1))).toMatchObject({ code: "ERR_LENGTH" });
    expect(vm.readPages(1, 3).length).toBe(3 * PAGE);
    expect(vm.readPages(3, 0).length).toBe(0);
  });

  it("readPages' and gatherPages' output and zero flags must be big enough", () => {
    expect(thrownError(() => vm.readPages(0, 2, new Uint8Array(2 * PAGE - 1)))).toEqual({ code: "ERR_LENGTH", message: `readPages of 2 pages needs a Uint8Array of ${2 * PAGE} bytes, got ${2 * PAGE - 1}`, details: { count: 2 } });
    expect(thrownError(() => vm.readPages(0, 1, [] as never))).toMatchObject({ message: `readPages of 1 pages needs a Uint8Array of ${PAGE} bytes, got object` });
    expect(vm.readPages(0, 1, new Uint8Array(2 * PAGE)).length).toBe(2 * PAGE);
    expect(vm.readPages(0, 2, new Uint8Array(2 * PAGE)).length).toBe(2 * PAGE);
    expect(vm.gatherPages([1, 0], new Uint8Array(2 * PAGE), new Uint8Array(2)).length).toBe(2 * PAGE);
    expect(thrownError(() => vm.gatherPages([0, 1], new Uint8Array(PAGE)))).toEqual({ code: "ERR_LENGTH", message: `gatherPages of 2 pages needs a Uint8Array of ${2 * PAGE} bytes, got ${PAGE}`, details: { count: 2 } });
    expect(thrownError(() => vm.gatherPages([0], "x" as never))).toMatchObject({ message: `gatherPages of 1 pages needs a Uint8Array of ${PAGE} bytes, got string` });
    expect(thrownError(() => vm.gatherPages([0, 1], undefined, new Uint8Array(1)))).toEqual({ code: "ERR_LENGTH", message: "gatherPages of 2 pages needs 2 zero flags, got 1", details: { count: 2 } });
    expect(thrownError(() => vm.gatherPages([0], undefined, 5 as never))).toMatchObject({ message: "gatherPages of 1 pages needs 1 zero flags, got number" });
    expect(thrownError(() => vm.gatherPages([0, 4]))).toEqual({ code: "ERR_GPA_RANGE", message: `gatherPages: pfn 4 (entry 1) is outside the 4-page guest of vm ${vm.id}`, details: { pfn: 4, index: 1 } });
    expect(thrownError(() => vm.gatherPages([-1]))).toMatchObject({ code: "ERR_GPA_RANGE", details: { pfn: -1, index: 0 } });
    expect(thrownError(() => vm.gatherPages([0.5]))).toMatchObject({ code: "ERR_GPA_RANGE" });
  });

  it("writePages takes whole pages; fillPages' fingerprints must be a BigUint64Array of one per page", () => {
    expect(thrownError(() => vm.writePages(0, new Uint8Array(PAGE + 1)))).toEqual({ code: "ERR_PAGE_SIZE", message: `writePages takes whole 4 KiB pages, got ${PAGE + 1} bytes`, details: { pfn: 0 } });
    expect(thrownError(() => vm.writePages(2, "x" as never))).toEqual({ code: "ERR_PAGE_SIZE", message: "writePages takes whole 4 KiB pages, got string", details: { pfn: 2 } });
    expect(thrownError(() => vm.writePages(0, new Uint8Array(2 * PAGE), new BigUint64Array(1)))).toEqual({ code: "ERR_LENGTH", message: "writing 2 pages needs a BigUint64Array of 2 fingerprints, got 1", details: { count: 2 } });
    expect(thrownError(() => vm.writePages(0, new Uint8Array(PAGE), new Uint8Array(8) as never))).toMatchObject({ message: "writing 1 pages needs a BigUint64Array of 1 fingerprints, got object" });
    expect(vm.readPages(0, 4)).toEqual(new Uint8Array(4 * PAGE));
  });

  it("writePages refuses a page that is not in memory, naming it and its state; nothing is written", () => {
    const v = host.createVm({ pages: 4 });
    v.write(0, pages(0, 4));
    v.states.balloon(2);
    expect(thrownError(() => v.writePages(0, pages(0, 4, 9)))).toEqual({ code: "ERR_PAGE_STATE", message: `vm ${v.id}: writePages cannot write guest page 2: it is ballooned (vm.write brings such pages back)`, details: { pfn: 2, state: "ballooned" } });
    expect(v.read(0, 2 * PAGE)).toEqual(pages(0, 2));
  });

  it("write-protect, untrace and friends take a PageBitmap of the guest's size", () => {
    expect(thrownError(() => vm.writeProtect([1] as never))).toEqual({ code: "ERR_BAD_OPTION", message: `vm ${vm.id}: the pages must be a PageBitmap, got 1`, details: { option: "pages" } });
    const used = host.stats().usedFrames;
    vm.writeProtect(new PageBitmap(4));
    vm.unprotect(new PageBitmap(4));
    expect(host.stats().usedFrames).toBe(used);
    expect(thrownError(() => vm.trace(new PageBitmap(5)))).toEqual({ code: "ERR_LENGTH", message: `a bitmap of 5 pages does not fit vm ${vm.id} of 4 pages`, details: { pages: 5 } });
  });
});

describe("page hook", () => {
  it("a hypervisor write to a write-protected page is heard once by the write-protect chain, then goes through", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 2 });
    vm.write(0, new Uint8Array(2 * PAGE).fill(1));
    vm.states.writeProtect(1);
    const heard: Fault[] = [];
    vm.onFault(FaultReason.WriteProtect, (f) => { heard.push(f); return "retry"; });
    vm.write(10, new Uint8Array([5]));
    expect(heard).toEqual([]); // a page that is not write-protected: nothing to hear
    vm.write(PAGE + 10, new Uint8Array([7, 8]));
    expect(heard.map((f) => [f.pfn, f.gpa, f.write, f.by, f.index])).toEqual([[1, PAGE, true, "hypervisor", -1]]);
    expect(Array.from(vm.read(PAGE + 9, 4))).toEqual([1, 7, 8, 1]);
    expect(vm.read(PAGE, 1)).toEqual(new Uint8Array([1]));
    expect(heard.length).toBe(1); // a read of a write-protected page is no write
  });

  it("a handler that answers retry without bringing the page back: ERR_FAULT_LOOP after 4 tries, naming page and reason", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 2 });
    vm.write(0, new Uint8Array(PAGE).fill(3));
    vm.states.balloon(0);
    let calls = 0;
    const seen = new Set<string>();
    vm.onFault(FaultReason.Ballooned, (f) => { calls++; seen.add(`${f.gpa} ${f.index} ${f.by} ${f.write}`); return "retry"; });
    expect(thrownError(() => vm.read(0, 1))).toEqual({
      code: "ERR_FAULT_LOOP",
      message: `vm ${vm.id}: the ballooned handler returned "retry" 4 times but guest page 0 is still not accessible`,
      details: { pfn: 0, reason: "ballooned" },
    });
    expect(calls).toBe(4);
    expect([...seen]).toEqual(["0 -1 hypervisor false"]);
  });

  it("a handler that brings the page back on its 4th call is in time", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 2 });
    vm.write(0, new Uint8Array(PAGE).fill(3));
    vm.states.swapOut(0, 1);
    let calls = 0;
    vm.onFault(FaultReason.Swapped, (f) => {
      if (++calls === 4) f.vm.states.bringBack(f.pfn, new Uint8Array(PAGE).fill(6));
      return "retry";
    });
    expect(vm.read(0, 2)).toEqual(new Uint8Array([6, 6]));
  });

  it("poisoned pages: the message says so, and says when this read found a latent error", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 3 });
    vm.write(0, new Uint8Array(3 * PAGE).fill(1));
    vm.states.poison(1, false);
    vm.states.poison(2, true);
    vm.onFault(FaultReason.Poisoned, (f) => {
      const state = f.vm.states.of(f.pfn);
      if (state.kind === "poisoned" && state.latent) f.vm.states.reportLatent(f.pfn);
      return "pass";
    });
    const quiet = host.createVm({ pages: 1 });
    quiet.write(0, new Uint8Array([1]));
    quiet.states.poison(0, true);
    expect(thrownError(() => quiet.read(0, 1))).toMatchObject({ message: `vm ${quiet.id}: guest page 0 (gpa 0x0) is poisoned` }); // latent, and nobody found it
    expect(thrownError(() => vm.read(PAGE, 1))).toEqual({ code: "ERR_MEMORY_POISONED", message: `vm ${vm.id}: guest page 1 (gpa 0x1000) is poisoned`, details: { pfn: 1 } });
    expect(thrownError(() => vm.read(2 * PAGE, 1))).toEqual({ code: "ERR_MEMORY_POISONED", message: `vm ${vm.id}: guest page 2 (gpa 0x2000) is poisoned (a latent error, found by this read)`, details: { pfn: 2 } });
    expect(thrownError(() => vm.read(2 * PAGE, 1))).toMatchObject({ message: `vm ${vm.id}: guest page 2 (gpa 0x2000) is poisoned` });
  });

  it("an inaccessible page names its state: swapped out, elsewhere, ballooned", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 3 });
    vm.write(0, new Uint8Array(3 * PAGE).fill(1));
    vm.states.swapOut(0, 3);
    vm.states.moveElsewhere(1, 4);
    vm.states.balloon(2);
    expect([0, 1, 2].map((p) => thrownError(() => vm.read(p * PAGE, 1)))).toEqual([
      { code: "ERR_PAGE_STATE", message: `vm ${vm.id}: guest page 0 is swapped out and no fault handler brought it back`, details: { pfn: 0, state: "swapped" } },
      { code: "ERR_PAGE_STATE", message: `vm ${vm.id}: guest page 1 is elsewhere and no fault handler brought it back`, details: { pfn: 1, state: "elsewhere" } },
      { code: "ERR_PAGE_STATE", message: `vm ${vm.id}: guest page 2 is ballooned and no fault handler brought it back`, details: { pfn: 2, state: "ballooned" } },
    ]);
  });
});

describe("page I/O over more than one kernel batch", () => {
  const host = createHost({ memoryMiB: 64 });
  const N = 2100; // readPages / fillPages batches of 1024, gatherPages of 256

  it("readPages and writePages equal plain reads; a page brought back mid-batch is read in its place", () => {
    const vm = host.createVm({ pages: N });
    const data = pages(0, N);
    vm.writePages(0, data);
    expect(Buffer.compare(vm.readPages(0, N), data)).toBe(0);
    expect(Buffer.compare(vm.read(0, N * PAGE), data)).toBe(0);
    const at = 1500;
    vm.states.swapOut(at, 9);
    const off = vm.onFault(FaultReason.Swapped, (f) => { f.vm.states.bringBack(f.pfn, data.subarray(at * PAGE, (at + 1) * PAGE)); return "retry"; });
    expect(Buffer.compare(vm.readPages(0, N), data)).toBe(0);
    off();
    vm.destroy();
  });

  it("readPages and gatherPages touch no page past what they read (a swapped page beyond stays out)", () => {
    const vm = host.createVm({ pages: 3 });
    vm.write(0, pages(0, 3));
    vm.states.swapOut(1, 1);
    let calls = 0;
    vm.onFault(FaultReason.Swapped, (f) => { calls++; f.vm.states.bringBack(f.pfn, pages(f.pfn, 1)); return "retry"; });
    expect(Buffer.compare(vm.readPages(0, 1), pages(0, 1))).toBe(0);
    expect(Buffer.compare(vm.gatherPages([2, 0]), Buffer.concat([pages(2, 1), pages(0, 1)]))).toBe(0);
    expect([calls, vm.states.of(1).kind]).toEqual([0, "swapped"]);
    vm.destroy();
  });

  it("4,200 pages at once: each call leases one batch of scratch, not the whole range (16 MiB)", () => {
    const vm = host.createVm({ pages: 4200 });
    const data = pages(0, 4200, 3);
    vm.writePages(0, data, new BigUint64Array(4200));
    expect(Buffer.compare(vm.readPages(0, 4200), data)).toBe(0);
    expect(Buffer.compare(vm.gatherPages(Array.from({ length: 4200 }, (_, i) => i)), data)).toBe(0);
    vm.destroy();
  });

  it("a write to a page mapping the shared zero frame gets a private copy: other zero pages stay zero", () => {
    const vm = host.createVm({ pages: 3 });
    vm.run([{ op: "read", gpa: 0 }, { op: "read", gpa: PAGE }]);
    expect(vm.states.of(0).kind).toBe("zero-mapped");
    vm.write(0, new Uint8Array([5]));
    expect(vm.read(0, 1)).toEqual(new Uint8Array([5]));
    expect(vm.read(PAGE, PAGE)).toEqual(new Uint8Array(PAGE));
    expect(vm.states.of(1).kind).toBe("zero-mapped");
    vm.destroy();
  });

  it("gatherPages of an array and of a Uint32Array, in any order, with zero flags", () => {
    const v = host.createVm({ pages: 700 });
    v.writePages(0, pages(0, 600));
    const order = Array.from({ length: 700 }, (_, i) => (i * 337) % 700);
    const expected = new Uint8Array(700 * PAGE);
    order.forEach((p, i) => { if (p < 600) expected.set(pages(p, 1), i * PAGE); });
    const flags = new Uint8Array(700).fill(9);
    expect(Buffer.compare(v.gatherPages(order, undefined, flags), expected)).toBe(0);
    expect(Array.from(flags)).toEqual(order.map((p) => (p >= 600 ? 1 : 0)));
    expect(Buffer.compare(v.gatherPages(Uint32Array.from(order)), expected)).toBe(0);
    v.states.swapOut(order[300], 2);
    v.onFault(FaultReason.Swapped, (f) => { f.vm.states.bringBack(f.pfn, pages(f.pfn, 1)); return "retry"; });
    expect(Buffer.compare(v.gatherPages(order), expected)).toBe(0);
  });

  it("fillPages fills batch by batch from their first pfn; the fingerprints equal the hash of each page", () => {
    const v = host.createVm({ pages: N });
    const firsts: number[] = [];
    const fps = new BigUint64Array(N - 1);
    v.fillPages(1, N - 1, (into, pfn) => { firsts.push(pfn); into.set(pages(pfn, into.length / PAGE, 5)); }, fps);
    expect(firsts).toEqual([1, 1025, 2049]);
    expect(Buffer.compare(v.readPages(1, N - 1), pages(1, N - 1, 5))).toBe(0);
    const k = host.kernels;
    const hashOf = (bytes: Uint8Array): bigint => k.scratch.with(PAGE, "test", (ptr) => { k.heap.copyIn(ptr, bytes); return k.pages.xxh3(ptr, PAGE); });
    for (const i of [0, 1023, 1024, 2047, 2048, N - 2]) expect(fps[i]).toBe(hashOf(pages(1 + i, 1, 5)));
    const once: number[] = [];
    v.fillPages(0, 1024, (into, pfn) => { once.push(pfn, into.length); into.fill(1); });
    expect(once).toEqual([0, 1024 * PAGE]);
  });

  it("run() executes more than 65,536 accesses, every one", () => {
    const v = host.createVm({ pages: 20 });
    const accesses = Array.from({ length: 65_536 + 5 }, (_, i) => ({ op: "read" as const, gpa: (i % 16) * PAGE }));
    accesses.push({ op: "write", gpa: 19 * PAGE, length: 8, seed: 1 } as never);
    v.run(accesses);
    expect(v.counters.accesses).toBe(65_536 + 6);
    expect(v.pteInfo(19).dirty).toBe(true);
  });
});

describe("lifecycle", () => {
  it("a paused VM runs no guest accesses; a destroyed one refuses everything; destroy is idempotent", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 2 });
    vm.pause();
    expect(thrownError(() => vm.run([{ op: "read", gpa: 0 }]))).toEqual({ code: "ERR_VM_PAUSED", message: `vm ${vm.id} is paused: its vCPUs run no guest accesses until resume()`, details: { vm: vm.id } });
    expect(thrownError(() => vm.runBatch(0, 0))).toMatchObject({ code: "ERR_VM_PAUSED" });
    vm.resume();
    vm.run([{ op: "read", gpa: 0 }]);
    expect(vm.destroyed).toBe(false);
    vm.destroy();
    expect(vm.destroyed).toBe(true);
    const gone = { code: "ERR_DESTROYED", message: `vm ${vm.id} was destroyed`, details: { vm: vm.id } };
    for (const fn of [() => vm.onFault(FaultReason.Swapped, () => "pass"), () => vm.startWorkload({ kind: "uniform" }), () => vm.harvestDirty(), () => vm.harvestAccessed(),
      () => vm.pte(0), () => vm.mapFile(0, "x", 0, PAGE), () => vm.gatherPages([]), () => vm.run([])]) {
      expect(thrownError(fn)).toEqual(gone);
    }
    const stats = host.stats();
    vm.destroy();
    expect(host.stats()).toEqual(stats);
  });

  it("machine checks: counted, delivered to every listener with the VM, a disposed listener hears nothing more", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 2 });
    const a: MachineCheck[] = [];
    const b: MachineCheck[] = [];
    const offA = vm.onMachineCheck((m) => a.push(m));
    vm.onMachineCheck((m) => b.push(m));
    vm.raiseMachineCheck({ gpa: PAGE, pfn: 1, write: false, foundLatent: true });
    offA();
    vm.raiseMachineCheck({ gpa: 0, pfn: 0, write: true, foundLatent: false });
    expect(vm.machineChecks).toBe(2);
    expect(a).toEqual([{ vm, gpa: PAGE, pfn: 1, write: false, foundLatent: true }]);
    expect(b.map((m) => m.pfn)).toEqual([1, 0]);
  });

  it("a host too full for another VM's page table: ERR_OUT_OF_FRAMES naming the guest, and no VM is added", () => {
    const host = createHost({ memoryMiB: 1 });
    host.createVm({ pages: 200 }).write(0, new Uint8Array(200 * PAGE).fill(1));
    let err: ReturnType<typeof thrownError> = "none";
    let before = 0;
    for (let i = 0; i < 255 && err === "none"; i++) {
      before = host.vms.length;
      err = thrownError(() => host.createVm({ pages: 3 }));
    }
    expect(err).toEqual({ code: "ERR_OUT_OF_FRAMES", message: "host of 1 MiB cannot hold the page table of a 3-page guest (0 frames taken before failing)", details: { pages: 3 } });
    expect([host.vms.length, host.stats().vms]).toEqual([before, before]);
  });
});

describe("traced pages and the logs", () => {
  it("a traced page reads and takes writes in place, staying traced; trace, untrace, writeProtect and unprotect count the entries they changed", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 4 });
    vm.write(0, new Uint8Array(3 * PAGE).fill(7));
    const set = new PageBitmap(4);
    set.set(1);
    set.set(3); // never written: nothing to trace or protect
    expect(vm.trace(set)).toBe(1);
    const hfn = vm.pteInfo(1).hfn;
    expect(Array.from(vm.read(PAGE, 2))).toEqual([7, 7]);
    vm.write(PAGE, new Uint8Array([9]));
    expect(Array.from(vm.read(PAGE, 2))).toEqual([9, 7]);
    expect(vm.states.of(1)).toEqual({ kind: "traced", hfn });
    expect(Array.from(vm.readPages(1, 1).subarray(0, 2))).toEqual([9, 7]);
    expect(vm.untrace(set)).toBe(1);
    expect(vm.writeProtect(set)).toBe(1);
    expect(vm.pteInfo(1).writeProtected).toBe(true);
    expect(vm.unprotect(set)).toBe(1);
    expect(vm.pteInfo(1).writeProtected).toBe(false);
  });

  it("harvestDirty and harvestAccessed return the pages since the last harvest, then nothing", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 8 });
    vm.write(2 * PAGE, new Uint8Array(PAGE + 1));
    vm.run([{ op: "read", gpa: 6 * PAGE }]);
    expect(vm.harvestDirty().toArray()).toEqual([2, 3]);
    expect(vm.harvestAccessed().toArray()).toEqual([2, 3, 6]);
    expect(vm.harvestDirty().toArray()).toEqual([]);
    expect(vm.harvestAccessed().toArray()).toEqual([]);
  });
});
