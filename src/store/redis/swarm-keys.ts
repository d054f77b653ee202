/**
 * Redis key names of a swarm. Every key of one swarm carries the info hash as hash tag, so all of them live in
 * one cluster slot and one script can touch them atomically. The tag is hex: a raw binary hash whose first byte
 * is `}` would leave an empty tag (and split the swarm over slots).
 */
import type { InfoHash } from '../../protocol/types.js';

export interface WireSwarmKeys {
  /** HASH: compact ip:port → flags; `s` seeders, `d` downloads. */
  readonly peers: string;
  readonly expiryV4: string;
  readonly expiryV6: string;
}

export interface WsSwarmKeys {
  /** HASH: peer_id → flags + route; `s` seeders, `d` downloads. */
  readonly peers: string;
  readonly expiry: string;
}

export const WIRE_SWARM_PATTERN = 'h:{*';
export const WS_SWARM_PATTERN = 'w:{*';

export function wireSwarmKeys(infoHash: InfoHash): WireSwarmKeys {
  const tag = Buffer.from(infoHash, 'latin1').toString('hex');
  return { peers: `h:{${tag}}`, expiryV4: `z4:{${tag}}`, expiryV6: `z6:{${tag}}` };
}

export function wsSwarmKeys(infoHash: InfoHash): WsSwarmKeys {
  const tag = Buffer.from(infoHash, 'latin1').toString('hex');
  return { peers: `w:{${tag}}`, expiry: `wz:{${tag}}` };
}

/** The info hash in a swarm key (`h:{…}` or `w:{…}`). */
export function infoHashOfKey(key: string): InfoHash {
  return Buffer.from(key.slice(key.indexOf('{') + 1, -1), 'hex').toString('latin1');
}
