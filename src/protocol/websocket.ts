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

/** A WebRTC session description as simple-peer signals it; only these two fields are relayed. */
export interface SessionDescription {
  readonly type: 'offer' | 'answer';
  readonly sdp: string;
}

export interface WsOffer {
  readonly offerId: string;
  readonly offer: SessionDescription;
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
}

export interface WsAnswerMessage {
  readonly kind: 'answer';
  readonly infoHash: InfoHash;
  /** The answering peer. */
  readonly peerId: string;
  /** The peer whose offer this answers. */
  readonly toPeerId: string;
  readonly offerId: string;
  readonly answer: SessionDescription;
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

function sessionDescription(value: unknown, type: 'offer' | 'answer', infoHash: InfoHash): SessionDescription {
  if (!isObject(value) || value.type !== type || typeof value.sdp !== 'string') {
    throw new WsRequestError('announce', `${type} must be {type: "${type}", sdp: string}`, infoHash);
  }
  return { type, sdp: value.sdp };
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
  if (message.action === 'announce') return parseAnnounce(message);
  if (message.action === 'scrape') return parseScrape(message, maxScrapeHashes);
  throw new WsRequestError('announce', 'action must be "announce" or "scrape"');
}

function parseAnnounce(message: Json): WsAnnounceMessage | WsAnswerMessage {
  const infoHash = binaryId('announce', message.info_hash, 'info_hash');
  const peerId = binaryId('announce', message.peer_id, 'peer_id', infoHash);
  if (message.answer !== undefined) {
    return {
      kind: 'answer',
      infoHash,
      peerId,
      toPeerId: binaryId('announce', message.to_peer_id, 'to_peer_id', infoHash),
      offerId: binaryId('announce', message.offer_id, 'offer_id', infoHash),
      answer: sessionDescription(message.answer, 'answer', infoHash),
    };
  }
  const rawEvent = message.event ?? '';
  const event = typeof rawEvent === 'string' ? EVENTS.get(rawEvent) : undefined;
  if (event === undefined) throw new WsRequestError('announce', 'invalid event', infoHash);
  const left = optionalNumber(message, 'left', infoHash);
  const numwant = optionalNumber(message, 'numwant', infoHash);
  optionalNumber(message, 'uploaded', infoHash);
  optionalNumber(message, 'downloaded', infoHash);
  const rawOffers = message.offers ?? [];
  if (!Array.isArray(rawOffers)) throw new WsRequestError('announce', 'offers must be an array', infoHash);
  if (rawOffers.length > MAX_OFFERS_PER_MESSAGE) {
    throw new WsRequestError('announce', `too many offers (at most ${MAX_OFFERS_PER_MESSAGE})`, infoHash);
  }
  const offers = rawOffers.map((item: unknown): WsOffer => {
    if (!isObject(item)) throw new WsRequestError('announce', 'each offer must be {offer, offer_id}', infoHash);
    return {
      offerId: binaryId('announce', item.offer_id, 'offer_id', infoHash),
      offer: sessionDescription(item.offer, 'offer', infoHash),
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
  return JSON.stringify({
    action: 'announce',
    info_hash: infoHash,
    peer_id: peerId,
    offer_id: offer.offerId,
    offer: offer.offer,
  });
}

/** An answer relayed back to the peer that made the offer; `peerId` is the answering peer. */
export function encodeWsAnswer(infoHash: InfoHash, peerId: string, offerId: string, answer: SessionDescription): string {
  return JSON.stringify({ action: 'announce', info_hash: infoHash, peer_id: peerId, offer_id: offerId, answer });
}

export function encodeWsScrapeReply(infoHashes: readonly InfoHash[], counts: readonly ScrapeCounts[]): string {
  const files: Record<string, ScrapeCounts> = {};
  infoHashes.forEach((infoHash, i) => {
    const c = counts[i]!;
    files[infoHash] = { complete: c.complete, incomplete: c.incomplete, downloaded: c.downloaded };
  });
  return JSON.stringify({ action: 'scrape', files });
}

export function encodeWsFailure(action: 'announce' | 'scrape', reason: string, infoHash?: InfoHash): string {
  return JSON.stringify(
    infoHash === undefined
      ? { action, 'failure reason': reason }
      : { action, 'failure reason': reason, info_hash: infoHash },
  );
}
