/**
 * Bans of UDP sources that send invalid connection IDs: more than `threshold` of them within a sliding window
 * bans the source for a while. Counts and bans are exact (a ban is severe: no reply at all, so a collision must
 * not ban anyone), kept in Maps of at most `maxSources` entries each:
 * - counts in two generations, this window's and the previous one's, swapped when a window ends, so that a
 *   source's count vanishes without a timer of its own;
 * - bans with their end time, dropped when seen expired and swept whenever the counts' window turns.
 * A full table counts and bans no new source (it fails open): with spoofed source addresses anybody can make
 * up sources, and banning every one of them is not worth more memory.
 */
import type { SourceKey } from './source.js';

export type Strike = 'counted' | 'banned' | 'untracked';

export class SourceBans {
  private counts = new Map<SourceKey, number>();
  private previousCounts = new Map<SourceKey, number>();
  private readonly bans = new Map<SourceKey, number>();
  /** Start (ms) of the counts' current window; -Infinity: nothing counted yet. */
  private windowStart = -Infinity;
  private sweptAt = -Infinity;

  constructor(private readonly maxSources: number) {}

  /** Sources banned or whose bans have ended but were not swept yet; 0 means nobody is banned. */
  get size(): number {
    return this.bans.size;
  }

  banned(source: SourceKey, now: number): boolean {
    const until = this.bans.get(source);
    if (until === undefined) return false;
    if (now < until) return true;
    this.bans.delete(source);
    return false;
  }

  /** Counts one invalid connection ID from `source`; the one that takes it over `threshold` bans it for `banMs`. */
  strike(source: SourceKey, threshold: number, windowMs: number, banMs: number, now: number): Strike {
    if (now - this.windowStart >= windowMs) this.advance(windowMs, now);
    const counted = this.counts.get(source);
    if (counted === undefined && this.counts.size >= this.maxSources) return 'untracked';
    const count = (counted ?? 0) + 1;
    const stillInWindow = 1 - (now - this.windowStart) / windowMs;
    if (count + (this.previousCounts.get(source) ?? 0) * stillInWindow <= threshold) {
      this.counts.set(source, count);
      return 'counted';
    }
    // A full table is swept at most once a second: a sweep walks every ban.
    if (this.bans.size >= this.maxSources && now - this.sweptAt >= 1000) this.sweep(now);
    if (this.bans.size >= this.maxSources) return 'untracked';
    this.counts.delete(source);
    this.previousCounts.delete(source);
    this.bans.set(source, now + banMs);
    return 'banned';
  }

  private advance(windowMs: number, now: number): void {
    const older = now - this.windowStart >= 2 * windowMs;
    this.previousCounts = older ? new Map() : this.counts;
    this.counts = new Map();
    this.windowStart = older ? now : this.windowStart + windowMs;
    this.sweep(now);
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [source, until] of this.bans) if (until <= now) this.bans.delete(source);
  }
}
