// Dirty and accessed logs with named readers: one harvest of the page table
// per sync, OR-ed into every open reader, so no reader steals another's
// bits. Checked against the guest-memory model (test/reference/mmu.ts): a
// migration and a second reader on the same running guest both see every
// page the guest wrote.
import { describe, expect, it } from "vitest";
import { createHost, migrate, PfnList, Timeline, type PageLogReader, type Vm } from "../src/index.js";
import type { TimelineProcess } from "../src/sim/clock.js";
import { mulberry32 } from "../src/sim/prng.js";
import { GuestModel, type ModelAccess } from "./reference/mmu.js";
import { thrownCode } from "./helpers.js";

const PAGE = 4096;

/** A guest whose accesses are drawn in TypeScript and applied both to the VM and to the model. */
class ModelGuest implements TimelineProcess {
  readonly model: GuestModel;
  readonly #rng: () => number;
  #carry = 0;

  constructor(readonly vm: Vm, readonly ratePerSec: number, seed: number) {
    this.model = new GuestModel(vm.pages);
    this.#rng = mulberry32(seed);
  }

  advance(durationNs: number): void {
    if (this.vm.paused) return;
    const want = (this.ratePerSec * durationNs) / 1e9 + this.#carry;
    const n = Math.floor(want);
    this.#carry = want - n;
    const accesses: ModelAccess[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.#rng();
      const pfn = r % this.vm.pages;
      accesses.push({ op: (r >>> 28) < 6 ? "write" : "read", gpa: pfn * PAGE + ((r >>> 12) & 0x3f) * 64, length: 64, seed: r });
    }
    this.vm.run(accesses);
    for (const a of accesses) this.model.apply(a);
  }
}

const sorted = (s: Iterable<number>): number[] => [...s].sort((a, b) => a - b);

