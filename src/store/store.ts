/**
 * The one interface between the servers and swarm state. Two implementations pass one conformance suite
 * (test/store/conformance.ts): the embedded memory store and the Redis store.
 */
import type { AnnounceEvent, AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../protocol/types.js';

/**
 * A WebTorrent peer announcing over WebSocket. WebSocket peers live in swarms of their own, apart from the
 * HTTP/UDP peers of the same info hash (a browser cannot dial a TCP peer, nor a TCP client use an SDP offer).
 * They are known by peer_id, and `route` says where their socket is, so that offers and answers can be delivered.
 */
export interface WsAnnounceRequest {
  readonly infoHash: InfoHash;
  /** 20-character binary string. */
  readonly peerId: string;
  /** Opaque address of the peer's socket, made by the message router (at most 64 bytes). */
  readonly route: string;
  readonly event: AnnounceEvent;
  readonly seeder: boolean;
  /** How many other peers to return (as offer targets); 0 still registers the peer. */
  readonly numwant: number;
  /** The socket's passkey (from its upgrade path), already checked as known; absent when none was given. */
  readonly passkey?: string;
  /**
   * The peer's IP address (4 or 16 bytes as a binary string), for locality mode's choice of offer targets
   * (the embedded store only; the Redis store ignores it).
   */
  readonly ip?: string;
  /** For swarm events only (docs/events.md): the byte counts as sent, absent when not sent. */
  readonly uploaded?: number;
  readonly downloaded?: number;
  readonly left?: number;
  /** A `stopped` that is the coordinator removing a dead process's peer: its event says `removed`. */
  readonly removed?: boolean;
}

export interface WsPeer {
  readonly peerId: string;
  readonly route: string;
}

export interface WsAnnounceResult extends ScrapeCounts {
  /** Distinct random live WebSocket peers of the swarm, never the requester. */
  readonly peers: WsPeer[];
  /**
   * True when the peer is held by another live route: the announce changed nothing, `peers` is empty and the
   * counts are the swarm's as they are.
   */
  readonly conflict: boolean;
}

export interface SweepResult {
  /** Peers removed because they had not announced within the peer TTL. */
  readonly peersRemoved: number;
  /** Swarms removed because they became empty. */
  readonly swarmsRemoved: number;
}

/** HTTP/UDP swarms with a peer, and their peers (both address families). */
export interface StoreStats {
  readonly swarms: number;
  readonly seeders: number;
  readonly leechers: number;
}

export interface PeerCounts {
  readonly seeders: number;
  readonly leechers: number;
}

/**
 * The store's totals: HTTP/UDP swarms and their peers by address family, WebSocket swarms and their peers.
 * A swarm counts while it has a peer, and its peers as the store holds them: an expired peer of a swarm nobody
 * touched since stays counted until the swarm is touched, swept (embedded store) or reclaimed by its keys' TTL
 * (Redis, whose totals drop such a swarm within a minute of that; docs/scaling.md).
 */
export interface StoreTotals {
  readonly swarms: number;
  readonly ipv4: PeerCounts;
  readonly ipv6: PeerCounts;
  readonly ws: { readonly swarms: number } & PeerCounts;
}

/** The HTTP/UDP summary of totals. */
export function statsOf(totals: StoreTotals): StoreStats {
  return {
    swarms: totals.swarms,
    seeders: totals.ipv4.seeders + totals.ipv6.seeders,
    leechers: totals.ipv4.leechers + totals.ipv6.leechers,
  };
}

export interface Store {
  /**
   * True when expired peers of untouched swarms are only reclaimed by sweep(), which the tracker then runs
   * every --sweep-interval; false for a store that expires by itself (Redis key TTLs).
   */
  readonly periodicSweep: boolean;
  /**
   * Records the announce (a `stopped` removes the peer) and returns the swarm's counts and up to
   * `numwant` random peers of the requester's address family, never the requester itself.
   * Expired peers are never returned and never counted.
   */
  announce(request: AnnounceRequest): Promise<AnnounceResult>;
  /** Counts of HTTP/UDP peers for each hash, in order; zeros for unknown swarms. */
  scrape(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]>;
  /**
   * Records a WebSocket announce and returns the WebSocket swarm's counts and up to `numwant` of its peers.
   * A peer is its (info hash, peer_id), and it belongs to the route that announced it first until that route
   * stops it or it expires: an announce of it with any other route (any event, `stopped` included) changes
   * nothing and reports `conflict`, so nobody can take over or drop a peer by sending its peer_id (a reconnect
   * whose old socket's close was lost waits for the old entry to expire). `completed` counts once per peer.
   */
  announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult>;
  /**
   * announceWs answered at once, when the store can (the embedded store, unless swarm events must be appended
   * first; the Redis store for a re-announce its announce cache holds); undefined means "call announceWs".
   * Saves the WebSocket server a promise round trip per announce, and lets its replies and offers leave within
   * the socket's callback.
   */
  announceWsNow?(request: WsAnnounceRequest): WsAnnounceResult | undefined;
  /** Counts of WebSocket peers for each hash, in order; zeros for unknown swarms. */
  scrapeWs(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]>;
  /** Every HTTP/UDP swarm's hash, for a full scrape (only when the operator enabled it). */
  listSwarms(limit: number): Promise<InfoHash[]>;
  /** Every WebSocket swarm's hash, for a full scrape over WebSocket. */
  listWsSwarms(limit: number): Promise<InfoHash[]>;
  /** Removes expired peers and the swarms they leave empty, WebSocket ones included (counted in the result). */
  sweep(): Promise<SweepResult>;
  /** HTTP/UDP swarms and peers only: statsOf(totals()). */
  stats(): Promise<StoreStats>;
  /**
   * Totals kept as swarms change: the cost does not grow with the swarms, and reading changes nothing (no
   * peer is expired by it).
   */
  totals(): Promise<StoreTotals>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Seconds an HTTP/UDP peer stays in a swarm after its last announce. */
  peerTtlSeconds: number;
  /**
   * Seconds a WebSocket peer stays after its last announce. Closing its socket removes it at once; this only
   * bounds what a lost close (a crashed process) leaves behind.
   */
  wsPeerTtlSeconds: number;
  /** Current time in whole seconds; injectable so tests can move time. */
  now: () => number;
  /**
   * Locality mode, read on every announce (a reload applies at once): the share of each reply kept random, or
   * null when off. Only the embedded store uses it (docs/protocol-behaviour.md); absent means off.
   */
  localityShare?: () => number | null;
}

export const ZERO_COUNTS: ScrapeCounts = Object.freeze({ complete: 0, incomplete: 0, downloaded: 0 });

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
