/**
 * The codec of the store's function calls: FCALL commands written as bytes into one buffer (keys and argument
 * in place, the constant head encoded once), the arguments at the offsets of function-contract.ts, and the
 * replies decoded from the swarm header's fields. This is the announce hot path: nothing here allocates beyond
 * the command buffer and the decoded result.
 */
import type { AnnounceResult, InfoHash, ScrapeCounts } from '../../protocol/types.js';
import type { WsAnnounceResult, WsPeer } from '../store.js';
import { ANNOUNCE_ARGUMENTS, GENERATIONS, HEADER_FIELD, REFRESH_ARGUMENTS, REFRESH_TAGS, SCRAPE_ARGUMENTS, STATS_BUCKET, STATS_COUNTS, STATS_HEAD, SWARM_HEADER, WS_CONFLICT } from './function-contract.js';
import type { EventTail } from '../../events/store-events.js';
import type { Reply } from './resp.js';
import { KEY_LENGTH, SLOTS, STATS_KEY_LENGTH, swarmSlot, writeKey, writeStatsKey, type EventPartitions } from './swarm-keys.js';

/** Bytes of the fixed part of an announce's argument; the peer follows. */
export const ANNOUNCE_ARGS_SIZE = ANNOUNCE_ARGUMENTS.size;
/** Bytes of a scrape's argument. */
export const SCRAPE_ARGS_SIZE = SCRAPE_ARGUMENTS.size;

// Offsets as plain constants: the hot path reads no layout objects.
const HEADER_SIZE = SWARM_HEADER.size;
const FIRST_COUNT_AT = SWARM_HEADER.offset.first_count;
const SECOND_COUNT_AT = SWARM_HEADER.offset.second_count;
const SEEDERS_AT = SWARM_HEADER.offset.seeders;
const WIDTH_AT = SWARM_HEADER.offset.width;
const DOWNLOADED_AT = SWARM_HEADER.offset.downloaded;
const FIRST_OLDEST_AT = SWARM_HEADER.offset.first_oldest;
const SECOND_OLDEST_AT = SWARM_HEADER.offset.second_oldest;
const KEYS_UNTIL_AT = SWARM_HEADER.offset.keys_until;
const GENERATION_SECONDS_AT = SWARM_HEADER.offset.generation_seconds;

const NOW_AT = ANNOUNCE_ARGUMENTS.offset.now;
const TTL_AT = ANNOUNCE_ARGUMENTS.offset.ttl;
const NUMWANT_AT = ANNOUNCE_ARGUMENTS.offset.numwant;
const RANDOM_AT = ANNOUNCE_ARGUMENTS.offset.random;
const LIMIT_AT = ANNOUNCE_ARGUMENTS.offset.limit;
const EVENT_AT = ANNOUNCE_ARGUMENTS.offset.event;
const SEEDER_AT = ANNOUNCE_ARGUMENTS.offset.seeder;

const SCRAPE_NOW_AT = SCRAPE_ARGUMENTS.offset.now;
const SCRAPE_LIMIT_AT = SCRAPE_ARGUMENTS.offset.limit;
const SCRAPE_TTL_AT = SCRAPE_ARGUMENTS.offset.ttl;

/** With swarm events on: the partitions, and how many event arguments follow the function's argument. */
export interface EventCallShape {
  readonly partitions: EventPartitions;
  readonly args: number;
}

/**
 * An FCALL of one function on one swarm's keys and its slot's stats key (last): the constant head of the
 * command, encoded once. With events on, the partition's stream is one more key, and the event's arguments
 * (encoded by the caller, `tail`) follow the function's argument.
 */
export class FunctionCall {
  private readonly head: Buffer;
  /** Each partition's stream and expiry index keys as RESP bulk strings (events on). */
  private readonly streamBulks: readonly Buffer[] = [];

