/**
 * The swarm event, schema version 3 (docs/events.md): one per change a swarm sees. In a Redis stream it is one
 * entry whose fields are EVENT_FIELDS, in that order: `v`, the store's numbers packed in `n` (STORE_FACTS) and
 * the swarm and the announce's facts packed in `a` (ANNOUNCE_FACTS), values separated by one space (null:
 * empty, booleans: 1 or 0). Three fields (version 2 had five, with `ih` and `swarm` of their own; version 1
 * fifteen): each is an argument and a listpack element more for Redis to handle per event. As a JSON line it is
 * one object with SwarmEvent's names and typed values. Consumers decode versions 1, 2 and 3 (eventOf).
 *
 * The tracker knows an announce's facts; the store adds what only it knows, the swarm's sequence number and
 * counts after the change. The Redis functions write `expired` events themselves (lua/swarm-functions.lua,
 * events block), with the same peer text as peerText here.
 */
import type { AnnounceEvent, InfoHash } from '../protocol/types.js';

export const EVENT_SCHEMA_VERSION = 3;

/** What happened to the peer. `update`: a regular re-announce (no event, or `paused`). */
export type SwarmEventKind = 'started' | 'completed' | 'stopped' | 'update' | 'expired' | 'removed';
/** `bt`: the HTTP/UDP swarm of the info hash; `ws`: its WebTorrent swarm (a swarm of its own, with its own seq). */
export type SwarmKind = 'bt' | 'ws';
export type EventProtocol = 'http' | 'udp' | 'ws';

/** An event as consumers read it. */
export interface SwarmEvent {
  readonly v: number;
  /** The info hash, 40 lowercase hex digits. */
  readonly ih: string;
  readonly swarm: SwarmKind;
  /** The swarm's sequence number: 1 for its first event, then +1 per event, without gaps (docs/events.md). */
  readonly seq: number;
  /** Milliseconds since the epoch (the tracker's clock; whole seconds for `expired`). */
  readonly time: number;
  readonly event: SwarmEventKind;
  /** null for `expired` peers of a `bt` swarm (the store does not keep which protocol announced them). */
  readonly proto: EventProtocol | null;
  /** `ip:port` (IPv6 as `[a:b:…]:port`, 8 groups, no `::`), or the WebTorrent peer_id in hex. */
  readonly peer: string;
  /** The passkey when the announce carried one, else the announce's `key` parameter; null when neither. */
  readonly key: string | null;
  /** As announced; null when the announce did not say (and for `expired` / `removed`). */
  readonly uploaded: number | null;
  readonly downloaded: number | null;
  readonly left: number | null;
  readonly seeder: boolean;
  /** The swarm's seeders and leechers after the change. */
  readonly complete: number;
  readonly incomplete: number;
}

/** The fields of a stream entry, in the order every entry has them. */
export const EVENT_FIELDS = ['v', 'n', 'a'] as const;
/** What field `n` packs: the store's numbers. */
export const STORE_FACTS = ['seq', 'complete', 'incomplete'] as const;
/**
 * What field `a` packs: the swarm, then the announce's facts; `key` last, as the only one that may contain a
 * space. Its first SWARM_TEXT_LENGTH characters (`<ih> <swarm>`) say the swarm.
 */
export const ANNOUNCE_FACTS = ['ih', 'swarm', 'time', 'event', 'proto', 'peer', 'uploaded', 'downloaded', 'left', 'seeder', 'key'] as const;
/** Version 2's fields and its `a` (the swarm was two fields of its own). */
const V2_FIELDS = ['v', 'ih', 'swarm', 'n', 'a'] as const;
const V2_ANNOUNCE_FACTS = ANNOUNCE_FACTS.slice(2);
/** Characters of `<ih> <swarm>` at the start of `a`. */
export const SWARM_TEXT_LENGTH = 43;

/** An event's values as text, in EVENT_FIELDS order: what the sinks write. */
export type EventValues = readonly string[];

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** A binary (latin1) string in lowercase hex; a table walk costs a third of Buffer.from(…).toString('hex'). */
export function hexOf(binary: string): string {
  let hex = '';
  for (let i = 0; i < binary.length; i++) hex += HEX[binary.charCodeAt(i) & 0xff];
  return hex;
}

