// Page states (assembly/page-state.ts through vm.states and the bitmap forms
// vm.trace/untrace/writeProtect/unprotect): what this file proves.
// - Every legal move gives the decoded state its table says (kind and the
//   frame field: host frame, swap slot, location), the VM's counts move by
//   exactly one in the right field, the host's used frames change exactly
//   when a frame is freed or taken, A and D are kept (and balloon / deflate
//   set D), and frame metadata follows (owner, poisoned, known).
// - Every illegal move (each op from each state it does not apply to) is
//   ERR_PAGE_STATE naming the page and its state, with nothing changed.
// - vm.destroy() with pages in every state returns every frame it should
//   (swap slots and locations are not frames) and retires poisoned ones.
// - fast-check: random sequences of legal and illegal moves, hypervisor
//   writes, guest reads and dirty harvests on a small VM keep a plain model
//   of states, contents, A/D bits and counts equal to the kernel's.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, FaultReason, MAX_FRAME_FIELD, PageBitmap, type Host, type PageState, type Vm, type VmCounts } from "../src/index.js";

const PAGE = 4096;

/** Everything a page-state move may change: every entry, the VM's counts, the host's used frames. */
function snapshot(vm: Vm): { entries: bigint[]; counts: VmCounts; usedFrames: number } {
  return {
    entries: Array.from({ length: vm.pages }, (_, pfn) => vm.pte(pfn)),
    counts: vm.states.counts(),
    usedFrames: vm.host.stats().usedFrames,
  };
}

/** The VM's counts with the given fields moved by the given amounts. */
const moved = (before: VmCounts, delta: Partial<VmCounts>): VmCounts =>
  Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v + (delta[k as keyof VmCounts] ?? 0)])) as unknown as VmCounts;

const page = (fill: number): Uint8Array => new Uint8Array(PAGE).fill(fill);

/** Expects `fn` to be refused with ERR_PAGE_STATE naming `pfn` and `kind`, and nothing to change. */
function expectRefused(vm: Vm, pfn: number, kind: string, fn: () => void): void {
  const before = snapshot(vm);
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `${kind} page ${pfn}`).toMatchObject({ code: "ERR_PAGE_STATE", details: { pfn, state: kind } });
  expect((caught as Error).message).toMatch(new RegExp(`guest page ${pfn}: it is ${kind}$`));
  expect(snapshot(vm)).toEqual(before);
}

type StartState = "unpopulated" | "zero-mapped" | "present" | "traced" | "traced-zero" | "poisoned" | "latent" | "swapped" | "elsewhere" | "ballooned";
const START_STATES: readonly StartState[] = ["unpopulated", "zero-mapped", "present", "traced", "traced-zero", "poisoned", "latent", "swapped", "elsewhere", "ballooned"];

/** Puts page `pfn` of `vm` in `state` (a present page holds `pfn + 1` in every byte). */
function prepare(vm: Vm, pfn: number, state: StartState): void {
  const touch = () => vm.run([{ op: "read", gpa: pfn * PAGE }]);
  const write = () => vm.write(pfn * PAGE, page(pfn + 1));
  switch (state) {
    case "unpopulated": return;
    case "zero-mapped": return touch();
    case "present": return write();
    case "traced": write(); return vm.states.trace(pfn);
    case "traced-zero": touch(); return vm.states.trace(pfn);
    case "poisoned": write(); return vm.states.poison(pfn, false);
    case "latent": write(); return vm.states.poison(pfn, true);
    case "swapped": write(); return vm.states.swapOut(pfn, 1000 + pfn);
    case "elsewhere": write(); return vm.states.moveElsewhere(pfn, 2000 + pfn);
    case "ballooned": return vm.states.balloon(pfn);
  }
}

/** The kind vm.states.of() reports for a start state. */
const KIND: Record<StartState, PageState["kind"]> = {
  unpopulated: "unpopulated", "zero-mapped": "zero-mapped", present: "present", traced: "traced", "traced-zero": "traced",
  poisoned: "poisoned", latent: "poisoned", swapped: "swapped", elsewhere: "elsewhere", ballooned: "ballooned",
};

type Move = "swapOut" | "moveElsewhere" | "bringBack" | "balloon" | "deflate" | "poison" | "poisonLatent" | "reportLatent" | "trace" | "untrace";
const MOVES: Record<Move, (vm: Vm, pfn: number) => void> = {
  swapOut: (vm, pfn) => vm.states.swapOut(pfn, 7),
  moveElsewhere: (vm, pfn) => vm.states.moveElsewhere(pfn, 9),
  bringBack: (vm, pfn) => { vm.states.bringBack(pfn, page(0xee)); },
  balloon: (vm, pfn) => vm.states.balloon(pfn),
  deflate: (vm, pfn) => vm.states.deflate(pfn),
  poison: (vm, pfn) => vm.states.poison(pfn, false),
  poisonLatent: (vm, pfn) => vm.states.poison(pfn, true),
  reportLatent: (vm, pfn) => vm.states.reportLatent(pfn),
  trace: (vm, pfn) => vm.states.trace(pfn),
  untrace: (vm, pfn) => vm.states.untrace(pfn),
};

