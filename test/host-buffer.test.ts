// Host buffers (src/host/host-buffer.ts) and Vm.gatherPagesInto: a buffer
// in host frames is lent only while every guest could still be fully
// backed, its frames go back on free, and a gather into it copies exactly
// what Vm.gatherPages copies (fast-check over page lists).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost } from "../src/index.js";
import { HostBuffer } from "../src/host/host-buffer.js";
import { thrownHypermemError } from "./helpers.js";

describe("host buffers", () => {
  it("are lent while the guests stay backable, refused (null) when a guest could need the frames, and freed back", () => {
    const host = createHost({ memoryMiB: 16 }); // 4096 frames
    const vm = host.createVm({ pages: 2048 }); // untouched: may take 2048 frames and 8 table frames
    const used = host.stats().usedFrames;
    const lent = HostBuffer.tryAlloc(host, 1024 * 4096);
    expect(lent).not.toBeNull();
    expect(host.stats().usedFrames).toBe(used + 1024);
    expect(HostBuffer.tryAlloc(host, 1024 * 4096)).toBeNull(); // 1024 + 2048 + 8 > the 3072-odd left
    lent!.free();
    expect(host.stats().usedFrames).toBe(used);
    vm.write(0, Uint8Array.of(1));
    expect(lent!.freed).toBe(true);
    expect(thrownHypermemError(() => lent!.view(0, 1))?.code).toBe("ERR_PAGE_STATE");
    expect(thrownHypermemError(() => lent!.free())?.code).toBe("ERR_PAGE_STATE");
  });

  it("refuses views outside the buffer and absurd sizes, naming them", () => {
    const host = createHost({ memoryMiB: 8 });
    const buffer = HostBuffer.tryAlloc(host, 8192)!;
    expect(buffer.view(4096, 4096).length).toBe(4096);
    const outside = thrownHypermemError(() => buffer.view(4097, 4096));
    expect(outside?.code).toBe("ERR_LENGTH");
    expect(outside?.message).toContain("4097");
    expect(thrownHypermemError(() => buffer.view(-1, 1))?.code).toBe("ERR_LENGTH");
    expect(thrownHypermemError(() => HostBuffer.tryAlloc(host, 0))?.code).toBe("ERR_LENGTH");
    expect(thrownHypermemError(() => HostBuffer.tryAlloc(host, 1.5))?.message).toContain("1.5");
  });

  it("gatherPagesInto copies what gatherPages copies, zero flags included", () => {
    const host = createHost({ memoryMiB: 16 });
    const vm = host.createVm({ pages: 1024 });
    for (let pfn = 0; pfn < 1024; pfn += 3) vm.write(pfn * 4096 + (pfn % 4000), Uint8Array.of(pfn & 0xff, 0x5a));
    const buffer = HostBuffer.tryAlloc(host, 256 * 4096)!;
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1023 }), { minLength: 1, maxLength: 256 }), (pfns) => {
      const flagsA = new Uint8Array(pfns.length);
      const flagsB = new Uint8Array(pfns.length).fill(9);
      const expected = vm.gatherPages(pfns, undefined, flagsA);
      vm.gatherPagesInto(pfns, buffer, flagsB);
      expect(Buffer.compare(buffer.view(0, pfns.length * 4096), expected)).toBe(0);
      expect([...flagsB]).toEqual([...flagsA]);
      expect([...flagsB]).toEqual(pfns.map((pfn) => (pfn % 3 === 0 ? 0 : 1)));
    }), { numRuns: 60 });
  });

  it("gatherPagesInto refuses a buffer too small or freed, and a pfn past the guest, before copying anything", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 64 });
    vm.write(0, Uint8Array.of(7));
    const small = HostBuffer.tryAlloc(host, 4096)!;
    expect(thrownHypermemError(() => vm.gatherPagesInto([0, 1], small))?.code).toBe("ERR_LENGTH");
    expect(small.view(0, 1)[0]).toBe(0);
    expect(thrownHypermemError(() => vm.gatherPagesInto([64], small))?.message).toContain("pfn 64");
    small.free();
    expect(thrownHypermemError(() => vm.gatherPagesInto([0], small))?.message).toContain("freed");
  });
});

