// The page hook (Vm.accessPage): vm.read, vm.write, the stream packer and
// verification reach a page through one hook, so a page that lives
// elsewhere (or is swapped out) is brought back by the VM's fault chain,
// not refused. What this file proves, with a backing store written here
// (TestStore: moves present pages out and brings them back on a fault):
// - vm.read returns the original bytes; vm.write to a page moved out lands
//   on its original bytes; a guest access brings a page back; each fault
//   is counted by who made it (the Fault's `by`).
// - migrate() of a VM with pages elsewhere and swapped completes and
//   verifies, and the destination holds the right bytes; guestDigest and
//   verifyGuests see the moved pages' contents (and a corrupted backing
//   store makes verification fail).
// - Without a handler: vm.read is ERR_PAGE_STATE naming the state; a
//   migration fails with a typed error, the source intact and running, the
//   destination host holding nothing.
// - A handler that answers "retry" without bringing the page back is
//   ERR_FAULT_LOOP, not a hang.
import { describe, expect, it } from "vitest";
import {
  createHost, FaultReason, guestDigest, migrate, verifyGuests,
  type Disposer, type Fault, type FaultAction, type Host, type Vm,
} from "../src/index.js";
import { patternBytes } from "./reference/mmu.js";
import { TEST_LIMITS } from "./helpers.js";

const PAGE = 4096;

/** A backing store for tests: pages moved out of a VM (to "elsewhere" or to swap) and brought back on a fault. */
class TestStore {
  readonly vm: Vm;
  /** Saved bytes by location (elsewhere) or slot (swap); one numbering for both. */
  readonly saved = new Map<number, Uint8Array>();
  /** Pages brought back, by who faulted. */
  readonly faults = { guest: 0, hypervisor: 0 };
  readonly #disposers: Disposer[];
  #next = 1;

  constructor(vm: Vm) {
    this.vm = vm;
    const handler = (f: Fault): FaultAction => this.#bringBack(f);
    this.#disposers = [vm.onFault(FaultReason.Elsewhere, handler), vm.onFault(FaultReason.Swapped, handler)];
  }

  /** Moves present page `pfn` out, to a location elsewhere or to a swap slot; returns its number. */
  moveOut(pfn: number, to: "elsewhere" | "swap"): number {
    const where = this.#next++;
    this.saved.set(where, this.vm.read(pfn * PAGE, PAGE));
    if (to === "swap") this.vm.states.swapOut(pfn, where);
    else this.vm.states.moveElsewhere(pfn, where);
    return where;
  }

