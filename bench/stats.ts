// Order statistics for bench samples: the median, interpolated quantiles and
// a spread summary (n, min, p5, median, p95, max) of a list of numbers, such
// as the per-round wasm/ts ratios of one case. Pure functions; inputs are
// never reordered in place.
import { ErrorCode, HypermemError } from "../src/errors.js";

/** A spread summary of one list of samples. */
export interface Spread {
  readonly n: number;
  readonly min: number;
  readonly p5: number;
  readonly median: number;
  readonly p95: number;
  readonly max: number;
}

/** A sorted copy of `samples`; throws when it is empty or holds a non-finite value. */
function sortedFinite(samples: readonly number[], what: string): number[] {
  if (samples.length === 0) throw new HypermemError(ErrorCode.Length, `${what} of 0 samples`, { samples: 0 });
  const bad = samples.find((x) => !Number.isFinite(x));
  if (bad !== undefined) throw new HypermemError(ErrorCode.BadOption, `${what}: sample ${bad} is not a finite number`, { sample: bad });
  return [...samples].sort((a, b) => a - b);
}

/**
 * The q-quantile (0 <= q <= 1) by linear interpolation between the closest
 * ranks (Hyndman-Fan type 7, numpy's default): q = 0.5 of an even count is the
 * mean of the two middle samples.
 */
function quantileSorted(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The q-quantile of `samples` (see quantileSorted); throws on q outside [0, 1]. */
export function quantile(samples: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new HypermemError(ErrorCode.BadOption, `quantile ${q} is outside [0, 1]`, { q });
  return quantileSorted(sortedFinite(samples, "quantile"), q);
}

/** The median of `samples`. */
export function median(samples: readonly number[]): number {
  return quantileSorted(sortedFinite(samples, "median"), 0.5);
}

/** n, min, p5, median, p95 and max of `samples`. */
export function spread(samples: readonly number[]): Spread {
  const sorted = sortedFinite(samples, "spread");
  return Object.freeze({
    n: sorted.length,
    min: sorted[0],
    p5: quantileSorted(sorted, 0.05),
    median: quantileSorted(sorted, 0.5),
    p95: quantileSorted(sorted, 0.95),
    max: sorted[sorted.length - 1],
  });
}
