// A workload on a Vm in simulated time: rate × duration accesses, throttling,
// determinism, and the same bytes as the generator's records run by hand.
import { describe, expect, it } from "vitest";
import { createHost } from "../src/index.js";

describe("GuestWorkload", () => {
  it("issues rate × time accesses, carrying fractions, and honours the throttle", () => {
    const host = createHost({ memoryMiB: 64 });
    const vm = host.createVm({ memoryMiB: 16 });
    const w = vm.startWorkload({ kind: "uniform", ratePerSec: 1000, writeFraction: 0.5, seed: 3 });
    expect(w.runFor(1e9).accesses).toBe(1000);
    expect(w.runFor(0.4e6).accesses + w.runFor(0.4e6).accesses + w.runFor(0.4e6).accesses).toBe(1);
    w.throttle = 0.5;
    expect(w.runFor(2e9).accesses).toBe(1000);
    expect(() => { w.throttle = 1; }).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
    expect(vm.counters.accesses).toBe(2001);
    w.close();
  });

  it("the same seed gives the same guest memory, byte for byte", () => {
    const digest = (seed: number): Buffer => {
      const host = createHost({ memoryMiB: 64 });
      const vm = host.createVm({ memoryMiB: 8 });
      const w = vm.startWorkload({ kind: "zipf", s: 1.1, ratePerSec: 200_000, writeFraction: 0.7, writeBytes: 256, seed });
      w.runFor(1e9);
      w.close();
      return Buffer.from(vm.read(0, vm.memoryBytes));
    };
    expect(digest(5).equals(digest(5))).toBe(true);
    expect(digest(5).equals(digest(6))).toBe(false);
  });

  it("releases its descriptor slot on close, and a bad spec leaves no slot taken", () => {
    const host = createHost({ memoryMiB: 16 });
    const vm = host.createVm({ memoryMiB: 1 });
    for (let i = 0; i < 300; i++) vm.startWorkload({ kind: "uniform" }).close();
    expect(() => vm.startWorkload({ kind: "zipf", s: -1 })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
    const open = Array.from({ length: 256 }, () => vm.startWorkload({ kind: "sequential" }));
    expect(() => vm.startWorkload({ kind: "uniform" })).toThrow(expect.objectContaining({ code: "ERR_HOST_LIMIT" }));
    open.forEach((w) => w.close());
  });
});
