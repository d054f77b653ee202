/**
 * Latency histogram: 8 log-spaced buckets per octave of microseconds, up to ~33 s, in a Float64Array that is
 * cheap to fill in a hot loop, to send over IPC and to sum over generator processes. A percentile is the upper
 * edge of the bucket it falls in (≤ 9% above the true value).
 */
export const LATENCY_BUCKETS = 8 * 25;

export const newHistogram = (): Float64Array => new Float64Array(LATENCY_BUCKETS);

/** The bucket of a latency of `us` microseconds. */
export function latencyBucket(us: number): number {
  const b = Math.floor(Math.log2(us + 1) * 8);
  return b < LATENCY_BUCKETS ? b : LATENCY_BUCKETS - 1;
}

function bucketUpperUs(b: number): number {
  return Math.pow(2, (b + 1) / 8) - 1;
}

/** Adds histogram `from` into `into`. */
export function addHistogram(into: Float64Array, from: ArrayLike<number>): void {
  for (let i = 0; i < LATENCY_BUCKETS; i++) into[i]! += from[i] ?? 0;
}

/** The `p` (0..1) percentile in µs, NaN when empty. */
export function percentileUs(hist: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  if (total === 0) return NaN;
  const want = total * p;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= want) return bucketUpperUs(i);
  }
  return bucketUpperUs(hist.length - 1);
}

/** The percentiles every summary prints, in µs. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(hist: ArrayLike<number>): Percentiles {
  return { p50: percentileUs(hist, 0.5), p90: percentileUs(hist, 0.9), p99: percentileUs(hist, 0.99), max: percentileUs(hist, 1) };
}