/** The states each move applies to (assembly/page-state.ts's table); every other is refused. */
const LEGAL: Record<Move, readonly StartState[]> = {
  swapOut: ["present"],
  moveElsewhere: ["present"],
  bringBack: ["swapped", "elsewhere"],
  balloon: ["unpopulated", "zero-mapped", "present"],
  deflate: ["ballooned"],
  poison: ["present"],
  poisonLatent: ["present"],
  reportLatent: ["latent"],
  trace: ["zero-mapped", "present"],
  untrace: ["traced", "traced-zero"],
};

/** A host and a 64-page VM with its page tables built (page 63 written) and the dirty log's harvest set allocated. */
function fresh(): { host: Host; vm: Vm } {
  const host = createHost({ memoryMiB: 8 });
  const vm = host.createVm({ pages: 64 });
  vm.write(63 * PAGE, page(63));
  vm.harvestDirty();
  return { host, vm };
}

describe("illegal moves", () => {
  const { vm } = fresh();
  START_STATES.forEach((state, pfn) => prepare(vm, pfn, state));

  it("every start state decodes as expected", () => {
    expect(START_STATES.map((_, pfn) => vm.states.of(pfn).kind)).toEqual(START_STATES.map((s) => KIND[s]));
  });

  for (const [move, legal] of Object.entries(LEGAL) as [Move, readonly StartState[]][]) {
    const refused = START_STATES.filter((s) => !legal.includes(s));
    it(`${move} from ${refused.join(", ")} is ERR_PAGE_STATE naming the page and its state, nothing changed`, () => {
      for (const state of refused) {
        const pfn = START_STATES.indexOf(state);
        expectRefused(vm, pfn, KIND[state], () => MOVES[move](vm, pfn));
      }
    });
  }

  it("an unpopulated page whose table does not exist yet is refused too, and no table is built", () => {
    const { vm: other } = fresh();
    const far = other.host.createVm({ pages: 4096 });
    for (const move of ["swapOut", "moveElsewhere", "bringBack", "deflate", "poison", "reportLatent", "trace", "untrace"] as Move[]) {
      expectRefused(far, 3000, "unpopulated", () => MOVES[move](far, 3000));
    }
  });

  it("a bad slot, location or bringBack buffer is a typed error, nothing changed", () => {
    const { vm: v } = fresh();
    prepare(v, 1, "present");
    prepare(v, 2, "swapped");
    const before = snapshot(v);
    for (const bad of [-1, 1.5, MAX_FRAME_FIELD + 1, Number.NaN]) {
      expect(() => v.states.swapOut(1, bad)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringContaining(String(bad)) }));
      expect(() => v.states.moveElsewhere(1, bad)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringContaining(String(bad)) }));
    }
    expect(() => v.states.bringBack(2, new Uint8Array(100))).toThrow(expect.objectContaining({ code: "ERR_PAGE_SIZE", message: expect.stringContaining("100 bytes") }));
    expect(() => v.states.bringBack(2, [1, 2] as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: "ERR_PAGE_SIZE" }));
    expect(() => v.states.balloon(64)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", message: expect.stringContaining("64") }));
    expect(snapshot(v)).toEqual(before);
  });
});

