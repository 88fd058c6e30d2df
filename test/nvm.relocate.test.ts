// The page-state move RELOCATE_ELSEWHERE (op 26, added for NVM tiers): an
// elsewhere page's location is rewritten in place, A and D kept, no frame or
// count touched; any other state is refused and left as it was.
import { describe, expect, it } from "vitest";
import { createHost } from "../src/index.js";
import { thrownError } from "./helpers.js";

describe("vm.states.relocateElsewhere", () => {
  it("rewrites only the location of an elsewhere page", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 16 });
    vm.write(3 * 4096, new Uint8Array([1, 2, 3]));
    vm.states.moveElsewhere(3, 77);
    const before = vm.pteInfo(3);
    const counts = vm.states.counts();
    const used = vm.host.stats().usedFrames;
    vm.states.relocateElsewhere(3, 123_456);
    expect(vm.states.of(3)).toEqual({ kind: "elsewhere", location: 123_456 });
    expect(vm.pteInfo(3)).toMatchObject({ accessed: before.accessed, dirty: before.dirty });
    expect(before.dirty).toBe(true);
    expect(vm.states.counts()).toEqual(counts);
    expect(vm.host.stats().usedFrames).toBe(used);
  });

  it("refuses a page that is not elsewhere, and a location past the frame field", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 16 });
    vm.write(0, new Uint8Array([9]));
    expect(thrownError(() => vm.states.relocateElsewhere(0, 5))).toMatchObject({ code: "ERR_PAGE_STATE", details: { pfn: 0, state: "present", op: "relocate" } });
    expect(thrownError(() => vm.states.relocateElsewhere(1, 5))).toMatchObject({ code: "ERR_PAGE_STATE", details: { state: "unpopulated" } });
    vm.states.moveElsewhere(0, 1);
    expect(thrownError(() => vm.states.relocateElsewhere(0, 2 ** 40))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "location" } });
    expect(vm.states.of(0)).toEqual({ kind: "elsewhere", location: 1 });
  });
});
