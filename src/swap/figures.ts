// The figures of a swap run: per request type, the count, latency
// percentiles (nearest rank) and a histogram in power-of-two buckets; the
// depth of each queue over time; prefetch hits and wasted prefetches; guest
// stall time; the swap counters under virtio-balloon's names.
import type { DepthSample } from "./device-sim.js";
import { REQUEST_TYPES, type RequestType } from "./request.js";
import type { PrefetchCounters } from "./swap-device.js";
import type { VmSwapCounters } from "./swapped-vm.js";

/** One histogram bucket: requests whose latency is in (previous bucket's upToNs, upToNs]. */
export interface HistogramBucket {
  readonly upToNs: number;
  readonly count: number;
}

export interface LatencyFigures {
  readonly count: number;
  /** Nearest-rank percentiles, ns (0 when count is 0). */
  readonly p50Ns: number;
  readonly p99Ns: number;
  readonly p999Ns: number;
  readonly maxNs: number;
  readonly meanNs: number;
  /** Buckets of 1 µs × 2^k, from the first to the last non-empty one. */
  readonly histogram: readonly HistogramBucket[];
}

export type PerType<T> = Readonly<Record<RequestType, T>>;

export interface SwapFigures {
  readonly latency: PerType<LatencyFigures>;
  /** Most requests of each type queued or at the device, per interval. */
  readonly depth: readonly DepthSample[];
  readonly maxDepth: PerType<number>;
  readonly prefetch: PrefetchCounters;
  readonly counters: VmSwapCounters;
}

/** Nearest-rank percentile `p` (0..1] of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

const BUCKET_BASE_NS = 1_000;

/** The bucket index of `ns`: 0 for <= 1 µs, k for (2^(k-1), 2^k] µs. */
export function bucketOf(ns: number): number {
  return ns <= BUCKET_BASE_NS ? 0 : Math.ceil(Math.log2(ns / BUCKET_BASE_NS));
}

export function latencyFigures(latenciesNs: readonly number[]): LatencyFigures {
  const sorted = Float64Array.from(latenciesNs).sort();
  const counts: number[] = [];
  let sum = 0;
  for (const ns of sorted) {
    const b = bucketOf(ns);
    while (counts.length <= b) counts.push(0);
    counts[b]++;
    sum += ns;
  }
  const first = counts.findIndex((c) => c > 0);
  const histogram = first < 0 ? [] : counts.slice(first).map((count, i) => Object.freeze({ upToNs: BUCKET_BASE_NS * 2 ** (first + i), count }));
  return Object.freeze({
    count: sorted.length,
    p50Ns: percentile(sorted, 0.5),
    p99Ns: percentile(sorted, 0.99),
    p999Ns: percentile(sorted, 0.999),
    maxNs: sorted.length === 0 ? 0 : sorted[sorted.length - 1],
    meanNs: sorted.length === 0 ? 0 : sum / sorted.length,
    histogram: Object.freeze(histogram),
  });
}

export function perTypeLatency(latenciesNs: Readonly<Record<RequestType, readonly number[]>>): PerType<LatencyFigures> {
  return Object.freeze(Object.fromEntries(REQUEST_TYPES.map((t) => [t, latencyFigures(latenciesNs[t])])) as Record<RequestType, LatencyFigures>);
}

export function maxDepth(samples: readonly DepthSample[]): PerType<number> {
  const max = { demand: 0, prefetch: 0, writeBack: 0 };
  for (const s of samples) for (const t of REQUEST_TYPES) if (s[t] > max[t]) max[t] = s[t];
  return Object.freeze(max);
}