describe("legal moves", () => {
  it("swapOut and moveElsewhere free the frame and keep A, D and WP; the frame field holds the slot / location", () => {
    const { host, vm } = fresh();
    vm.write(1 * PAGE, page(0x11));
    vm.write(2 * PAGE, page(0x22));
    vm.harvestDirty(); // D of pages 1 and 2 cleared
    vm.write(1 * PAGE, page(0x12)); // page 1: A and D; page 2: A only
    vm.writeProtect(PageBitmap.of(64, [2]));
    const frame1 = vm.pteInfo(1).hfn;
    const frame2 = vm.pteInfo(2).hfn;
    const before = snapshot(vm);
    vm.states.swapOut(1, MAX_FRAME_FIELD);
    vm.states.moveElsewhere(2, frame1); // a location that happens to equal a frame number is not a frame
    expect(vm.states.of(1)).toEqual({ kind: "swapped", slot: MAX_FRAME_FIELD });
    expect(vm.states.of(2)).toEqual({ kind: "elsewhere", location: frame1 });
    expect(vm.pteInfo(1)).toMatchObject({ present: false, swapped: true, accessed: true, dirty: true, writeProtected: false });
    expect(vm.pteInfo(2)).toMatchObject({ present: false, elsewhere: true, accessed: true, dirty: false, writeProtected: true });
    expect(vm.states.counts()).toEqual(moved(before.counts, { privateFrames: -2, swappedPages: 1, elsewherePages: 1 }));
    expect(host.stats().usedFrames).toBe(before.usedFrames - 2);
    expect(host.frameInfo(frame1).owner).toBe(0);
    expect(host.frameInfo(frame2).owner).toBe(0);
    expect(vm.harvestDirty().toArray()).toEqual([1]);
  });

  it("bringBack allocates a frame holding the bytes (or zeros), keeps A, D and WP, and returns the frame", () => {
    const { host, vm } = fresh();
    vm.write(1 * PAGE, page(0x11));
    vm.write(2 * PAGE, page(0x22));
    vm.writeProtect(PageBitmap.of(64, [2]));
    vm.harvestDirty();
    vm.states.swapOut(1, 5);
    vm.states.moveElsewhere(2, 6);
    const before = snapshot(vm);
    const bytes = Uint8Array.from({ length: PAGE }, (_, i) => i % 251);
    const frame1 = vm.states.bringBack(1, bytes);
    const frame2 = vm.states.bringBack(2, null);
    expect(vm.states.of(1)).toEqual({ kind: "present", hfn: frame1 });
    expect(vm.states.of(2)).toEqual({ kind: "present", hfn: frame2 });
    expect(frame1).toBeGreaterThan(0);
    expect(frame2).not.toBe(frame1);
    expect(host.frameInfo(frame1)).toMatchObject({ owner: vm.id, gfn: 1 });
    expect(host.frameInfo(frame2)).toMatchObject({ owner: vm.id, gfn: 2 });
    expect(Buffer.compare(vm.read(PAGE, PAGE), bytes)).toBe(0);
    expect(Buffer.compare(vm.read(2 * PAGE, PAGE), page(0))).toBe(0);
    expect(vm.pteInfo(1)).toMatchObject({ accessed: true, dirty: false, writable: true, writeProtected: false });
    expect(vm.pteInfo(2)).toMatchObject({ accessed: true, dirty: false, writable: false, writeProtected: true });
    expect(vm.states.counts()).toEqual(moved(before.counts, { privateFrames: 2, swappedPages: -1, elsewherePages: -1 }));
    expect(host.stats().usedFrames).toBe(before.usedFrames + 2);
    const faults: number[] = [];
    vm.onFault(FaultReason.WriteProtect, (f) => { faults.push(f.pfn); return "skip"; });
    vm.run([{ op: "write", gpa: PAGE }, { op: "write", gpa: 2 * PAGE }]);
    expect(faults).toEqual([2]);
  });

  it("balloon frees a private frame, sets D and keeps A; deflate gives back a page that reads zero, D set", () => {
    const { host, vm } = fresh();
    vm.write(1 * PAGE, page(0x11));
    vm.run([{ op: "read", gpa: 2 * PAGE }]);
    vm.harvestDirty();
    const frame1 = vm.pteInfo(1).hfn;
    const before = snapshot(vm);
    vm.states.balloon(1);
    vm.states.balloon(2);
    vm.states.balloon(3);
    for (const pfn of [1, 2, 3]) expect(vm.states.of(pfn)).toEqual({ kind: "ballooned" });
    expect([1, 2, 3].map((pfn) => [vm.pteInfo(pfn).accessed, vm.pteInfo(pfn).dirty, vm.pteInfo(pfn).hfn])).toEqual([[true, true, 0], [true, true, 0], [false, true, 0]]);
    expect(vm.states.counts()).toEqual(moved(before.counts, { privateFrames: -1, balloonedPages: 3 }));
    expect(host.stats().usedFrames).toBe(before.usedFrames - 1);
    expect(host.frameInfo(frame1).owner).toBe(0);
    expect(vm.harvestDirty().toArray()).toEqual([1, 2, 3]);
    vm.states.deflate(1);
    expect(vm.states.of(1)).toEqual({ kind: "unpopulated" });
    expect(vm.pteInfo(1)).toMatchObject({ accessed: true, dirty: true, present: false });
    expect(vm.states.counts().balloonedPages).toBe(2);
    expect(Buffer.compare(vm.read(PAGE, PAGE), page(0))).toBe(0);
    expect(vm.harvestDirty().toArray()).toEqual([1]);
    vm.run([{ op: "write", gpa: PAGE + 8, seed: 1 }]);
    expect(vm.states.of(1).kind).toBe("present");
    expect(vm.states.counts()).toEqual(moved(before.counts, { balloonedPages: 2 }));
  });

  it("ballooning an unpopulated page of an unbuilt table builds the table: used frames follow tableFrames exactly", () => {
    const { host, vm } = fresh();
    const big = host.createVm({ pages: 2048 });
    const before = snapshot(big);
    big.states.balloon(1500);
    const after = big.states.counts();
    expect(after.tableFrames).toBeGreaterThan(before.counts.tableFrames);
    expect(after).toEqual(moved(before.counts, { balloonedPages: 1, tableFrames: after.tableFrames - before.counts.tableFrames }));
    expect(host.stats().usedFrames - before.usedFrames).toBe(after.tableFrames - before.counts.tableFrames);
    expect(vm.states.counts().balloonedPages).toBe(0);
  });

  it("poison keeps the frame, flags it poisoned and known; a latent error becomes known on reportLatent", () => {
    const { host, vm } = fresh();
    vm.write(1 * PAGE, page(0x11));
    vm.write(2 * PAGE, page(0x22));
    vm.harvestDirty();
    const [frame1, frame2] = [vm.pteInfo(1).hfn, vm.pteInfo(2).hfn];
    const before = snapshot(vm);
    vm.states.poison(1, false);
    vm.states.poison(2, true);
    expect(vm.states.of(1)).toEqual({ kind: "poisoned", hfn: frame1, latent: false });
    expect(vm.states.of(2)).toEqual({ kind: "poisoned", hfn: frame2, latent: true });
    expect(host.frameInfo(frame1).flags).toEqual(["poisoned", "poisonKnown"]);
    expect(host.frameInfo(frame2).flags).toEqual(["poisoned"]);
    expect(vm.pteInfo(1)).toMatchObject({ poisoned: true, latentError: false, accessed: true, dirty: false, present: false });
    expect(vm.pteInfo(2)).toMatchObject({ poisoned: false, latentError: true, accessed: true, dirty: false, present: false });
    expect(vm.states.counts()).toEqual(moved(before.counts, { poisonedPages: 2 }));
    expect(host.stats().usedFrames).toBe(before.usedFrames);
    expect(() => vm.read(PAGE, 8)).toThrow(expect.objectContaining({ code: "ERR_MEMORY_POISONED", message: expect.stringContaining("guest page 1") }));
    vm.states.reportLatent(2);
    expect(vm.states.of(2)).toEqual({ kind: "poisoned", hfn: frame2, latent: false });
    expect(host.frameInfo(frame2).flags).toEqual(["poisoned", "poisonKnown"]);
    expect(vm.states.counts()).toEqual(moved(before.counts, { poisonedPages: 2 }));
  });

  it("trace keeps the frame (hypervisor reads still work, guest accesses fault); untrace restores W unless COW or WP", () => {
    const { host, vm } = fresh();
    vm.write(1 * PAGE, page(0x11));
    vm.write(2 * PAGE, page(0x22));
    vm.run([{ op: "read", gpa: 3 * PAGE }]);
    vm.writeProtect(PageBitmap.of(64, [2]));
    const [frame1, frame2] = [vm.pteInfo(1).hfn, vm.pteInfo(2).hfn];
    const before = snapshot(vm);
    for (const pfn of [1, 2, 3]) vm.states.trace(pfn);
    expect([1, 2, 3].map((pfn) => vm.states.of(pfn))).toEqual([
      { kind: "traced", hfn: frame1 }, { kind: "traced", hfn: frame2 }, { kind: "traced", hfn: 0 },
    ]);
    expect(vm.states.counts()).toEqual(moved(before.counts, { tracedPages: 3 }));
    expect(host.stats().usedFrames).toBe(before.usedFrames);
    expect(Buffer.compare(vm.read(PAGE, PAGE), page(0x11))).toBe(0);
    expect(() => vm.run([{ op: "read", gpa: PAGE }])).toThrow(expect.objectContaining({ code: "ERR_UNHANDLED_FAULT", message: expect.stringContaining("traced") }));
    for (const pfn of [1, 2, 3]) vm.states.untrace(pfn);
    expect([1, 2, 3].map((pfn) => vm.states.of(pfn))).toEqual([{ kind: "present", hfn: frame1 }, { kind: "present", hfn: frame2 }, { kind: "zero-mapped" }]);
    expect([1, 2, 3].map((pfn) => vm.pteInfo(pfn).writable)).toEqual([true, false, false]);
    expect(vm.pteInfo(3).cow).toBe(true);
    expect(snapshot(vm)).toEqual(before);
  });
});

