/**
 * The unit every abuse limit counts: a source is an IPv4 address or an IPv6 /64. One host, or one LAN behind one
 * router, holds a whole /64, so counting single IPv6 addresses would give it 2^64 separate budgets.
 */
import { COMPACT_V4_LENGTH, type CompactPeer } from '../protocol/types.js';

/** A source as a Map key: an IPv4 address as a number, an IPv6 /64 as a 4-character string (never equal). */
export type SourceKey = number | string;

export function sourceKey(peer: CompactPeer): SourceKey {
  if (peer.length === COMPACT_V4_LENGTH) return (peer[0]! << 24) | (peer[1]! << 16) | (peer[2]! << 8) | peer[3]!;
  return String.fromCharCode((peer[0]! << 8) | peer[1]!, (peer[2]! << 8) | peer[3]!, (peer[4]! << 8) | peer[5]!, (peer[6]! << 8) | peer[7]!);
}
