// Kernel scratch is leased, not shared by convention (src/wasm/scratch.ts).
// What this file proves:
// - ScratchStack: leases start on 64-byte boundaries, lie inside the region
//   and never overlap; each lies above every lease held (stack order);
//   releasing restores exactly the room taken; a release out of order is a
//   typed error that changes nothing; exhaustion is a typed error naming the
//   bytes asked for and free; with() releases on return and on throw.
// - Through a host: a fault handler's nested vm.run gets a lease above the
//   outer batch's (depth 2 while it runs), and every lease is returned.
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { createHost, FaultReason } from "../src/index.js";
import { ScratchStack, type ScratchLease } from "../src/wasm/scratch.js";
import { thrownCode } from "./helpers.js";

const ALIGN = 64;
const PAGE = 4096;

describe("ScratchStack", () => {
  it("random lease sizes: aligned, inside the region, disjoint, each above the last; releasing in order gives all the room back", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 64, max: 1 << 16 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 40 }),
        (base, capacityBytes, sizes) => {
          const stack = new ScratchStack(base, capacityBytes);
          const held: ScratchLease[] = [];
          for (const bytes of sizes) {
            const top = held.length > 0 ? held[held.length - 1].ptr + held[held.length - 1].bytes : base;
            const ptr = Math.ceil(top / ALIGN) * ALIGN;
            if (ptr + bytes > base + capacityBytes) {
              expect(thrownCode(() => stack.lease(bytes, "test"))).toBe("ERR_LENGTH");
              expect(stack.depth).toBe(held.length);
              continue;
            }
            const lease = stack.lease(bytes, "test");
            expect(lease).toEqual({ ptr, bytes });
            expect(lease.ptr % ALIGN).toBe(0);
            expect(lease.ptr).toBeGreaterThanOrEqual(top);
            expect(lease.ptr + lease.bytes).toBeLessThanOrEqual(base + capacityBytes);
            expect(Object.isFrozen(lease)).toBe(true);
            held.push(lease);
            expect(stack.depth).toBe(held.length);
            expect(stack.freeBytes).toBe(base + capacityBytes - (lease.ptr + lease.bytes));
          }
          while (held.length > 0) {
            stack.release(held.pop() as ScratchLease);
            const top = held.length > 0 ? held[held.length - 1].ptr + held[held.length - 1].bytes : base;
            expect(stack.freeBytes).toBe(base + capacityBytes - top);
          }
          expect(stack.freeBytes).toBe(capacityBytes);
          expect(stack.depth).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a release out of order (or twice) is a typed error naming the lease, and changes nothing", () => {
    const stack = new ScratchStack(0, 4096);
    const a = stack.lease(100, "a");
    const b = stack.lease(100, "b");
    expect(() => stack.release(a)).toThrow(expect.objectContaining({ code: "ERR_WASM_ABORT", message: expect.stringMatching(/lease at 0 released out of order .*at 128/) }));
    expect(stack.depth).toBe(2);
    expect(stack.freeBytes).toBe(4096 - 228);
    stack.release(b);
    expect(() => stack.release(b)).toThrow(expect.objectContaining({ code: "ERR_WASM_ABORT", message: expect.stringContaining("lease at 128") }));
    expect(stack.depth).toBe(1);
    stack.release(a);
    expect(() => stack.release(a)).toThrow(expect.objectContaining({ code: "ERR_WASM_ABORT", message: expect.stringContaining("none") }));
    expect(stack.freeBytes).toBe(4096);
    const copy = { ptr: 0, bytes: 10 };
    stack.lease(10, "c");
    expect(thrownCode(() => stack.release(copy))).toBe("ERR_WASM_ABORT");
  });

  it("exhaustion is ERR_LENGTH naming what was asked, what is free and what is held; nothing is taken", () => {
    const stack = new ScratchStack(0, 1000);
    stack.lease(600, "outer batch");
    let caught: unknown;
    try {
      stack.lease(400, "nested batch");
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: "ERR_LENGTH", details: { bytes: 400, free: 400, depth: 1 } });
    expect((caught as Error).message).toMatch(/^nested batch: 400 bytes of kernel scratch asked for, 400 of 1000 free \(1 leases held/);
    expect(stack.depth).toBe(1);
    expect(stack.freeBytes).toBe(400);
    // 400 bytes are free, but the next lease starts at the 64-byte boundary 640: 360 fit.
    expect(thrownCode(() => stack.lease(361, "one too many"))).toBe("ERR_LENGTH");
    expect(stack.lease(360, "fits after alignment")).toEqual({ ptr: 640, bytes: 360 });
    expect(stack.freeBytes).toBe(0);
    expect(stack.depth).toBe(2);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("a lease of %s bytes is ERR_LENGTH naming it", (bytes) => {
    const stack = new ScratchStack(0, 1024);
    expect(() => stack.lease(bytes, "what")).toThrow(expect.objectContaining({ code: "ERR_LENGTH", message: expect.stringContaining(`what: a scratch lease of ${bytes} bytes`) }));
    expect(stack.depth).toBe(0);
  });

  it("with() gives nested calls disjoint room and releases on return and on throw", () => {
    const stack = new ScratchStack(64, 8192);
    const seen: number[] = [];
    const result = stack.with(100, "outer", (outer) => {
      seen.push(outer);
      stack.with(50, "inner", (inner) => { seen.push(inner); });
      expect(stack.depth).toBe(1);
      return "done";
    });
    expect(result).toBe("done");
    expect(seen).toEqual([64, 192]);
    expect(stack.depth).toBe(0);
    const held = stack.lease(8, "held");
    expect(() => stack.with(10, "throws", () => { throw new Error("boom"); })).toThrow("boom");
    expect(stack.depth).toBe(1);
    expect(stack.freeBytes).toBe(64 + 8192 - (held.ptr + 8));
    stack.release(held);
    expect(stack.freeBytes).toBe(8192);
  });
});