  constructor(
    name: string,
    private readonly kinds: readonly string[],
    private readonly events?: EventCallShape,
  ) {
    const keys = kinds.length + 1 + (events === undefined ? 0 : 2);
    this.head = Buffer.from(`*${4 + keys + (events?.args ?? 0)}\r\n$5\r\nFCALL\r\n$${name.length}\r\n${name}\r\n$${String(keys).length}\r\n${keys}\r\n`, 'latin1');
    if (events !== undefined) {
      const { streams, expiryIndexes } = events.partitions;
      this.streamBulks = streams.map((stream, p) => Buffer.from(`$${stream.length}\r\n${stream}\r\n$${expiryIndexes[p]!.length}\r\n${expiryIndexes[p]}\r\n`, 'latin1'));
    }
  }

  /**
   * The command for the swarm with room for an argument of `size` bytes, which start at `argumentAt(...)`.
   * `tail`: the event arguments (events on).
   */
  command(infoHash: InfoHash, size: number, tail?: EventTail): Buffer {
    const sizeLine = `$${size}\r\n`;
    const partitions = this.events?.partitions;
    const stream = partitions === undefined ? undefined : this.streamBulks[partitions.partitionOf(infoHash)]!;
    const tailLength = stream === undefined || tail === undefined ? 0 : tail.length;
    const extra = stream === undefined ? 0 : stream.length + tailLength;
    const out = Buffer.allocUnsafe(this.head.length + this.kinds.length * (KEY_LENGTH + 7) + STATS_KEY_LENGTH + 6 + sizeLine.length + size + 2 + extra);
    let at = this.head.copy(out, 0);
    for (const kind of this.kinds) {
      out[at] = 0x24; // $26\r\n
      out[at + 1] = 0x32;
      out[at + 2] = 0x36;
      out[at + 3] = 13;
      out[at + 4] = 10;
      at = writeKey(out, at + 5, kind, infoHash, partitions);
      out[at] = 13;
      out[at + 1] = 10;
      at += 2;
    }
    out[at] = 0x24; // $6\r\n
    out[at + 1] = 0x30 + STATS_KEY_LENGTH;
    out[at + 2] = 13;
    out[at + 3] = 10;
    at = writeStatsKey(out, at + 4, swarmSlot(infoHash, partitions));
    out[at] = 13;
    out[at + 1] = 10;
    at += 2;
    if (stream !== undefined) at += stream.copy(out, at);
    out.write(sizeLine, at, 'latin1');
    const end = out.length - tailLength;
    out[end - 2] = 13;
    out[end - 1] = 10;
    if (tailLength > 0) out.set(tail!, end);
    return out;
  }
}

/** Where the argument starts in a command of FunctionCall.command (`tail`: the event arguments after it). */
export function argumentAt(command: Buffer, size: number, tail?: EventTail): number {
  return command.length - 2 - size - (tail === undefined ? 0 : tail.length);
}

/** Writes the fixed part of an announce's argument (ANNOUNCE_ARGUMENTS) at `at`. */
export function writeAnnounceArguments(
  out: Buffer,
  at: number,
  now: number,
  ttl: number,
  numwant: number,
  random: number,
  limit: number,
  event: number,
  seeder: number,
): void {
  out.writeUInt32LE(now, at + NOW_AT);
  out.writeUInt32LE(ttl, at + TTL_AT);
  out.writeUInt32LE(numwant, at + NUMWANT_AT);
  out.writeUInt32LE(random, at + RANDOM_AT);
  out.writeUInt32LE(limit, at + LIMIT_AT);
  out[at + EVENT_AT] = event;
  out[at + SEEDER_AT] = seeder;
}

/** Writes a scrape's argument (SCRAPE_ARGUMENTS) at `at`. */
export function writeScrapeArguments(out: Buffer, at: number, now: number, limit: number, ttl: number): void {
  out.writeUInt32LE(now, at + SCRAPE_NOW_AT);
  out.writeUInt32LE(limit, at + SCRAPE_LIMIT_AT);
  out.writeUInt32LE(ttl, at + SCRAPE_TTL_AT);
}