describe("bitmap forms", () => {
  it("vm.trace / untrace apply to the present and zero-mapped pages of the set and count what changed", () => {
    const { vm } = fresh();
    prepare(vm, 1, "present");
    prepare(vm, 2, "zero-mapped");
    prepare(vm, 3, "swapped");
    prepare(vm, 4, "ballooned");
    prepare(vm, 5, "present");
    const set = PageBitmap.of(64, [1, 2, 3, 4, 6]);
    const before = snapshot(vm);
    expect(vm.trace(set)).toBe(2);
    expect([1, 2, 3, 4, 5, 6].map((pfn) => vm.states.of(pfn).kind)).toEqual(["traced", "traced", "swapped", "ballooned", "present", "unpopulated"]);
    expect(vm.states.counts()).toEqual(moved(before.counts, { tracedPages: 2 }));
    expect(vm.trace(set)).toBe(0);
    expect(vm.states.counts().tracedPages).toBe(2);
    expect(vm.untrace(set)).toBe(2);
    expect(vm.untrace(set)).toBe(0);
    expect(snapshot(vm)).toEqual(before);
    expect(() => vm.trace(PageBitmap.of(63, [1]))).toThrow(expect.objectContaining({ code: "ERR_LENGTH", message: expect.stringContaining("63 pages") }));
  });

  it("vm.writeProtect / unprotect clear and restore W; writes to a protected page fault as write-protect", () => {
    const { vm } = fresh();
    prepare(vm, 1, "present");
    prepare(vm, 2, "zero-mapped");
    prepare(vm, 3, "present");
    const before = snapshot(vm);
    expect(vm.writeProtect(PageBitmap.of(64, [1, 2]))).toBe(2);
    expect([1, 2, 3].map((pfn) => [vm.pteInfo(pfn).writeProtected, vm.pteInfo(pfn).writable])).toEqual([[true, false], [true, false], [false, true]]);
    expect(vm.writeProtect(PageBitmap.of(64, [1, 2]))).toBe(0);
    const faults: string[] = [];
    vm.onFault(FaultReason.WriteProtect, (f) => { faults.push(`wp:${f.pfn}`); return "skip"; });
    vm.run([{ op: "write", gpa: PAGE }, { op: "write", gpa: 2 * PAGE }, { op: "write", gpa: 3 * PAGE, seed: 4 }, { op: "read", gpa: PAGE }]);
    expect(faults).toEqual(["wp:1", "wp:2"]);
    // The write to the protected zero-mapped page first got its private copy (COW fault), keeping WP.
    expect(vm.counters.faults).toMatchObject({ cow: 1, "write-protect": 2 });
    expect(vm.pteInfo(2)).toMatchObject({ present: true, cow: false, writeProtected: true, writable: false });
    expect(vm.states.counts()).toEqual(moved(before.counts, { privateFrames: 1 }));
    expect(vm.unprotect(PageBitmap.of(64, [1, 2]))).toBe(2);
    expect([1, 2].map((pfn) => [vm.pteInfo(pfn).writeProtected, vm.pteInfo(pfn).writable, vm.pteInfo(pfn).cow])).toEqual([[false, true, false], [false, true, false]]);
    expect(vm.unprotect(PageBitmap.of(64, [1, 2]))).toBe(0);
    prepare(vm, 4, "zero-mapped");
    expect(vm.writeProtect(PageBitmap.of(64, [4]))).toBe(1);
    expect(vm.unprotect(PageBitmap.of(64, [4]))).toBe(1);
    expect(vm.pteInfo(4)).toMatchObject({ writeProtected: false, writable: false, cow: true });
  });
});