/** A compact peer (6 or 18 bytes) as the events write it: the Lua formats expired peers the same way. */
export function peerText(peer: Uint8Array): string {
  const port = (peer[peer.length - 2]! << 8) | peer[peer.length - 1]!;
  if (peer.length === 6) return `${peer[0]}.${peer[1]}.${peer[2]}.${peer[3]}:${port}`;
  let text = '[';
  for (let i = 0; i < 16; i += 2) text += `${i === 0 ? '' : ':'}${((peer[i]! << 8) | peer[i + 1]!).toString(16)}`;
  return `${text}]:${port}`;
}

/** What an announce says beyond the swarm change; all optional, as callers other than the servers omit them. */
export interface AnnounceFacts {
  /** The announce's `key` (UDP's a uint32, shown as 8 hex digits). */
  readonly key?: string | number;
  readonly passkey?: string;
  readonly uploaded?: number;
  readonly downloaded?: number;
  readonly left?: number;
}

const KIND_OF: Readonly<Record<AnnounceEvent | 'removed', string>> = { none: 'update', started: 'started', completed: 'completed', stopped: 'stopped', removed: 'removed' };

/** Digits of a non-negative integer. */
export function decimalDigits(n: number): number {
  let count = 1;
  for (; n >= 1e8; n = Math.floor(n / 1e8)) count += 8;
  for (; n >= 10; n = (n / 10) | 0) count++;
  return count;
}

/**
 * Writes a non-negative integer (below 2^53) in decimal at `at`; returns the end. In 32-bit integer arithmetic:
 * below 2^31 at once, above in 8-digit parts (a float division per digit costs most of an event's arguments).
 */
export function writeDecimal(out: Buffer, at: number, n: number): number {
  if (n >= 0x80000000) {
    const high = Math.floor(n / 1e8);
    at = writeDecimal(out, at, high);
    let low = (n - high * 1e8) | 0;
    for (let d = at + 7; d >= at; d--, low = (low / 10) | 0) out[d] = 48 + (low % 10);
    return at + 8;
  }
  const end = at + decimalDigits(n);
  for (let d = end - 1; ; d--) {
    out[d] = 48 + (n % 10);
    n = (n / 10) | 0;
    if (n === 0) break;
  }
  return end;
}

/** Writes latin1 text (a byte a character: the values are short, a Buffer.write costs more); returns the end. */
export function writeLatin1(out: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

const HEX_DIGITS = '0123456789abcdef';

function writeHex(out: Buffer, at: number, n: number): number {
  let digits = 1;
  while (n >= 16 ** digits) digits++;
  for (let d = at + digits - 1; d >= at; d--, n >>>= 4) out[d] = HEX_DIGITS.charCodeAt(n & 15);
  return at + digits;
}

/** Writes a binary (latin1) string in lowercase hex, as hexOf; returns the end. */
export function writeHexOf(out: Buffer, at: number, binary: string): number {
  for (let i = 0; i < binary.length; i++) {
    const byte = binary.charCodeAt(i) & 0xff;
    out[at++] = HEX_DIGITS.charCodeAt(byte >> 4);
    out[at++] = HEX_DIGITS.charCodeAt(byte & 15);
  }
  return at;
}

/** Writes a compact peer as peerText does; returns the end. */
function writePeerText(out: Buffer, at: number, peer: Uint8Array): number {
  const port = (peer[peer.length - 2]! << 8) | peer[peer.length - 1]!;
  if (peer.length === 6) {
    for (let i = 0; i < 4; i++) {
      at = writeDecimal(out, at, peer[i]!);
      out[at++] = i < 3 ? 0x2e : 0x3a; // . or :
    }
    return writeDecimal(out, at, port);
  }
  out[at++] = 0x5b; // [
  for (let i = 0; i < 16; i += 2) {
    if (i > 0) out[at++] = 0x3a;
    at = writeHex(out, at, (peer[i]! << 8) | peer[i + 1]!);
  }
  out[at++] = 0x5d; // ]
  out[at++] = 0x3a;
  return writeDecimal(out, at, port);
}

/** A count as sent, then a space; absent, negative or unknown (the codecs' MAX_SAFE_INTEGER for `left`) is null (nothing). */
function writeCount(out: Buffer, at: number, value: number | undefined): number {
  if (value !== undefined && value >= 0 && value < Number.MAX_SAFE_INTEGER) at = writeDecimal(out, at, Math.floor(value));
  out[at] = 0x20;
  return at + 1;
}

/** The passkey, else the `key` parameter; nothing for none. Only latin1 text: events are written as latin1 bytes. */
function writeKey(out: Buffer, at: number, facts: AnnounceFacts): number {
  const key = facts.passkey ?? facts.key;
  if (typeof key === 'number') {
    // UDP's 32-bit key, as 8 hex digits.
    for (let d = at + 7, n = key >>> 0; d >= at; d--, n >>>= 4) out[d] = HEX_DIGITS.charCodeAt(n & 15);
    return at + 8;
  }
  if (key === undefined) return at;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0xff) return at;
  return writeLatin1(out, at, key);
}

