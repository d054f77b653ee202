/**
 * The WebTorrent tracker protocol: JSON text frames over WebSocket (what the `bittorrent-tracker` client and
 * every WebTorrent build speak). Binary identifiers (info_hash, peer_id, offer_id) are 20-character strings
 * of char codes 0–255, one character per byte.
 *
 *   announce  {action:'announce', info_hash, peer_id, event?, left?, numwant?, offers?: [{offer, offer_id}]}
 *   answer    {action:'announce', info_hash, peer_id, to_peer_id, offer_id, answer}   (a reply to a relayed offer)
 *   scrape    {action:'scrape', info_hash?: string | string[]}
 */
import { RequestError, type AnnounceEvent, type InfoHash, type ScrapeCounts } from './types.js';

/** Offers one announce may carry at all; the server relays at most its configured number of them. */
export const MAX_OFFERS_PER_MESSAGE = 100;

/**
 * A WebRTC session description as simple-peer signals it, `{"type":"offer"|"answer","sdp":"…"}`, kept as the
 * JSON text the client sent (validated): relaying it costs a copy of that text, not a JSON decode and re-encode
 * of the SDP. A description with other fields is re-encoded with these two only.
 */
export type SessionDescriptionJson = string;

export interface WsOffer {
  readonly offerId: string;
  readonly offer: SessionDescriptionJson;
}

export interface WsAnnounceMessage {
  readonly kind: 'announce';
  readonly infoHash: InfoHash;
  readonly peerId: string;
  readonly event: AnnounceEvent;
  /** `left` is 0; a missing or null `left` (a magnet link without metadata) is a leecher. */
  readonly seeder: boolean;
  /** numwant as sent, or -1 when absent. */
  readonly numwant: number;
  readonly offers: readonly WsOffer[];
  /** For swarm events only: the counts as sent. */
  readonly uploaded: number | undefined;
  readonly downloaded: number | undefined;
  readonly left: number | undefined;
}

export interface WsAnswerMessage {
  readonly kind: 'answer';
  readonly infoHash: InfoHash;
  /** The answering peer. */
  readonly peerId: string;
  /** The peer whose offer this answers. */
  readonly toPeerId: string;
  readonly offerId: string;
  readonly answer: SessionDescriptionJson;
}

export interface WsScrapeMessage {
  readonly kind: 'scrape';
  /** Distinct hashes in first-seen order; empty asks for a full scrape. */
  readonly infoHashes: InfoHash[];
}

export type WsMessage = WsAnnounceMessage | WsAnswerMessage | WsScrapeMessage;

/** A malformed message; the reply names the action and, once it was valid, the swarm it concerns. */
export class WsRequestError extends RequestError {
  constructor(
    readonly action: 'announce' | 'scrape',
    message: string,
    readonly infoHash?: InfoHash,
  ) {
    super(message);
  }
}

/** A Map, so that `event: "constructor"` finds nothing on Object.prototype. */
const EVENTS: ReadonlyMap<string, AnnounceEvent> = new Map([
  ['', 'none'],
  ['update', 'none'],
  ['paused', 'none'],
  ['started', 'started'],
  ['completed', 'completed'],
  ['stopped', 'stopped'],
]);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** 20 characters, each a byte (char code ≤ 0xff). */
function isBinaryId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 20) return false;
  for (let i = 0; i < 20; i++) if (value.charCodeAt(i) > 0xff) return false;
  return true;
}

function binaryId(action: 'announce' | 'scrape', value: unknown, name: string, infoHash?: InfoHash): string {
  if (!isBinaryId(value)) throw new WsRequestError(action, `${name} must be a 20-byte binary string`, infoHash);
  return value;
}

/** A number field that may be absent or null; anything else must be a finite number. */
function optionalNumber(message: Json, name: string, infoHash: InfoHash): number | undefined {
  const value = message[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new WsRequestError('announce', `${name} must be a number`, infoHash);
  }
  return value;
}

/**
 * A session description checked on its parsed `value`; its text is `raw` (the value's own JSON text in the
 * message) when it has just the two fields.
 */
