/**
 * The one contract between the Redis store and its functions (lua/swarm-functions.lua): the swarm header's
 * layout, the argument layout of each function, the event codes and the peer flags. They are defined here
 * only. The Lua gets them as constants generated into its source when the store loads it (`functionLibrary`),
 * and the TypeScript side reads and writes bytes at the offsets derived here (function-calls.ts).
 * test/store/redis-contract.test.ts checks the derived layouts against Redis' own `struct`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EVENT_FIELDS, EVENT_SCHEMA_VERSION, SWARM_TEXT_LENGTH } from '../../events/schema.js';
import type { AnnounceEvent } from '../../protocol/types.js';
import { WIRE_KEYS, WS_KEYS } from './swarm-keys.js';

/** The `struct` field types the contract uses (Redis' Lua `struct` library, no alignment). */
const FIELD_BYTES = { I4: 4, i4: 4, B: 1, d: 8 } as const;
export type FieldType = keyof typeof FIELD_BYTES;

/** A packed record: its fields in order, the `struct` format of all of them, and each field's offset. */
export interface StructLayout<Name extends string> {
  /** Field names in order; the Lua code unpacks into locals of the same names. */
  readonly names: readonly Name[];
  readonly types: Readonly<Record<Name, FieldType>>;
  /** The `struct.pack` / `struct.unpack` format, e.g. `<I4I4d`. */
  readonly format: string;
  /** Byte order: little endian (`<`), or big endian (`>`, the order of BITFIELD's integers). */
  readonly endian: '<' | '>';
  /** Bytes of a packed record. */
  readonly size: number;
  /** Byte offset of each field in a packed record. */
  readonly offset: Readonly<Record<Name, number>>;
}

function structLayout<const Fields extends readonly (readonly [string, FieldType])[]>(
  fields: Fields,
  endian: '<' | '>' = '<',
): StructLayout<Fields[number][0]> {
  type Name = Fields[number][0];
  const offset = {} as Record<Name, number>;
  const types = {} as Record<Name, FieldType>;
  let size = 0;
  for (const [name, type] of fields as readonly (readonly [Name, FieldType])[]) {
    offset[name] = size;
    types[name] = type;
    size += FIELD_BYTES[type];
  }
  return Object.freeze({
    names: Object.freeze(fields.map(([name]) => name as Name)),
    types: Object.freeze(types),
    format: `${endian}${fields.map(([, type]) => type).join('')}`,
    endian,
    size,
    offset: Object.freeze(offset),
  });
}

/**
 * A swarm's header, the value of its peers hash's field HEADER_FIELD. A swarm has one or two peer lists:
 * HTTP/UDP swarms list IPv4 peers first and IPv6 peers second; a WebSocket swarm has only the first.
 */
export const SWARM_HEADER = structLayout([
  ['first_count', 'I4'], // entries in the first list
  ['second_count', 'I4'],
  ['first_capacity', 'I4'], // entries the list's packed string has room for
  ['second_capacity', 'I4'],
  ['first_oldest', 'I4'], // a lower bound of the list's oldest generation
  ['second_oldest', 'I4'],
  ['seeders', 'I4'],
  ['keys_until', 'I4'], // when the keys' TTL runs out (unix seconds)
  ['width', 'I4'], // bytes of a WebSocket entry
  ['downloaded', 'd'],
  ['generation_seconds', 'I4'], // the swarm's generation length
  // Appended (a header of the previous layout ends before them; its readers ignore them):
  ['second_seeders', 'I4'], // seeders of the second list (IPv6); the first list's are seeders - second_seeders
  ['counted_until', 'I4'], // the end of the bucket of its slot's totals that counts this swarm; 0: not counted
  ['counted_at', 'I4'], // that bucket's position in the slot's stats value (from 0)
]);

/** Bytes of a header of the previous layout, without the fields appended since (see SWARM_HEADER). */
export const PREVIOUS_HEADER_SIZE = SWARM_HEADER.offset.second_seeders;

/** The peers hash's field that holds the header (a peer's field is 6, 18 or 20 bytes: never this one). */
export const HEADER_FIELD = 'h';

/** The fixed part of an announce's argument (ARGV[1]); the peer follows it (function-calls.ts). */
export const ANNOUNCE_ARGUMENTS = structLayout([
  ['now', 'I4'],
  ['ttl', 'I4'],
  ['numwant', 'I4'],
  ['random', 'I4'], // picks the sample's position
  ['limit', 'I4'], // expired peers removed at most per list
  ['event', 'B'], // EVENT_CODES
  ['seeder', 'B'], // PEER_FLAGS.seeder or 0
]);

/**
 * The fixed part of a refresh's argument (ARGV[1]): the changes of announces answered from an announce cache
 * (announce-cache.ts, ws-announce-cache.ts). Each peer follows: a byte of REFRESH_TAGS bits, then its compact
 * address (6 or 18 bytes), or for a WebSocket peer its peer_id and route, each after its length (1 byte).
 */
