// Frames moved between VMs (the seed of T11): the page-state moves of the
// overcommit range (BALLOON_HANDOVER, DEFLATE_ONTO, RELEASE_HANDOVER) and
// the balloon drivers over them. VM B gets exactly the frames behind VM A's
// ballooned pages, and reads zeros there: no byte of A ever shows in B.
import { describe, expect, it } from "vitest";
import { BALLOON_MARK, BalloonDriver, createHost, FramePool, type Vm } from "../src/index.js";
import { thrownError } from "./helpers.js";

const PAGE = 4096;

/** A page of A's that nobody else writes: its pfn in every 8-byte word, and 0xA5 bytes. */
function distinctive(pfn: number): Uint8Array {
  const page = new Uint8Array(PAGE).fill(0xa5);
  const view = new DataView(page.buffer);
  for (let at = 0; at < PAGE; at += 16) view.setUint32(at, 0xa0000000 + pfn, true);
  return page;
}

/** True when any 4-byte word of `bytes` is one of A's pfn tags, or any 0xA5 run of 4, or the balloon mark. */
function holdsBytesOfA(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 4 <= bytes.length; at += 4) {
    const w = view.getUint32(at, true);
    if ((w & 0xfff00000) === 0xa0000000 || w === 0xa5a5a5a5) return true;
    if (at + 8 <= bytes.length && bytes.subarray(at, at + 8).every((b, i) => b === BALLOON_MARK[i])) return true;
  }
  return false;
}

function twoVms(pages: number): { a: Vm; b: Vm } {
  const host = createHost({ memoryMiB: 32 });
  return { a: host.createVm({ pages }), b: host.createVm({ pages }) };
}

describe("page-state moves of the overcommit range", () => {
  it("hand A's frame to the host and map it, zeroed, into B's ballooned page", () => {
    const { a, b } = twoVms(64);
    a.writePages(3, distinctive(3));
    const hfn = a.states.of(3).kind === "present" ? (a.states.of(3) as { hfn: number }).hfn : -1;
    const used = a.host.stats().usedFrames;
    expect(a.states.balloonHandover(3)).toBe(hfn);
    expect(a.host.frameInfo(hfn)).toMatchObject({ owner: 0xffff, flags: ["handover"] });
    expect(a.host.stats().usedFrames).toBe(used);
    expect(a.states.counts()).toMatchObject({ privateFrames: 0, balloonedPages: 1 });
    b.states.balloon(9);
    expect(b.states.deflateOnto(9, hfn)).toBe(hfn);
    expect(b.states.of(9)).toEqual({ kind: "present", hfn });
    expect(a.host.frameInfo(hfn)).toMatchObject({ owner: b.id, gfn: 9, flags: [] });
    expect(b.states.counts()).toMatchObject({ privateFrames: 1, balloonedPages: 0 });
    expect(Buffer.compare(b.readPages(9, 1), new Uint8Array(PAGE))).toBe(0);
  });

  it("refuse a frame that was not handed over, a page that is not ballooned, and a second use of the frame", () => {
    const { a, b } = twoVms(64);
    a.writePages(0, distinctive(0));
    a.writePages(1, distinctive(1));
    const ownFrame = (a.states.of(1) as { hfn: number }).hfn;
    b.states.balloon(2);
    // A's live frame is not up for grabs: B would read A's bytes through it.
    expect(thrownError(() => b.states.deflateOnto(2, ownFrame))).toMatchObject({ code: "ERR_PAGE_STATE" });
    const hfn = a.states.balloonHandover(0);
    expect(thrownError(() => b.states.deflateOnto(3, hfn))).toMatchObject({ code: "ERR_PAGE_STATE" });
    b.states.deflateOnto(2, hfn);
    b.states.balloon(4);
    expect(thrownError(() => b.states.deflateOnto(4, hfn))).toMatchObject({ code: "ERR_PAGE_STATE" });
    expect(thrownError(() => a.states.releaseHandover(0, hfn))).toMatchObject({ code: "ERR_PAGE_STATE" });
    expect(Buffer.compare(a.readPages(1, 1), distinctive(1))).toBe(0);
  });

  it("release a handed-over frame to the free list; an untouched page hands over nothing", () => {
    const { a } = twoVms(64);
    expect(a.states.balloonHandover(5)).toBe(0);
    a.writePages(6, distinctive(6));
    const used = a.host.stats().usedFrames;
    const hfn = a.states.balloonHandover(6);
    a.states.releaseHandover(0, hfn);
    expect(a.host.stats().usedFrames).toBe(used - 1);
    expect(a.host.frameInfo(hfn).owner).toBe(0);
  });
});