/** An HTTP/UDP announce: the arguments, then the peer's compact address (6 or 18 bytes). */
export function announceCommand(
  call: FunctionCall,
  infoHash: InfoHash,
  peer: Uint8Array,
  now: number,
  ttl: number,
  numwant: number,
  random: number,
  limit: number,
  event: number,
  seeder: number,
  tail?: EventTail,
): Buffer {
  const size = ANNOUNCE_ARGS_SIZE + peer.length;
  const command = call.command(infoHash, size, tail);
  const at = argumentAt(command, size, tail);
  writeAnnounceArguments(command, at, now, ttl, numwant, random, limit, event, seeder);
  command.set(peer, at + ANNOUNCE_ARGS_SIZE);
  return command;
}

/** A WebSocket announce: the arguments, then peer_id length (1 byte), peer_id (latin1), route (both ≤ 255 bytes). */
export function wsAnnounceCommand(
  call: FunctionCall,
  infoHash: InfoHash,
  peerId: string,
  route: Buffer,
  now: number,
  ttl: number,
  numwant: number,
  random: number,
  limit: number,
  event: number,
  seeder: number,
  tail?: EventTail,
): Buffer {
  const idLength = peerId.length;
  const size = ANNOUNCE_ARGS_SIZE + 1 + idLength + route.length;
  const command = call.command(infoHash, size, tail);
  const at = argumentAt(command, size, tail);
  writeAnnounceArguments(command, at, now, ttl, numwant, random, limit, event, seeder);
  command[at + ANNOUNCE_ARGS_SIZE] = idLength;
  command.write(peerId, at + ANNOUNCE_ARGS_SIZE + 1, idLength, 'latin1');
  route.copy(command, at + ANNOUNCE_ARGS_SIZE + 1 + idLength);
  return command;
}

/**
 * A peer as the announce cache keys its collected changes (announce-cache.ts), which refreshCommand writes back
 * as bytes: an IPv4 peer as the number of its 6 bytes (no string made on the hot path), an IPv6 peer as its 18
 * bytes in latin1.
 */
export type PeerKey = number | string;

export function peerKey(peer: Uint8Array): PeerKey {
  if (peer.length === 6) return (((peer[0]! << 24) | (peer[1]! << 16) | (peer[2]! << 8) | peer[3]!) >>> 0) * 65536 + ((peer[4]! << 8) | peer[5]!);
  return Buffer.from(peer.buffer, peer.byteOffset, peer.length).toString('latin1');
}

/** A refresh's command with an argument of `size` bytes, its fixed part written; where its peers start. */
function refreshArguments(call: FunctionCall, infoHash: InfoHash, size: number, now: number, ttl: number, limit: number): [Buffer, number] {
  const command = call.command(infoHash, size);
  const at = argumentAt(command, size);
  command.writeUInt32LE(now, at + REFRESH_ARGUMENTS.offset.now);
  command.writeUInt32LE(ttl, at + REFRESH_ARGUMENTS.offset.ttl);
  command.writeUInt32LE(limit, at + REFRESH_ARGUMENTS.offset.limit);
  return [command, at + REFRESH_ARGUMENTS.size];
}

/**
 * A refresh (the announce cache's collected changes of one swarm): the arguments, then each peer's tag byte
 * (REFRESH_TAGS) and compact address. `peers`: the peer (PeerKey) → its REFRESH_TAGS bits but `ipv6`.
 */
export function refreshCommand(call: FunctionCall, infoHash: InfoHash, peers: ReadonlyMap<PeerKey, number>, now: number, ttl: number, limit: number): Buffer {
  let size = REFRESH_ARGUMENTS.size;
  for (const peer of peers.keys()) size += typeof peer === 'number' ? 7 : 19;
  const [command, first] = refreshArguments(call, infoHash, size, now, ttl, limit);
  let at = first;
  for (const [peer, tags] of peers) {
    if (typeof peer === 'number') {
      command[at] = tags;
      command.writeUInt32BE(Math.floor(peer / 65536), at + 1);
      command.writeUInt16BE(peer % 65536, at + 5);
      at += 7;
    } else {
      command[at] = REFRESH_TAGS.ipv6 | tags;
      at += 1 + command.write(peer, at + 1, 'latin1');
    }
  }
  return command;
}

