// The memory scheduler (src/balloon/scheduler.ts) over whole runs: the
// reclamation states and their hysteresis; reservations, limits and the
// balloon cap at every point of the time series; the host never runs out of
// frames (ERR_HOST_OVERCOMMITTED first), and a reclamation step plugged in
// after ballooning (where hypervisor swap goes) keeps the run going; bad
// input refused with typed errors naming the value.
import { describe, expect, it } from "vitest";
import {
  createHost, FaultReason, MemoryScheduler, nextState, runOvercommit, SCHEDULER_DEFAULTS, Timeline, type ReclaimStep, type Vm,
} from "../src/index.js";
import { thrownError } from "./helpers.js";

describe("reclamation states", () => {
  const t = SCHEDULER_DEFAULTS.thresholds;
  it("fall with free memory at once and rise only past a threshold plus hysteresis", () => {
    const walk = (frees: number[]) => {
      let s = "high" as ReturnType<typeof nextState>;
      return frees.map((f) => (s = nextState(s, f, t, 0.01)));
    };
    expect(walk([0.07, 0.059, 0.065, 0.07, 0.03, 0.045, 0.05, 0.015, 0.005, 0.025, 0.031, 0.08]))
      .toEqual(["high", "soft", "soft", "high", "hard", "hard", "soft", "low", "low", "low", "hard", "high"]);
  });
});

describe("a run under the scheduler", () => {
  it("keeps every reservation, limit and balloon cap at every point", () => {
    const vmPages = 4096;
    const r = runOvercommit({
      hostMemoryMiB: 32, durationNs: 40e9,
      scheduler: { samplePeriodNs: 10e9, reallocPeriodNs: 5e9, idleTax: 0.75 },
      vms: [
        { pages: vmPages, shares: 1000, reservationPages: 1500, workload: "idle", prefill: 1 },
        { pages: vmPages, shares: 2000, limitPages: 3000, workload: { kind: "uniform", ratePerSec: 2000, seed: 1 } },
        { pages: vmPages, shares: 1000, workload: { kind: "hotcold", hotFraction: 0.2, hotProbability: 0.9, ratePerSec: 2000, seed: 2 } },
      ],
    });
    expect(r.overcommitted).toBeNull();
    expect(r.vmSamples.length).toBe(3 * 9);
    const cap = Math.floor(0.65 * vmPages);
    for (const s of r.vmSamples) {
      expect(s.balloonPages).toBeLessThanOrEqual(cap);
      if (s.vm === 1) expect(s.allocationPages).toBeGreaterThanOrEqual(1500);
      if (s.vm === 1) expect(vmPages - s.balloonPages).toBeGreaterThanOrEqual(1500);
      if (s.vm === 2) expect(s.allocationPages).toBeLessThanOrEqual(3000);
      if (s.vm === 2) expect(s.residentPages).toBeLessThanOrEqual(3000);
      expect(s.actual).toBe((vmPages - s.balloonPages) * 4096);
    }
    for (const h of r.hostSamples) expect(h.freeFrames).toBeGreaterThan(0.01 * r.hostFrames);
    expect(r.vms[0].actual).toBeLessThan(r.vms[2].actual);
  });

  it("stops with ERR_HOST_OVERCOMMITTED before the host runs out, and a step after ballooning keeps it going", () => {
    const build = (steps: ReclaimStep[]) => {
      const host = createHost({ memoryMiB: 24 });
      const timeline = new Timeline();
      const s = new MemoryScheduler(host, timeline, { balloonMaxFraction: 0.1 });
      for (const step of steps) s.addReclaimStep(step);
      const vms = [host.createVm({ pages: 4096 }), host.createVm({ pages: 4096 })];
      for (const vm of vms) s.manage(vm);
      s.start();
      for (const [i, vm] of vms.entries()) vm.startWorkload({ kind: "uniform", ratePerSec: 8_000, writeFraction: 1, seed: i }).attach(timeline);
      return { host, timeline, vms, s };
    };
    const bare = build([]);
    const err = thrownError(() => bare.timeline.advance(5e9));
    expect(err).toMatchObject({ code: "ERR_HOST_OVERCOMMITTED" });
    expect((err as { message: string }).message).toMatch(/no reclamation step after it \(hypervisor swap\) is plugged in/);
    expect(bare.host.maxFrames - bare.host.stats().usedFrames).toBeGreaterThanOrEqual(Math.ceil(0.01 * bare.host.maxFrames));
    // A toy swap step: pages out to a Map, brings them back on a swapped fault.
    const store = new Map<string, Uint8Array>();
    let vmsOf: Vm[] = [];
    let hand = 0;
    const swap: ReclaimStep = {
      name: "toy swap",
      reclaim(frames) {
        let freed = 0;
        for (let scanned = 0; scanned < 2 * 4096 && freed < frames; scanned++, hand = (hand + 1) % (2 * 4096)) {
          const vm = vmsOf[hand % 2];
          const pfn = hand >> 1;
          if (vm.states.of(pfn).kind !== "present") continue;
          store.set(`${vm.id}:${pfn}`, vm.readPages(pfn, 1));
          vm.states.swapOut(pfn, pfn);
          freed++;
        }
        return freed;
      },
    };
    const ok = build([swap]);
    vmsOf = ok.vms;
    for (const vm of ok.vms) {
      vm.onFault(FaultReason.Swapped, (f) => {
        const key = `${vm.id}:${f.pfn}`;
        const bytes = store.get(key)!;
        ok.s.makeRoom(1);
        store.delete(key);
        vm.states.bringBack(f.pfn, bytes);
        return "retry";
      });
    }
    ok.timeline.advance(3e9);
    expect(ok.s.reclaimedByStepsFrames).toBeGreaterThan(0);
    expect(ok.host.stats().usedFrames).toBeLessThan(ok.host.maxFrames);
  });

  it("refuses shares of 0 or below, reservations above the host, unknown keys: typed errors naming the value", () => {
    const host = createHost({ memoryMiB: 16 });
    const s = new MemoryScheduler(host, new Timeline());
    const vm = host.createVm({ pages: 4096 });
    expect(thrownError(() => s.manage(vm, { shares: 0 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "shares", value: 0 } });
    expect(thrownError(() => s.manage(vm, { shares: -5 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: -5 } });
    expect(thrownError(() => s.manage(vm, { shares: 1.5 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 1.5 } });
    const big = host.createVm({ pages: 8192 });
    expect(thrownError(() => s.manage(big, { reservationPages: 5000 }))).toMatchObject({ code: "ERR_ADMISSION", details: { value: 5000 } });
    expect(thrownError(() => s.manage(vm, { reservationPages: 3900 }))).toMatchObject({ code: "ERR_ADMISSION", details: { reservationPages: 3900 } });
    expect(thrownError(() => s.manage(vm, { weight: 3 } as never))).toMatchObject({ code: "ERR_UNKNOWN_OPTION" });
    expect(thrownError(() => new MemoryScheduler(host, new Timeline(), { idleTax: 1 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "idleTax", value: 1 } });
    expect(thrownError(() => runOvercommit({ hostMemoryMiB: 16, durationNs: 1e9, vms: [{ pages: 100, workload: { kind: "bogus" } as never }] }))).toMatchObject({ code: "ERR_BAD_OPTION" });
  });
});
