// The bench gate's statistics and decision (bench/stats.ts, bench/gate.ts,
// bench/gates-file.ts) on synthetic samples: medians and quantiles against
// hand-computed values, a gate derived from a spread, the pass/fail rule on a
// run's median, the 2x-slowdown guarantee as a property, and the committed
// bench/gates.json against the rules it was derived by.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CAUGHT_SLOWDOWN, GATE_MARGIN_FACTOR, deriveGate, floorSignificant, judgeRatios, keepsCommittedGate } from "../bench/gate.js";
import { loadGates, parseGates } from "../bench/gates-file.js";
import { median, quantile, spread } from "../bench/stats.js";
import { thrownCode } from "./helpers.js";

describe("median and quantile", () => {
  it("takes the middle sample of an odd count and the mean of the middle two of an even count", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it("does not reorder its input", () => {
    const xs = [5, 1, 4];
    median(xs);
    spread(xs);
    expect(xs).toEqual([5, 1, 4]);
  });

  it("interpolates between the closest ranks", () => {
    const xs = Array.from({ length: 21 }, (_, i) => 21 - i); // 21..1
    expect(quantile(xs, 0.05)).toBe(2); // rank 20 * 0.05 = 1 exactly
    expect(quantile(xs, 0.95)).toBe(20);
    expect(quantile([10, 20], 0.25)).toBe(12.5);
    expect(quantile([10, 20, 40], 0.75)).toBe(30);
    expect(quantile([10, 20], 0)).toBe(10);
    expect(quantile([10, 20], 1)).toBe(20);
  });

  it("summarises a spread", () => {
    expect(spread([2, 8, 4, 6, 10])).toEqual({ n: 5, min: 2, p5: 2.4, median: 6, p95: 9.6, max: 10 });
  });

  it("refuses empty input, non-finite samples and quantiles outside [0, 1]", () => {
    expect(thrownCode(() => median([]))).toBe("ERR_LENGTH");
    expect(thrownCode(() => spread([1, Number.NaN]))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => median([1, Number.POSITIVE_INFINITY]))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => quantile([1, 2], 1.5))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => quantile([1, 2], -0.1))).toBe("ERR_BAD_OPTION");
  });
});

describe("floorSignificant", () => {
  it("rounds down to two significant digits", () => {
    expect(floorSignificant(2.634, 2)).toBe(2.6);
    expect(floorSignificant(376.2, 2)).toBe(370);
    expect(floorSignificant(0.937, 2)).toBe(0.93);
    expect(floorSignificant(1318, 2)).toBe(1300);
    expect(floorSignificant(9.99, 2)).toBe(9.9);
    expect(floorSignificant(5, 2)).toBe(5);
  });

  it("never rounds up", () => {
    fc.assert(fc.property(fc.double({ min: 1e-3, max: 1e6, noNaN: true }), (x) => floorSignificant(x, 2) <= x));
  });

  it("refuses zero, negative and non-finite values", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(thrownCode(() => floorSignificant(bad, 2))).toBe("ERR_BAD_OPTION");
    expect(() => floorSignificant(-1, 2)).toThrow(expect.objectContaining({ message: "cannot round -1: not a positive finite number", details: { value: -1 } }));
  });
});

describe("deriveGate", () => {
  it("sets the gate at p5 / 1.25, rounded down, and checks it against median / 2", () => {
    // p5 = 3.3, median = 3.9: gate 2.64 -> 2.6, above 1.95
    const d = deriveGate({ n: 40, min: 3.1, p5: 3.3, median: 3.9, p95: 4.4, max: 4.6 });
    expect(d).toEqual({ gate: 2.6, slowdownMedian: 1.95, catchesSlowdown: true });
  });

  it("a gate equal to a 2x slower kernel's median does not catch it (the kernel would pass at the gate)", () => {
    // p5 = 2.5: gate 2.0; median = 4: a 2x slower median of 2.0 meets the gate
    const d = deriveGate({ n: 40, min: 2.4, p5: 2.5, median: 4, p95: 4.4, max: 4.6 });
    expect(d).toEqual({ gate: 2, slowdownMedian: 2, catchesSlowdown: false });
    expect(judgeRatios([d.slowdownMedian], d.gate).status).toBe("pass");
  });

  it("flags a spread too wide to keep both promises", () => {
    // p5 = 1.9, median = 3.9: gate 1.52 -> 1.5, not above 1.95
    const d = deriveGate({ n: 40, min: 1.8, p5: 1.9, median: 3.9, p95: 4.4, max: 4.6 });
    expect(d.gate).toBe(1.5);
    expect(d.catchesSlowdown).toBe(false);
  });

  it("uses the documented factors", () => {
    expect(GATE_MARGIN_FACTOR).toBe(1.25);
    expect(CAUGHT_SLOWDOWN).toBe(2);
  });
});

describe("keepsCommittedGate (calibrate --lower-only)", () => {
  it("keeps a committed gate at or under this machine's, replaces a higher one, and gives a new case its gate", () => {
    expect(keepsCommittedGate(2.8, 1.5)).toBe(false); // another CPU needs a lower gate: lowered
    expect(keepsCommittedGate(1.5, 2.8)).toBe(true); // this machine would raise it: kept, so the other CPU still passes
    expect(keepsCommittedGate(2.8, 2.8)).toBe(true);
    expect(keepsCommittedGate(undefined, 2.8)).toBe(false);
  });
});