describe("vm.destroy()", () => {
  it("returns every frame of a VM with pages in every state (slots and locations are not frames) and retires poisoned frames", () => {
    const host = createHost({ memoryMiB: 8 });
    const keeper = host.createVm({ pages: 16 });
    for (let pfn = 0; pfn < 16; pfn++) keeper.write(pfn * PAGE, page(0x40 + pfn));
    const keeperFrames = Array.from({ length: 16 }, (_, pfn) => keeper.pteInfo(pfn).hfn);
    const baseline = host.stats().usedFrames;
    const vm = host.createVm({ pages: 1024 });
    for (let pfn = 0; pfn < 1024; pfn += 97) vm.write(pfn * PAGE, page(1));
    // Slots and locations equal to the keeper's frame numbers: freeing them would corrupt the keeper.
    vm.write(100 * PAGE, page(2));
    vm.write(101 * PAGE, page(3));
    vm.states.swapOut(100, keeperFrames[3]);
    vm.states.moveElsewhere(101, keeperFrames[4]);
    vm.write(102 * PAGE, page(4));
    vm.states.balloon(102);
    vm.states.balloon(700);
    vm.write(103 * PAGE, page(5));
    vm.write(104 * PAGE, page(6));
    vm.states.poison(103, false);
    vm.states.poison(104, true);
    const poisonedFrames = [vm.pteInfo(103).hfn, vm.pteInfo(104).hfn];
    vm.write(105 * PAGE, page(7));
    vm.states.trace(105);
    vm.run([{ op: "read", gpa: 106 * PAGE }]);
    const counts = vm.states.counts();
    expect(counts).toMatchObject({ swappedPages: 1, elsewherePages: 1, balloonedPages: 2, poisonedPages: 2, tracedPages: 1 });
    expect(host.stats().usedFrames - baseline).toBe(counts.tableFrames + counts.privateFrames);
    vm.destroy();
    expect(host.stats().usedFrames).toBe(baseline + 2);
    expect(host.frameInfo(poisonedFrames[0])).toMatchObject({ owner: 0xffff, flags: ["poisoned", "poisonKnown", "retired"] });
    expect(host.frameInfo(poisonedFrames[1])).toMatchObject({ owner: 0xffff, flags: ["poisoned", "retired"] });
    for (let pfn = 0; pfn < 16; pfn++) {
      expect(host.frameInfo(keeperFrames[pfn]).owner).toBe(keeper.id);
      expect(Buffer.compare(keeper.read(pfn * PAGE, PAGE), page(0x40 + pfn))).toBe(0);
    }
    // Every freed frame is reused; a retired one never is.
    const next = host.createVm({ pages: 1024 });
    for (let pfn = 0; pfn < 200; pfn++) next.write(pfn * PAGE, page(9));
    const used = new Set(Array.from({ length: 200 }, (_, pfn) => next.pteInfo(pfn).hfn));
    for (const hfn of poisonedFrames) expect(used.has(hfn)).toBe(false);
    expect(host.stats().freeListFrames).toBe(0);
  });
});

