/**
 * Typed values that cross the boundary between the protocol codecs, the servers and the store.
 * Everything here is validated once, at the edge, by a codec.
 */

/**
 * A 20-byte info hash (v1 SHA-1, or a v2 SHA-256 truncated to 20 bytes per BEP 52) held as a 20-character
 * "binary" (latin1) string: cheap to use as a Map key, and the form WebTorrent's JSON protocol already uses.
 */
export type InfoHash = string;

/** A peer's compact address (BEP 23 / BEP 7): 4-byte IPv4 or 16-byte IPv6, then a 2-byte port, network order. */
export type CompactPeer = Uint8Array;

export const COMPACT_V4_LENGTH = 6;
export const COMPACT_V6_LENGTH = 18;

export type AnnounceEvent = 'none' | 'started' | 'completed' | 'stopped';

/** What a protocol codec makes of an announce: the part of it the swarm logic needs. */
export interface AnnounceRequest {
  readonly infoHash: InfoHash;
  /** The requester as peers will see it: source address (never a client-supplied `ip`) and announced port. */
  readonly peer: CompactPeer;
  readonly event: AnnounceEvent;
  /** `left == 0`: the peer has the whole torrent. */
  readonly seeder: boolean;
  /** Peers wanted, already clamped to the server's limits; 0 still registers the peer. */
  readonly numwant: number;
  /** The announce URL's passkey (docs/access-control.md), already checked as known; absent when none was given. */
  readonly passkey?: string;
  /**
   * For swarm events only (docs/events.md): the protocol, the announce's `key` parameter (UDP's as a uint32, for
   * the events to show in hex) and its byte counts as sent (absent when not sent; never used for a swarm decision).
   */
  readonly protocol?: 'http' | 'udp';
  readonly key?: string | number;
  readonly uploaded?: number;
  readonly downloaded?: number;
  readonly left?: number;
}

/** The swarm as one announcer sees it. Counts are swarm totals (the requester included). */
export interface AnnounceResult {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
  /** Concatenated compact peers of the requester's address family, never the requester itself. */
  readonly peers: Uint8Array;
}

export interface ScrapeCounts {
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

/** A request that the protocol says is malformed; its message goes back to the client. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
}