/** A refresh's reply: the swarm's header after it. */
export function decodeRefresh(reply: Reply): ScrapeCounts {
  if (!Buffer.isBuffer(reply) || reply.length < HEADER_SIZE) throw new Error('Redis: unexpected reply to a refresh');
  return countsOf(reply);
}

/** A WebSocket peer of a refresh: its peer_id (latin1), its route (at most 255 bytes of UTF-8) and its REFRESH_TAGS bits. */
export interface WsRefresh {
  readonly peerId: string;
  readonly route: string;
  readonly tags: number;
}

/** A WebSocket refresh (ws-announce-cache.ts): the arguments, then per peer its tag byte, peer_id and route after their lengths. */
export function refreshWsCommand(call: FunctionCall, infoHash: InfoHash, peers: readonly WsRefresh[], now: number, ttl: number, limit: number): Buffer {
  let size = REFRESH_ARGUMENTS.size;
  for (const peer of peers) size += 3 + peer.peerId.length + Buffer.byteLength(peer.route, 'utf8');
  const [command, first] = refreshArguments(call, infoHash, size, now, ttl, limit);
  let at = first;
  for (const { peerId, route, tags } of peers) {
    command[at] = tags;
    command[at + 1] = peerId.length;
    at += 2 + command.write(peerId, at + 2, 'latin1');
    const length = command.write(route, at + 1, 'utf8');
    command[at] = length;
    at += 1 + length;
  }
  return command;
}

/** A WebSocket refresh's reply: the swarm's counts after it, and which peers (their positions in the call, from 0) it left alone. */
export function decodeWsRefresh(reply: Reply): { counts: ScrapeCounts; lost: number[] } {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0]) || !Array.isArray(reply[1])) throw new Error('Redis: unexpected reply to a refresh');
  const header = reply[0];
  const counts = header.length < HEADER_SIZE ? { complete: 0, incomplete: 0, downloaded: 0 } : countsOf(header);
  return { counts, lost: reply[1].map((position) => (position as number) - 1) };
}

export function scrapeCommand(call: FunctionCall, infoHash: InfoHash, now: number, limit: number, ttl: number, tail?: EventTail): Buffer {
  const command = call.command(infoHash, SCRAPE_ARGS_SIZE, tail);
  writeScrapeArguments(command, argumentAt(command, SCRAPE_ARGS_SIZE, tail), now, limit, ttl);
  return command;
}

/** The header and entries of an announce reply. */
function announceParts(reply: Reply): [Buffer, Buffer] {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0]) || !Buffer.isBuffer(reply[1]) || reply[0].length < HEADER_SIZE) {
    throw new Error('Redis: unexpected reply to an announce');
  }
  return [reply[0], reply[1]];
}

/** complete, incomplete, downloaded from a swarm header. */
export function countsOf(header: Buffer): ScrapeCounts {
  const seeders = header.readUInt32LE(SEEDERS_AT);
  return {
    complete: seeders,
    incomplete: header.readUInt32LE(FIRST_COUNT_AT) + header.readUInt32LE(SECOND_COUNT_AT) - seeders,
    downloaded: header.readDoubleLE(DOWNLOADED_AT),
  };
}

export function decodeAnnounce(reply: Reply): AnnounceResult {
  const [header, peers] = announceParts(reply);
  const seeders = header.readUInt32LE(SEEDERS_AT);
  return {
    complete: seeders,
    incomplete: header.readUInt32LE(FIRST_COUNT_AT) + header.readUInt32LE(SECOND_COUNT_AT) - seeders,
    downloaded: header.readDoubleLE(DOWNLOADED_AT),
    peers,
  };
}

