/**
 * The swarm event, schema version 1 (docs/events.md): one per change a swarm sees. In a Redis stream it is one
 * entry whose fields are EVENT_FIELDS, in that order, values as text (null: empty, booleans: 1 or 0); as a JSON
 * line it is one object with the same names and typed values. Every entry has the same fields in the same
 * order, so a stream stores their names once per node of entries, not per entry.
 *
 * The tracker knows an announce's facts; the store adds what only it knows, the swarm's sequence number and
 * counts after the change. The Redis functions write `expired` events themselves (lua/swarm-functions.lua,
 * events block), with the same peer text as peerText here.
 */
import type { AnnounceEvent, InfoHash } from '../protocol/types.js';

export const EVENT_SCHEMA_VERSION = 1;

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

/** The fields of an event, in the order every stream entry has them. */
export const EVENT_FIELDS = ['v', 'ih', 'swarm', 'seq', 'time', 'event', 'proto', 'peer', 'key', 'uploaded', 'downloaded', 'left', 'seeder', 'complete', 'incomplete'] as const;

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
 * The part of an announce's event the tracker knows, EVENT_FIELDS `time` to `seeder` (the Redis functions'
 * event arguments). `removed`: the coordinator removed the peer.
 */
export function announceFacts(timeMs: number, event: AnnounceEvent | 'removed', peer: string, seeder: boolean, facts: AnnounceFacts, protocol: EventProtocol): string[] {
  return [String(timeMs), event === 'removed' ? 'removed' : KIND_OF[event], protocol, peer, keyText(facts), countText(facts.uploaded), countText(facts.downloaded), countText(facts.left), seeder ? '1' : '0'];
}

/** The passkey, else the `key` parameter; '' for none. Only latin1 text: events are written as latin1 bytes. */
function keyText(facts: AnnounceFacts): string {
  const key = facts.passkey ?? facts.key;
  if (typeof key === 'number') return key.toString(16).padStart(8, '0');
  return key === undefined || /[^\x00-\xff]/.test(key) ? '' : key;
}

/** The facts of an `expired` event (the embedded store's; the Lua writes the same). */
export function expiredFacts(timeMs: number, peer: string, seeder: boolean, proto: EventProtocol | null): string[] {
  return [String(timeMs), 'expired', proto ?? '', peer, '', '', '', '', seeder ? '1' : '0'];
}

const VERSION_TEXT = String(EVENT_SCHEMA_VERSION);

/** A whole event: the swarm, its sequence number, the facts, the counts after the change. */
export function eventValues(infoHash: InfoHash, swarm: SwarmKind, seq: number, facts: readonly string[], complete: number, incomplete: number): EventValues {
  const values = [VERSION_TEXT, hexOf(infoHash), swarm, String(seq)];
  for (const fact of facts) values.push(fact);
  values.push(String(complete), String(incomplete));
  return values;
}

const nullable = (text: string | undefined): string | null => (text === undefined || text === '' ? null : text);
const count = (text: string | undefined): number | null => (text === undefined || text === '' ? null : Number(text));

/** An event from its fields by name (a stream entry's, or EVENT_FIELDS with EventValues); checks the version. */
export function eventOf(get: (name: (typeof EVENT_FIELDS)[number]) => string | undefined): SwarmEvent {
  const v = Number(get('v'));
  if (v !== EVENT_SCHEMA_VERSION) throw new Error(`not a version ${EVENT_SCHEMA_VERSION} swarm event (v=${get('v')})`);
  return {
    v,
    ih: get('ih') ?? '',
    swarm: get('swarm') as SwarmKind,
    seq: Number(get('seq')),
    time: Number(get('time')),
    event: get('event') as SwarmEventKind,
    proto: nullable(get('proto')) as EventProtocol | null,
    peer: get('peer') ?? '',
    key: nullable(get('key')),
    uploaded: count(get('uploaded')),
    downloaded: count(get('downloaded')),
    left: count(get('left')),
    seeder: get('seeder') === '1',
    complete: Number(get('complete')),
    incomplete: Number(get('incomplete')),
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
  return eventOf((name) => values[EVENT_FIELDS.indexOf(name)]);
}

const jsonString = (text: string): string => (text === '' ? 'null' : `"${text}"`);
const jsonNumber = (text: string): string => (text === '' ? 'null' : text);

/**
 * The JSON line of an event (without the newline), written directly: every value is digits or plain ASCII
 * (hex, names, addresses) but the key, which is escaped. JSON.parse(jsonLine(v)) equals eventOfValues(v).
 */
export function jsonLine(values: EventValues): string {
  const [v, ih, swarm, seq, time, event, proto, peer, key, uploaded, downloaded, left, seeder, complete, incomplete] = values;
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
