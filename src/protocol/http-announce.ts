/** HTTP announce (BEP 3), compact peers (BEP 23) and IPv6 peers (BEP 7): query parsing and reply encoding. */
import bencode from 'bencode';
import { bytesLength, intLength, writeBytes, writeConst, writeInt } from './bencode-writer.js';
import { compactPeerAddressText, compactPeerPort } from './ip-address.js';
import { forEachQueryParam, isParam, parseDecimal, percentDecodeBinary } from './query-string.js';
import {
  COMPACT_V4_LENGTH,
  COMPACT_V6_LENGTH,
  RequestError,
  type AnnounceEvent,
  type AnnounceResult,
  type InfoHash,
} from './types.js';

/** An HTTP announce as the client sent it, validated. The source address is added by the server. */
export interface HttpAnnounceQuery {
  infoHash: InfoHash;
  peerId: string;
  port: number;
  event: AnnounceEvent;
  /** Bytes left to download; missing means unknown and counts as a leecher. */
  left: number;
  /** For swarm events only: bytes as sent, -1 when absent or not a number; the `key` parameter, '' when absent. */
  uploaded: number;
  downloaded: number;
  key: string;
  /** numwant as sent, or -1 when absent or unusable (the server applies its default). */
  numwant: number;
  /**
   * compact=0 asks for the dictionary model (advisory in BEP 23; honoured). Dictionary peers never carry
   * `peer id`, since redswarm does not store peer ids: as if every client sent `no_peer_id=1`.
   */
  compact: boolean;
}

/** Longest `key` parameter carried to swarm events; a longer one is left out of them (docs/events.md). */
export const MAX_KEY_LENGTH = 64;

/**
 * The `key` parameter as swarm events carry it, '' when it is too long or not well-formed: no announce is
 * refused for a parameter that only events read.
 */
function eventKey(query: string, start: number, end: number): string {
  if (end - start > 3 * MAX_KEY_LENGTH) return '';
  try {
    const key = percentDecodeBinary(query, start, end);
    return key.length > MAX_KEY_LENGTH ? '' : key;
  } catch {
    return '';
  }
}

/** A Map, not an object literal: `event=constructor` must not find Object.prototype's members. */
const EVENTS: ReadonlyMap<string, AnnounceEvent> = new Map([
  ['', 'none'],
  ['started', 'started'],
  ['completed', 'completed'],
  ['stopped', 'stopped'],
  // BEP 21 upload-only clients send `paused`: a regular announce as far as the swarm is concerned.
  ['paused', 'none'],
]);

/**
 * Parses the raw query string of `GET /announce`. Unknown parameters are ignored, as is `ip`
 * (the source address is used instead) and `trackerid`; `key`, `uploaded` and `downloaded` are only carried to
 * swarm events (docs/events.md).
 * Throws RequestError with the message to send back.
 */
export function parseHttpAnnounceQuery(query: string): HttpAnnounceQuery {
  let infoHash: string | undefined;
  let peerId: string | undefined;
  let port = -1;
  let event: AnnounceEvent = 'none';
  let left = -1;
  let numwant = -1;
  let compact = true;
  let uploaded = -1;
  let downloaded = -1;
  let key = '';
  forEachQueryParam(query, (name, start, end) => {
    if (isParam(query, name, start, 'info_hash')) {
      if (infoHash !== undefined) throw new RequestError('duplicate info_hash');
      infoHash = percentDecodeBinary(query, start, end);
    } else if (isParam(query, name, start, 'peer_id')) {
      peerId = percentDecodeBinary(query, start, end);
    } else if (isParam(query, name, start, 'port')) {
      port = parseDecimal(query, start, end);
      if (port < 1 || port > 65535) throw new RequestError('invalid port');
    } else if (isParam(query, name, start, 'left')) {
      // Some clients send -1 or garbage for magnets: an unknown amount left, i.e. a leecher.
      left = parseDecimal(query, start, end);
      if (left < 0) left = Number.MAX_SAFE_INTEGER;
    } else if (isParam(query, name, start, 'event')) {
      const value = EVENTS.get(percentDecodeBinary(query, start, end));
      if (value === undefined) throw new RequestError('invalid event');
      event = value;
    } else if (isParam(query, name, start, 'numwant')) {
      numwant = parseDecimal(query, start, end);
    } else if (isParam(query, name, start, 'uploaded')) {
      uploaded = parseDecimal(query, start, end);
    } else if (isParam(query, name, start, 'downloaded')) {
      downloaded = parseDecimal(query, start, end);
    } else if (isParam(query, name, start, 'key')) {
      key = eventKey(query, start, end);
    } else if (isParam(query, name, start, 'compact')) {
      compact = !(end - start === 1 && query.charCodeAt(start) === 48 /* 0 */);
    }
  });
  if (infoHash === undefined) throw new RequestError('missing info_hash');
  if (infoHash.length !== 20) throw new RequestError('info_hash must be 20 bytes');
  if (peerId === undefined) throw new RequestError('missing peer_id');
  if (peerId.length !== 20) throw new RequestError('peer_id must be 20 bytes');
  if (port < 0) throw new RequestError('missing port');
  return {
    infoHash,
    peerId,
    port,
    event,
    left: left < 0 ? Number.MAX_SAFE_INTEGER : left,
    numwant,
    compact,
    uploaded,
    downloaded,
    key,
  };
}