export function decodeWsAnnounce(reply: Reply): WsAnnounceResult {
  const [header, entries] = announceParts(reply);
  // A third element: another route holds the peer, and nothing changed.
  if (Array.isArray(reply) && reply[2] === WS_CONFLICT) return { ...countsOf(header), peers: [], conflict: true };
  const stride = header.readUInt32LE(WIDTH_AT);
  const peers: WsPeer[] = [];
  // Entries: peer_id length, peer_id, route length, route, padding.
  for (let at = 0; stride > 0 && at + stride <= entries.length; at += stride) {
    const routeAt = at + 2 + entries[at]!;
    peers.push({ peerId: entries.toString('latin1', at + 1, routeAt - 1), route: entries.toString('utf8', routeAt, routeAt + entries[routeAt - 1]!) });
  }
  return { ...countsOf(header), peers, conflict: false };
}

export interface ScrapeReply extends ScrapeCounts {
  readonly removed: number;
}

/** A scrape's reply: the swarm's header (empty when there is no swarm) and the peers it removed as expired. */
export function decodeScrape(reply: Reply): ScrapeReply {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0]) || typeof reply[1] !== 'number') throw new Error('Redis: unexpected reply to a scrape');
  const header = reply[0];
  if (header.length < HEADER_SIZE) return { complete: 0, incomplete: 0, downloaded: 0, removed: reply[1] };
  return { ...countsOf(header), removed: reply[1] };
}

/** `HGET <the swarm's peers hash> HEADER_FIELD`: a swarm's header, read without running a function. */
export function headerCommand(hashKind: string, infoHash: InfoHash, partitions?: EventPartitions): Buffer {
  const head = `*3\r\n$4\r\nHGET\r\n$${KEY_LENGTH}\r\n`;
  const tail = `\r\n$${HEADER_FIELD.length}\r\n${HEADER_FIELD}\r\n`;
  const out = Buffer.allocUnsafe(head.length + KEY_LENGTH + tail.length);
  out.write(head, 0, 'latin1');
  out.write(tail, writeKey(out, head.length, hashKind, infoHash, partitions), 'latin1');
  return out;
}

/**
 * The counts of a swarm's header (`reply`: HGET of it) when the scrape function would return them unchanged:
 * no swarm (zeros), or one that has nothing to expire — the same test as the functions' `not_due` (no list has
 * reached the age where a peer of it may have expired, its generations are of this TTL, and its keys are not
 * past their TTL). Otherwise undefined: the scrape function must run, and expire it first.
 */
export function settledCounts(reply: Reply, now: number, ttl: number): ScrapeCounts | undefined {
  if (reply === null) return { complete: 0, incomplete: 0, downloaded: 0 };
  if (!Buffer.isBuffer(reply)) throw new Error("Redis: unexpected reply to a swarm header's read");
  if (reply.length < HEADER_SIZE) return undefined; // the previous layout: the function converts it
  const seconds = reply.readUInt32LE(GENERATION_SECONDS_AT);
  if (seconds !== Math.max(1, Math.ceil(ttl / GENERATIONS))) return undefined;
  const generation = Math.floor(now / seconds);
  const live = Math.ceil(ttl / seconds);
  const first = reply.readUInt32LE(FIRST_COUNT_AT);
  const second = reply.readUInt32LE(SECOND_COUNT_AT);
  if (first > 0 && generation - reply.readUInt32LE(FIRST_OLDEST_AT) >= live) return undefined;
  if (second > 0 && generation - reply.readUInt32LE(SECOND_OLDEST_AT) >= live) return undefined;
  if (first + second > 0 && now >= reply.readUInt32LE(KEYS_UNTIL_AT) + seconds) return undefined;
  return countsOf(reply);
}

export function decodeCounts(reply: Reply): ScrapeCounts {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0])) throw new Error('Redis: unexpected reply to a scrape');
  return reply[0].length < HEADER_SIZE ? { complete: 0, incomplete: 0, downloaded: 0 } : countsOf(reply[0]);
}

