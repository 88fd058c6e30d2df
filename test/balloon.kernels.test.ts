// The balloon's list kernels (assembly/balloon.ts through BalloonPages):
// the clock sweep equals the page-by-page clock of test/reference/
// balloon-sweep.ts on random guests, the free-list scan passes over pages
// in a state of the hypervisor's (swapped, ballooned), and a list taken from VM A and given
// to VM B lands on exactly A's frames, zeroed: no byte of A shows in B.
// Refusals name the page or frame and leave the entries before it applied.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BALLOON_DATA_BIT, BalloonPages, createHost, FramePool, PageSet, type Vm } from "../src/index.js";
import { thrownError } from "./helpers.js";
import { sweepOracle, type SweepKind } from "./reference/balloon-sweep.js";

const PAGE = 4096;
const KINDS: readonly SweepKind[] = ["unpopulated", "zero-mapped", "present", "other"];

/** Puts page `pfn` of `vm` in `kind` ("other": swapped out or ballooned, by pfn parity). */
function place(vm: Vm, pfn: number, kind: SweepKind): void {
  if (kind === "zero-mapped") vm.run([{ op: "read", gpa: pfn * PAGE }]);
  if (kind === "present" || kind === "other") vm.write(pfn * PAGE, Uint8Array.of(0xa5, pfn & 0xff));
  if (kind === "other" && pfn % 2 === 0) vm.states.swapOut(pfn, pfn);
  if (kind === "other" && pfn % 2 === 1) vm.states.balloon(pfn);
}

const setOf = (set: PageSet, pages: number): Set<number> => new Set(Array.from({ length: pages }, (_, pfn) => pfn).filter((pfn) => set.has(pfn)));

describe("balloonSweep", () => {
  it("picks the victims, data flags, hand and second chances of the page-by-page clock", () => {
    const host = createHost({ memoryMiB: 16 });
    fc.assert(fc.property(
      fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 200 }).chain((kinds) => fc.record({
        kinds: fc.constant(kinds),
        referenced: fc.array(fc.boolean(), { minLength: kinds.length, maxLength: kinds.length }),
        chosen: fc.array(fc.boolean(), { minLength: kinds.length, maxLength: kinds.length }),
        hand: fc.integer({ min: 0, max: kinds.length + 3 }),
        want: fc.integer({ min: 0, max: kinds.length + 5 }),
        exclude: fc.integer({ min: -1, max: kinds.length - 1 }),
      })),
      ({ kinds, referenced, chosen, hand, want, exclude }) => {
        const vm = host.createVm({ pages: kinds.length });
        kinds.forEach((kind, pfn) => place(vm, pfn, kind));
        const refSet = new PageSet(host.kernels, kinds.length);
        const chosenSet = new PageSet(host.kernels, kinds.length);
        referenced.forEach((r, pfn) => { if (r) refSet.add(pfn); });
        chosen.forEach((c, pfn) => { if (c) chosenSet.add(pfn); });
        const oracleRef = setOf(refSet, kinds.length);
        const oracleChosen = setOf(chosenSet, kinds.length);
        const expected = sweepOracle(kinds, hand, want, exclude, oracleRef, oracleChosen);
        const got = new BalloonPages(vm).sweep(hand, want, exclude, refSet, chosenSet);
        expect(Array.from(got.victims, (e) => ({ pfn: e & ~BALLOON_DATA_BIT, hadData: (e & BALLOON_DATA_BIT) !== 0 }))).toEqual(expected.victims);
        expect(got.hand).toBe(expected.hand);
        expect(setOf(refSet, kinds.length)).toEqual(oracleRef);
        expect(setOf(chosenSet, kinds.length)).toEqual(oracleChosen);
        refSet.free();
        chosenSet.free();
        vm.destroy();
      },
    ), { numRuns: 60 });
  });
});

describe("balloonFreeFirst", () => {
  it("lists the first free pages the balloon can take, ascending, passing over swapped and ballooned ones", () => {
    const host = createHost({ memoryMiB: 16 });
    fc.assert(fc.property(
      fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 300 }).chain((kinds) => fc.record({
        kinds: fc.constant(kinds),
        free: fc.array(fc.boolean(), { minLength: kinds.length, maxLength: kinds.length }),
        max: fc.integer({ min: 0, max: kinds.length + 5 }),
      })),
      ({ kinds, free, max }) => {
        const vm = host.createVm({ pages: kinds.length });
        kinds.forEach((kind, pfn) => place(vm, pfn, kind));
        const freeSet = new PageSet(host.kernels, kinds.length);
        free.forEach((f, pfn) => { if (f) freeSet.add(pfn); });
        const expected = kinds.map((kind, pfn) => ({ kind, pfn })).filter(({ kind, pfn }) => free[pfn] && kind !== "other").map(({ pfn }) => pfn).slice(0, max);
        expect(Array.from(new BalloonPages(vm).firstFree(freeSet, max))).toEqual(expected);
        expect(setOf(freeSet, kinds.length)).toEqual(new Set(free.flatMap((f, pfn) => (f ? [pfn] : []))));
        freeSet.free();
        vm.destroy();
      },
    ), { numRuns: 60 });
  });
});

