// The memory condition for guest applications (src/balloon/condition.ts):
// levels from free memory, the balloon's pending pages and the host's state;
// hysteresis on the way back; at most one notification per window; PSI-style
// averages of the stall share; bad options refused naming the value.
import { describe, expect, it } from "vitest";
import { MemoryCondition, type ConditionInputs, type MemoryLevel } from "../src/index.js";
import { thrownError } from "./helpers.js";

const base: ConditionInputs = { atNs: 0, guestPages: 1000, guestFreePages: 500, balloonTargetPages: 0, balloonActualPages: 0, hostState: "high", stallNs: 0 };

describe("MemoryCondition", () => {
  it("tells what the guest OS cannot see: a balloon about to grow, the host's state", () => {
    const c = new MemoryCondition();
    expect(c.update(base)).toMatchObject({ level: "normal", availablePages: 500, guestFreePages: 500 });
    // The guest sees 500 free pages; 450 of them are about to go to the balloon.
    expect(c.update({ ...base, atNs: 1e9, balloonTargetPages: 450, hostState: "soft" })).toMatchObject({ level: "low", availablePages: 50 });
    expect(c.update({ ...base, atNs: 2e9, balloonTargetPages: 490, hostState: "hard" })).toMatchObject({ level: "critical", availablePages: 10 });
    expect(c.update({ ...base, atNs: 3e9, guestFreePages: 15 })).toMatchObject({ level: "critical", availablePages: 15 });
  });

  it("goes back to a better level only past the threshold plus hysteresis", () => {
    const c = new MemoryCondition({ lowFraction: 0.1, criticalFraction: 0.02, hysteresis: 0.02 });
    const at = (t: number, free: number): MemoryLevel => c.update({ ...base, atNs: t * 1e9, guestFreePages: free }).level;
    expect([at(0, 90), at(1, 105), at(2, 119), at(3, 121), at(4, 99), at(5, 15), at(6, 39), at(7, 41), at(8, 130)])
      .toEqual(["low", "low", "low", "normal", "low", "critical", "critical", "low", "normal"]);
  });

  it("notifies a subscriber when its level is entered, at most once per window", () => {
    const c = new MemoryCondition();
    const got: number[] = [];
    const stop = c.subscribe({ level: "low", windowNs: 5e9 }, (info) => got.push(info.atNs / 1e9));
    const free = [50, 50, 200, 50, 200, 50, 50, 200, 200, 200, 50];
    free.forEach((f, t) => c.update({ ...base, atNs: t * 1e9, guestFreePages: f }));
    // Entered at 0, 3, 5 and 10: 3 is inside the window of 0; 5 is not (and is delivered); 10 is.
    expect(got).toEqual([0, 5, 10]);
    stop();
    c.update({ ...base, atNs: 11e9, guestFreePages: 500 });
    c.update({ ...base, atNs: 20e9, guestFreePages: 50 });
    expect(got).toEqual([0, 5, 10]);
  });

  it("averages the stall share like PSI: some avg10 and avg60 in %, full equal to some on one vCPU", () => {
    const c = new MemoryCondition();
    c.update(base);
    const info = c.update({ ...base, atNs: 10e9, stallNs: 5e9 });
    const share = 50;
    expect(info.psi.someAvg10).toBeCloseTo(share * (1 - Math.exp(-1)), 10);
    expect(info.psi.someAvg60).toBeCloseTo(share * (1 - Math.exp(-10 / 60)), 10);
    expect(info.psi.fullAvg10).toBe(info.psi.someAvg10);
    expect(info.psi.totalUs).toBe(5e6);
    const quiet = c.update({ ...base, atNs: 20e9, stallNs: 5e9 });
    expect(quiet.psi.someAvg10).toBeCloseTo(info.psi.someAvg10 * Math.exp(-1), 10);
  });

  it("refuses bad options naming the value", () => {
    expect(thrownError(() => new MemoryCondition({ lowFraction: 0.01, criticalFraction: 0.05 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "criticalFraction", value: 0.05 } });
    expect(thrownError(() => new MemoryCondition({ lowFraction: 2 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 2 } });
    expect(thrownError(() => new MemoryCondition({ soon: 1 } as never))).toMatchObject({ code: "ERR_UNKNOWN_OPTION" });
    expect(thrownError(() => new MemoryCondition().subscribe({ level: "panic" as never }, () => {}))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: "panic" } });
  });
});