  #bringBack(f: Fault): FaultAction {
    const state = f.vm.states.of(f.pfn);
    const where = state.kind === "swapped" ? state.slot : state.kind === "elsewhere" ? state.location : -1;
    const bytes = this.saved.get(where);
    if (!bytes) return "pass";
    this.faults[f.by]++;
    f.vm.states.bringBack(f.pfn, bytes);
    this.saved.delete(where);
    return "retry";
  }

  close(): void { for (const dispose of this.#disposers) dispose(); }
}

/** Page `pfn`'s bytes in these tests: distinct per page and per `salt`. */
const pageBytes = (pfn: number, salt = 0): Uint8Array => patternBytes(pfn * PAGE, 1000 + salt, PAGE);

/** A VM of `pages` pages on `host`, every page written with pageBytes(pfn, salt). */
function filledVm(host: Host, pages: number, salt = 0): Vm {
  const vm = host.createVm({ pages });
  for (let pfn = 0; pfn < pages; pfn++) vm.write(pfn * PAGE, pageBytes(pfn, salt));
  return vm;
}

const memoryOf = (vm: Vm): Buffer => Buffer.from(vm.read(0, vm.memoryBytes));

/** Pages 3, 10, 17... elsewhere and 5, 12, 19... swapped: returns both lists. */
function moveSomeOut(store: TestStore, pages: number): { elsewhere: number[]; swapped: number[] } {
  const elsewhere: number[] = [];
  const swapped: number[] = [];
  for (let pfn = 3; pfn < pages; pfn += 7) {
    store.moveOut(pfn, "elsewhere");
    elsewhere.push(pfn);
    if (pfn + 2 < pages) {
      store.moveOut(pfn + 2, "swap");
      swapped.push(pfn + 2);
    }
  }
  return { elsewhere, swapped };
}

describe("hypervisor and guest accesses bring pages back", () => {
  it("vm.read returns the original bytes of pages elsewhere and swapped, as hypervisor faults", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = filledVm(host, 32);
    const original = memoryOf(vm);
    const store = new TestStore(vm);
    const { elsewhere, swapped } = moveSomeOut(store, 32);
    expect(vm.states.counts()).toMatchObject({ elsewherePages: elsewhere.length, swappedPages: swapped.length });
    const usedOut = host.stats().usedFrames;
    expect(Buffer.compare(vm.read(elsewhere[0] * PAGE + 100, 50), original.subarray(elsewhere[0] * PAGE + 100, elsewhere[0] * PAGE + 150))).toBe(0);
    expect(store.faults).toEqual({ guest: 0, hypervisor: 1 });
    expect(Buffer.compare(memoryOf(vm), original)).toBe(0);
    expect(store.faults).toEqual({ guest: 0, hypervisor: elsewhere.length + swapped.length });
    expect(store.saved.size).toBe(0);
    expect(vm.states.counts()).toMatchObject({ elsewherePages: 0, swappedPages: 0 });
    expect(host.stats().usedFrames).toBe(usedOut + elsewhere.length + swapped.length);
    for (const pfn of [...elsewhere, ...swapped]) expect(vm.states.of(pfn).kind).toBe("present");
  });

  it("vm.write to a page elsewhere brings it back first: the write lands on the original bytes", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = filledVm(host, 8);
    const store = new TestStore(vm);
    store.moveOut(2, "elsewhere");
    store.moveOut(3, "swap");
    vm.harvestDirty();
    // One write across the end of page 2 and the start of page 3.
    vm.write(3 * PAGE - 8, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    expect(store.faults).toEqual({ guest: 0, hypervisor: 2 });
    const want2 = pageBytes(2).slice();
    want2.set([1, 2, 3, 4, 5, 6, 7, 8], PAGE - 8);
    const want3 = pageBytes(3).slice();
    want3.set([9, 10, 11, 12], 0);
    expect(Buffer.compare(vm.read(2 * PAGE, PAGE), want2)).toBe(0);
    expect(Buffer.compare(vm.read(3 * PAGE, PAGE), want3)).toBe(0);
    expect(vm.harvestDirty().toArray()).toEqual([2, 3]);
  });

  it("a guest access (vm.run) brings a page back, as a guest fault, and then runs", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = filledVm(host, 8);
    const store = new TestStore(vm);
    store.moveOut(4, "elsewhere");
    store.moveOut(6, "swap");
    vm.run([{ op: "read", gpa: 4 * PAGE + 64, length: 64 }, { op: "write", gpa: 6 * PAGE + 128, length: 32, seed: 7 }]);
    expect(store.faults).toEqual({ guest: 2, hypervisor: 0 });
    expect(vm.counters).toMatchObject({ accesses: 2, writes: 1, skipped: 0 });
    expect(vm.counters.faults).toMatchObject({ elsewhere: 1, swapped: 1 });
    const want6 = pageBytes(6).slice();
    want6.set(patternBytes(6 * PAGE + 128, 7, 32), 128);
    expect(Buffer.compare(vm.read(6 * PAGE, PAGE), want6)).toBe(0);
    expect(Buffer.compare(vm.read(4 * PAGE, PAGE), pageBytes(4))).toBe(0);
    expect(store.faults.hypervisor).toBe(0);
  });
});

