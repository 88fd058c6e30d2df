// The swap-in kernel (assembly/swap-in.ts, PageStates.bringBackVerified)
// against its TypeScript reference (test/reference/swap-in.ts: a hash and
// a bringBack per page) on twin hosts with the same history: pages
// written, some swapped out, some of the bytes handed back corrupted (one
// flipped bit), sometimes too few free frames for all of them. Flags,
// every page's state and every resident page's bytes must agree; a bad
// list is refused before anything changes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, ErrorCode, xxh3Hash64, type Vm } from "../src/index.js";
import { thrownCode } from "./helpers.js";
import { bringBackVerifiedRef } from "./reference/swap-in.js";

const PAGES = 48;

interface Case {
  swapped: number[];
  list: number[];
  flips: { at: number; bit: number }[];
  freeFrames: number | null;
}

const caseArb: fc.Arbitrary<Case> = fc.uniqueArray(fc.nat(PAGES - 1), { minLength: 1, maxLength: PAGES }).chain((swapped) => fc.record({
  swapped: fc.constant(swapped),
  list: fc.shuffledSubarray(swapped),
  flips: fc.array(fc.record({ at: fc.nat(swapped.length * 4096 - 1), bit: fc.nat(7) }), { maxLength: 4 }),
  freeFrames: fc.option(fc.nat(6), { nil: null }),
}));

/** A host with the guest of `c` (every page written, then `c.swapped` swapped out, slot = pfn) and a hog VM leaving `c.freeFrames` free. */
function twin(c: Case): { vm: Vm; saved: Map<number, Uint8Array> } {
  const host = createHost({ memoryMiB: 1 });
  const vm = host.createVm({ pages: PAGES });
  const bytes = new Uint8Array(PAGES * 4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 12) * 7) & 0xff;
  vm.writePages(0, bytes);
  const saved = new Map<number, Uint8Array>();
  for (const pfn of c.swapped) {
    saved.set(pfn, vm.readPages(pfn, 1));
    vm.states.swapOut(pfn, pfn);
  }
  if (c.freeFrames !== null) {
    const hog = host.createVm({ pages: host.maxFrames });
    const bulk = host.maxFrames - host.stats().usedFrames - c.freeFrames - 8;
    if (bulk > 0) hog.writePages(0, new Uint8Array(bulk * 4096).fill(7));
    for (let pfn = Math.max(0, bulk); host.maxFrames - host.stats().usedFrames > c.freeFrames; pfn++) hog.writePages(pfn, new Uint8Array(4096).fill(7));
  }
  return { vm, saved };
}

function resident(vm: Vm): string[] {
  return Array.from({ length: PAGES }, (_, pfn) => {
    const kind = vm.states.of(pfn).kind;
    return kind === "present" ? `${pfn} ${kind} ${xxh3Hash64(vm.readPages(pfn, 1))}` : `${pfn} ${kind}`;
  });
}

describe("PageStates.bringBackVerified against a hash and a bringBack per page", () => {
  it("same flags, page states and bytes, with corrupted pages and too few frames", () => {
    fc.assert(fc.property(caseArb, (c) => {
      const a = twin(c);
      const b = twin(c);
      const hashes = c.list.map((pfn) => xxh3Hash64(a.saved.get(pfn)!));
      const given = new Uint8Array(c.list.length * 4096);
      c.list.forEach((pfn, i) => given.set(a.saved.get(pfn)!, i * 4096));
      for (const f of c.flips) if (f.at < given.length) given[f.at] ^= 1 << f.bit;
      const flags = a.vm.states.bringBackVerified(c.list, hashes, (into) => into.set(given));
      const ref = bringBackVerifiedRef(b.vm, c.list, hashes, given);
      expect(Array.from(flags)).toEqual(Array.from(ref));
      expect(resident(a.vm)).toEqual(resident(b.vm));
      expect(a.vm.states.counts()).toEqual(b.vm.states.counts());
      // A corrupted page is never brought back; an intact one is unless frames ran out.
      c.list.forEach((pfn, i) => {
        const intact = xxh3Hash64(given.subarray(i * 4096, (i + 1) * 4096)) === hashes[i];
        if (!intact) expect(flags[i]).not.toBe(1);
        else if (c.freeFrames === null) expect([pfn, flags[i]]).toEqual([pfn, 1]);
      });
    }), { numRuns: 25 });
  });

  it("a list with a page twice, a page not swapped or past the guest, or hashes of another length is refused before anything changes", () => {
    const { vm, saved } = twin({ swapped: [1, 2, 3], list: [], flips: [], freeFrames: null });
    const hashes = [1, 2].map((pfn) => xxh3Hash64(saved.get(pfn)!));
    const fill = (into: Uint8Array): void => { into.set(saved.get(1)!, 0); into.set(saved.get(2)!, 4096); };
    const before = resident(vm);
    expect(thrownCode(() => vm.states.bringBackVerified([1, 1], hashes, fill))).toBe(ErrorCode.BadOption);
    expect(thrownCode(() => vm.states.bringBackVerified([1, 4], hashes, fill))).toBe(ErrorCode.PageState);
    expect(thrownCode(() => vm.states.bringBackVerified([1, PAGES], hashes, fill))).toBe(ErrorCode.BadOption);
    expect(thrownCode(() => vm.states.bringBackVerified([1, 2], hashes.slice(1), fill))).toBe(ErrorCode.Length);
    expect(resident(vm)).toEqual(before);
    expect(Array.from(vm.states.bringBackVerified([1, 2], hashes, fill))).toEqual([1, 1]);
    expect(Buffer.compare(vm.readPages(1, 2), Buffer.concat([saved.get(1)!, saved.get(2)!]))).toBe(0);
  });

  it("stops at the first page that finds no free frame: it and the rest stay swapped, flagged 2", () => {
    const { vm, saved } = twin({ swapped: [5, 6, 7], list: [], flips: [], freeFrames: 1 });
    const list = [5, 6, 7];
    const flags = vm.states.bringBackVerified(list, list.map((pfn) => xxh3Hash64(saved.get(pfn)!)), (into) => list.forEach((pfn, i) => into.set(saved.get(pfn)!, i * 4096)));
    expect(Array.from(flags)).toEqual([1, 2, 2]);
    expect(list.map((pfn) => vm.states.of(pfn))).toEqual([{ kind: "present", hfn: expect.any(Number) }, { kind: "swapped", slot: 6 }, { kind: "swapped", slot: 7 }]);
    expect(Buffer.compare(vm.readPages(5, 1), saved.get(5)!)).toBe(0);
  });
});