function sessionDescription(
  value: unknown,
  raw: string | undefined,
  type: 'offer' | 'answer',
  infoHash: InfoHash,
): SessionDescriptionJson {
  if (!isObject(value) || value.type !== type || typeof value.sdp !== 'string') {
    throw new WsRequestError('announce', `${type} must be {type: "${type}", sdp: string}`, infoHash);
  }
  let fields = 0;
  for (const key in value) fields++;
  return raw !== undefined && fields === 2 ? raw : JSON.stringify({ type, sdp: value.sdp });
}

// Where values are in a message's text, for the session descriptions relayed as sent. These scanners only
// ever see text that JSON.parse accepted: they locate values, the parse validated them.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function skipSpace(text: string, i: number): number {
  for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  return i;
}

/** The end of the string starting (with its quote) at `i`: a quote after an even number of backslashes. */
function stringEnd(text: string, i: number): number {
  for (;;) {
    i = text.indexOf('"', i + 1);
    let backslashes = 0;
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i + 1;
  }
}

/** The end of the value starting at `i`. */
function valueEnd(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return stringEnd(text, i);
  if (first !== 0x7b && first !== 0x5b) {
    // A number or literal: up to the next , } ] or space, or the end of the text (NaN).
    for (let c = first; !(c === 0x2c || c === 0x7d || c === 0x5d || c <= 0x20 || c !== c); c = text.charCodeAt(++i));
    return i;
  }
  for (let depth = 0; ; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      continue;
    }
    i++;
    if (c === 0x7b || c === 0x5b) depth++; // { [
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i; // } ]
  }
}

/** The start of the value of the last member named `key` (as JSON.parse keeps the last) of the object at `i`. */
function memberStart(text: string, i: number, key: string): number {
  let found = -1;
  i = skipSpace(text, i + 1);
  while (text.charCodeAt(i) === QUOTE) {
    const keyEnd = stringEnd(text, i);
    const name = text.slice(i + 1, keyEnd - 1);
    const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1); // past the colon
    if (name === key || (name.includes('\\') && JSON.parse(text.slice(i, keyEnd)) === key)) found = valueStart;
    i = skipSpace(text, valueEnd(text, valueStart));
    if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1);
  }
  return found;
}

/** The JSON text of the value of member `key` of the object at `i`, if it has one. */
function memberText(text: string, i: number, key: string): string | undefined {
  const start = memberStart(text, i, key);
  return start < 0 ? undefined : text.slice(start, valueEnd(text, start));
}

/** The JSON text of `offer` in each element of the array at `i` (each checked to be an object by the caller). */
function offerTexts(text: string, i: number): (string | undefined)[] {
  const texts: (string | undefined)[] = [];
  i = skipSpace(text, i + 1);
  while (text.charCodeAt(i) !== 0x5d) {
    texts.push(text.charCodeAt(i) === 0x7b ? memberText(text, i, 'offer') : undefined);
    i = skipSpace(text, valueEnd(text, i));
    if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1);
  }
  return texts;
}

/** Parses one text frame. Throws WsRequestError with the message to send back. */
export function parseWsMessage(text: string, maxScrapeHashes: number): WsMessage {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new WsRequestError('announce', 'invalid JSON');
  }
  if (!isObject(message)) throw new WsRequestError('announce', 'a message must be a JSON object');
  if (message.action === 'announce') return parseAnnounce(message, text);
  if (message.action === 'scrape') return parseScrape(message, maxScrapeHashes);
  throw new WsRequestError('announce', 'action must be "announce" or "scrape"');
}