/** The model of one page: its state, its bytes (one fill value), its A and D bits. */
type ModelState =
  | { kind: "unpopulated" } | { kind: "zero-mapped" } | { kind: "present" } | { kind: "traced"; frame: boolean }
  | { kind: "poisoned"; latent: boolean } | { kind: "swapped"; slot: number } | { kind: "elsewhere"; location: number } | { kind: "ballooned" };
interface ModelPage { state: ModelState; fill: number; a: boolean; d: boolean }

type Step =
  | { op: "write"; pfn: number; fill: number }
  | { op: "touch"; pfn: number }
  | { op: "harvest" }
  | { op: "swapOut"; pfn: number; slot: number }
  | { op: "moveElsewhere"; pfn: number; location: number }
  | { op: "bringBack"; pfn: number; fill: number | null }
  | { op: "balloon" | "deflate" | "poison" | "poisonLatent" | "reportLatent" | "trace" | "untrace"; pfn: number };

const MODEL_PAGES = 8;
const pfnArb = fc.integer({ min: 0, max: MODEL_PAGES - 1 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant("write" as const), pfn: pfnArb, fill: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant("touch" as const), pfn: pfnArb }),
  fc.constant({ op: "harvest" as const }),
  fc.record({ op: fc.constant("swapOut" as const), pfn: pfnArb, slot: fc.integer({ min: 0, max: MAX_FRAME_FIELD }) }),
  fc.record({ op: fc.constant("moveElsewhere" as const), pfn: pfnArb, location: fc.integer({ min: 0, max: 64 }) }),
  fc.record({ op: fc.constant("bringBack" as const), pfn: pfnArb, fill: fc.option(fc.integer({ min: 1, max: 255 })) }),
  fc.record({ op: fc.constantFrom("balloon" as const, "deflate" as const, "poison" as const, "poisonLatent" as const, "reportLatent" as const, "trace" as const, "untrace" as const), pfn: pfnArb }),
);

/** Applies `step` to the model; returns the error code the kernel must answer, or null when the step is legal. */
function applyToModel(pages: ModelPage[], step: Step, tables: { built: boolean }): string | null {
  if (step.op === "harvest") {
    for (const p of pages) p.d = false;
    return null;
  }
  const p = pages[step.pfn];
  const k = p.state.kind;
  const refuse = "ERR_PAGE_STATE";
  switch (step.op) {
    case "write":
      if (k === "poisoned") return "ERR_MEMORY_POISONED";
      if (k === "swapped" || k === "elsewhere" || k === "ballooned") return refuse;
      if (k === "unpopulated" || k === "zero-mapped") p.state = { kind: "present" };
      if (p.state.kind === "traced") p.state = { kind: "traced", frame: true };
      tables.built = true;
      p.fill = step.fill;
      p.a = p.d = true;
      return null;
    case "touch":
      if (k !== "unpopulated" && k !== "zero-mapped" && k !== "present") return "ERR_UNHANDLED_FAULT";
      if (k === "unpopulated") p.state = { kind: "zero-mapped" };
      tables.built = true;
      p.a = true;
      return null;
    case "swapOut":
    case "moveElsewhere":
      if (k !== "present") return refuse;
      p.state = step.op === "swapOut" ? { kind: "swapped", slot: step.slot } : { kind: "elsewhere", location: step.location };
      return null;
    case "bringBack":
      if (k !== "swapped" && k !== "elsewhere") return refuse;
      p.state = { kind: "present" };
      p.fill = step.fill ?? 0;
      return null;
    case "balloon":
      if (k !== "unpopulated" && k !== "zero-mapped" && k !== "present") return refuse;
      p.state = { kind: "ballooned" };
      tables.built = true;
      p.fill = 0;
      p.d = true;
      return null;
    case "deflate":
      if (k !== "ballooned") return refuse;
      p.state = { kind: "unpopulated" };
      p.d = true;
      return null;
    case "poison":
    case "poisonLatent":
      if (k !== "present") return refuse;
      p.state = { kind: "poisoned", latent: step.op === "poisonLatent" };
      return null;
    case "reportLatent":
      if (k !== "poisoned" || !(p.state as { latent: boolean }).latent) return refuse;
      p.state = { kind: "poisoned", latent: false };
      return null;
    case "trace":
      if (k !== "zero-mapped" && k !== "present") return refuse;
      p.state = { kind: "traced", frame: k === "present" };
      return null;
    case "untrace":
      if (k !== "traced") return refuse;
      p.state = (p.state as { frame: boolean }).frame ? { kind: "present" } : { kind: "zero-mapped" };
      return null;
  }
}

