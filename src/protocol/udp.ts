/** UDP tracker protocol (BEP 15) with BEP 41 options: packet parsing and reply encoding, no I/O. */
import { passkeyOfAnnouncePath } from './announce-path.js';
import { RequestError, type AnnounceEvent, type AnnounceResult, type InfoHash, type ScrapeCounts } from './types.js';

export const UDP_ACTION_CONNECT = 0;
export const UDP_ACTION_ANNOUNCE = 1;
export const UDP_ACTION_SCRAPE = 2;
export const UDP_ACTION_ERROR = 3;

/** The 64-bit protocol_id of a connect request, as two 32-bit halves. */
const PROTOCOL_ID_HIGH = 0x417;
const PROTOCOL_ID_LOW = 0x27101980;

export const UDP_HEADER_LENGTH = 16;
export const UDP_ANNOUNCE_LENGTH = 98;
const ANNOUNCE_REPLY_HEADER = 20;

const UDP_EVENTS: readonly AnnounceEvent[] = ['none', 'completed', 'started', 'stopped'];

export interface UdpConnectRequest {
  readonly action: typeof UDP_ACTION_CONNECT;
  readonly transactionId: number;
}

export interface UdpAnnounceRequest {
  readonly action: typeof UDP_ACTION_ANNOUNCE;
  readonly transactionId: number;
  readonly infoHash: InfoHash;
  /** 20 bytes as a latin1 string, for the peer_id access list. */
  readonly peerId: string;
  readonly event: AnnounceEvent;
  readonly seeder: boolean;
  /** num_want as sent; negative means "default". */
  readonly numwant: number;
  readonly port: number;
  /** BEP 41 URLData concatenated (path and query of the announce URL), '' when absent. */
  readonly urlData: string;
  /** The passkey of a `/KEY/announce` URL data, or undefined (BEP 41 is the only way a key reaches UDP). */
  readonly passkey: string | undefined;
  /** For swarm events only: the 64-bit counts as numbers (exact below 2^53), and `key` (uint32; events show 8 hex digits). */
  readonly uploaded: number;
  readonly downloaded: number;
  readonly left: number;
  readonly key: number;
}

export interface UdpScrapeRequest {
  readonly action: typeof UDP_ACTION_SCRAPE;
  readonly transactionId: number;
  readonly infoHashes: InfoHash[];
}

/** A request that needs a valid connection ID (all but connect). */
export type UdpConnectedRequest = UdpAnnounceRequest | UdpScrapeRequest;
export type UdpRequest = UdpConnectRequest | UdpConnectedRequest;

/**
 * Parses a datagram. Returns null for packets too short to carry a transaction id (nothing can be answered);
 * throws RequestError (with `transactionId` answerable) for other malformed packets.
 * Packets may be longer than their fixed layout: what follows is ignored or read as BEP 41 options.
 * The connection ID is not checked here (see ConnectionIds); its bytes are packet[0..8).
 */
export function parseUdpRequest(packet: Buffer, maxScrapeHashes: number): UdpRequest | null {
  if (packet.length < UDP_HEADER_LENGTH) return null;
  const action = packet.readUInt32BE(8);
  const transactionId = packet.readUInt32BE(12);
  switch (action) {
    case UDP_ACTION_CONNECT:
      if (packet.readUInt32BE(0) !== PROTOCOL_ID_HIGH || packet.readUInt32BE(4) !== PROTOCOL_ID_LOW) {
        throw new UdpRequestError(transactionId, 'bad protocol id');
      }
      return { action, transactionId };
    case UDP_ACTION_ANNOUNCE: {
      if (packet.length < UDP_ANNOUNCE_LENGTH) throw new UdpRequestError(transactionId, 'announce too short');
      const eventId = packet.readUInt32BE(80);
      const event = UDP_EVENTS[eventId];
      if (event === undefined) throw new UdpRequestError(transactionId, 'invalid event');
      const port = packet.readUInt16BE(96);
      if (port === 0) throw new UdpRequestError(transactionId, 'invalid port');
      // `left` is 64-bit; it is zero exactly when both halves are.
      const seeder = packet.readUInt32BE(64) === 0 && packet.readUInt32BE(68) === 0;
      const urlData = packet.length > UDP_ANNOUNCE_LENGTH ? readUrlData(packet, UDP_ANNOUNCE_LENGTH) : '';
      let passkey: string | undefined;
      try {
        passkey = passkeyOfAnnouncePath(urlData);
      } catch (error) {
        throw new UdpRequestError(transactionId, (error as Error).message);
      }
      return {
        action,
        transactionId,
        infoHash: packet.toString('latin1', 16, 36),
        peerId: packet.toString('latin1', 36, 56),
        event,
        seeder,
        numwant: packet.readInt32BE(92),
        port,
        urlData,
        passkey,
        downloaded: uint64(packet, 56),
        left: uint64(packet, 64),
        uploaded: uint64(packet, 72),
        key: packet.readUInt32BE(88),
      };
    }
    case UDP_ACTION_SCRAPE: {
      const bytes = packet.length - UDP_HEADER_LENGTH;
      if (bytes === 0 || bytes % 20 !== 0) throw new UdpRequestError(transactionId, 'scrape needs whole info hashes');
      const count = bytes / 20;
      if (count > maxScrapeHashes) {
        throw new UdpRequestError(transactionId, `too many info hashes (at most ${maxScrapeHashes})`);
      }
      const infoHashes: InfoHash[] = new Array(count);
      for (let i = 0; i < count; i++) infoHashes[i] = packet.toString('latin1', 16 + 20 * i, 36 + 20 * i);
      return { action, transactionId, infoHashes };
    }
    default:
      throw new UdpRequestError(transactionId, 'unknown action');
  }
}

