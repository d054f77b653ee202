/**
 * Redis key names of a swarm. Every key of one swarm carries the info hash as hash tag, so all of them live in
 * one cluster slot and one script can touch them atomically. The tag is hex: a raw binary hash whose first byte
 * is `}` would leave an empty tag (and split the swarm over slots).
 */
import type { InfoHash } from '../../protocol/types.js';

/** The layout of each key is described in lua/swarm-lib.lua. */
export interface WireSwarmKeys {
  /** HASH: `s` seeders, `d` downloads. */
  readonly counters: string;
  /** ZSET: compact IPv4 peer → expiry × 4 + flags. */
  readonly peersV4: string;
  /** ZSET: compact IPv6 peer → expiry × 4 + flags. */
  readonly peersV6: string;
}

export interface WsSwarmKeys {
  /** HASH: `s` seeders, `d` downloads, peer_id → route. */
  readonly routes: string;
  /** ZSET: peer_id → expiry × 4 + flags. */
  readonly peers: string;
}

/** SCAN patterns of the keys every live swarm has: one peer ZSET at least (the HASH may not exist yet). */
export const WIRE_V4_PATTERN = 'z4:{*';
export const WIRE_V6_PATTERN = 'z6:{*';
export const WS_PATTERN = 'wz:{*';

export function wireSwarmKeys(infoHash: InfoHash): WireSwarmKeys {
  const tag = Buffer.from(infoHash, 'latin1').toString('hex');
  return { counters: `h:{${tag}}`, peersV4: `z4:{${tag}}`, peersV6: `z6:{${tag}}` };
}

export function wsSwarmKeys(infoHash: InfoHash): WsSwarmKeys {
  const tag = Buffer.from(infoHash, 'latin1').toString('hex');
  return { routes: `w:{${tag}}`, peers: `wz:{${tag}}` };
}

/** The info hash in a swarm key. */
export function infoHashOfKey(key: string): InfoHash {
  return Buffer.from(key.slice(key.indexOf('{') + 1, -1), 'hex').toString('latin1');
}
