// The gather kernel (assembly/gather.ts, through Vm.gatherPages) against
// its TypeScript reference (test/reference/gather.ts: each listed page
// through vm.read), on twin guests with the same history: untouched,
// zero-mapped, written, traced pages and pages living elsewhere, lists in
// any order with repeats and longer than one kernel batch. Bytes, zero
// flags, page states and A bits must agree; a bad list is refused before
// anything is copied.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, FaultReason, type Vm } from "../src/index.js";
import { thrownCode } from "./helpers.js";
import { gatherPagesRef } from "./reference/gather.js";

const PAGES = 96;

type Setup = { kind: "write" | "read" | "trace" | "elsewhere" | "balloon"; pfn: number; seed: number };

const setupArb: fc.Arbitrary<Setup> = fc.record({
  kind: fc.constantFrom("write" as const, "read" as const, "trace" as const, "elsewhere" as const, "balloon" as const),
  pfn: fc.nat(PAGES - 1),
  seed: fc.nat(),
});

/** A guest with `steps` applied, and a handler that brings elsewhere pages back from a store. */
function guest(steps: readonly Setup[]): Vm {
  const vm = createHost({ memoryMiB: 4 }).createVm({ pages: PAGES });
  const store = new Map<number, Uint8Array>();
  vm.onFault(FaultReason.Elsewhere, (f) => {
    vm.states.bringBack(f.pfn, store.get(f.pfn)!);
    return "retry";
  });
  for (const s of steps) {
    const state = vm.states.of(s.pfn).kind;
    const ordinary = state === "unpopulated" || state === "zero-mapped" || state === "present";
    if (s.kind === "write" && ordinary) vm.run([{ op: "write", gpa: s.pfn * 4096 + (s.seed % 64) * 64, length: 64, seed: s.seed }]);
    else if (s.kind === "read" && ordinary) vm.run([{ op: "read", gpa: s.pfn * 4096 }]);
    else if (s.kind === "trace" && (state === "zero-mapped" || state === "present")) vm.states.trace(s.pfn);
    else if (s.kind === "elsewhere" && state === "present") {
      store.set(s.pfn, vm.read(s.pfn * 4096, 4096));
      vm.states.moveElsewhere(s.pfn, s.pfn);
    } else if (s.kind === "balloon" && ordinary) vm.states.balloon(s.pfn);
  }
  vm.harvestDirty();
  vm.harvestAccessed();
  return vm;
}

function states(vm: Vm): string[] {
  return Array.from({ length: PAGES }, (_, pfn) => vm.states.of(pfn).kind);
}

describe("Vm.gatherPages against one vm.read per listed page", () => {
  it("same bytes and zero flags, or the same error for a ballooned page; elsewhere pages come back through the hook", () => {
    fc.assert(fc.property(fc.array(setupArb, { maxLength: 120 }), fc.array(fc.nat(PAGES - 1), { maxLength: 200 }), (steps, pfns) => {
      const a = guest(steps);
      const b = guest(steps);
      const codeA = thrownCode(() => a.gatherPages(pfns));
      const codeB = thrownCode(() => gatherPagesRef(b, pfns));
      expect(codeA).toBe(codeB);
      if (codeA !== "none") return;
      const zeroFlags = new Uint8Array(pfns.length).fill(7);
      const bytes = a.gatherPages(Uint32Array.from(pfns), undefined, zeroFlags);
      const ref = gatherPagesRef(b, pfns);
      expect(Buffer.compare(bytes, ref.bytes)).toBe(0);
      expect(Array.from(zeroFlags)).toEqual(Array.from(ref.zeroFlags));
      expect(states(a)).toEqual(states(b));
      expect(a.harvestAccessed().count()).toBe(0); // a hypervisor read marks nothing
    }), { numRuns: 30 });
  });

  it("a list longer than one kernel batch (1024 pages), in reverse order, with the zero frame and private pages mixed", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ pages: 3000 });
    for (let pfn = 0; pfn < 3000; pfn += 3) vm.write(pfn * 4096 + (pfn % 4000), Uint8Array.of(pfn & 0xff, 1 + (pfn >> 8)));
    const pfns = Array.from({ length: 2600 }, (_, i) => 2999 - i);
    const zeroFlags = new Uint8Array(pfns.length);
    const bytes = vm.gatherPages(pfns, undefined, zeroFlags);
    const ref = gatherPagesRef(vm, pfns);
    expect(Buffer.compare(bytes, ref.bytes)).toBe(0);
    expect(Array.from(zeroFlags)).toEqual(Array.from(ref.zeroFlags));
    expect(zeroFlags.reduce((n, z) => n + z, 0)).toBe(pfns.filter((p) => p % 3 !== 0).length);
  });

  it("fills a caller's buffer and refuses a pfn past the guest, a fractional pfn and buffers too small, copying nothing", () => {
    const vm = guest([{ kind: "write", pfn: 3, seed: 9 }]);
    const out = new Uint8Array(3 * 4096).fill(0xee);
    expect(vm.gatherPages([3, 3], out)).toBe(out);
    expect(Buffer.compare(out.subarray(0, 4096), vm.read(3 * 4096, 4096))).toBe(0);
    expect(Buffer.compare(out.subarray(4096, 8192), vm.read(3 * 4096, 4096))).toBe(0);
    expect(out[2 * 4096]).toBe(0xee);
    out.fill(0xee);
    expect(thrownCode(() => vm.gatherPages([3, PAGES], out))).toBe("ERR_GPA_RANGE");
    expect(thrownCode(() => vm.gatherPages([3, 1.5], out))).toBe("ERR_GPA_RANGE");
    expect(thrownCode(() => vm.gatherPages([3, -1], out))).toBe("ERR_GPA_RANGE");
    expect(out.every((b) => b === 0xee)).toBe(true);
    expect(thrownCode(() => vm.gatherPages([0, 1], new Uint8Array(4096)))).toBe("ERR_LENGTH");
    expect(thrownCode(() => vm.gatherPages([0, 1], undefined, new Uint8Array(1)))).toBe("ERR_LENGTH");
  });
});
