// Goodness-of-fit statistics for the distribution tests, written out so they
// need no dependency: ln Γ (Lanczos, g = 7, 9 terms), the regularized upper
// incomplete gamma function Q(a, x) (its series below x = a + 1, Lentz's
// continued fraction above, as in Numerical Recipes §6.2), the chi-square
// survival function P(X ≥ x) = Q(df / 2, x / 2), and Pearson's X² test of
// observed counts against cell probabilities.
// test/statistics.reference.test.ts checks the survival function against
// scipy.stats.chi2.sf and against the closed forms for df = 1 and even df.

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const MAX_ITERATIONS = 100_000;
const EPSILON = 1e-16;
/** Stands in for 0 in Lentz's method (a denominator that vanished). */
const TINY = 1e-300;

/** ln Γ(x) for x > 0 (relative error about 1e-15). */
export function lnGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lnGamma: x must be > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** e^-x x^a / Γ(a): the factor both expansions share, computed in logs. */
function gammaPrefactor(a: number, x: number): number {
  return Math.exp(-x + a * Math.log(x) - lnGamma(a));
}

/** P(a, x) by its series; converges fast for x < a + 1. */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) return sum * gammaPrefactor(a, x);
  }
  throw new RangeError(`gamma series did not converge for a = ${a}, x = ${x}`);
}

/** Q(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1. */
function upperContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h * gammaPrefactor(a, x);
  }
  throw new RangeError(`gamma continued fraction did not converge for a = ${a}, x = ${x}`);
}

/** The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`gammaQ: need a > 0 and x >= 0, got a = ${a}, x = ${x}`);
  if (x === 0) return 1;
  return x < a + 1 ? 1 - lowerSeries(a, x) : upperContinuedFraction(a, x);
}

/** P(X ≥ x) for X chi-square distributed with `df` degrees of freedom. */
export function chiSquareSurvival(x: number, df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`chiSquareSurvival: df must be a positive integer, got ${df}`);
  return x <= 0 ? 1 : gammaQ(df / 2, x / 2);
}

export interface PearsonTest {
  /** Pearson's X² = Σ (observed − expected)² / expected. */
  readonly statistic: number;
  /** Cells − 1. */
  readonly df: number;
  /** P(X² ≥ statistic) under the null. */
  readonly pValue: number;
  /** The smallest expected count of any cell (the approximation wants ≥ 5). */
  readonly minExpected: number;
}

/**
 * Pearson's chi-square test of `observed` counts against cell
 * `probabilities` (which must sum to 1 within 1e-9 and give every cell an
 * expected count of at least 5, or the chi-square approximation is not
 * trusted and this throws).
 */
export function pearsonTest(observed: ArrayLike<number>, probabilities: ArrayLike<number>): PearsonTest {
  if (observed.length !== probabilities.length || observed.length < 2) {
    throw new RangeError(`pearsonTest: ${observed.length} observed cells for ${probabilities.length} probabilities (need >= 2, equal)`);
  }
  let total = 0;
  let mass = 0;
  for (let i = 0; i < observed.length; i++) {
    total += observed[i];
    mass += probabilities[i];
  }
  if (Math.abs(mass - 1) > 1e-9) throw new RangeError(`pearsonTest: cell probabilities sum to ${mass}, not 1`);
  let statistic = 0;
  let minExpected = Infinity;
  for (let i = 0; i < observed.length; i++) {
    const expected = total * probabilities[i];
    minExpected = Math.min(minExpected, expected);
    statistic += (observed[i] - expected) ** 2 / expected;
  }
  if (minExpected < 5) throw new RangeError(`pearsonTest: a cell expects ${minExpected} (< 5) of ${total} samples; merge cells`);
  const df = observed.length - 1;
  return { statistic, df, pValue: chiSquareSurvival(statistic, df), minExpected };
}
