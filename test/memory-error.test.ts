// Uncorrectable memory errors: injection (known or latent), the virtual
// machine check a guest access raises, and retirement of the bad frame.
import { describe, expect, it } from "vitest";
import { createHost, injectMemoryError, type MachineCheck } from "../src/index.js";

function setup() {
  const host = createHost({ memoryMiB: 8 });
  const vm = host.createVm({ pages: 16 });
  vm.write(0, new Uint8Array(16 * 4096).fill(0xab));
  const mces: MachineCheck[] = [];
  vm.onMachineCheck((m) => mces.push(m));
  return { host, vm, mces };
}

describe("memory errors", () => {
  it("a known error poisons the page: a guest access gets a virtual MCE and is dropped", () => {
    const { host, vm, mces } = setup();
    const e = injectMemoryError(host, { vm, gpa: 3 * 4096 + 100 });
    expect(e).toMatchObject({ pfn: 3, latent: false });
    expect(host.frameInfo(e.hfn).flags).toEqual(expect.arrayContaining(["poisoned", "poisonKnown"]));
    expect(vm.pteInfo(3)).toMatchObject({ present: false, poisoned: true, hfn: e.hfn });
    vm.run([{ op: "read", gpa: 3 * 4096 + 8 }, { op: "write", gpa: 4 * 4096, seed: 1 }, { op: "write", gpa: 3 * 4096 }]);
    expect(mces.map((m) => [m.pfn, m.write, m.foundLatent])).toEqual([[3, false, false], [3, true, false]]);
    expect(vm.counters.skipped).toBe(2);
    expect(vm.machineChecks).toBe(2);
    expect(() => vm.read(3 * 4096, 1)).toThrow(expect.objectContaining({ code: "ERR_MEMORY_POISONED", message: expect.stringContaining("page 3") }));
    expect(vm.read(2 * 4096, 4096).every((b) => b === 0xab)).toBe(true);
  });

  it("a latent error is found by the first access, which makes it known", () => {
    const { host, vm, mces } = setup();
    const e = injectMemoryError(host, { hfn: vm.pteInfo(7).hfn }, { latent: true });
    expect(e).toMatchObject({ pfn: 7, latent: true });
    expect(host.frameInfo(e.hfn).flags).toContain("poisoned");
    expect(host.frameInfo(e.hfn).flags).not.toContain("poisonKnown");
    expect(vm.pteInfo(7)).toMatchObject({ latentError: true, poisoned: false });
    vm.run([{ op: "read", gpa: 7 * 4096 }]);
    expect(mces).toEqual([expect.objectContaining({ pfn: 7, foundLatent: true })]);
    expect(vm.pteInfo(7)).toMatchObject({ latentError: false, poisoned: true });
    expect(host.frameInfo(e.hfn).flags).toContain("poisonKnown");
  });

  it("refuses frames that cannot hold a guest error, naming them", () => {
    const { host, vm } = setup();
    const other = host.createVm({ pages: 4 });
    other.run([{ op: "read", gpa: 0 }]);
    expect(() => injectMemoryError(host, { vm: other, gpa: 0 })).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("zero frame") }));
    expect(() => injectMemoryError(host, { vm: other, gpa: 4096 })).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("no frame") }));
    expect(() => injectMemoryError(host, { vm, gpa: 16 * 4096 })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
    expect(() => injectMemoryError(host, { hfn: 0 })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
    injectMemoryError(host, { vm, gpa: 0 });
    expect(() => injectMemoryError(host, { vm, gpa: 0 })).toThrow(expect.objectContaining({ code: "ERR_PAGE_STATE", message: expect.stringContaining("already") }));
  });

  it("a destroyed guest's poisoned frame is retired, never handed out again", () => {
    const { host, vm } = setup();
    const { hfn } = injectMemoryError(host, { vm, gpa: 5 * 4096 });
    vm.destroy();
    expect(host.frameInfo(hfn).flags).toEqual(expect.arrayContaining(["poisoned", "retired"]));
    const next = host.createVm({ pages: 64 });
    next.write(0, new Uint8Array(64 * 4096).fill(1));
    const frames = Array.from({ length: 64 }, (_, p) => next.pteInfo(p).hfn);
    expect(frames).not.toContain(hfn);
  });
});
