/**
 * The swarm event, schema version 2 (docs/events.md): one per change a swarm sees. In a Redis stream it is one
 * entry whose fields are EVENT_FIELDS, in that order: the swarm's (`v`, `ih`, `swarm`), the store's numbers
 * packed in `n` (STORE_FACTS) and the announce's facts packed in `a` (ANNOUNCE_FACTS), values separated by one
 * space (null: empty, booleans: 1 or 0). Five fields instead of version 1's fifteen: each is an argument and a
 * listpack element more for Redis to handle per event. As a JSON line it is one object with SwarmEvent's names
 * and typed values. Consumers decode versions 1 and 2 (eventOf).
 *
 * The tracker knows an announce's facts; the store adds what only it knows, the swarm's sequence number and
 * counts after the change. The Redis functions write `expired` events themselves (lua/swarm-functions.lua,
 * events block), with the same peer text as peerText here.
 */
import type { AnnounceEvent, InfoHash } from '../protocol/types.js';

export const EVENT_SCHEMA_VERSION = 2;

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
export const EVENT_FIELDS = ['v', 'ih', 'swarm', 'n', 'a'] as const;
/** What field `n` packs: the store's numbers. */
export const STORE_FACTS = ['seq', 'complete', 'incomplete'] as const;
/** What field `a` packs: the announce's facts; `key` last, as the only one that may contain a space. */
export const ANNOUNCE_FACTS = ['time', 'event', 'proto', 'peer', 'uploaded', 'downloaded', 'left', 'seeder', 'key'] as const;

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

const KIND_OF: Readonly<Record<AnnounceEvent, SwarmEventKind>> = { none: 'update', started: 'started', completed: 'completed', stopped: 'stopped' };

/** A count as sent; absent, negative or unknown (the codecs' MAX_SAFE_INTEGER for `left`) is null (''). */
function countText(value: number | undefined): string {
  return value === undefined || !(value >= 0 && value < Number.MAX_SAFE_INTEGER) ? '' : String(Math.floor(value));
}

/**
 * The part of an announce's event the tracker knows: field `a` (ANNOUNCE_FACTS), one string, which is also the
 * Redis functions' last event argument. `removed`: the coordinator removed the peer.
 */
export function announceFacts(timeMs: number, event: AnnounceEvent | 'removed', peer: string, seeder: boolean, facts: AnnounceFacts, protocol: EventProtocol): string {
  return `${timeMs} ${event === 'removed' ? 'removed' : KIND_OF[event]} ${protocol} ${peer} ${countText(facts.uploaded)} ${countText(facts.downloaded)} ${countText(facts.left)} ${seeder ? '1' : '0'} ${keyText(facts)}`;
}

/** The passkey, else the `key` parameter; '' for none. Only latin1 text: events are written as latin1 bytes. */
function keyText(facts: AnnounceFacts): string {
  const key = facts.passkey ?? facts.key;
  if (typeof key === 'number') return key.toString(16).padStart(8, '0');
  return key === undefined || /[^\x00-\xff]/.test(key) ? '' : key;
}

/** The facts of an `expired` event (the embedded store's; the Lua writes the same). */
export function expiredFacts(timeMs: number, peer: string, seeder: boolean, proto: EventProtocol | null): string {
  return `${timeMs} expired ${proto ?? ''} ${peer}    ${seeder ? '1' : '0'} `;
}

const VERSION_TEXT = String(EVENT_SCHEMA_VERSION);

/** A whole event: the swarm, its sequence number and counts after the change (`n`), the facts (`a`). */
export function eventValues(infoHash: InfoHash, swarm: SwarmKind, seq: number, facts: string, complete: number, incomplete: number): EventValues {
  return [VERSION_TEXT, hexOf(infoHash), swarm, `${seq} ${complete} ${incomplete}`, facts];
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
type FieldName = (typeof EVENT_FIELDS)[number] | (typeof STORE_FACTS)[number] | (typeof ANNOUNCE_FACTS)[number];

/** Version 2's packed values by their names, and the other fields. */
function unpacked(get: (name: FieldName) => string | undefined): (name: FieldName) => string | undefined {
  const values = new Map<string, string>();
  unpack(get('n'), STORE_FACTS.length).forEach((text, i) => values.set(STORE_FACTS[i]!, text));
  unpack(get('a'), ANNOUNCE_FACTS.length).forEach((text, i) => values.set(ANNOUNCE_FACTS[i]!, text));
  return (name) => values.get(name) ?? get(name);
}

const nullable = (text: string | undefined): string | null => (text === undefined || text === '' ? null : text);
const count = (text: string | undefined): number | null => (text === undefined || text === '' ? null : Number(text));

/**
 * An event from its fields by name (a stream entry's, or EVENT_FIELDS with EventValues); checks the version.
 * Version 1 entries (every value a field of its own) still decode, for streams written before the upgrade.
 */
export function eventOf(get: (name: FieldName) => string | undefined): SwarmEvent {
  const v = Number(get('v'));
  if (v !== 1 && v !== EVENT_SCHEMA_VERSION) throw new Error(`not a version 1 or ${EVENT_SCHEMA_VERSION} swarm event (v=${get('v')})`);
  const value = v === 1 ? get : unpacked(get);
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
  const [v, ih, swarm, n, a] = values;
  const [seq, complete, incomplete] = unpack(n, STORE_FACTS.length);
  const [time, event, proto, peer, uploaded, downloaded, left, seeder, key] = unpack(a, ANNOUNCE_FACTS.length);
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