/** Bytes an announce's facts take at most (writeAnnounceFacts). */
export function announceFactsBound(peer: Uint8Array | string, facts: AnnounceFacts): number {
  const key = facts.passkey ?? facts.key;
  return SWARM_TEXT_LENGTH + 128 + 2 * peer.length + (typeof key === 'string' ? key.length : 16);
}

/** Writes `<ih> <swarm> ` (the start of `a`); returns the end. */
function writeSwarm(out: Buffer, at: number, infoHash: InfoHash, swarm: SwarmKind): number {
  at = writeHexOf(out, at, infoHash);
  out[at++] = 0x20;
  at = writeLatin1(out, at, swarm);
  out[at] = 0x20;
  return at + 1;
}

/**
 * Writes the part of an announce's event the tracker knows, field `a` (ANNOUNCE_FACTS: the swarm and the
 * announce's facts), at `at` of `out` (room for announceFactsBound bytes): it is also the Redis functions' last
 * event argument, written straight into their command. `peer`: a compact peer, or a WebSocket peer_id (written
 * in hex). `removed`: the coordinator removed the peer. Returns the end.
 */
export function writeAnnounceFacts(
  out: Buffer,
  at: number,
  infoHash: InfoHash,
  swarm: SwarmKind,
  timeMs: number,
  event: AnnounceEvent | 'removed',
  peer: Uint8Array | string,
  seeder: boolean,
  facts: AnnounceFacts,
  protocol: EventProtocol,
): number {
  at = writeSwarm(out, at, infoHash, swarm);
  at = writeDecimal(out, at, timeMs);
  out[at++] = 0x20;
  at = writeLatin1(out, at, KIND_OF[event]);
  out[at++] = 0x20;
  at = writeLatin1(out, at, protocol);
  out[at++] = 0x20;
  at = typeof peer === 'string' ? writeHexOf(out, at, peer) : writePeerText(out, at, peer);
  out[at++] = 0x20;
  at = writeCount(out, at, facts.uploaded);
  at = writeCount(out, at, facts.downloaded);
  at = writeCount(out, at, facts.left);
  out[at++] = seeder ? 0x31 : 0x30;
  out[at++] = 0x20;
  return writeKey(out, at, facts);
}

let scratch = Buffer.allocUnsafe(1024);

/** Latin1 text that `write` writes (at most `bound` bytes) into a reused buffer, returning its end. */
export function writtenText(bound: number, write: (out: Buffer) => number): string {
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(bound);
  return scratch.toString('latin1', 0, write(scratch));
}

/** The facts of an `expired` event (the embedded store's; the Lua writes the same). */
export function expiredFacts(infoHash: InfoHash, swarm: SwarmKind, timeMs: number, peer: string, seeder: boolean, proto: EventProtocol | null): string {
  return `${hexOf(infoHash)} ${swarm} ${timeMs} expired ${proto ?? ''} ${peer}    ${seeder ? '1' : '0'} `;
}

const VERSION_TEXT = String(EVENT_SCHEMA_VERSION);

/** A whole event: its sequence number and the swarm's counts after the change (`n`), the facts (`a`). */
export function eventValues(seq: number, facts: string, complete: number, incomplete: number): EventValues {
  return [VERSION_TEXT, `${seq} ${complete} ${incomplete}`, facts];
}

/** The values packed in a field (`n` or `a`): split at its first `count - 1` spaces, the rest is the last. */
function unpack(text: string | undefined, count: number): string[] {
  const values: string[] = [];
  let from = 0;
  for (let i = 1; i < count && text !== undefined; i++) {
    const space = text.indexOf(' ', from);
    if (space < 0) break;
    values.push(text.slice(from, space));
    from = space + 1;
  }
  values.push(text?.slice(from) ?? '');
  return values;
}