// A slot's totals (STATS_HEAD, then STATS_BUCKET records; a free one ends at 0).
const STATS_HEAD_SIZE = STATS_HEAD.size;
const EARLIEST_END_AT = STATS_HEAD.offset.earliest_end;
const STATS_BUCKET_SIZE = STATS_BUCKET.size;
const BUCKET_END_AT = STATS_BUCKET.offset.bucket_end;
const BUCKET_COUNTS_AT = STATS_BUCKET.offset.wire_swarms;
const COUNT_OFFSETS = STATS_COUNTS.names.map((name) => STATS_COUNTS.offset[name]);
/** The fields of STATS_COUNTS, in order. */
export const STATS_FIELDS = STATS_COUNTS.names.length;

export type StatsCounts = Record<(typeof STATS_COUNTS.names)[number], number>;

/** Sums (STATS_COUNTS' fields in order) by name; below zero is drift (see STATS_COUNTS), read as zero. */
export function namedCounts(sums: readonly number[]): StatsCounts {
  const counts = {} as StatsCounts;
  STATS_COUNTS.names.forEach((name, f) => {
    counts[name] = Math.max(0, sums[f]!);
  });
  return counts;
}

/**
 * One read of the head of every slot's stats key (its totals and its earliest bucket end): `GETRANGE st{tag} 0
 * 35` per slot (the commands side by side in one buffer, each a view of it).
 */
export function statsHeadCommands(): Buffer[] {
  const head = Buffer.from(`*4\r\n$8\r\nGETRANGE\r\n$${STATS_KEY_LENGTH}\r\n`, 'latin1');
  const tail = Buffer.from(`\r\n$1\r\n0\r\n$${String(STATS_HEAD_SIZE - 1).length}\r\n${STATS_HEAD_SIZE - 1}\r\n`, 'latin1');
  const size = head.length + STATS_KEY_LENGTH + tail.length;
  const all = Buffer.allocUnsafe(SLOTS * size);
  const commands = new Array<Buffer>(SLOTS);
  for (let slot = 0; slot < SLOTS; slot++) {
    const at = slot * size;
    head.copy(all, at);
    writeStatsKey(all, at + head.length, slot);
    tail.copy(all, at + head.length + STATS_KEY_LENGTH);
    commands[slot] = all.subarray(at, at + size);
  }
  return commands;
}

/** `GET st{tag}`: the whole of a slot's totals. */
export function statsCommand(slot: number): Buffer {
  const head = Buffer.from(`*2\r\n$3\r\nGET\r\n$${STATS_KEY_LENGTH}\r\n`, 'latin1');
  const out = Buffer.allocUnsafe(head.length + STATS_KEY_LENGTH + 2);
  head.copy(out, 0);
  writeStatsKey(out, head.length, slot);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/**
 * Adds a slot's counts as of `now` (its buckets that have not ended) to `sums` (STATS_COUNTS' fields in order).
 * `value`: the slot's stats key, or its head (statsHeadCommands); a head whose earliest bucket has ended does
 * not say what is left, so then nothing is added and the answer is false: read the whole value.
 */
export function addSlotCounts(sums: number[], value: Reply, now: number): boolean {
  if (value === null || (Buffer.isBuffer(value) && value.length === 0)) return true;
  if (!Buffer.isBuffer(value) || value.length < STATS_HEAD_SIZE) throw new Error("Redis: unexpected value of a slot's totals");
  const earliest = value.readUInt32BE(EARLIEST_END_AT);
  if (earliest === 0 || earliest > now) {
    // No bucket has ended: the totals are the slot's counts.
    for (let f = 0; f < STATS_FIELDS; f++) sums[f]! += value.readInt32BE(COUNT_OFFSETS[f]!);
    return true;
  }
  if (value.length === STATS_HEAD_SIZE) return false;
  for (let at = STATS_HEAD_SIZE; at + STATS_BUCKET_SIZE <= value.length; at += STATS_BUCKET_SIZE) {
    if (value.readUInt32BE(at + BUCKET_END_AT) <= now) continue; // ended, or free (0)
    for (let f = 0; f < STATS_FIELDS; f++) sums[f]! += value.readInt32BE(at + BUCKET_COUNTS_AT + COUNT_OFFSETS[f]!);
  }
  return true;
}
