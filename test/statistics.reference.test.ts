// The goodness-of-fit helpers of test/reference/statistics.ts against
// independent oracles: scipy.stats.chi2.sf (scipy 1.17.1) at the quantiles
// the distribution tests use (p = 0.5, 1e-2, 1e-6, 1e-12), the closed form
// of the chi-square survival function for even df (a Poisson sum, no gamma
// function involved), and ln Γ at integers and half-integers.
import { describe, expect, it } from "vitest";
import { chiSquareSurvival, gammaQ, lnGamma, pearsonTest } from "./reference/statistics.js";

/** [df, x, scipy.stats.chi2.sf(x, df)]. */
const SCIPY_CHI2_SF: ReadonlyArray<readonly [number, number, number]> = [
  [1, 0.454936, 0.5000001993470369], [1, 6.6349, 0.009999980919422082], [1, 23.9281, 1.0000140127899952e-06],
  [1, 50.8441, 1.000014220628368e-12], [1, 0.2, 0.6547208460185768],
  [2, 1.38629, 0.5000010902811616], [2, 9.21034, 0.010000001859881084], [2, 27.631, 1.0000105580200096e-06],
  [2, 55.262, 1.000021116151493e-12], [2, 0.4, 0.8187307530779818],
  [3, 2.36597, 0.5000007302503429], [3, 11.3449, 0.009999846237341873], [3, 30.6648, 1.0000240912248322e-06],
  [3, 58.9198, 9.999782057567995e-13], [3, 0.6, 0.8964323733419115],
  [7, 6.34581, 0.5000001350886011], [7, 18.4753, 0.010000026224051092], [7, 40.5218, 1.0000137870291653e-06],
  [7, 70.8384, 1.0000131592976188e-12], [7, 1.4, 0.9855712644489881],
  [30, 29.336, 0.5000016446097568], [30, 50.8922, 0.009999954529156444], [30, 82.0441, 1.0000144544649354e-06],
  [30, 120.052, 1.0000133965278652e-12], [30, 6.0, 0.9999993296140888],
  [41, 40.3353, 0.49999977408072566], [41, 64.9501, 0.00999993763928691], [41, 99.1739, 1.0000116208125947e-06],
  [41, 139.902, 1.000065027529976e-12], [41, 8.2, 0.9999999932752576],
  [511, 510.333, 0.5000060966755218], [511, 588.298, 0.009999843695476596], [511, 677.6, 9.9996405420097e-07],
  [511, 769.174, 9.99970006893709e-13], [511, 102.2, 1.0],
  [999, 998.333, 0.5000036828761799], [999, 1105.92, 0.00999830451501527], [999, 1226.05, 9.996316112514726e-07],
  [999, 1346.46, 1.0004026060811628e-12], [999, 199.8, 1.0],
];

/**
 * P(X ≥ x) for even df = 2m: Σ_{i<m} e^(-x/2) (x/2)^i / i!, each term built
 * from the previous one in logs (so e^(-x/2) alone may underflow).
 */
function evenDfSurvival(x: number, df: number): number {
  const half = x / 2;
  let lnTerm = -half;
  let sum = Math.exp(lnTerm);
  for (let i = 1; i < df / 2; i++) {
    lnTerm += Math.log(half / i);
    sum += Math.exp(lnTerm);
  }
  return sum;
}

const relativeError = (actual: number, expected: number): number => Math.abs(actual - expected) / expected;

describe("chi-square survival function", () => {
  it("agrees with scipy.stats.chi2.sf to 1e-9 relative, down to p = 1e-12", () => {
    for (const [df, x, expected] of SCIPY_CHI2_SF) {
      expect(relativeError(chiSquareSurvival(x, df), expected), `df ${df}, x ${x}`).toBeLessThan(1e-9);
    }
  });

  it("agrees with the closed form for even df on both sides of x = df", () => {
    for (const df of [2, 4, 10, 40, 100, 500, 1000]) {
      for (const ratio of [0.3, 0.8, 1, 1.2, 1.5, 2, 2.6]) {
        const x = df * ratio;
        expect(relativeError(chiSquareSurvival(x, df), evenDfSurvival(x, df)), `df ${df}, x ${x}`).toBeLessThan(1e-9);
      }
    }
  });

  it("is 1 at x <= 0 and refuses a df that is not a positive integer", () => {
    expect(chiSquareSurvival(0, 5)).toBe(1);
    expect(chiSquareSurvival(-3, 5)).toBe(1);
    expect(gammaQ(2, 0)).toBe(1);
    for (const df of [0, -1, 1.5]) expect(() => chiSquareSurvival(3, df)).toThrow(RangeError);
  });
});

describe("ln Γ", () => {
  it("is ln((n-1)!) at integers and ln((2n)! √π / (4^n n!)) at half-integers", () => {
    let lnFactorial = 0; // ln((n-1)!)
    for (let n = 1; n <= 170; n++) {
      if (n > 1) lnFactorial += Math.log(n - 1);
      expect(Math.abs(lnGamma(n) - lnFactorial), `n ${n}`).toBeLessThan(1e-12 * Math.max(1, lnFactorial));
    }
    let lnHalf = 0.5 * Math.log(Math.PI); // ln Γ(n + 1/2), Γ(n + 1/2) = (n - 1/2) Γ(n - 1/2)
    for (let n = 0; n <= 170; n++) {
      if (n > 0) lnHalf += Math.log(n - 0.5);
      expect(Math.abs(lnGamma(n + 0.5) - lnHalf), `n ${n}`).toBeLessThan(1e-12 * Math.max(1, lnHalf));
    }
  });
});

describe("Pearson's test", () => {
  it("computes X², df and the p-value of a worked example", () => {
    // expected 25, 50, 25: X² = 25/25 + 0 + 25/25 = 2; df 2: p = e^-1
    const t = pearsonTest([30, 50, 20], [0.25, 0.5, 0.25]);
    expect(t.statistic).toBeCloseTo(2, 12);
    expect(t.df).toBe(2);
    expect(relativeError(t.pValue, Math.exp(-1))).toBeLessThan(1e-12);
    expect(t.minExpected).toBe(25);
    const u = pearsonTest([5, 15], [0.5, 0.5]); // X² = 5, df 1: scipy 0.025347318677468325
    expect(u.statistic).toBe(5);
    expect(relativeError(u.pValue, 0.025347318677468325)).toBeLessThan(1e-9);
    expect(pearsonTest([10, 20, 30], [1 / 6, 1 / 3, 1 / 2]).pValue).toBeCloseTo(1, 12);
  });

  it("refuses cells expecting fewer than 5, probabilities not summing to 1, and mismatched lengths", () => {
    expect(() => pearsonTest([1, 99], [0.04, 0.96])).toThrow(/expects 4/);
    expect(() => pearsonTest([50, 50], [0.5, 0.49])).toThrow(/sum to 0.99/);
    expect(() => pearsonTest([50, 50, 1], [0.5, 0.5])).toThrow(/3 observed cells for 2/);
  });
});