describe("judgeRatios", () => {
  it("passes a median at the gate and fails one just under it", () => {
    expect(judgeRatios([1.9, 2.0, 2.5], 2).status).toBe("pass");
    expect(judgeRatios([1.9, 1.99, 2.5], 2).status).toBe("fail");
  });

  it("judges the median, not the worst round", () => {
    const v = judgeRatios([3.9, 0.5, 4.1, 3.8, 4.0], 2.6);
    expect(v).toEqual({ status: "pass", median: 3.9, min: 0.5, max: 4.1, gate: 2.6, margin: 3.9 / 2.6 - 1 });
  });

  it("fails when most rounds are under the gate even if one is far above", () => {
    const v = judgeRatios([1.9, 1.8, 50, 1.95, 2.0], 2.6);
    expect(v.status).toBe("fail");
    expect(v.median).toBe(1.95);
    expect(v.status === "fail" && v.margin).toBeCloseTo(1.95 / 2.6 - 1, 12);
  });

  it("reports a case without a gate as ungated", () => {
    expect(judgeRatios([2, 3, 4], undefined)).toEqual({ status: "ungated", median: 3, min: 2, max: 4 });
  });

  it("refuses a gate that is not a positive number", () => {
    expect(thrownCode(() => judgeRatios([2], 0))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => judgeRatios([2], Number.NaN))).toBe("ERR_BAD_OPTION");
    expect(() => judgeRatios([2], -3)).toThrow(expect.objectContaining({ message: "gate -3 is not a positive finite number", details: { gate: -3 } }));
  });

  it("with a derived gate that catches 2x: the calibration rounds pass and the same rounds halved fail", () => {
    // a base ratio with per-round noise of up to +-50 %: narrow spreads keep the guarantee, wide ones do not
    const noise = fc.array(fc.double({ min: 0.5, max: 1.5, noNaN: true }), { minLength: 5, maxLength: 60 });
    const ratios = fc.tuple(fc.double({ min: 0.2, max: 2000, noNaN: true }), noise).map(([base, factors]) => factors.map((f) => base * f));
    fc.assert(fc.property(ratios, (xs) => {
      const d = deriveGate(spread(xs));
      fc.pre(d.catchesSlowdown);
      expect(judgeRatios(xs, d.gate).status).toBe("pass");
      expect(judgeRatios(xs.map((x) => x / CAUGHT_SLOWDOWN), d.gate).status).toBe("fail");
    }), { numRuns: 300 });
  });
});

const VALID = {
  cases: {
    "xbzrle-decode-1pct": {
      gate: 2.6,
      rounds: { n: 40, min: 3.1, p5: 3.3, median: 3.9, p95: 4.4, max: 4.6 },
      runMedians: { runs: 6, min: 3.6, max: 4.1 },
      measured: { machine: "test cpu, 2 cpus", node: "v20.20.2", command: "npx tsx bench/calibrate.ts", date: "2025-01-01" },
    },
  },
};

describe("gates file", () => {
  it("parses a valid file", () => {
    const g = parseGates(JSON.stringify(VALID));
    expect(g.cases["xbzrle-decode-1pct"].gate).toBe(2.6);
    expect(g.cases["xbzrle-decode-1pct"].rounds.p5).toBe(3.3);
  });

  it("refuses a bad gate, a missing statistic, an unknown key and a file that is not JSON", () => {
    const record = VALID.cases["xbzrle-decode-1pct"];
    const withRecord = (r: unknown): string => JSON.stringify({ ...VALID, cases: { "xbzrle-decode-1pct": r } });
    expect(thrownCode(() => parseGates(withRecord({ ...record, gate: 0 })))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => parseGates(withRecord({ ...record, gate: "2" })))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => parseGates(withRecord({ ...record, rounds: { ...record.rounds, p5: undefined } })))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => parseGates(withRecord({ ...record, runMedian: record.runMedians })))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => parseGates(withRecord({ ...record, measured: { ...record.measured, node: 20 } })))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => parseGates(JSON.stringify({ gates: VALID.cases })))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => parseGates("{ not json"))).toBe("ERR_BAD_OPTION");
  });

  it("the committed gates are derived from their recorded spread, under every calibration run's median", () => {
    const { cases } = loadGates();
    expect(Object.keys(cases).length).toBeGreaterThan(0);
    for (const [name, r] of Object.entries(cases)) {
      const derived = deriveGate(r.rounds);
      expect(r.gate, `${name}: gate = p5 / 1.25`).toBe(derived.gate);
      expect(r.gate, `${name}: gate under the lowest run median`).toBeLessThan(r.runMedians.min);
      // only a gate whose record says so (a note) may miss the 2x guarantee
      if (r.note === undefined) expect(r.gate, `${name}: gate above median / 2`).toBeGreaterThan(r.rounds.median / CAUGHT_SLOWDOWN);
      else expect(derived.catchesSlowdown, `${name}: note on a gate that keeps the guarantee`).toBe(false);
    }
  });
});
