// The MMU, the fault handlers for first touch and copy-on-write, and the
// dirty/accessed harvests against a plain TypeScript model of guest memory.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, PageBitmap } from "../src/index.js";
import { GuestModel, type ModelAccess } from "./reference/mmu.js";

const PAGE_COUNTS = [1, 63, 64, 65, 511, 512, 513];

function accessArb(pages: number): fc.Arbitrary<ModelAccess> {
  return fc
    .record({
      op: fc.constantFrom<"read" | "write">("read", "write"),
      pfn: fc.nat(pages - 1),
      offset: fc.nat(4095),
      length: fc.oneof(fc.constantFrom(1, 7, 8, 64, 4096), fc.integer({ min: 1, max: 4096 })),
      seed: fc.nat(),
    })
    .map(({ op, pfn, offset, length, seed }) => {
      const off = Math.min(offset, 4096 - length);
      return { op, gpa: pfn * 4096 + off, length, seed };
    });
}

describe("MMU against the guest-memory model", () => {
  it.each(PAGE_COUNTS)("memory, dirty and accessed bits agree for a %i-page guest", (pages) => {
    fc.assert(
      fc.property(fc.array(fc.array(accessArb(pages), { maxLength: 40 }), { minLength: 1, maxLength: 4 }), (rounds) => {
        const host = createHost({ memoryMiB: 16 });
        const vm = host.createVm({ pages });
        const model = new GuestModel(pages);
        for (const batch of rounds) {
          vm.run(batch);
          batch.forEach((a) => model.apply(a));
          expect(vm.harvestDirty().toArray()).toEqual(model.harvestDirty());
          expect(vm.harvestAccessed().toArray()).toEqual(model.harvestAccessed());
        }
        expect(vm.harvestDirty().count()).toBe(0);
        const all = vm.read(0, pages * 4096);
        expect(Buffer.compare(all, model.read(0, pages * 4096))).toBe(0);
      }),
      { numRuns: 25 },
    );
  });

  it("agrees with the model when accesses alternate between the GiBs of a 3 GiB guest (the run keeps the last GiB's page directory)", () => {
    const GIB_PAGES = 262_144;
    const pfnArb = fc.tuple(fc.constantFrom(0, 1, 2), fc.integer({ min: -3, max: 3 })).map(([gib, d]) => Math.min(3 * GIB_PAGES - 1, Math.max(0, gib * GIB_PAGES + d)));
    const access = fc.record({ op: fc.constantFrom<"read" | "write">("read", "write"), pfn: pfnArb, offset: fc.nat(4088), seed: fc.nat() })
      .map(({ op, pfn, offset, seed }): ModelAccess => ({ op, gpa: pfn * 4096 + offset, length: 8, seed }));
    fc.assert(
      fc.property(fc.array(fc.array(access, { maxLength: 40 }), { minLength: 1, maxLength: 3 }), (rounds) => {
        const host = createHost({ memoryMiB: 16 });
        const vm = host.createVm({ pages: 3 * GIB_PAGES });
        const model = new GuestModel(3 * GIB_PAGES);
        for (const batch of rounds) {
          vm.run(batch);
          batch.forEach((a) => model.apply(a));
          expect(vm.harvestDirty().toArray()).toEqual(model.harvestDirty());
          expect(vm.harvestAccessed().toArray()).toEqual(model.harvestAccessed());
        }
        for (const pfn of new Set(rounds.flat().map((a) => Math.floor(a.gpa / 4096)))) {
          expect(Buffer.compare(vm.read(pfn * 4096, 4096), model.read(pfn * 4096, 4096))).toBe(0);
        }
      }),
      { numRuns: 25 },
    );
  });

  it("counts accesses and writes, and faults once per first touch", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 8 });
    vm.run([
      { op: "read", gpa: 0 },
      { op: "write", gpa: 4096 },
      { op: "write", gpa: 8 },
      { op: "write", gpa: 4104 },
    ]);
    expect(vm.counters.accesses).toBe(4);
    expect(vm.counters.writes).toBe(3);
    expect(vm.counters.faults["not-present"]).toBe(2);
    expect(vm.counters.faults.cow).toBe(1);
  });
});