export const REFRESH_ARGUMENTS = structLayout([
  ['now', 'I4'],
  ['ttl', 'I4'],
  ['limit', 'I4'], // expired peers removed at most per list
]);

/**
 * The byte before each peer of a refresh, bits: its seeder bit (PEER_FLAGS.seeder's value), whether it is IPv6,
 * whether it completed (apply `completed`), whether its last announce was `stopped` (then remove it; HTTP/UDP
 * only: a WebSocket stop is always a call).
 */
export const REFRESH_TAGS = Object.freeze({ seeder: 1, ipv6: 2, completed: 4, stopped: 8 });

/** A scrape's argument (ARGV[1]), the whole of it. */
export const SCRAPE_ARGUMENTS = structLayout([
  ['now', 'I4'],
  ['limit', 'I4'],
  ['ttl', 'I4'],
]);

/**
 * A slot's totals, the value of its stats key (swarm-keys.ts): STATS_HEAD (the sum of the buckets, and the
 * earliest end among them), then STATS_BUCKET records, each at a position that does not change while its
 * bucket lasts (a free one has bucket_end 0). A swarm with peers is counted in the bucket ending at its keys'
 * TTL (`keys_until`) rounded up to STATS_BUCKET_SECONDS, so its count stops when its keys expire, with no call
 * running then: readers skip a bucket once it has ended, writers free it. Its header keeps the bucket's end and
 * position. Signed counts: one that drifted (a swarm changed by an older version) never wraps around. Big
 * endian, in 4-byte fields: a change within a bucket is one BITFIELD INCRBY of the fields it changes, in place.
 */
export const STATS_COUNTS = structLayout([
  ['wire_swarms', 'i4'], // HTTP/UDP swarms with a peer
  ['v4_seeders', 'i4'],
  ['v4_leechers', 'i4'],
  ['v6_seeders', 'i4'],
  ['v6_leechers', 'i4'],
  ['ws_swarms', 'i4'], // WebSocket swarms with a peer
  ['ws_seeders', 'i4'],
  ['ws_leechers', 'i4'],
], '>');
export const STATS_HEAD = structLayout([
  ...STATS_COUNTS.names.map((name) => [name, STATS_COUNTS.types[name]] as const),
  ['earliest_end', 'I4'], // the earliest bucket_end of the buckets after it; 0: none
], '>');
export const STATS_BUCKET = structLayout([
  ['bucket_end', 'I4'], // unix seconds, a multiple of STATS_BUCKET_SECONDS; the counts below are its
  ...STATS_COUNTS.names.map((name) => [name, STATS_COUNTS.types[name]] as const),
], '>');
/** Width of a bucket: how long at most a swarm whose keys expired stays counted. */
export const STATS_BUCKET_SECONDS = 60;

/**
 * Generations per peer TTL (lua/swarm-functions.lua, "Expiry"): a generation lasts max(1, ceil(ttl /
 * GENERATIONS)) seconds; 3 * GENERATIONS + 2 <= 256, so a generation byte's age never wraps around.
 */
export const GENERATIONS = 80;

export const EVENT_CODES: Readonly<Record<AnnounceEvent, number>> = Object.freeze({ none: 0, completed: 1, started: 2, stopped: 3 });

/**
 * Flags in a peer's hash value, `position * POSITION_STEP + flags`. The Lua relies on these exact values:
 * the seeder flag is the low bit (`flags % counted`), and the argument's seeder byte is that bit.
 */
export const PEER_FLAGS = Object.freeze({ seeder: 1, completedCounted: 2 });
export const POSITION_STEP = 4;

/** The third element of a WebSocket announce's reply when another route holds the peer. */
export const WS_CONFLICT = 1;

/**
 * The library's functions (registered as `<name>_<version>`), the keys each takes and its argument. Every one
 * also takes its slot's stats key, last (FunctionCall writes it).
 */
export const FUNCTIONS = Object.freeze({
  announce: { name: 'announce', keys: WIRE_KEYS, argument: ANNOUNCE_ARGUMENTS },
  announceWs: { name: 'announce_ws', keys: WS_KEYS, argument: ANNOUNCE_ARGUMENTS },
  refresh: { name: 'refresh', keys: WIRE_KEYS, argument: REFRESH_ARGUMENTS },
  refreshWs: { name: 'refresh_ws', keys: WS_KEYS, argument: REFRESH_ARGUMENTS },
  scrape: { name: 'scrape', keys: WIRE_KEYS, argument: SCRAPE_ARGUMENTS },
  scrapeWs: { name: 'scrape_ws', keys: WS_KEYS, argument: SCRAPE_ARGUMENTS },
});