describe("the stream packer and verification bring pages back", () => {
  it("migrate() of a VM with pages elsewhere and swapped completes, verifies, and the destination holds the right bytes", async () => {
    const source = createHost({ memoryMiB: 16 });
    const destination = createHost({ memoryMiB: 16 });
    const vm = filledVm(source, 256);
    const original = memoryOf(vm);
    const store = new TestStore(vm);
    const { elsewhere, swapped } = moveSomeOut(store, 256);
    const r = await migrate(vm, destination, TEST_LIMITS);
    expect(r.error).toBeNull();
    expect(r.status).toBe("completed");
    expect(r.verification).toMatchObject({ ok: true, pagesCompared: 256 });
    expect(store.faults).toEqual({ guest: 0, hypervisor: elsewhere.length + swapped.length });
    expect(r.destination).not.toBeNull();
    expect(Buffer.compare(memoryOf(r.destination as Vm), original)).toBe(0);
    expect(r.destination?.states.counts()).toMatchObject({ elsewherePages: 0, swappedPages: 0 });
  });

  it("guestDigest and verifyGuests see the contents of pages elsewhere; a corrupted backing store fails verification", () => {
    const host = createHost({ memoryMiB: 16 });
    const vm = filledVm(host, 64);
    const copy = filledVm(createHost({ memoryMiB: 8 }), 64);
    const want = guestDigest(copy).digest;
    const store = new TestStore(vm);
    const moved = moveSomeOut(store, 64);
    const count = moved.elsewhere.length + moved.swapped.length;
    expect(guestDigest(vm).digest).toBe(want);
    expect(store.faults).toEqual({ guest: 0, hypervisor: count });
    moveSomeOut(store, 64);
    expect(verifyGuests(vm, copy)).toEqual({ method: "page-hash", ok: true, pagesCompared: 64, poisonedPages: 0, firstMismatchPfn: null });
    expect(store.faults.hypervisor).toBe(2 * count);
    // The store loses one byte of page 17 (elsewhere): verification must find that page.
    const where = store.moveOut(17, "elsewhere");
    (store.saved.get(where) as Uint8Array)[4000] ^= 0x40;
    expect(verifyGuests(vm, copy)).toMatchObject({ ok: false, firstMismatchPfn: 17 });
    expect(guestDigest(vm).digest).not.toBe(want);
  });

  it("fingerprinting brings pages back by hypervisor reads (the fault says read; nothing becomes dirty), pages on both sides of a window edge and the last page", () => {
    // 32,769 pages: two fingerprint windows (32,768 pages each), the second of one page.
    const pages = 32_769;
    const vm = createHost({ memoryMiB: 256 }).createVm({ pages });
    const copy = createHost({ memoryMiB: 256 }).createVm({ pages });
    const written = [0, 5, 32_766, 32_767, 32_768];
    for (const pfn of written) {
      vm.write(pfn * PAGE, pageBytes(pfn));
      copy.write(pfn * PAGE, pageBytes(pfn));
    }
    vm.harvestDirty();
    const store = new TestStore(vm);
    // Registered after the store, so it sees each fault first: what kind of access brought the page back.
    const seen: string[] = [];
    const record = (f: Fault): FaultAction => { seen.push(`${f.by} ${f.write ? "write" : "read"} ${f.pfn}`); return "pass"; };
    vm.onFault(FaultReason.Swapped, record);
    vm.onFault(FaultReason.Elsewhere, record);
    for (const pfn of [5, 32_766, 32_768]) store.moveOut(pfn, "swap");
    expect(guestDigest(vm).digest).toBe(guestDigest(copy).digest);
    expect(store.faults).toEqual({ guest: 0, hypervisor: 3 });
    expect(seen).toEqual(["hypervisor read 5", "hypervisor read 32766", "hypervisor read 32768"]);
    expect(vm.harvestDirty().toArray()).toEqual([]);
    for (const pfn of [32_767, 32_768]) store.moveOut(pfn, "elsewhere");
    expect(verifyGuests(vm, copy)).toEqual({ method: "page-hash", ok: true, pagesCompared: pages, poisonedPages: 0, firstMismatchPfn: null });
    expect(seen.slice(3)).toEqual(["hypervisor read 32767", "hypervisor read 32768"]);
    expect(vm.harvestDirty().toArray()).toEqual([]);
    store.close();
  });
});