describe("zero frame and copy-on-write", () => {
  it("a read maps the shared zero frame read-only; the first write gives a private frame", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    expect(vm.pte(2)).toBe(0n);
    vm.run([{ op: "read", gpa: 2 * 4096 }]);
    const shared = vm.pteInfo(2);
    expect(shared).toMatchObject({ present: true, writable: false, cow: true, accessed: true, dirty: false, hfn: 0 });
    expect(host.frameInfo(0).flags).toContain("zero");
    vm.run([{ op: "write", gpa: 2 * 4096 + 16, length: 8, seed: 5 }]);
    const priv = vm.pteInfo(2);
    expect(priv).toMatchObject({ present: true, writable: true, cow: false, accessed: true, dirty: true });
    expect(priv.hfn).toBeGreaterThan(0);
    expect(host.frameInfo(priv.hfn)).toMatchObject({ owner: vm.id, gfn: 2, flags: [] });
    expect(Buffer.compare(vm.read(2 * 4096, 16), new Uint8Array(16))).toBe(0);
    expect(host.kernels.pages.isZero(host.kernels.frames.addr(0), 4096)).toBe(true);
  });

  it("vm.write marks pages dirty and accessed, and reads back", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7 + 3) & 255);
    vm.write(4000, data);
    expect(Buffer.compare(vm.read(4000, 5000), data)).toBe(0);
    expect(vm.harvestDirty().toArray()).toEqual([0, 1, 2]);
    expect(vm.harvestAccessed().toArray()).toEqual([0, 1, 2]);
  });
});

describe("write-protect and trace", () => {
  it("write-protected pages fault as write-protect; the handler unprotects and the write completes", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 16 });
    vm.write(0, new Uint8Array(16 * 4096).fill(1));
    vm.harvestDirty();
    const wp = PageBitmap.of(16, [3, 9]);
    expect(vm.writeProtect(wp)).toBe(2);
    const seen: number[] = [];
    host.onFault(2, (f) => {
      seen.push(f.pfn);
      expect(f.write).toBe(true);
      vm.unprotect(PageBitmap.of(16, [f.pfn]));
      return "retry";
    });
    vm.run([{ op: "write", gpa: 9 * 4096 + 8 }, { op: "read", gpa: 3 * 4096 }, { op: "write", gpa: 4 * 4096 }]);
    expect(seen).toEqual([9]);
    expect(vm.pteInfo(9)).toMatchObject({ writable: true, writeProtected: false, dirty: true });
    expect(vm.pteInfo(3)).toMatchObject({ writable: false, writeProtected: true });
    expect(vm.harvestDirty().toArray()).toEqual([4, 9]);
  });

  it("traced pages fault on any access until untraced", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 8 });
    vm.write(0, new Uint8Array(8 * 4096).fill(2));
    expect(vm.trace(PageBitmap.of(8, [5]))).toBe(1);
    const hits: Array<[number, boolean]> = [];
    host.onFault(5, (f) => {
      hits.push([f.pfn, f.write]);
      vm.untrace(PageBitmap.of(8, [f.pfn]));
      return "retry";
    });
    vm.run([{ op: "read", gpa: 5 * 4096 }, { op: "write", gpa: 5 * 4096 }]);
    expect(hits).toEqual([[5, false]]);
    expect(vm.pteInfo(5)).toMatchObject({ present: true, writable: true, traced: false });
  });

  it("a skip drops the access; an unhandled reason and a handler that fixes nothing are typed errors", () => {
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    vm.write(0, new Uint8Array(4096).fill(9));
    vm.trace(PageBitmap.of(4, [0]));
    expect(() => vm.run([{ op: "read", gpa: 0x10 }])).toThrow(expect.objectContaining({ code: "ERR_UNHANDLED_FAULT", message: expect.stringContaining("0x10") }));
    host.onFault(5, () => "retry");
    expect(() => vm.run([{ op: "read", gpa: 0x20 }])).toThrow(expect.objectContaining({ code: "ERR_FAULT_LOOP" }));
    host.onFault(5, () => "skip");
    vm.run([{ op: "write", gpa: 0x30, seed: 1 }]);
    expect(vm.counters.skipped).toBe(1);
    vm.untrace(PageBitmap.of(4, [0]));
    expect(Buffer.compare(vm.read(0, 4096), new Uint8Array(4096).fill(9))).toBe(0);
  });
});
