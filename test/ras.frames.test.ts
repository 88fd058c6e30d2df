// The platform moves memory-error recovery rests on: REPAIR and MIGRATE move
// a page to a new frame and retire the old one (refusing pages in other
// states), frames reserved at boot are stepped over by single and
// contiguous allocations, and frame XOR through the parity kernel matches a
// byte-by-byte XOR.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, injectMemoryError } from "../src/index.js";
import { mulberry32 } from "../src/sim/prng.js";

const PAGE = 4096;

describe("page-state REPAIR and MIGRATE", () => {
  it("REPAIR moves a poisoned page (known or latent) to a new frame with the given bytes, keeps A, D and WP, retires the bad frame", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    vm.write(0, new Uint8Array(4 * PAGE).fill(7));
    vm.states.writeProtect(1);
    for (const [pfn, latent] of [[1, false], [2, true]] as const) {
      const { hfn } = injectMemoryError(host, { vm, gpa: pfn * PAGE }, { latent });
      const before = vm.pteInfo(pfn);
      const used = host.stats().usedFrames;
      const bytes = new Uint8Array(PAGE).fill(0x5a);
      const fresh = vm.states.repair(pfn, bytes);
      expect(fresh).not.toBe(hfn);
      expect(vm.pteInfo(pfn)).toMatchObject({ present: true, poisoned: false, latentError: false, hfn: fresh, accessed: before.accessed, dirty: before.dirty, writeProtected: pfn === 1, writable: pfn !== 1 });
      expect(Buffer.compare(vm.read(pfn * PAGE, PAGE), bytes)).toBe(0);
      expect(host.frameInfo(hfn)).toMatchObject({ owner: 0xffff, flags: expect.arrayContaining(["poisoned", "retired"]) });
      expect(host.stats().usedFrames).toBe(used + 1);
    }
    expect(vm.states.counts()).toMatchObject({ poisonedPages: 0, privateFrames: 4 });
  });

  it("REPAIR and MIGRATE refuse pages in other states, changing nothing", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    vm.write(0, new Uint8Array(PAGE).fill(1));
    expect(() => vm.states.repair(0, new Uint8Array(PAGE))).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("cannot repair guest page 0: it is present") }));
    expect(() => vm.states.repair(0, new Uint8Array(100))).toThrow(expect.objectContaining({ code: "ERR_PAGE_SIZE" }));
    expect(() => vm.states.migrate(1)).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("unpopulated") }));
    injectMemoryError(host, { vm, gpa: 0 });
    expect(() => vm.states.migrate(0)).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("poisoned") }));
    expect(vm.pteInfo(0)).toMatchObject({ poisoned: true });
  });

  it("MIGRATE copies a present page to a new frame and retires the old one (soft offline)", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 2 });
    const bytes = new Uint8Array(PAGE).map((_, i) => i & 0xff);
    vm.write(PAGE, bytes);
    const old = vm.pteInfo(1).hfn;
    const fresh = vm.states.migrate(1);
    expect([fresh !== old, vm.pteInfo(1).hfn === fresh]).toEqual([true, true]);
    expect(Buffer.compare(vm.read(PAGE, PAGE), bytes)).toBe(0);
    expect(host.frameInfo(old).flags).toContain("retired");
    const other = host.createVm({ pages: 64 });
    other.write(0, new Uint8Array(64 * PAGE).fill(3));
    expect(Array.from({ length: 64 }, (_, p) => other.pteInfo(p).hfn)).not.toContain(old);
  });
});

describe("frames reserved before first use", () => {
  it("single frames, page tables and contiguous buffers step over them; an in-use frame or frame 0 cannot be reserved", () => {
    const host = createHost({ memoryMiB: 1 });
    const k = host.kernels;
    expect(k.frames.reserve(3)).toBe(1);
    expect(k.frames.reserve(3)).toBe(0);
    expect(k.frames.reserve(6)).toBe(1);
    expect(() => k.frames.reserve(0)).toThrow(expect.objectContaining({ code: "ERR_GPA_RANGE" }));
    expect(() => k.frames.reserve(host.maxFrames)).toThrow(expect.objectContaining({ code: "ERR_GPA_RANGE" }));
    const buffer = k.frames.allocBuffer(4 * PAGE);
    const first = (buffer - k.layout.frameBase) / PAGE;
    expect(first).toBe(7); // 1..2 and 4..5 are too short for 4 frames: they went to the free list
    expect(() => k.frames.reserve(first)).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE" }));
    const vm = host.createVm({ pages: 8 });
    vm.write(0, new Uint8Array(8 * PAGE).fill(1));
    const used = new Set(Array.from({ length: 8 }, (_, p) => vm.pteInfo(p).hfn));
    expect([used.has(3), used.has(6)]).toEqual([false, false]);
    expect([1, 2, 4, 5].every((h) => host.frameInfo(h).owner !== 0)).toBe(true);
    expect(k.frames.reserve(200)).toBe(1);
    vm.destroy();
    expect(k.frames.reserve(4)).toBe(1); // free again after the destroy: taken off the free list
    const next = host.createVm({ pages: 16 });
    next.write(0, new Uint8Array(16 * PAGE).fill(2));
    expect(Array.from({ length: 16 }, (_, p) => next.pteInfo(p).hfn).filter((h) => [3, 4, 6, 200].includes(h))).toEqual([]);
  });
});

describe("frame XOR (host.framePages)", () => {
  it("xor, xorInto and xorOf equal a byte-by-byte XOR (fast-check)", () => {
    const host = createHost({ memoryMiB: 4 });
    const pages = host.framePages;
    const frames = Array.from({ length: 17 }, () => pages.alloc());
    fc.assert(fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 2 ** 31 }), (k, seed) => {
      const rng = mulberry32(seed);
      const data = frames.slice(0, k + 1).map((h) => {
        const bytes = new Uint8Array(PAGE).map(() => rng() & 0xff);
        pages.write(h, bytes);
        return bytes;
      });
      const expected = new Uint8Array(PAGE);
      for (const d of data.slice(1)) for (let i = 0; i < PAGE; i++) expected[i] ^= d[i];
      const srcs = frames.slice(1, k + 1);
      expect(Buffer.compare(pages.xorOf(srcs), expected)).toBe(0);
      pages.xor(frames[0], srcs);
      expect(Buffer.compare(pages.read(frames[0]), expected)).toBe(0);
      pages.xorInto(frames[0], frames[1]);
      for (let i = 0; i < PAGE; i++) expected[i] ^= data[1][i];
      expect(Buffer.compare(pages.read(frames[0]), expected)).toBe(0);
    }), { numRuns: 40 });
    expect(() => pages.xor(frames[0], [frames[0]])).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
    pages.free(frames[16]);
    expect(() => pages.read(frames[16])).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("is free") }));
  });
});