/** The names version 1 gave the packed values, each a field of its own. */
type FieldName = (typeof V2_FIELDS)[number] | (typeof STORE_FACTS)[number] | (typeof ANNOUNCE_FACTS)[number];

/** The packed values by their names (`a` packs `facts`: version 2's or 3's), and the other fields. */
function unpacked(get: (name: FieldName) => string | undefined, facts: readonly string[]): (name: FieldName) => string | undefined {
  const values = new Map<string, string>();
  unpack(get('n'), STORE_FACTS.length).forEach((text, i) => values.set(STORE_FACTS[i]!, text));
  unpack(get('a'), facts.length).forEach((text, i) => values.set(facts[i]!, text));
  return (name) => values.get(name) ?? get(name);
}

const nullable = (text: string | undefined): string | null => (text === undefined || text === '' ? null : text);
const count = (text: string | undefined): number | null => (text === undefined || text === '' ? null : Number(text));

/**
 * An event from its fields by name (a stream entry's, or EVENT_FIELDS with EventValues); checks the version.
 * Version 1 entries (every value a field of its own) and version 2's (`ih` and `swarm` fields of their own)
 * still decode, for streams written before the upgrade.
 */
export function eventOf(get: (name: FieldName) => string | undefined): SwarmEvent {
  const v = Number(get('v'));
  if (v !== 1 && v !== 2 && v !== EVENT_SCHEMA_VERSION) throw new Error(`not a version 1 to ${EVENT_SCHEMA_VERSION} swarm event (v=${get('v')})`);
  const value = v === 1 ? get : unpacked(get, v === 2 ? V2_ANNOUNCE_FACTS : ANNOUNCE_FACTS);
  return {
    v,
    ih: value('ih') ?? '',
    swarm: value('swarm') as SwarmKind,
    seq: Number(value('seq')),
    time: Number(value('time')),
    event: value('event') as SwarmEventKind,
    proto: nullable(value('proto')) as EventProtocol | null,
    peer: value('peer') ?? '',
    key: nullable(value('key')),
    uploaded: count(value('uploaded')),
    downloaded: count(value('downloaded')),
    left: count(value('left')),
    seeder: value('seeder') === '1',
    complete: Number(value('complete')),
    incomplete: Number(value('incomplete')),
  };
}

/** An event from a stream entry's fields (`[name, value, name, value, …]`). */
export function parseEntry(fields: readonly string[]): SwarmEvent {
  const byName = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) byName.set(fields[i]!, fields[i + 1]!);
  return eventOf((name) => byName.get(name));
}

/** An event from the values a sink is given. */
export function eventOfValues(values: EventValues): SwarmEvent {
  return eventOf((name) => values[(EVENT_FIELDS as readonly string[]).indexOf(name)]);
}

const jsonString = (text: string): string => (text === '' ? 'null' : `"${text}"`);
const jsonNumber = (text: string): string => (text === '' ? 'null' : text);

/**
 * The JSON line of an event (without the newline), written directly: every value is digits or plain ASCII
 * (hex, names, addresses) but the key, which is escaped. JSON.parse(jsonLine(v)) equals eventOfValues(v).
 */
export function jsonLine(values: EventValues): string {
  const [v, n, a] = values;
  const [seq, complete, incomplete] = unpack(n, STORE_FACTS.length);
  const [ih, swarm, time, event, proto, peer, uploaded, downloaded, left, seeder, key] = unpack(a, ANNOUNCE_FACTS.length);
  return `{"v":${v},"ih":"${ih}","swarm":"${swarm}","seq":${seq},"time":${time},"event":"${event}","proto":${jsonString(proto!)},"peer":"${peer}","key":${key === '' ? 'null' : JSON.stringify(key)},"uploaded":${jsonNumber(uploaded!)},"downloaded":${jsonNumber(downloaded!)},"left":${jsonNumber(left!)},"seeder":${seeder === '1'},"complete":${complete},"incomplete":${incomplete}}`;
}

/** `[name, value, …]` of an event, for XADD. */
export function entryFields(values: EventValues): string[] {
  const out = new Array<string>(2 * values.length);
  for (let i = 0; i < values.length; i++) {
    out[2 * i] = EVENT_FIELDS[i]!;
    out[2 * i + 1] = values[i]!;
  }
  return out;
}