describe("host buffers, at their limits", () => {
  it("lend exactly the frames left once every guest page not backed yet (and a table frame per 256 pages) is set aside", () => {
    const host = createHost({ memoryMiB: 16 });
    const vm = host.createVm({ pages: 1024 });
    for (let pfn = 0; pfn < 100; pfn++) vm.write(pfn * 4096, Uint8Array.of(1)); // 100 pages backed, 924 not
    const s = host.stats();
    const room = s.maxFrames - s.usedFrames - (1024 - 100 + 4);
    expect(room).toBeGreaterThan(1000);
    expect(HostBuffer.tryAlloc(host, room * 4096 + 1)).toBeNull(); // one byte more is one frame more
    const all = HostBuffer.tryAlloc(host, room * 4096);
    expect(all).not.toBeNull();
    expect(host.stats().usedFrames).toBe(s.usedFrames + room);
    expect(HostBuffer.tryAlloc(host, 1)).toBeNull();
    all!.free();
    expect(host.stats().usedFrames).toBe(s.usedFrames);
  });

  it("return null, not an error, when the free frames are enough but no run of them is contiguous", () => {
    const host = createHost({ memoryMiB: 8 });
    const s = host.stats();
    const a = HostBuffer.tryAlloc(host, 4096)!;
    const b = HostBuffer.tryAlloc(host, 4096)!;
    const c = HostBuffer.tryAlloc(host, 4096)!;
    const rest = HostBuffer.tryAlloc(host, (s.maxFrames - s.usedFrames - 3) * 4096);
    expect(rest).not.toBeNull();
    expect(host.stats().usedFrames).toBe(s.maxFrames);
    a.free();
    c.free(); // two free frames with b between them
    expect(HostBuffer.tryAlloc(host, 2 * 4096)).toBeNull();
    const one = HostBuffer.tryAlloc(host, 4096);
    expect(one).not.toBeNull();
    expect(b.freed).toBe(false);
  });

  it("view(offset, length) is the bytes at that offset of the buffer, and an empty view is allowed", () => {
    const host = createHost({ memoryMiB: 8 });
    const buffer = HostBuffer.tryAlloc(host, 3 * 4096)!;
    const whole = buffer.view(0, 3 * 4096);
    for (let i = 0; i < whole.length; i++) whole[i] = (i * 7 + (i >> 12)) & 0xff;
    const part = buffer.view(4096 + 5, 10);
    expect([...part]).toEqual([...whole.subarray(4096 + 5, 4096 + 15)]);
    part[0] = 0xee;
    expect(buffer.view(4096 + 5, 1)[0]).toBe(0xee);
    expect(buffer.view(0, 0).length).toBe(0);
    expect(buffer.view(3 * 4096, 0).length).toBe(0);
  });

  it("refuses views at offsets or lengths that are not safe integers or are negative, naming them in the details", () => {
    const host = createHost({ memoryMiB: 8 });
    const buffer = HostBuffer.tryAlloc(host, 8192)!;
    for (const [offset, length] of [[1.5, 1], [0, 1.5], [Number.NaN, 1], [0, Number.NaN], [0, -1], [-1, 1], [8192, 1]]) {
      const e = thrownHypermemError(() => buffer.view(offset, length));
      expect(e?.code).toBe("ERR_LENGTH");
      expect(e?.details).toEqual({ offset, length });
    }
    const size = thrownHypermemError(() => HostBuffer.tryAlloc(host, -4096));
    expect(size?.code).toBe("ERR_LENGTH");
    expect(size?.message).toBe("a host buffer of -4096 bytes");
    expect(size?.details).toEqual({ bytes: -4096 });
  });

  it("a freed buffer's error names its address", () => {
    const host = createHost({ memoryMiB: 8 });
    const buffer = HostBuffer.tryAlloc(host, 4096)!;
    buffer.free();
    const e = thrownHypermemError(() => buffer.view(0, 1));
    expect(e?.code).toBe("ERR_PAGE_STATE");
    expect(e?.message).toBe(`the host buffer at ${buffer.ptr} was freed`);
    expect(e?.details).toEqual({ ptr: buffer.ptr });
  });
});