describe("dirty log readers", () => {
  it("a migration and a second reader on the same running guest both see every page the guest wrote", async () => {
    const source = createHost({ memoryMiB: 64 });
    const destination = createHost({ memoryMiB: 64 });
    const vm = source.createVm({ pages: 4096 });
    vm.write(0, new Uint8Array(4096 * PAGE).fill(0x11));
    const timeline = new Timeline();
    const guest = new ModelGuest(vm, 60_000, 7);
    for (let pfn = 0; pfn < vm.pages; pfn++) guest.model.pages.set(pfn, new Uint8Array(PAGE).fill(0x11));
    timeline.attach(guest);
    vm.harvestDirty(); // the prefill's bits: a reader sees at least what is written after it opens, and here exactly that
    const watcher = vm.dirtyLog.open("watcher");
    guest.model.harvestDirty();
    const seen = new Set<number>();
    const list = new PfnList(source.kernels, watcher.pages.words * 64);
    const drain = (r: PageLogReader): void => {
      r.sync();
      r.takeWindow(0, r.pages.words, list);
      for (const pfn of list.toArray()) seen.add(pfn);
    };
    const every2ms = (): void => { drain(watcher); timeline.schedule(timeline.nowNs + 2e6, every2ms); };
    timeline.schedule(2e6, every2ms);

    const r = await migrate(vm, destination, { timeline, bandwidthBytesPerSec: 1.25e8, downtimeLimitNs: 20e6, maxRounds: 40 });
    expect(r.status).toBe("completed");
    expect(r.rounds.length).toBeGreaterThan(2);
    expect(r.verification).toMatchObject({ ok: true, firstMismatchPfn: null });
    drain(watcher);
    const written = guest.model.harvestDirty();
    expect(written.length).toBeGreaterThan(1000);
    expect(sorted(seen)).toEqual(written);
    // What the migration saw reached the destination: it equals the model, page for page.
    const dest = r.destination!;
    for (let pfn = 0; pfn < vm.pages; pfn++) {
      if (Buffer.compare(dest.read(pfn * PAGE, PAGE), guest.model.read(pfn * PAGE, PAGE)) !== 0) throw new Error(`destination page ${pfn} differs from the model`);
    }
    expect(vm.dirtyLog.readers).toEqual(["watcher"]);
    watcher.close();
    list.free();
  });

  it("every reader gets every sync's pages; a reader opened later sees what was written after its open", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 200 });
    const a = vm.dirtyLog.open("a");
    vm.write(3 * PAGE, Uint8Array.of(1));
    expect(a.sync()).toBe(1);
    const b = vm.dirtyLog.open("b");
    vm.write(70 * PAGE, Uint8Array.of(1));
    vm.write(199 * PAGE, Uint8Array.of(1));
    expect(b.sync()).toBe(2);
    expect(a.pending).toBe(3);
    expect(sorted(a.pages.snapshot().toArray())).toEqual([3, 70, 199]);
    expect(sorted(b.pages.snapshot().toArray())).toEqual([70, 199]);
    // A collect (vm.harvestDirty) returns what the log held since the last sync, and the readers get it too.
    vm.write(5 * PAGE, Uint8Array.of(1));
    expect(vm.harvestDirty().toArray()).toEqual([5]);
    expect(a.pages.has(5) && b.pages.has(5)).toBe(true);
    expect(vm.harvestDirty().toArray()).toEqual([]);
    a.close();
    b.close();
  });

  it("take a window, requeue what could not be sent, close; names are unique", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 300 });
    const r = vm.dirtyLog.open("migration", { initial: "all" });
    expect(r.pending).toBe(300);
    const list = new PfnList(host.kernels, 128);
    expect(r.takeWindow(1, 2, list)).toBe(128);
    expect(list.toArray()).toEqual(Array.from({ length: 128 }, (_, i) => 64 + i));
    expect(r.pending).toBe(172);
    r.requeue(list, 100, 128);
    expect(r.pending).toBe(200);
    expect(r.pages.has(164) && r.pages.has(191) && !r.pages.has(163)).toBe(true);
    expect(thrownCode(() => vm.dirtyLog.open("migration"))).toBe("ERR_BAD_OPTION");
    const used = host.stats().usedFrames;
    r.close();
    r.close();
    expect(host.stats().usedFrames).toBeLessThan(used);
    expect(thrownCode(() => r.sync())).toBe("ERR_DESTROYED");
    expect(vm.dirtyLog.open("migration").pending).toBe(0);
    list.free();
  });

  it("the accessed log has readers too: reads set A, not D", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 64 });
    const ws = vm.accessedLog.open("working-set");
    const dirty = vm.dirtyLog.open("dirty");
    vm.run([{ op: "read", gpa: 9 * PAGE }, { op: "write", gpa: 10 * PAGE }]);
    expect(sorted(ws.pages.snapshot().toArray())).toEqual([]);
    ws.sync();
    dirty.sync();
    expect(sorted(ws.pages.snapshot().toArray())).toEqual([9, 10]);
    expect(sorted(dirty.pages.snapshot().toArray())).toEqual([10]);
  });
});

