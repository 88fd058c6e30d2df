// The whole-page kernels (assembly/guest-pages.ts, through Vm.readPages and
// Vm.writePages) against their TypeScript reference (test/reference/
// guest-pages.ts: the same pages through vm.read and vm.write one by one),
// on twin guests with the same history: untouched, zero-mapped, written,
// traced pages and pages living elsewhere; bytes, A/D bits, page states
// and counts must agree, and a refused write must change nothing.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, FaultReason, guestDigest, type Vm } from "../src/index.js";
import { fingerprintRange } from "../src/stream/fingerprints.js";
import { thrownCode } from "./helpers.js";
import { readPagesRef, refusedPageRef, writePagesRef } from "./reference/guest-pages.js";

const PAGES = 96;

type Setup =
  | { kind: "write"; pfn: number; seed: number }
  | { kind: "read"; pfn: number }
  | { kind: "trace"; pfn: number }
  | { kind: "elsewhere"; pfn: number }
  | { kind: "balloon"; pfn: number };

const setupArb: fc.Arbitrary<Setup> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), pfn: fc.nat(PAGES - 1), seed: fc.nat() }),
  fc.record({ kind: fc.constant("read" as const), pfn: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("trace" as const), pfn: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("elsewhere" as const), pfn: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("balloon" as const), pfn: fc.nat(PAGES - 1) }),
);

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
    if (s.kind === "write" && (state === "unpopulated" || state === "zero-mapped" || state === "present")) {
      vm.run([{ op: "write", gpa: s.pfn * 4096 + (s.seed % 64) * 64, length: 64, seed: s.seed }]);
    } else if (s.kind === "read" && (state === "unpopulated" || state === "zero-mapped" || state === "present")) {
      vm.run([{ op: "read", gpa: s.pfn * 4096 }]);
    } else if (s.kind === "trace" && (state === "zero-mapped" || state === "present")) {
      vm.states.trace(s.pfn);
    } else if (s.kind === "elsewhere" && state === "present") {
      store.set(s.pfn, vm.read(s.pfn * 4096, 4096));
      vm.states.moveElsewhere(s.pfn, s.pfn);
    } else if (s.kind === "balloon" && (state === "unpopulated" || state === "zero-mapped" || state === "present")) {
      vm.states.balloon(s.pfn);
    }
  }
  vm.harvestDirty();
  vm.harvestAccessed();
  return vm;
}

const rangeArb = fc.nat(PAGES - 1).chain((first) => fc.record({ first: fc.constant(first), count: fc.integer({ min: 1, max: PAGES - first }) }));

function states(vm: Vm): string[] {
  return Array.from({ length: PAGES }, (_, pfn) => vm.states.of(pfn).kind);
}

describe("Vm.readPages against one vm.read per page", () => {
  it("same bytes, or the same error for a ballooned page; elsewhere pages come back through the hook", () => {
    fc.assert(fc.property(fc.array(setupArb, { maxLength: 120 }), rangeArb, (steps, { first, count }) => {
      const a = guest(steps);
      const b = guest(steps);
      const codeA = thrownCode(() => a.readPages(first, count));
      const codeB = thrownCode(() => readPagesRef(b, first, count));
      expect(codeA).toBe(codeB);
      if (codeA !== "none") return;
      expect(Buffer.compare(a.readPages(first, count), readPagesRef(b, first, count))).toBe(0);
      expect(states(a)).toEqual(states(b));
      expect(a.harvestAccessed().count()).toBe(0); // a hypervisor read marks nothing
    }), { numRuns: 25 });
  });

  it("fills a caller's buffer and refuses one too small", () => {
    const vm = guest([{ kind: "write", pfn: 3, seed: 9 }]);
    const out = new Uint8Array(5 * 4096).fill(0xee);
    expect(vm.readPages(1, 4, out)).toBe(out);
    expect(Buffer.compare(out.subarray(0, 4 * 4096), vm.read(4096, 4 * 4096))).toBe(0);
    expect(out[4 * 4096]).toBe(0xee);
    expect(thrownCode(() => vm.readPages(0, 2, new Uint8Array(4096)))).toBe("ERR_LENGTH");
    expect(thrownCode(() => vm.readPages(PAGES - 1, 2))).toBe("ERR_LENGTH");
    expect(thrownCode(() => vm.readPages(PAGES, 1))).toBe("ERR_GPA_RANGE");
  });
});