/** Timing hints sent with every non-failure announce reply. */
export interface AnnounceTiming {
  interval: number;
  minInterval: number;
}

const HEAD_COMPLETE = Buffer.from('d8:complete');
const KEY_INCOMPLETE = Buffer.from('10:incomplete');
const KEY_INTERVAL = Buffer.from('8:interval');
const KEY_MIN_INTERVAL = Buffer.from('12:min interval');
const KEY_PEERS = Buffer.from('5:peers');
const EMPTY_PEERS_KEY_PEERS6 = Buffer.from('5:peers0:6:peers6');

/**
 * Encodes a compact reply. IPv4 requesters get `peers`; IPv6 requesters get `peers6` and an empty `peers`,
 * which clients that only look for `peers` read as "no IPv4 peers".
 */
export function encodeCompactAnnounceReply(
  result: AnnounceResult,
  timing: AnnounceTiming,
  requesterIsV6: boolean,
): Buffer {
  const peers = result.peers;
  const length =
    HEAD_COMPLETE.length +
    intLength(result.complete) +
    KEY_INCOMPLETE.length +
    intLength(result.incomplete) +
    KEY_INTERVAL.length +
    intLength(timing.interval) +
    KEY_MIN_INTERVAL.length +
    intLength(timing.minInterval) +
    (requesterIsV6 ? EMPTY_PEERS_KEY_PEERS6.length : KEY_PEERS.length) +
    bytesLength(peers.length) +
    1;
  const out = Buffer.allocUnsafe(length);
  let at = writeConst(out, 0, HEAD_COMPLETE);
  at = writeInt(out, at, result.complete);
  at = writeConst(out, at, KEY_INCOMPLETE);
  at = writeInt(out, at, result.incomplete);
  at = writeConst(out, at, KEY_INTERVAL);
  at = writeInt(out, at, timing.interval);
  at = writeConst(out, at, KEY_MIN_INTERVAL);
  at = writeInt(out, at, timing.minInterval);
  at = writeConst(out, at, requesterIsV6 ? EMPTY_PEERS_KEY_PEERS6 : KEY_PEERS);
  at = writeBytes(out, at, peers);
  out[at] = 101; // e
  return out;
}

/** Encodes a dictionary-model reply (compact=0): `peers` is a list of `{ip, port}`; peer ids are not kept. */
export function encodeDictAnnounceReply(result: AnnounceResult, timing: AnnounceTiming, requesterIsV6: boolean): Uint8Array {
  const stride = requesterIsV6 ? COMPACT_V6_LENGTH : COMPACT_V4_LENGTH;
  const peers: { ip: string; port: number }[] = [];
  for (let at = 0; at + stride <= result.peers.length; at += stride) {
    peers.push({ ip: compactPeerAddressText(result.peers, at, stride), port: compactPeerPort(result.peers, at, stride) });
  }
  return bencode.encode({
    complete: result.complete,
    incomplete: result.incomplete,
    interval: timing.interval,
    'min interval': timing.minInterval,
    peers,
  });
}