// Behaviour a mutation run of src/host found untested (docs/contributing.md, "Mutation scores").
describe("page log edges", () => {
  /** The code, message and details `fn` throws. */
  const thrown = (fn: () => unknown): unknown => {
    try { fn(); } catch (err) { const e = err as { code: string; message: string; details: unknown }; return { code: e.code, message: e.message, details: e.details }; }
    return "none";
  };

  it("reader names and the initial set are checked, naming the value", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 64 });
    expect(thrown(() => vm.dirtyLog.open(""))).toEqual({ code: "ERR_BAD_OPTION", message: 'a dirty log reader needs a name, got ""', details: { option: "name" } });
    expect(thrown(() => vm.accessedLog.open(7 as unknown as string))).toEqual({ code: "ERR_BAD_OPTION", message: "a accessed log reader needs a name, got 7", details: { option: "name" } });
    vm.dirtyLog.open("vga");
    expect(thrown(() => vm.dirtyLog.open("vga"))).toEqual({ code: "ERR_BAD_OPTION", message: 'the dirty log already has a reader named "vga"', details: { option: "name", value: "vga" } });
    expect(thrown(() => vm.dirtyLog.open("x", { initial: "full" as "all" }))).toEqual({ code: "ERR_BAD_OPTION", message: 'initial must be "empty" or "all", got "full"', details: { option: "initial" } });
    expect(vm.dirtyLog.readers).toEqual(["vga"]);
    // The same name in the other log is another reader.
    expect(vm.accessedLog.open("vga").pending).toBe(0);
    expect(vm.dirtyLog.open("all", { initial: "all" }).pending).toBe(64);
    expect(vm.dirtyLog.open("empty", { initial: "empty" }).pending).toBe(0);
  });

  it("a closed reader refuses sync, takeWindow and requeue (ERR_DESTROYED naming it) and gets no more bits; the others do", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 128 });
    const a = vm.dirtyLog.open("a");
    const b = vm.dirtyLog.open("b");
    const list = new PfnList(host.kernels, 64);
    a.close();
    expect(a.closed).toBe(true);
    const closed = { code: "ERR_DESTROYED", message: 'dirty log reader "a" was closed', details: { reader: "a" } };
    expect(thrown(() => a.sync())).toEqual(closed);
    expect(thrown(() => a.takeWindow(0, 1, list))).toEqual(closed);
    expect(thrown(() => a.requeue(list))).toEqual(closed);
    expect(vm.dirtyLog.readers).toEqual(["b"]);
    vm.write(100 * PAGE, Uint8Array.of(1));
    expect([b.closed, b.sync()]).toEqual([false, 1]);
    list.free();
  });

  it("a sync returns the asking reader's pending pages, or without one the pages harvested, however many readers are open", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 256 });
    const log = vm.dirtyLog;
    vm.write(1 * PAGE, Uint8Array.of(1));
    // No reader: the harvest's count.
    expect(log.sync()).toBe(1);
    const a = log.open("a", { initial: "all" });
    vm.write(2 * PAGE, Uint8Array.of(1));
    vm.write(3 * PAGE, Uint8Array.of(1));
    // One reader, none asking: still the pages harvested, not the reader's pending count.
    expect(log.sync()).toBe(2);
    vm.write(3 * PAGE, Uint8Array.of(1));
    expect(log.sync(a)).toBe(256);
    const b = log.open("b");
    vm.write(4 * PAGE, Uint8Array.of(1));
    vm.write(5 * PAGE, Uint8Array.of(1));
    // Several readers: the asking reader's count, or the harvest's.
    expect(log.sync(b)).toBe(2);
    vm.write(6 * PAGE, Uint8Array.of(1));
    expect(log.sync()).toBe(1);
    expect([a.pending, b.pending]).toEqual([256, 3]);
    expect(sorted(b.pages.snapshot().toArray())).toEqual([4, 5, 6]);
    // Back to one reader: a sync asked by it returns its own count.
    a.close();
    vm.write(7 * PAGE, Uint8Array.of(1));
    expect(b.sync()).toBe(4);
  });

  it("close() closes every reader and frees the log's sets; the log can open readers again", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 40_000 });
    const before = host.stats().usedFrames;
    const a = vm.dirtyLog.open("a");
    const b = vm.dirtyLog.open("b");
    vm.harvestDirty();
    // Two readers' sets and the harvest set: 5000 bytes, two frames each.
    expect(host.stats().usedFrames - before).toBe(6);
    vm.dirtyLog.close();
    expect([a.closed, b.closed, vm.dirtyLog.readers]).toEqual([true, true, []]);
    expect(host.stats().usedFrames).toBe(before);
    vm.dirtyLog.close();
    expect(host.stats().usedFrames).toBe(before);
    vm.write(9 * PAGE, Uint8Array.of(1));
    expect(vm.harvestDirty().toArray()).toEqual([9]);
    expect(vm.dirtyLog.open("a").pending).toBe(0);
  });
});
