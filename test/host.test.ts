// Hosts and VMs: option validation, bounds checks, growth of linear memory,
// exhaustion as a typed error, and guests larger than the host.
import { describe, expect, it } from "vitest";
import { createHost, HypermemError, MAX_GUEST_PAGES } from "../src/index.js";

const err = (code: string, text?: string | RegExp) =>
  expect.objectContaining({ code, ...(text ? { message: expect.stringMatching(text) } : {}) });

describe("createHost / createVm options", () => {
  it.each([0, -1, 4097, 1.5, Number.NaN, "64"])("memoryMiB %s is refused, naming the value", (v) => {
    expect(() => createHost({ memoryMiB: v as number })).toThrow(err("ERR_BAD_OPTION", String(v)));
  });
  it("unknown options are refused", () => {
    expect(() => createHost({ memoryMiB: 4, memoryMB: 4 } as never)).toThrow(err("ERR_UNKNOWN_OPTION", "memoryMB"));
    const host = createHost({ memoryMiB: 4 });
    expect(() => host.createVm({ memoryMiB: 1, huge: true } as never)).toThrow(err("ERR_UNKNOWN_OPTION", "huge"));
  });
  it("a guest bigger than addressable is ERR_GUEST_TOO_LARGE; partial pages and both sizes are refused", () => {
    const host = createHost({ memoryMiB: 4 });
    expect(() => host.createVm({ pages: MAX_GUEST_PAGES + 1 })).toThrow(err("ERR_GUEST_TOO_LARGE", String(MAX_GUEST_PAGES + 1)));
    expect(() => host.createVm({ memoryMiB: 2 * 1024 * 1024 })).toThrow(err("ERR_GUEST_TOO_LARGE"));
    expect(() => host.createVm({ memoryMiB: 0.001 })).toThrow(err("ERR_BAD_OPTION", "0.001"));
    expect(() => host.createVm({ memoryMiB: 1, pages: 256 })).toThrow(err("ERR_BAD_OPTION"));
    expect(host.stats().vms).toBe(0);
  });
});

describe("bounds checks", () => {
  const host = createHost({ memoryMiB: 4 });
  const vm = host.createVm({ pages: 4 });
  vm.write(0, new Uint8Array(16384).fill(0x5a));
  const before = vm.read(0, 16384);

  it.each([
    [-1, 1, "ERR_GPA_RANGE"],
    [16384, 1, "ERR_GPA_RANGE"],
    [1.5, 1, "ERR_GPA_RANGE"],
    [16000, 385, "ERR_LENGTH"],
    [0, -1, "ERR_LENGTH"],
  ])("read(%s, %s) is %s", (gpa, length, code) => {
    expect(() => vm.read(gpa, length)).toThrow(err(code, String(gpa === 16000 ? length : gpa)));
  });

  it("a write past the end changes nothing", () => {
    expect(() => vm.write(16380, new Uint8Array(8).fill(1))).toThrow(err("ERR_LENGTH", "16380"));
    expect(Buffer.compare(vm.read(0, 16384), before)).toBe(0);
  });

  it("an access past the guest, or crossing a page, is ERR_BAD_ACCESS naming the gpa", () => {
    expect(() => vm.run([{ op: "write", gpa: 16384 }])).toThrow(err("ERR_BAD_ACCESS", "0x4000"));
    expect(() => vm.run([{ op: "write", gpa: 4092, length: 8 }])).toThrow(err("ERR_BAD_ACCESS", "0xffc"));
    expect(() => vm.run([{ op: "read", gpa: 0, length: 0 }])).toThrow(err("ERR_BAD_ACCESS"));
    expect(Buffer.compare(vm.read(0, 16384), before)).toBe(0);
  });

  it("pte() of a pfn past the guest names the value", () => {
    expect(() => vm.pte(4)).toThrow(err("ERR_BAD_OPTION", "4"));
  });
});