// ----- Swarm events (docs/events.md): with events on, the functions take the partition's stream and expiry
// index as two more keys (after the stats key) and these arguments after their own: the stream's MAXLEN, then
// for an announce its facts (src/events/schema.ts field `a`, one string, which starts with the swarm: `<info
// hash in hex> <kind>`), for a scrape the swarm (`<info hash in hex> <kind>`) and SWEEP_ARGUMENT or ''.
export const EVENT_ARGS = Object.freeze({ announce: 2, scrape: 3 });
/** The last event argument of a scrape that is the coordinator's expiry sweep. */
export const SWEEP_ARGUMENT = 'sweep';
/** The peers hash's field that holds the swarm's last event sequence number (never a peer's field, nor HEADER_FIELD). */
export const EVENT_SEQ_FIELD = 's';

/** The contract as Lua `local` definitions, one a line. */
export function luaConstants(): string {
  const layout = (name: string, record: StructLayout<string>) => [
    `local ${name} = '${record.format}' -- ${record.names.join(', ')}`,
    `local ${name}_SIZE = ${record.size}`,
  ];
  const events = Object.entries(EVENT_CODES);
  return [
    '-- Generated from src/store/redis/function-contract.ts when the store loads this library.',
    ...layout('HEADER', SWARM_HEADER),
    `local HEADER_FIELD = '${HEADER_FIELD}'`,
    ...layout('ANNOUNCE_ARGS', ANNOUNCE_ARGUMENTS),
    ...layout('REFRESH_ARGS', REFRESH_ARGUMENTS),
    `local REFRESH_SEEDER, REFRESH_IPV6, REFRESH_COMPLETED, REFRESH_STOPPED = ${REFRESH_TAGS.seeder}, ${REFRESH_TAGS.ipv6}, ${REFRESH_TAGS.completed}, ${REFRESH_TAGS.stopped} -- a refreshed peer's tag bits`,
    ...layout('SCRAPE_ARGS', SCRAPE_ARGUMENTS),
    ...layout('STATS_COUNTS', STATS_COUNTS),
    ...layout('STATS_HEAD', STATS_HEAD),
    ...layout('STATS_BUCKET', STATS_BUCKET),
    `local STATS_BUCKET_END = '${STATS_BUCKET.endian}${STATS_BUCKET.types.bucket_end}' -- a bucket's first field alone`,
    `local STATS_FIELDS, STATS_WIRE_SWARMS, STATS_WS_SWARMS = ${STATS_COUNTS.names.length}, ${STATS_COUNTS.names.indexOf('wire_swarms') + 1}, ${STATS_COUNTS.names.indexOf('ws_swarms') + 1} -- STATS_COUNTS' fields; where its swarms are (from 1)`,
    `local STATS_BUCKET_SECONDS = ${STATS_BUCKET_SECONDS}`,
    `local GENERATIONS = ${GENERATIONS} -- generations per ttl: 3 * GENERATIONS + 2 <= 256, so ages never wrap around`,
    `local ${events.map(([event]) => `EVENT_${event.toUpperCase()}`).join(', ')} = ${events.map(([, code]) => code).join(', ')}`,
    `local FLAG_SEEDER, FLAG_COUNTED, POSITION_STEP = ${PEER_FLAGS.seeder}, ${PEER_FLAGS.completedCounted}, ${POSITION_STEP}`,
    `local WS_CONFLICT = ${WS_CONFLICT}`,
    `local EVENT_VERSION, EVENT_SEQ_FIELD, SWARM_TEXT_LENGTH = '${EVENT_SCHEMA_VERSION}', '${EVENT_SEQ_FIELD}', ${SWARM_TEXT_LENGTH}`,
    `-- The stream entry's fields: ${EVENT_FIELDS.join(', ')}`,
    '',
  ].join('\n');
}

const LIBRARY_FILE = new URL('../../../lua/swarm-functions.lua', import.meta.url);

/**
 * The function library as the store loads it: lua/swarm-functions.lua with luaConstants() after its first
 * line (the `#!lua name=` shebang must stay first), and `$V` replaced by a hash of the result, so that trackers
 * of different versions, the constants included, can share one Redis without replacing each other's functions.
 */
export function functionLibrary(): { source: string; version: string } {
  const text = readFileSync(LIBRARY_FILE, 'utf8');
  const firstLineEnd = text.indexOf('\n');
  if (!text.startsWith('#!lua name=') || firstLineEnd < 0) throw new Error(`${LIBRARY_FILE.pathname}: no #!lua shebang line`);
  const source = `${text.slice(0, firstLineEnd + 1)}${luaConstants()}${text.slice(firstLineEnd + 1)}`;
  const version = createHash('sha1').update(source).digest('hex').slice(0, 12);
  return { source: source.replaceAll('$V', version), version };
}