describe("Vm.writePages against one vm.write per page", () => {
  it("same memory, A/D bits, states and counts; a range with a page it refuses changes nothing", () => {
    fc.assert(fc.property(fc.array(setupArb, { maxLength: 120 }), rangeArb, fc.nat(), (steps, { first, count }, fill) => {
      const a = guest(steps);
      const b = guest(steps);
      const bytes = Uint8Array.from({ length: count * 4096 }, (_, i) => (i * 31 + fill) & 0xff);
      const refused = refusedPageRef(b, first, count);
      const statesBefore = states(a);
      const code = thrownCode(() => a.writePages(first, bytes));
      if (refused >= 0) {
        expect(code).toBe("ERR_PAGE_STATE");
        expect(() => a.writePages(first, bytes)).toThrow(expect.objectContaining({ details: expect.objectContaining({ pfn: refused }) }));
        expect(states(a)).toEqual(statesBefore);
        expect(a.harvestDirty().count()).toBe(0);
        expect(guestDigest(a)).toEqual(guestDigest(b));
        return;
      }
      expect(code).toBe("none");
      writePagesRef(b, first, bytes);
      expect(a.harvestDirty().toArray()).toEqual(b.harvestDirty().toArray());
      expect(a.harvestAccessed().toArray()).toEqual(b.harvestAccessed().toArray());
      expect(states(a)).toEqual(states(b));
      expect(a.states.counts()).toEqual(b.states.counts());
      expect(Buffer.compare(a.readPages(first, count), b.readPages(first, count))).toBe(0);
      expect(guestDigest(a)).toEqual(guestDigest(b));
    }), { numRuns: 25 });
  });

  it("a host without the frames for the pages and their tables refuses the write before changing anything", () => {
    const vm = createHost({ memoryMiB: 1 }).createVm({ pages: 4096 });
    const free = vm.host.maxFrames - vm.host.stats().usedFrames;
    const used = vm.host.stats().usedFrames;
    const bytes = new Uint8Array(free * 4096).fill(1); // the pages alone take every free frame: no room for their tables
    expect(thrownCode(() => vm.writePages(0, bytes))).toBe("ERR_OUT_OF_FRAMES");
    expect(vm.host.stats().usedFrames).toBe(used);
    expect(vm.states.of(0).kind).toBe("unpopulated");
    vm.writePages(0, bytes.subarray(0, (free - 3) * 4096)); // one leaf table, a PD and a PDPT fit
    expect(vm.host.stats().usedFrames).toBe(vm.host.maxFrames);
  });

  it("gives each page's fingerprint (what verification computes) as it writes, and fillPages writes what writePages does", () => {
    fc.assert(fc.property(rangeArb, fc.nat(), (range, fill) => {
      const { first, count } = range;
      const bytes = Uint8Array.from({ length: count * 4096 }, (_, i) => (i * 13 + fill + (i >> 12)) & 0xff);
      const a = guest([]);
      const b = guest([]);
      const fingerprints = new BigUint64Array(count);
      a.writePages(first, bytes, fingerprints);
      b.fillPages(first, count, (into, pfn) => into.set(bytes.subarray((pfn - first) * 4096, (pfn - first) * 4096 + into.length)));
      expect(fingerprints).toEqual(new BigUint64Array(fingerprintRange(a, first, count).bytes.buffer));
      expect(guestDigest(a)).toEqual(guestDigest(b));
      expect(a.harvestDirty().toArray()).toEqual(b.harvestDirty().toArray());
    }), { numRuns: 15 });
    const vm = guest([]);
    expect(thrownCode(() => vm.writePages(0, new Uint8Array(8192), new BigUint64Array(1)))).toBe("ERR_LENGTH");
  });

  it("refuses bytes that are not whole pages", () => {
    const vm = guest([]);
    expect(thrownCode(() => vm.writePages(0, new Uint8Array(100)))).toBe("ERR_PAGE_SIZE");
    expect(thrownCode(() => vm.writePages(PAGES - 1, new Uint8Array(8192)))).toBe("ERR_LENGTH");
  });
});