describe("growth and exhaustion", () => {
  it("memory grows under objects created before it, which keep working", () => {
    const host = createHost({ memoryMiB: 256 });
    const vm = host.createVm({ memoryMiB: 128 });
    vm.write(12345, Uint8Array.of(1, 2, 3));
    const linearBefore = host.stats().linearMemoryBytes;
    const heapU8 = host.kernels.heap.u8;
    vm.run(Array.from({ length: 32768 }, (_, i) => ({ op: "write" as const, gpa: i * 4096 + 64, seed: i })));
    expect(host.stats().linearMemoryBytes).toBeGreaterThan(linearBefore + 100 * 2 ** 20);
    expect(heapU8.byteLength).toBe(0);
    expect([...vm.read(12345, 3)]).toEqual([1, 2, 3]);
    expect(vm.harvestDirty().count()).toBe(32768);
    expect(host.kernels.heap.u8.byteLength).toBe(host.stats().linearMemoryBytes);
  });

  it("running out of frames is ERR_OUT_OF_FRAMES; what was written stays intact and the host stays usable", () => {
    const host = createHost({ memoryMiB: 1 });
    const vm = host.createVm({ memoryMiB: 4 });
    let written = 0;
    const attempt = (): void => {
      for (; written < 1024; written++) vm.run([{ op: "write", gpa: written * 4096, seed: 7 }]);
    };
    expect(attempt).toThrow(err("ERR_OUT_OF_FRAMES"));
    expect(written).toBeGreaterThan(200);
    expect(host.stats().usedFrames).toBe(host.maxFrames);
    for (let p = 0; p < written; p += 37) expect(vm.read(p * 4096, 8)).not.toEqual(new Uint8Array(8));
    expect(() => vm.write(written * 4096, new Uint8Array(1))).toThrow(err("ERR_OUT_OF_FRAMES", "needs 1 new frames"));
    expect([...vm.read(written * 4096, 4)]).toEqual([0, 0, 0, 0]);
    vm.destroy();
    expect(host.stats().usedFrames).toBe(1);
    const again = host.createVm({ memoryMiB: 0.5 });
    again.write(0, Uint8Array.of(42));
    expect(again.read(0, 1)[0]).toBe(42);
  });

  it("a 16 GiB guest with 1 GiB touched runs on a 2 GiB host", () => {
    const host = createHost({ memoryMiB: 2048 });
    const vm = host.createVm({ memoryMiB: 16384 });
    const touched = 262144;
    const stride = Math.floor(vm.pages / touched);
    vm.run(Array.from({ length: touched }, (_, i) => ({ op: "write" as const, gpa: i * stride * 4096, seed: i })));
    const dirty = vm.harvestDirty();
    expect(dirty.count()).toBe(touched);
    expect(dirty.has(stride * 1000)).toBe(true);
    expect(host.stats().usedFrames).toBeLessThan(host.maxFrames);
    expect(host.stats().usedFrames).toBeGreaterThan(touched);
  });

  it("errors are HypermemError instances", () => {
    try {
      createHost({ memoryMiB: 0 });
    } catch (e) {
      expect(e).toBeInstanceOf(HypermemError);
    }
    expect.assertions(1);
  });
});

describe("contiguous buffers", () => {
  it("reuse runs of freed frames once never-used frames run out", () => {
    const host = createHost({ memoryMiB: 1 });
    const k = host.kernels;
    const used = host.stats().usedFrames;
    for (let i = 0; i < 50; i++) {
      const ptr = k.frames.allocBuffer(64 * 4096);
      expect(k.heap.u8.subarray(ptr, ptr + 64 * 4096).every((b) => b === 0)).toBe(true);
      k.heap.u8.fill(0xee, ptr, ptr + 64 * 4096);
      k.frames.freeBuffer(ptr, 64 * 4096);
    }
    expect(host.stats().usedFrames).toBe(used);
    const vm = host.createVm({ pages: 100 });
    vm.write(0, new Uint8Array(100 * 4096).fill(3));
    expect(vm.read(99 * 4096, 4096).every((b) => b === 3)).toBe(true);
    expect(() => k.frames.allocBuffer(host.maxFrames * 4096)).toThrow(expect.objectContaining({ code: "ERR_OUT_OF_FRAMES" }));
  });
});

