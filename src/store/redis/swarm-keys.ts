/**
 * Redis keys of a swarm, written straight into command buffers. Every key of one swarm carries the same hash
 * tag, so all of them live in one cluster slot and one function call touches them atomically:
 *
 *   <2-byte kind> "{" <tag: the info hash's first 2 bytes> "}" <the 20-byte info hash>     (26 bytes)
 *
 * The tag is binary: two bytes give each of the 16384 slots exactly 4 tag values (CRC16 is a bijection on
 * 16 bits), so swarms spread evenly. A `}` in the tag would end it early, so 0x7d becomes 0xfd there (those
 * tags share slots with the 0xfd ones: still one slot per swarm). The layout of each kind: lua/swarm-functions.lua.
 *
 * Each slot also has one stats key, `st{<tag>}` (6 bytes) with one canonical tag of that slot: the totals of
 * the swarms in the slot, kept by the same function calls (function-contract.ts, STATS_COUNTS).
 *
 * With swarm events on (docs/events.md), a swarm's tag is its event partition's instead (EventPartitions
 * below): the same 26-byte layout, so that its functions can append to the partition's stream atomically.
 */
import type { InfoHash } from '../../protocol/types.js';

export const KEY_LENGTH = 26;

/** The kinds of key of an HTTP/UDP swarm, in the order its functions take them. */
export const WIRE_KEYS = ['ph', 'p4', 'p6'] as const;
/** The kinds of key of a WebSocket swarm, in the order its functions take them. */
export const WS_KEYS = ['wh', 'wp'] as const;

/** The key of an HTTP/UDP swarm's IPv4 peers (a swarm has its peer lists only while it has peers). */
export const WIRE_V4_KIND = WIRE_KEYS[1];

/** SCAN patterns of the keys every live swarm has: a list of peers (the header may outlive the peers). */
export const WIRE_V4_PATTERN = `${WIRE_V4_KIND}{*`;
export const WIRE_V6_PATTERN = `${WIRE_KEYS[2]}{*`;
export const WS_PATTERN = `${WS_KEYS[1]}{*`;

const CRC16 = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  CRC16[i] = crc;
}

/** CRC16/XMODEM, as Redis Cluster hashes keys. */
export function crc16(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

function tagByte(infoHash: InfoHash, index: number): number {
  const byte = infoHash.charCodeAt(index) & 0xff;
  return byte === 0x7d ? 0xfd : byte;
}

export const SLOTS = 16384;

/** The kind of a slot's stats key. */
export const STATS_KIND = 'st';
export const STATS_KEY_LENGTH = 6;

/**
 * One tag per slot for its stats key: the first 2-byte value (no `}` in it) whose CRC16 lands in the slot.
 * Every slot has one, as CRC16 is a bijection on 16 bits (4 values per slot, few of them with a `}`).
 */
const STATS_TAGS = (() => {
  const tags = new Uint16Array(SLOTS).fill(0xffff);
  const pair = new Uint8Array(2);
  for (let value = 0; value < 0x10000; value++) {
    pair[0] = value >> 8;
    pair[1] = value & 0xff;
    if (pair[0] === 0x7d || pair[1] === 0x7d) continue;
    const slot = crc16(pair) & (SLOTS - 1);
    if (tags[slot] === 0xffff) tags[slot] = value;
  }
  return tags;
})();

/** Writes the stats key of `slot` at `at`; returns the offset after it. */
export function writeStatsKey(out: Buffer, at: number, slot: number): number {
  const tag = STATS_TAGS[slot]!;
  out[at] = STATS_KIND.charCodeAt(0);
  out[at + 1] = STATS_KIND.charCodeAt(1);
  out[at + 2] = 0x7b; // {
  out[at + 3] = tag >> 8;
  out[at + 4] = tag & 0xff;
  out[at + 5] = 0x7d; // }
  return at + STATS_KEY_LENGTH;
}

/** The stats key of a slot, as a Buffer. */
export function statsKey(slot: number): Buffer {
  const key = Buffer.allocUnsafe(STATS_KEY_LENGTH);
  writeStatsKey(key, 0, slot);
  return key;
}

/** The cluster slot of every key of the swarm (`partitions`: with events on). */
export function swarmSlot(infoHash: InfoHash, partitions?: EventPartitions): number {
  if (partitions !== undefined) return partitions.slotOf(partitions.partitionOf(infoHash));
  let crc = CRC16[tagByte(infoHash, 0)]!;
  crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ tagByte(infoHash, 1)) & 0xff]!;
  return crc & 16383;
}

