// Reservations, limits and the balloon cap hold at every instant of a run,
// not only at the reallocations the time series records: checked after
// every 50 ms of simulated time and at every frame a limited guest takes
// (its first touches and copies on write). A limit the balloon cannot
// enforce (below the guest's size less the cap) is refused, naming it.
import { describe, expect, it } from "vitest";
import { createHost, FaultReason, MemoryScheduler, Timeline } from "../src/index.js";
import { thrownError } from "./helpers.js";

const VM_PAGES = 4096;
const CAP_PAGES = Math.floor(0.65 * VM_PAGES);

describe("reservations, limits and the cap at every instant", () => {
  it("hold after every 50 ms and at every frame the limited guest takes", () => {
    const host = createHost({ memoryMiB: 64 });
    const timeline = new Timeline();
    const s = new MemoryScheduler(host, timeline, { samplePeriodNs: 4e9, reallocPeriodNs: 2e9, idleTax: 0.75 });
    const [reserved, limited, busy] = [0, 1, 2].map(() => host.createVm({ pages: VM_PAGES }));
    const managed = [
      s.manage(reserved, { reservationPages: 1500 }),
      s.manage(limited, { shares: 4000, limitPages: 3000 }),
      s.manage(busy, { shares: 1000 }),
    ];
    // Before the scheduler starts, the reserved guest writes all its memory, the limited one half of it.
    reserved.fillPages(0, VM_PAGES, (into) => { into.fill(1); });
    limited.fillPages(0, 2048, (into) => { into.fill(2); });
    let framesTaken = 0;
    for (const reason of [FaultReason.NotPresent, FaultReason.Cow]) {
      limited.onFault(reason, () => {
        framesTaken++;
        expect(limited.states.counts().privateFrames + 1).toBeLessThanOrEqual(3000);
        return "pass";
      });
    }
    s.start();
    limited.startWorkload({ kind: "uniform", ratePerSec: 3000, writeFraction: 0.5, seed: 1 }).attach(timeline);
    busy.startWorkload({ kind: "uniform", ratePerSec: 3000, writeFraction: 1, seed: 2 }).attach(timeline);
    let checks = 0;
    for (let t = 0; t < 10e9; t += 50e6) {
      timeline.advance(50e6);
      for (const m of managed) {
        expect(m.driver.actualPages).toBeLessThanOrEqual(m.driver.maxPages);
        expect(m.driver.maxPages).toBeLessThanOrEqual(CAP_PAGES);
        expect(m.allocationPages).toBeGreaterThanOrEqual(m.options.reservationPages);
        expect(m.allocationPages).toBeLessThanOrEqual(m.options.limitPages);
      }
      expect(VM_PAGES - managed[0].driver.actualPages).toBeGreaterThanOrEqual(1500);
      expect(limited.states.counts().privateFrames).toBeLessThanOrEqual(3000);
      expect(VM_PAGES - managed[1].driver.actualPages).toBeLessThanOrEqual(3000);
      checks++;
    }
    expect(checks).toBe(200);
    // The limited guest did take frames (its checks ran), and its balloon held it under the limit.
    expect(framesTaken).toBeGreaterThan(100);
    expect(managed[1].driver.actualPages).toBeGreaterThanOrEqual(VM_PAGES - 3000);
    s.close();
  });

  it.each([32, 40, 48])("never run the host out of frames (%i MiB): pages read back from the guest's swap make room first, or the run (or the close) stops ERR_HOST_OVERCOMMITTED", (memoryMiB) => {
    const host = createHost({ memoryMiB });
    const timeline = new Timeline();
    const s = new MemoryScheduler(host, timeline, { samplePeriodNs: 4e9, reallocPeriodNs: 2e9, idleTax: 0.75 });
    const [reserved, limited, busy] = [0, 1, 2].map(() => host.createVm({ pages: VM_PAGES }));
    s.manage(reserved, { reservationPages: 1500 });
    s.manage(limited, { shares: 4000, limitPages: 3000 });
    s.manage(busy, { shares: 1000 });
    reserved.fillPages(0, VM_PAGES, (into) => { into.fill(1); });
    limited.fillPages(0, 2048, (into) => { into.fill(2); });
    s.start();
    limited.startWorkload({ kind: "uniform", ratePerSec: 3000, writeFraction: 0.5, seed: 1 }).attach(timeline);
    busy.startWorkload({ kind: "uniform", ratePerSec: 3000, writeFraction: 1, seed: 2 }).attach(timeline);
    const stopped = thrownError(() => {
      for (let t = 0; t < 10e9; t += 50e6) timeline.advance(50e6);
      s.close(); // gives every balloon back: the pages in the guests' swap need frames again
    });
    if (stopped !== "none") expect(stopped.code, stopped.message).toBe("ERR_HOST_OVERCOMMITTED");
    expect(host.stats().usedFrames).toBeLessThanOrEqual(host.maxFrames);
  });

  it("refuse a limit below what the balloon can enforce, naming it; the lowest enforceable one is taken and holds from the start", () => {
    const host = createHost({ memoryMiB: 32 });
    const s = new MemoryScheduler(host, new Timeline());
    const vm = host.createVm({ pages: VM_PAGES });
    const lowest = VM_PAGES - CAP_PAGES;
    expect(thrownError(() => s.manage(vm, { limitPages: lowest - 1 }))).toMatchObject({
      code: "ERR_BAD_OPTION",
      message: `vm ${vm.id}: a limit of ${lowest - 1} pages is below what its balloon can enforce: it may take at most ${CAP_PAGES} of the guest's ${VM_PAGES} pages (balloonMaxFraction 0.65), so the guest keeps at least ${lowest}`,
      details: { vm: vm.id, limitPages: lowest - 1, lowestLimitPages: lowest },
    });
    expect(s.manage(vm, { limitPages: lowest }).options.limitPages).toBe(lowest);
    // A guest past its limit when the scheduler starts is brought under it at once (its balloon set at boot).
    vm.fillPages(0, VM_PAGES, (into) => { into.fill(3); });
    s.start();
    expect(vm.states.counts().privateFrames).toBe(lowest);
    s.close();
  });
});