describe("nothing half-written: vm.write and createHost", () => {
  /** A host whose free frames are exactly `free`, a VM with its first leaf table (pages 0..511) in place, and the filler that took the rest. */
  function hostWithFreeFrames(free: number): { host: ReturnType<typeof createHost>; vm: ReturnType<ReturnType<typeof createHost>["createVm"]> } {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 1024 });
    vm.write(0, Uint8Array.of(1)); // the upper levels and the leaf table of pages 0..511
    const filler = host.createVm({ pages: 4096 });
    for (let pfn = 0; host.maxFrames - host.stats().usedFrames > free; pfn++) filler.write(pfn * 4096, Uint8Array.of(1));
    expect(host.maxFrames - host.stats().usedFrames).toBe(free);
    return { host, vm };
  }

  it("a write across a page-table boundary counts the table it needs: at the exhaustion boundary it happens completely or not at all", () => {
    // Pages 511 and 512: two frames, and a new leaf table for page 512.
    const short = hostWithFreeFrames(2);
    expect(short.host.kernels.mmu.tablesNeeded(short.vm.slot, 511, 2)).toBe(1);
    const used = short.host.stats().usedFrames;
    const bytes = new Uint8Array(8192).fill(0x5a);
    expect(() => short.vm.write(511 * 4096, bytes)).toThrow(err("ERR_OUT_OF_FRAMES", "needs 3 new frames \\(pages and page tables\\), the host has 2"));
    expect(short.host.stats().usedFrames).toBe(used);
    expect(short.vm.read(511 * 4096, 8192).every((b) => b === 0)).toBe(true); // page 511 not written either
    expect(short.vm.pte(511)).toBe(0n);
    const enough = hostWithFreeFrames(3);
    enough.vm.write(511 * 4096, bytes);
    expect(enough.vm.read(511 * 4096, 8192).every((b) => b === 0x5a)).toBe(true);
    expect(enough.host.stats().usedFrames).toBe(enough.host.maxFrames);
  });

  it.each([
    ["a plain array", [1, 2, 3], "Array"],
    ["a Uint16Array", new Uint16Array([0x1234, 0x5678]), "Uint16Array"],
    ["a DataView", new DataView(new ArrayBuffer(4)), "DataView"],
    ["a string", "bytes", "string"],
    ["null", null, "null"],
  ])("vm.write refuses %s before touching the guest: no page populated, nothing dirty", (_, bytes, what) => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    vm.harvestDirty();
    const used = host.stats().usedFrames;
    expect(() => vm.write(0, bytes as unknown as Uint8Array)).toThrow(err("ERR_BAD_OPTION", `vm.write takes a Uint8Array of bytes, got ${what}`));
    expect(vm.pte(0)).toBe(0n);
    expect(host.stats().usedFrames).toBe(used);
    expect(vm.harvestDirty().count()).toBe(0);
  });

  it("vm.write takes a Buffer (a Uint8Array) as it is", () => {
    const vm = createHost({ memoryMiB: 4 }).createVm({ pages: 4 });
    vm.write(10, Buffer.from([7, 8, 9]));
    expect([...vm.read(10, 3)]).toEqual([7, 8, 9]);
  });

  it.each([[null], [undefined]])("createHost(%s) is a typed error naming what it wants", (options) => {
    expect(() => createHost(options as never)).toThrow(err("ERR_BAD_OPTION", `options must be an object such as \\{ memoryMiB: 1024 \\}, got ${String(options)}`));
  });
});