describe("without a handler that brings the page back", () => {
  it("vm.read and vm.write are ERR_PAGE_STATE naming the state, nothing changed", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = filledVm(host, 8);
    const store = new TestStore(vm);
    store.moveOut(2, "elsewhere");
    store.moveOut(3, "swap");
    store.close();
    expect(() => vm.read(2 * PAGE, 8)).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", details: { pfn: 2, state: "elsewhere" }, message: expect.stringMatching(/guest page 2 is elsewhere/) }));
    expect(() => vm.read(3 * PAGE + 5, 8)).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", details: { pfn: 3, state: "swapped" }, message: expect.stringMatching(/guest page 3 is swapped out/) }));
    const before = vm.read(PAGE, PAGE);
    expect(() => vm.write(2 * PAGE - 4, new Uint8Array(8).fill(1))).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", details: { pfn: 2, state: "elsewhere" } }));
    expect(Buffer.compare(vm.read(PAGE, PAGE), before)).toBe(0);
    expect(() => vm.run([{ op: "read", gpa: 3 * PAGE }])).toThrow(expect.objectContaining({ code: "ERR_UNHANDLED_FAULT", message: expect.stringMatching(/swapped.*0x3000/) }));
    expect(vm.states.of(2)).toEqual({ kind: "elsewhere", location: 1 });
    expect(vm.states.of(3)).toEqual({ kind: "swapped", slot: 2 });
  });

  it("a migration fails with a typed error: the source intact and running, the destination holding nothing", async () => {
    const source = createHost({ memoryMiB: 16 });
    const destination = createHost({ memoryMiB: 16 });
    const destinationFrames = destination.stats().usedFrames;
    const vm = filledVm(source, 128);
    const original = memoryOf(vm);
    const store = new TestStore(vm);
    store.moveOut(40, "elsewhere");
    store.moveOut(90, "swap");
    store.close();
    const entries = Array.from({ length: 128 }, (_, pfn) => vm.pte(pfn));
    const r = await migrate(vm, destination, TEST_LIMITS);
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("ERR_PAGE_STATE");
    expect(r.error?.message).toMatch(/guest page (40 is elsewhere|90 is swapped out)/);
    expect(r.destination).toBeNull();
    expect(destination.vms).toEqual([]);
    expect(destination.stats().usedFrames).toBe(destinationFrames);
    expect(vm.paused).toBe(false);
    expect(vm.states.counts()).toMatchObject({ elsewherePages: 1, swappedPages: 1 });
    expect(Array.from({ length: 128 }, (_, pfn) => vm.pte(pfn) & ~(3n << 8n))).toEqual(entries.map((e) => e & ~(3n << 8n)));
    const back = new TestStore(vm);
    back.saved.set(1, original.subarray(40 * PAGE, 41 * PAGE));
    back.saved.set(2, original.subarray(90 * PAGE, 91 * PAGE));
    expect(Buffer.compare(memoryOf(vm), original)).toBe(0);
  });

  it("a handler that answers 'retry' without bringing the page back is ERR_FAULT_LOOP, not a hang", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = filledVm(host, 8);
    const store = new TestStore(vm);
    store.moveOut(5, "elsewhere");
    store.close();
    const calls = { guest: 0, hypervisor: 0 };
    vm.onFault(FaultReason.Elsewhere, (f) => { calls[f.by]++; return "retry"; });
    expect(() => vm.read(5 * PAGE, 8)).toThrow(expect.objectContaining({ code: "ERR_FAULT_LOOP", details: { pfn: 5, reason: "elsewhere" }, message: expect.stringMatching(/guest page 5 is still not accessible/) }));
    expect(() => vm.run([{ op: "write", gpa: 5 * PAGE }])).toThrow(expect.objectContaining({ code: "ERR_FAULT_LOOP", message: expect.stringMatching(/elsewhere.*0x5000/) }));
    expect(calls.guest).toBe(1);
    expect(calls.hypervisor).toBeGreaterThanOrEqual(1);
    expect(calls.hypervisor).toBeLessThanOrEqual(8);
    expect(vm.states.of(5).kind).toBe("elsewhere");
  });
});