describe("balloon drivers moving frames from A to B", () => {
  it("B's deflated pages sit on exactly the frames behind A's ballooned pages, and hold none of A's bytes", () => {
    const pages = 512;
    const { a, b } = twoVms(pages);
    for (let pfn = 0; pfn < pages; pfn++) a.writePages(pfn, distinctive(pfn));
    const framesOfA = new Set(Array.from({ length: pages }, (_, pfn) => (a.states.of(pfn) as { hfn: number }).hfn));
    const da = new BalloonDriver(a, { maxPages: pages, pagesPerPoll: 100 });
    const db = new BalloonDriver(b, { maxPages: pages, pagesPerPoll: 100 });
    const boot = new FramePool();
    db.setTarget(300);
    db.inflateToTarget(boot);
    expect(boot.size).toBe(0);
    const pool = new FramePool();
    da.setTarget(250);
    db.setTarget(50);
    for (let poll = 0; poll < 3; poll++) {
      da.inflate(pool);
      db.deflate(pool);
      pool.releaseAll(a);
    }
    expect([da.actualPages, db.actualPages, pool.movedFrames]).toEqual([250, 50, 250]);
    const framesOfB = Array.from({ length: pages }, (_, pfn) => b.states.of(pfn)).filter((s) => s.kind === "present").map((s) => (s as { hfn: number }).hfn);
    expect(framesOfB).toHaveLength(250);
    for (const hfn of framesOfB) expect(framesOfA.has(hfn)).toBe(true);
    expect(holdsBytesOfA(b.readPages(0, pages - 0).subarray(0, pages * PAGE))).toBe(false);
    expect(holdsBytesOfA(a.readPages(0, 1))).toBe(true);
  });

  it("keeps the guest's data: pages given to the balloon come back from the guest's swap, on deflate and on touch", () => {
    const pages = 256;
    const { a } = twoVms(pages);
    for (let pfn = 0; pfn < pages; pfn++) a.writePages(pfn, distinctive(pfn));
    const before = a.readPages(0, pages);
    const d = new BalloonDriver(a, { maxPages: pages, pagesPerPoll: 1000 });
    const pool = new FramePool();
    d.setTarget(200);
    d.inflate(pool);
    pool.releaseAll(a);
    expect([d.actualPages, d.swappedPages, d.counters.swapOutPages]).toEqual([200, 200, 200]);
    // The guest touches every page: each ballooned one is a major fault, paged in in place of another.
    a.run(Array.from({ length: pages }, (_, pfn) => ({ op: "read" as const, gpa: pfn * PAGE })));
    expect(d.counters.majorFaults).toBeGreaterThan(0);
    expect(d.actualPages).toBe(200);
    d.setTarget(0);
    d.deflate(pool);
    expect(d.actualPages).toBe(0);
    expect(Buffer.compare(a.readPages(0, pages), before)).toBe(0);
  });

  it("never holds more than its cap, and moves at most pagesPerPoll a poll", () => {
    const { a } = twoVms(1000);
    const d = new BalloonDriver(a, { maxPages: 650, pagesPerPoll: 100 });
    const pool = new FramePool();
    d.setTarget(900);
    expect(d.targetPages).toBe(650);
    const steps: number[] = [];
    for (let poll = 0; poll < 9; poll++) steps.push(d.inflate(pool));
    expect(steps).toEqual([100, 100, 100, 100, 100, 100, 50, 0, 0]);
    expect(a.states.counts().balloonedPages).toBe(650);
    d.setTarget(10);
    expect(d.deflate(pool)).toBe(100);
  });
});

describe("the balloon and pages the hypervisor moved out", () => {
  it("passes over free pages the hypervisor swapped out (their state is not the guest's to give) and takes the next free pages", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 256 });
    for (let pfn = 0; pfn < 256; pfn++) vm.write(pfn * PAGE, Uint8Array.of(pfn, 1));
    const d = new BalloonDriver(vm, { maxPages: 256, pagesPerPoll: 64 });
    for (let pfn = 0; pfn < 40; pfn++) d.release(pfn);
    // The hypervisor swaps out free pages 0-9 (it does not know they are free); their swap slots are its own.
    for (let pfn = 0; pfn < 10; pfn++) vm.states.swapOut(pfn, 1000 + pfn);
    const pool = new FramePool();
    d.setTarget(20);
    expect(d.inflate(pool)).toBe(20);
    const ballooned = Array.from({ length: 256 }, (_, pfn) => pfn).filter((pfn) => d.ballooned.has(pfn));
    expect(ballooned).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
    for (let pfn = 0; pfn < 10; pfn++) expect(vm.states.of(pfn).kind).toBe("swapped");
    expect(d.freePages).toBe(20); // 0-9 still free in the guest, and 30-39
    expect(pool.size).toBe(20);
    // Past the free list, the clock passes over swapped pages too.
    d.setTarget(200);
    d.inflateToTarget(pool);
    for (let pfn = 0; pfn < 10; pfn++) expect(d.ballooned.has(pfn)).toBe(false);
    expect(d.actualPages).toBe(200);
  });
});
