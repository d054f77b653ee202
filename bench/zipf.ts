/** Zipf-like popularity for benches: item i (0-based) is drawn with weight 1 / (i + 1)^exponent. */
export class Zipf {
  private readonly cdf: Float64Array;

  constructor(
    items: number,
    exponent: number,
    private readonly random: () => number = Math.random,
  ) {
    this.cdf = new Float64Array(items);
    let total = 0;
    for (let i = 0; i < items; i++) this.cdf[i] = total += 1 / Math.pow(i + 1, exponent);
    for (let i = 0; i < items; i++) this.cdf[i]! /= total;
  }

  /** A random item index. */
  next(): number {
    const r = this.random();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