function parseAnnounce(message: Json, text: string): WsAnnounceMessage | WsAnswerMessage {
  const infoHash = binaryId('announce', message.info_hash, 'info_hash');
  const peerId = binaryId('announce', message.peer_id, 'peer_id', infoHash);
  if (message.answer !== undefined) {
    return {
      kind: 'answer',
      infoHash,
      peerId,
      toPeerId: binaryId('announce', message.to_peer_id, 'to_peer_id', infoHash),
      offerId: binaryId('announce', message.offer_id, 'offer_id', infoHash),
      answer: sessionDescription(message.answer, memberText(text, skipSpace(text, 0), 'answer'), 'answer', infoHash),
    };
  }
  const rawEvent = message.event ?? '';
  const event = typeof rawEvent === 'string' ? EVENTS.get(rawEvent) : undefined;
  if (event === undefined) throw new WsRequestError('announce', 'invalid event', infoHash);
  const left = optionalNumber(message, 'left', infoHash);
  const numwant = optionalNumber(message, 'numwant', infoHash);
  const uploaded = optionalNumber(message, 'uploaded', infoHash);
  const downloaded = optionalNumber(message, 'downloaded', infoHash);
  const rawOffers = message.offers ?? [];
  if (!Array.isArray(rawOffers)) throw new WsRequestError('announce', 'offers must be an array', infoHash);
  if (rawOffers.length > MAX_OFFERS_PER_MESSAGE) {
    throw new WsRequestError('announce', `too many offers (at most ${MAX_OFFERS_PER_MESSAGE})`, infoHash);
  }
  const texts = rawOffers.length > 0 ? offerTexts(text, memberStart(text, skipSpace(text, 0), 'offers')) : [];
  const offers = rawOffers.map((item: unknown, i): WsOffer => {
    if (!isObject(item)) throw new WsRequestError('announce', 'each offer must be {offer, offer_id}', infoHash);
    return {
      offerId: binaryId('announce', item.offer_id, 'offer_id', infoHash),
      offer: sessionDescription(item.offer, texts[i], 'offer', infoHash),
    };
  });
  return {
    kind: 'announce',
    infoHash,
    peerId,
    event,
    seeder: left === 0,
    numwant: numwant === undefined || numwant < 0 ? -1 : Math.floor(numwant),
    offers,
    uploaded,
    downloaded,
    left,
  };
}

function parseScrape(message: Json, maxScrapeHashes: number): WsScrapeMessage {
  const raw = message.info_hash ?? [];
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list)) throw new WsRequestError('scrape', 'info_hash must be a string or an array of them');
  if (list.length > maxScrapeHashes) {
    throw new WsRequestError('scrape', `too many info_hash values (at most ${maxScrapeHashes})`);
  }
  const infoHashes: InfoHash[] = [];
  for (const item of list) {
    const infoHash = binaryId('scrape', item, 'info_hash');
    if (!infoHashes.includes(infoHash)) infoHashes.push(infoHash);
  }
  return { kind: 'scrape', infoHashes };
}

/** The reply to an announce: WebSocket swarm counts (no peers: they come as offers). */
export function encodeWsAnnounceReply(infoHash: InfoHash, interval: number, counts: ScrapeCounts): string {
  return JSON.stringify({
    action: 'announce',
    interval,
    info_hash: infoHash,
    complete: counts.complete,
    incomplete: counts.incomplete,
  });
}

/** An offer relayed to one peer of the swarm; `peerId` is the offering peer. */
export function encodeWsOffer(infoHash: InfoHash, peerId: string, offer: WsOffer): string {
  return `${signalHead(infoHash, peerId, offer.offerId)},"offer":${offer.offer}}`;
}

/** An answer relayed back to the peer that made the offer; `peerId` is the answering peer. */
export function encodeWsAnswer(infoHash: InfoHash, peerId: string, offerId: string, answer: SessionDescriptionJson): string {
  return `${signalHead(infoHash, peerId, offerId)},"answer":${answer}}`;
}

/** A relayed signal's fields before its session description (concatenated: the description is JSON already). */
function signalHead(infoHash: InfoHash, peerId: string, offerId: string): string {
  return `{"action":"announce","info_hash":${JSON.stringify(infoHash)},"peer_id":${JSON.stringify(peerId)},"offer_id":${JSON.stringify(offerId)}`;
}

export function encodeWsScrapeReply(infoHashes: readonly InfoHash[], counts: readonly ScrapeCounts[]): string {
  const files: Record<string, ScrapeCounts> = {};
  infoHashes.forEach((infoHash, i) => {
    const c = counts[i]!;
    files[infoHash] = { complete: c.complete, incomplete: c.incomplete, downloaded: c.downloaded };
  });
  return JSON.stringify({ action: 'scrape', files });
}

export function encodeWsFailure(action: 'announce' | 'scrape', reason: string, infoHash?: InfoHash, minInterval?: number): string {
  const failure =
    infoHash === undefined ? { action, 'failure reason': reason } : { action, 'failure reason': reason, info_hash: infoHash };
  return JSON.stringify(minInterval === undefined ? failure : { ...failure, 'min interval': minInterval });
}