describe("scratch through a host", () => {
  it("a fault handler's nested vm.run gets a lease above the outer batch's; all are returned", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    const k = host.kernels;
    vm.write(PAGE, new Uint8Array(8));
    vm.states.trace(1);
    const leases: ScratchLease[] = [];
    const lease = k.scratch.lease.bind(k.scratch);
    const spy = vi.spyOn(k.scratch, "lease").mockImplementation((bytes, what) => {
      const l = lease(bytes, what);
      leases.push(l);
      return l;
    });
    const depths: Record<string, number> = {};
    vm.onFault(FaultReason.NotPresent, (f) => {
      depths[`not-present ${f.pfn}`] = k.scratch.depth;
      return "pass";
    });
    vm.onFault(FaultReason.Traced, (f) => {
      depths[`traced ${f.pfn}`] = k.scratch.depth;
      vm.run([{ op: "write", gpa: 2 * PAGE }, { op: "write", gpa: 3 * PAGE }, { op: "read", gpa: 4 * PAGE }]);
      vm.states.untrace(f.pfn);
      return "retry";
    });
    vm.run([{ op: "read", gpa: 5 * PAGE }, { op: "read", gpa: PAGE }]);
    spy.mockRestore();
    expect(depths).toEqual({ "not-present 5": 1, "traced 1": 1, "not-present 2": 2, "not-present 3": 2, "not-present 4": 2 });
    expect(leases.map((l) => l.bytes)).toEqual([2 * 16, 3 * 16]);
    const [outer, nested] = leases;
    expect(nested.ptr).toBeGreaterThanOrEqual(outer.ptr + outer.bytes);
    expect(nested.ptr % ALIGN).toBe(0);
    expect(k.scratch.depth).toBe(0);
    expect(k.scratch.freeBytes).toBe(k.scratch.capacityBytes);
    expect(vm.counters).toMatchObject({ accesses: 5, writes: 2 });
  });
});