/** Writes the key of `kind` (2 ASCII characters) of the swarm at `at`; returns the offset after it. */
export function writeKey(out: Buffer, at: number, kind: string, infoHash: InfoHash, partitions?: EventPartitions): number {
  out[at] = kind.charCodeAt(0);
  out[at + 1] = kind.charCodeAt(1);
  out[at + 2] = 0x7b; // {
  if (partitions === undefined) {
    out[at + 3] = tagByte(infoHash, 0);
    out[at + 4] = tagByte(infoHash, 1);
  } else {
    const tag = STATS_TAGS[partitions.slotOf(partitions.partitionOf(infoHash))]!;
    out[at + 3] = tag >> 8;
    out[at + 4] = tag & 0xff;
  }
  out[at + 5] = 0x7d; // }
  out.write(infoHash, at + 6, 20, 'latin1');
  return at + KEY_LENGTH;
}

/** The key of `kind` of the swarm, as a Buffer. */
export function swarmKey(kind: string, infoHash: InfoHash, partitions?: EventPartitions): Buffer {
  const key = Buffer.allocUnsafe(KEY_LENGTH);
  writeKey(key, 0, kind, infoHash, partitions);
  return key;
}

/** The info hash in a swarm key. */
export function infoHashOfKey(key: Buffer): InfoHash {
  return key.toString('latin1', 6, KEY_LENGTH);
}

// ----- Swarm events (docs/events.md): partitions, their slots and streams -----

/**
 * The event partitions of a deployment: partition = the info hash's first 4 bytes (big endian) mod P. Each
 * partition owns one cluster slot, the P slots spread evenly over 0..16383 (so over the masters), and every key
 * there carries one tag of that slot: its swarms' keys the slot's binary stats tag (STATS_TAGS), its stream
 * `{ev<P>.<p>.<k>}:events` a printable tag of the same slot (the smallest k that lands in the partition's
 * share of the slots), its expiry index `{…}:expiry` beside it (lua/swarm-functions.lua, events block). P is
 * part of every stream's name: streams of another P are other streams.
 */
/** At most this many partitions (16 slots each): finding their tags stays quick. */
export const MAX_EVENT_PARTITIONS = 1024;

export class EventPartitions {
  private readonly slots: Uint16Array;
  /** The stream of each partition. */
  readonly streams: readonly string[];
  /** The expiry index of each partition (swarms by when their keys expire). */
  readonly expiryIndexes: readonly string[];

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1 || count > MAX_EVENT_PARTITIONS) throw new Error(`event partitions must be 1..${MAX_EVENT_PARTITIONS}`);
    this.slots = new Uint16Array(count);
    const streams: string[] = [];
    for (let p = 0; p < count; p++) {
      const from = Math.floor((p * SLOTS) / count);
      const to = Math.floor(((p + 1) * SLOTS) / count);
      for (let k = 0; ; k++) {
        const tag = `ev${count}.${p}.${k}`;
        const slot = crc16(Buffer.from(tag, 'latin1')) & (SLOTS - 1);
        if (slot >= from && slot < to) {
          this.slots[p] = slot;
          streams.push(`{${tag}}:events`);
          break;
        }
      }
    }
    this.streams = streams;
    this.expiryIndexes = streams.map((stream) => stream.replace(/:events$/, ':expiry'));
  }

  partitionOf(infoHash: InfoHash): number {
    const word = ((infoHash.charCodeAt(0) << 24) | (infoHash.charCodeAt(1) << 16) | (infoHash.charCodeAt(2) << 8) | infoHash.charCodeAt(3)) >>> 0;
    return word % this.count;
  }

  slotOf(partition: number): number {
    return this.slots[partition]!;
  }
}