function applyToVm(vm: Vm, step: Step): void {
  switch (step.op) {
    case "write": return vm.write(step.pfn * PAGE, page(step.fill));
    case "touch": return vm.run([{ op: "read", gpa: step.pfn * PAGE + 64 }]);
    case "harvest": vm.harvestDirty(); return;
    case "swapOut": return vm.states.swapOut(step.pfn, step.slot);
    case "moveElsewhere": return vm.states.moveElsewhere(step.pfn, step.location);
    case "bringBack": vm.states.bringBack(step.pfn, step.fill === null ? null : page(step.fill)); return;
    case "poison": return vm.states.poison(step.pfn, false);
    case "poisonLatent": return vm.states.poison(step.pfn, true);
    default: return vm.states[step.op](step.pfn);
  }
}

/** The counts the model implies. */
function modelCounts(pages: ModelPage[], tables: { built: boolean }): VmCounts {
  const n = (f: (p: ModelPage) => boolean): number => pages.filter(f).length;
  return {
    tableFrames: tables.built ? 4 : 1,
    privateFrames: n((p) => p.state.kind === "present" || p.state.kind === "poisoned" || (p.state.kind === "traced" && p.state.frame)),
    swappedPages: n((p) => p.state.kind === "swapped"),
    balloonedPages: n((p) => p.state.kind === "ballooned"),
    poisonedPages: n((p) => p.state.kind === "poisoned"),
    tracedPages: n((p) => p.state.kind === "traced"),
    elsewherePages: n((p) => p.state.kind === "elsewhere"),
  };
}

/** Expects the kernel's view of every page to match the model's. */
function expectModel(vm: Vm, pages: ModelPage[], tables: { built: boolean }, overheadFrames: number, at: string): void {
  pages.forEach((p, pfn) => {
    const got = vm.states.of(pfn);
    const info = vm.pteInfo(pfn);
    const where = `${at}, page ${pfn}`;
    expect(got.kind, where).toBe(p.state.kind);
    if (p.state.kind === "swapped") expect(got, where).toEqual({ kind: "swapped", slot: p.state.slot });
    if (p.state.kind === "elsewhere") expect(got, where).toEqual({ kind: "elsewhere", location: p.state.location });
    if (p.state.kind === "poisoned") expect((got as { latent: boolean }).latent, where).toBe(p.state.latent);
    if (p.state.kind === "traced") expect((got as { hfn: number }).hfn !== 0, where).toBe(p.state.frame);
    if (p.state.kind === "present") expect((got as { hfn: number }).hfn, where).toBeGreaterThan(0);
    expect([info.accessed, info.dirty], where).toEqual([p.a, p.d]);
    const readable = ["unpopulated", "zero-mapped", "present", "traced"].includes(p.state.kind);
    if (readable) expect(Buffer.compare(vm.read(pfn * PAGE, PAGE), page(p.fill)), where).toBe(0);
  });
  const counts = modelCounts(pages, tables);
  expect(vm.states.counts(), at).toEqual(counts);
  expect(vm.host.stats().usedFrames, at).toBe(overheadFrames + counts.tableFrames + counts.privateFrames);
}

describe("model check", () => {
  it("random legal and illegal moves keep states, bytes, A/D and counts equal to a plain model; destroy returns the frames", () => {
    const host = createHost({ memoryMiB: 8 });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), (steps) => {
        const start = host.stats().usedFrames;
        const vm = host.createVm({ pages: MODEL_PAGES });
        vm.harvestDirty(); // allocates the dirty log's harvest set: an overhead frame from here on
        const overhead = host.stats().usedFrames - 1;
        const pages: ModelPage[] = Array.from({ length: MODEL_PAGES }, () => ({ state: { kind: "unpopulated" }, fill: 0, a: false, d: false }));
        const tables = { built: false };
        const retired = new Set<number>();
        steps.forEach((step, i) => {
          const at = `step ${i} ${JSON.stringify(step)}`;
          const want = applyToModel(pages, step, tables);
          let got = "none";
          try {
            applyToVm(vm, step);
          } catch (e) {
            got = (e as { code?: string }).code ?? String(e);
          }
          expect(got, at).toBe(want ?? "none");
          expectModel(vm, pages, tables, overhead, at);
        });
        pages.forEach((p, pfn) => { if (p.state.kind === "poisoned") retired.add(vm.pteInfo(pfn).hfn); });
        vm.destroy();
        expect(host.stats().usedFrames).toBe(start + retired.size);
      }),
      { numRuns: 150 },
    );
  });
});