/** A 64-bit big-endian count as a number; a negative int64 (some clients send -1 for `left`) is -1. */
function uint64(packet: Buffer, at: number): number {
  const high = packet.readInt32BE(at);
  return high < 0 ? -1 : high * 0x100000000 + packet.readUInt32BE(at + 4);
}

export class UdpRequestError extends RequestError {
  constructor(
    readonly transactionId: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * BEP 41 options: EndOfOptions (0) and NOP (1) are one byte; every other type has a length byte.
 * URLData (2) chunks concatenate. Truncated options end the list rather than failing the announce.
 */
function readUrlData(packet: Buffer, at: number): string {
  let url = '';
  while (at < packet.length) {
    const type = packet[at]!;
    if (type === 0) break;
    if (type === 1) {
      at++;
      continue;
    }
    if (at + 1 >= packet.length) break;
    const length = packet[at + 1]!;
    const end = at + 2 + length;
    if (end > packet.length) break;
    if (type === 2) url += packet.toString('latin1', at + 2, end);
    at = end;
  }
  return url;
}

export function encodeUdpConnectReply(transactionId: number, writeConnectionId: (out: Buffer, at: number) => void): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeUInt32BE(UDP_ACTION_CONNECT, 0);
  out.writeUInt32BE(transactionId, 4);
  writeConnectionId(out, 8);
  return out;
}

/** Announce reply: interval, then leechers before seeders (BEP 15 order), then compact peers of one family. */
export function encodeUdpAnnounceReply(transactionId: number, interval: number, result: AnnounceResult): Buffer {
  const out = Buffer.allocUnsafe(ANNOUNCE_REPLY_HEADER + result.peers.length);
  out.writeUInt32BE(UDP_ACTION_ANNOUNCE, 0);
  out.writeUInt32BE(transactionId, 4);
  out.writeUInt32BE(interval, 8);
  out.writeUInt32BE(Math.min(result.incomplete, 0xffffffff), 12);
  out.writeUInt32BE(Math.min(result.complete, 0xffffffff), 16);
  out.set(result.peers, ANNOUNCE_REPLY_HEADER);
  return out;
}

/** Scrape reply: per hash, in request order, seeders, completed, leechers. */
export function encodeUdpScrapeReply(transactionId: number, counts: readonly ScrapeCounts[]): Buffer {
  const out = Buffer.allocUnsafe(8 + 12 * counts.length);
  out.writeUInt32BE(UDP_ACTION_SCRAPE, 0);
  out.writeUInt32BE(transactionId, 4);
  let at = 8;
  for (const c of counts) {
    out.writeUInt32BE(Math.min(c.complete, 0xffffffff), at);
    out.writeUInt32BE(Math.min(c.downloaded, 0xffffffff), at + 4);
    out.writeUInt32BE(Math.min(c.incomplete, 0xffffffff), at + 8);
    at += 12;
  }
  return out;
}

/**
 * Error reply (action 3). `maxLength` bounds it, so that an unauthenticated request is never answered with more
 * bytes than it carried (no amplification); the message is cut to fit, and null means not even the header fits.
 */
export function encodeUdpError(transactionId: number, message: string, maxLength: number): Buffer | null {
  if (maxLength < 8) return null;
  const text = Buffer.from(message, 'utf8');
  const out = Buffer.allocUnsafe(Math.min(8 + text.length, maxLength));
  out.writeUInt32BE(UDP_ACTION_ERROR, 0);
  out.writeUInt32BE(transactionId, 4);
  text.copy(out, 8, 0, out.length - 8);
  return out;
}

/** Most peers of one family that fit a reply within `maxReplyBytes` (kept under a common path MTU). */
export function udpPeersThatFit(maxReplyBytes: number, peerLength: number): number {
  return Math.floor((maxReplyBytes - ANNOUNCE_REPLY_HEADER) / peerLength);
}
