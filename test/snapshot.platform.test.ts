// The two page-state moves the snapshot technique added to the platform:
// placeElsewhere (an untouched page whose contents live in a file from the
// start, what a lazy restore does) and receivePoisoned (a page restored
// poisoned, with no frame). Each is checked against the states it applies
// to, the frames and counts it leaves, and the page hook that brings the
// page back.
import { describe, expect, it } from "vitest";
import { createHost, FaultReason, type Vm } from "../src/index.js";
import { thrownCode } from "./helpers.js";

function guest(): Vm {
  return createHost({ memoryMiB: 8 }).createVm({ pages: 64 });
}

describe("placeElsewhere", () => {
  it("moves an unpopulated and a zero-mapped page elsewhere without taking a frame; the location is kept", () => {
    const vm = guest();
    vm.read(5 * 4096, 1); // zero-mapped through the guest? a hypervisor read maps nothing: page 5 stays unpopulated
    vm.run([{ gpa: 6 * 4096, op: "read" }]); // the guest's read maps the zero frame
    expect(vm.states.of(5).kind).toBe("unpopulated");
    expect(vm.states.of(6).kind).toBe("zero-mapped");
    const framesBefore = vm.host.stats().usedFrames;
    vm.states.placeElsewhere(5, 12345);
    vm.states.placeElsewhere(6, 2 ** 40 - 1);
    expect(vm.states.of(5)).toEqual({ kind: "elsewhere", location: 12345 });
    expect(vm.states.of(6)).toEqual({ kind: "elsewhere", location: 2 ** 40 - 1 });
    expect(vm.states.counts()).toMatchObject({ elsewherePages: 2, privateFrames: 0 });
    // Page 5's leaf table already existed (page 6 shares it): no frame was taken.
    expect(vm.host.stats().usedFrames).toBe(framesBefore);
  });

  it("refuses a page that has a frame or another state, changing nothing", () => {
    const vm = guest();
    vm.write(0, new Uint8Array(4096).fill(1));
    vm.write(4096, new Uint8Array(4096).fill(2));
    vm.states.moveElsewhere(1, 7);
    vm.write(2 * 4096, new Uint8Array(4096).fill(3));
    vm.states.trace(2);
    vm.states.balloon(3);
    for (const pfn of [0, 1, 2, 3]) {
      const before = vm.pte(pfn);
      expect(thrownCode(() => vm.states.placeElsewhere(pfn, 9))).toBe("ERR_PAGE_STATE");
      expect(vm.pte(pfn)).toBe(before);
    }
    expect(thrownCode(() => vm.states.placeElsewhere(4, 2 ** 40))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => vm.states.placeElsewhere(64, 1))).toBe("ERR_BAD_OPTION");
  });

  it("a guest access and a hypervisor read both reach the VM's elsewhere handler, which brings the bytes back", () => {
    const vm = guest();
    const bytes = new Uint8Array(4096).map((_, i) => i * 7);
    vm.states.placeElsewhere(9, 900);
    const seen: Array<[string, number]> = [];
    vm.onFault(FaultReason.Elsewhere, (f) => {
      const state = vm.states.of(f.pfn);
      if (state.kind !== "elsewhere") return "pass";
      seen.push([f.by, state.location]);
      vm.states.bringBack(f.pfn, bytes);
      return "retry";
    });
    expect(vm.read(9 * 4096, 4096)).toEqual(bytes);
    expect(seen).toEqual([["hypervisor", 900]]);
    vm.states.moveElsewhere(9, 901);
    vm.run([{ gpa: 9 * 4096 + 8, op: "write", seed: 3 }]);
    expect(seen).toEqual([["hypervisor", 900], ["guest", 901]]);
    expect(vm.states.counts()).toMatchObject({ elsewherePages: 0, privateFrames: 1 });
  });
});

describe("receivePoisoned", () => {
  it("poisons an unpopulated page with no frame, and a present one freeing its frame", () => {
    const vm = guest();
    vm.write(4096, new Uint8Array(4096).fill(9));
    const used = vm.host.stats().usedFrames;
    vm.states.receivePoisoned(1);
    vm.states.receivePoisoned(2);
    expect(vm.states.of(1)).toEqual({ kind: "poisoned", hfn: 0, latent: false });
    expect(vm.states.of(2)).toEqual({ kind: "poisoned", hfn: 0, latent: false });
    expect(vm.states.counts()).toMatchObject({ poisonedPages: 2, privateFrames: 0 });
    expect(vm.host.stats().usedFrames).toBe(used - 1);
    expect(thrownCode(() => vm.read(4096, 1))).toBe("ERR_MEMORY_POISONED");
  });

  it("refuses a traced, swapped, elsewhere or ballooned page", () => {
    const vm = guest();
    vm.write(0, new Uint8Array(2 * 4096).fill(1));
    vm.states.trace(0);
    vm.states.swapOut(1, 3);
    vm.states.placeElsewhere(2, 4);
    vm.states.balloon(3);
    for (const pfn of [0, 1, 2, 3]) expect(thrownCode(() => vm.states.receivePoisoned(pfn))).toBe("ERR_PAGE_STATE");
  });
});