describe("write protection of unpopulated pages; hypervisor writes to traced pages", () => {
  it("vm.writeProtect write-protects only the populated pages of the set, and counts only those", () => {
    const { vm } = fresh();
    prepare(vm, 1, "present");
    prepare(vm, 2, "zero-mapped");
    // Page 3 is unpopulated, in the same (built) leaf table as pages 1, 2 and 63.
    expect(vm.writeProtect(PageBitmap.of(64, [1, 2, 3]))).toBe(2);
    expect(vm.pte(3)).toBe(0n);
    expect(vm.unprotect(PageBitmap.of(64, [1, 2, 3]))).toBe(2);
  });

  it("vm.write to a traced zero-mapped page lands, as it does on a traced present page; the page stays traced", () => {
    const { vm } = fresh();
    prepare(vm, 1, "traced");
    prepare(vm, 2, "traced-zero");
    vm.write(PAGE + 16, page(0xab).subarray(0, 32));
    expect([...vm.read(PAGE + 16, 32)]).toEqual(Array(32).fill(0xab));
    expect(vm.states.of(1).kind).toBe("traced");
    vm.write(2 * PAGE + 16, page(0xcd).subarray(0, 32));
    expect([...vm.read(2 * PAGE + 16, 32)]).toEqual(Array(32).fill(0xcd));
    expect(vm.states.of(2).kind).toBe("traced");
    expect(vm.pteInfo(2)).toMatchObject({ dirty: true, accessed: true });
  });

  it("a vm.write over several pages happens completely or changes nothing (a traced zero-mapped page second)", () => {
    const { vm } = fresh();
    prepare(vm, 1, "present");
    prepare(vm, 2, "traced-zero");
    const bytes = page(0x5a);
    let threw = false;
    try {
      vm.write(PAGE + PAGE / 2, bytes);
    } catch {
      threw = true;
    }
    const got = vm.read(PAGE + PAGE / 2, PAGE);
    const want = threw ? Uint8Array.from([...page(2).subarray(0, PAGE / 2), ...page(0).subarray(0, PAGE / 2)]) : bytes;
    expect(Buffer.compare(got, want), threw ? "the write threw, yet changed page 1" : "the write returned, yet did not land").toBe(0);
  });
});

// Behaviour a mutation run of src/host found untested (docs/contributing.md, "Mutation scores").
describe("typed errors' details", () => {
  it("a bad pfn, slot or location names its option; a bad bringBack buffer names the page", () => {
    const { vm: v } = fresh();
    const details = (fn: () => unknown): unknown => {
      try { fn(); } catch (err) { const e = err as { code: string; details: unknown }; return { code: e.code, details: e.details }; }
      return "none";
    };
    expect(details(() => v.states.balloon(64))).toEqual({ code: "ERR_BAD_OPTION", details: { option: "pfn", value: 64 } });
    expect(details(() => v.states.swapOut(63, -1))).toEqual({ code: "ERR_BAD_OPTION", details: { option: "slot", value: -1 } });
    expect(details(() => v.states.moveElsewhere(63, 1.5))).toEqual({ code: "ERR_BAD_OPTION", details: { option: "location", value: 1.5 } });
    v.states.swapOut(63, 4);
    expect(details(() => v.states.bringBack(63, new Uint8Array(10)))).toEqual({ code: "ERR_PAGE_SIZE", details: { pfn: 63 } });
  });

  it("bringing a page back on a host with no free frame is ERR_OUT_OF_FRAMES (not a page-state error), the page still swapped", () => {
    const host = createHost({ memoryMiB: 1 });
    const vm = host.createVm({ memoryMiB: 4 });
    let written = 0;
    try {
      for (; written < 1024; written++) vm.run([{ op: "write", gpa: written * PAGE, seed: 7 }]);
    } catch { /* the host is full */ }
    vm.states.swapOut(0, 9);
    vm.run([{ op: "write", gpa: written * PAGE, seed: 7 }]);
    expect(host.stats().usedFrames).toBe(host.maxFrames);
    let caught: unknown = null;
    try { vm.states.bringBack(0, page(0)); } catch (err) { caught = err; }
    expect(caught).toMatchObject({ code: "ERR_OUT_OF_FRAMES", message: `vm ${vm.id}: cannot bring back guest page 0: the host has no free frame`, details: { pfn: 0, op: "bring back" } });
    expect(vm.states.of(0)).toEqual({ kind: "swapped", slot: 9 });
  });
});
