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
