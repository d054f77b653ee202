/**
 * The one interface between the servers and swarm state. Two implementations pass one conformance suite
 * (test/store/conformance.ts): the embedded memory store and the Redis store.
 */
import type { AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../protocol/types.js';

export interface SweepResult {
  /** Peers removed because they had not announced within the peer TTL. */
  readonly peersRemoved: number;
  /** Swarms removed because they became empty. */
  readonly swarmsRemoved: number;
}

export interface StoreStats {
  readonly swarms: number;
  readonly seeders: number;
  readonly leechers: number;
}

export interface Store {
  /**
   * Records the announce (a `stopped` removes the peer) and returns the swarm's counts and up to
   * `numwant` random peers of the requester's address family, never the requester itself.
   * Expired peers are never returned and never counted.
   */
  announce(request: AnnounceRequest): Promise<AnnounceResult>;
  /** Counts for each hash, in order; zeros for unknown swarms. */
  scrape(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]>;
  /** Every swarm's hash, for a full scrape (only when the operator enabled it). */
  listSwarms(limit: number): Promise<InfoHash[]>;
  /** Removes expired peers and the swarms they leave empty. */
  sweep(): Promise<SweepResult>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Seconds a peer stays in a swarm after its last announce. */
  peerTtlSeconds: number;
  /** Current time in whole seconds; injectable so tests can move time. */
  now: () => number;
}

export const ZERO_COUNTS: ScrapeCounts = Object.freeze({ complete: 0, incomplete: 0, downloaded: 0 });

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