describe("balloonTake and balloonGive", () => {
  it("move a list of A's frames into B's ballooned pages, each zeroed, and keep the counts", () => {
    const host = createHost({ memoryMiB: 8 });
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 120 }),
      fc.array(fc.boolean(), { minLength: 256, maxLength: 256 }),
      (pfns, written) => {
        const a = host.createVm({ pages: 256 });
        const b = host.createVm({ pages: 256 });
        written.forEach((w, pfn) => { if (w) a.writePages(pfn, new Uint8Array(PAGE).fill(0xa5)); });
        const framesOfA = pfns.filter((pfn) => written[pfn]).map((pfn) => (a.states.of(pfn) as { hfn: number }).hfn);
        const aSet = new PageSet(host.kernels, 256);
        const bSet = new PageSet(host.kernels, 256);
        const list = Uint32Array.from(pfns);
        const frames = new BalloonPages(a).take(list, aSet);
        expect(Array.from(frames)).toEqual(framesOfA);
        expect(a.states.counts()).toMatchObject({ balloonedPages: pfns.length, privateFrames: written.filter(Boolean).length - framesOfA.length });
        expect(aSet.count()).toBe(pfns.length);
        for (const pfn of pfns) b.states.balloon(pfn);
        const used = host.stats().usedFrames;
        new BalloonPages(b).give(list, frames, bSet);
        expect(host.stats().usedFrames).toBe(used);
        // Page i of the list sits on frame i; the pages past the frames are unpopulated.
        pfns.forEach((pfn, i) => expect(b.states.of(pfn)).toEqual(i < frames.length ? { kind: "present", hfn: frames[i] } : { kind: "unpopulated" }));
        expect(b.readPages(0, 256).some((byte) => byte !== 0)).toBe(false);
        aSet.free();
        bSet.free();
        a.destroy();
        b.destroy();
      },
    ), { numRuns: 40 });
  });

  it("refuse a page in the wrong state or a frame not handed over, naming it, with the entries before it applied", () => {
    const host = createHost({ memoryMiB: 8 });
    const a = host.createVm({ pages: 64 });
    const set = new PageSet(host.kernels, 64);
    a.writePages(5, new Uint8Array(PAGE).fill(1));
    a.states.swapOut(5, 9);
    const pages = new BalloonPages(a);
    expect(thrownError(() => pages.take(Uint32Array.of(1, 2, 5, 6), set))).toMatchObject({ code: "ERR_PAGE_STATE", message: "vm 1: cannot balloon guest page 5: it is swapped", details: { value: 5 } });
    expect([a.states.of(2).kind, a.states.of(6).kind, set.has(2), set.has(6)]).toEqual(["ballooned", "unpopulated", true, false]);
    a.writePages(7, new Uint8Array(PAGE).fill(1));
    const live = (a.states.of(7) as { hfn: number }).hfn;
    expect(thrownError(() => pages.give(Uint32Array.of(1, 2), Uint32Array.of(live), set))).toMatchObject({ code: "ERR_PAGE_STATE", details: { value: 1 } });
    expect(thrownError(() => pages.release(Uint32Array.of(live)))).toMatchObject({ code: "ERR_PAGE_STATE", message: `vm 1: cannot release handed-over frame ${live}: it is not a handed-over frame` });
    expect(Buffer.compare(a.readPages(7, 1), new Uint8Array(PAGE).fill(1))).toBe(0);
  });

  it("a pool gives frames back last in, first out, and counts what it moves and releases", () => {
    const host = createHost({ memoryMiB: 8 });
    const a = host.createVm({ pages: 64 });
    const set = new PageSet(host.kernels, 64);
    for (let pfn = 0; pfn < 4; pfn++) a.writePages(pfn, new Uint8Array(PAGE).fill(1));
    const pool = new FramePool();
    const frames = new BalloonPages(a).take(Uint32Array.of(0, 1, 2, 3), set);
    pool.putAll(frames);
    expect(Array.from(pool.take(3, true))).toEqual([frames[3], frames[2], frames[1]]);
    const used = host.stats().usedFrames;
    pool.releaseAll(a);
    expect([pool.size, pool.movedFrames, pool.releasedFrames, host.stats().usedFrames]).toEqual([0, 3, 1, used - 1]);
  });
});
