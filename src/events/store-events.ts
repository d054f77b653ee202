/**
 * What the stores need to record swarm events: the options, and an announce's facts (schema.ts). The Redis
 * store passes them to its functions as event arguments (`tail`, function-contract.ts EVENT_ARGS); the embedded
 * store completes the event itself and hands it to a sink (sinks.ts).
 */
import type { AnnounceRequest, InfoHash } from '../protocol/types.js';
import type { WsAnnounceRequest } from '../store/store.js';
import { SWEEP_ARGUMENT } from '../store/redis/function-contract.js';
import { announceFacts, hexOf, peerText, type SwarmKind } from './schema.js';

export interface EventsOptions {
  /** Event partitions (streams) across the deployment; changing it is an offline operation (docs/events.md). */
  readonly partitions: number;
  /** Approximate MAXLEN of each partition's stream. */
  readonly maxlen: number;
}

/** An HTTP/UDP announce's facts (field `a`). */
export function wireAnnounceFacts(request: AnnounceRequest): string {
  return announceFacts(Date.now(), request.event, peerText(request.peer), request.seeder, request, request.protocol ?? 'http');
}

/** A WebSocket announce's facts (field `a`). */
export function wsAnnounceFacts(request: WsAnnounceRequest): string {
  return announceFacts(Date.now(), request.removed === true ? 'removed' : request.event, hexOf(request.peerId), request.seeder, request, 'ws');
}

/** The event arguments after a function's own (function-calls.ts `tail`): latin1 text (schema.ts), a byte a character. */
export type EventTail = readonly string[];

/** Bytes of the tail as RESP bulk strings. */
export function tailBytes(tail: EventTail): number {
  let bytes = 0;
  for (const value of tail) bytes += value.length + digits(value.length) + 5; // $<len>\r\n<value>\r\n
  return bytes;
}

function digits(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

/**
 * Writes the tail as RESP bulk strings at `at`, straight into the command, a byte at a time: the values are short,
 * and a Buffer.write per value costs more than the copy (~0.15 µs each).
 */
export function writeTail(out: Buffer, at: number, tail: EventTail): void {
  for (const value of tail) {
    out[at++] = 0x24; // $
    const length = value.length;
    at += digits(length);
    for (let n = length, d = at - 1; ; n = Math.floor(n / 10), d--) {
      out[d] = 48 + (n % 10);
      if (n < 10) break;
    }
    out[at++] = 13;
    out[at++] = 10;
    at = writeLatin1(out, at, value);
    out[at++] = 13;
    out[at++] = 10;
  }
}

function writeLatin1(out: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/** The event arguments of the Redis functions: the swarm (info hash in hex, kind), MAXLEN, then an announce's facts (one string). */
export class RedisEventArgs {
  private readonly maxlen: string;

  constructor(options: EventsOptions) {
    this.maxlen = String(options.maxlen);
  }

  announce(request: AnnounceRequest): EventTail {
    return [hexOf(request.infoHash), 'bt', this.maxlen, wireAnnounceFacts(request)];
  }

  announceWs(request: WsAnnounceRequest): EventTail {
    return [hexOf(request.infoHash), 'ws', this.maxlen, wsAnnounceFacts(request)];
  }

  /** A scrape, which may expire peers; `sweep`: the coordinator's expiry sweep. */
  scrape(infoHash: InfoHash, swarm: SwarmKind, sweep: boolean): EventTail {
    return [hexOf(infoHash), swarm, this.maxlen, sweep ? SWEEP_ARGUMENT : ''];
  }
}
