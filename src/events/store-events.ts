/**
 * What the stores need to record swarm events: the options, and an announce's facts (schema.ts). The Redis
 * store passes them to its functions as event arguments (`tail`, function-contract.ts EVENT_ARGS), written as
 * RESP straight into one reused buffer; the embedded store completes the event itself and hands it to a sink
 * (sinks.ts).
 */
import type { AnnounceRequest, InfoHash } from '../protocol/types.js';
import type { WsAnnounceRequest } from '../store/store.js';
import { SWEEP_ARGUMENT } from '../store/redis/function-contract.js';
import { SWARM_TEXT_LENGTH, announceFactsBound, decimalDigits, writeAnnounceFacts, writeDecimal, writeHexOf, writeLatin1, writtenText, type AnnounceFacts, type EventProtocol, type SwarmKind } from './schema.js';

export interface EventsOptions {
  /** Event partitions (streams) across the deployment; changing it is an offline operation (docs/events.md). */
  readonly partitions: number;
  /** Approximate MAXLEN of each partition's stream. */
  readonly maxlen: number;
}

/** An HTTP/UDP announce's facts (field `a`), as text for the embedded store's sinks. */
export function wireAnnounceFacts(request: AnnounceRequest): string {
  return writtenText(announceFactsBound(request.peer, request), (out) =>
    writeAnnounceFacts(out, 0, request.infoHash, 'bt', Date.now(), request.event, request.peer, request.seeder, request, request.protocol ?? 'http'),
  );
}

/** A WebSocket announce's facts (field `a`), as text for the embedded store's sinks. */
export function wsAnnounceFacts(request: WsAnnounceRequest): string {
  const event = request.removed === true ? 'removed' : request.event;
  return writtenText(announceFactsBound(request.peerId, request), (out) =>
    writeAnnounceFacts(out, 0, request.infoHash, 'ws', Date.now(), event, request.peerId, request.seeder, request, 'ws'),
  );
}

/**
 * The event arguments after a function's own (function-calls.ts `tail`), as RESP bulk strings: a view of the
 * writer's buffer, valid until its next call (the command is built at once).
 */
export type EventTail = Buffer;

/** Room for the `$<length>\r\n` of an argument (up to 9 digits). */
const HEAD_ROOM = 12;

/**
 * The event arguments of the Redis functions (function-contract.ts EVENT_ARGS): MAXLEN, then an announce's
 * facts (field `a`, the swarm first), or a scrape's swarm (`<ih> <swarm>`) and SWEEP_ARGUMENT or ''. Written
 * into one buffer it reuses: no strings, no arrays per call.
 */
export class RedisEventArgs {
  /** `$<n>\r\n<maxlen>\r\n`. */
  private readonly maxlen: Buffer;
  /** Where the facts start: after MAXLEN's bulk and their own `$<length>\r\n`. */
  private readonly valueAt: number;
  private out = Buffer.allocUnsafe(1024);

  constructor(options: EventsOptions) {
    this.maxlen = Buffer.from(`$${String(options.maxlen).length}\r\n${options.maxlen}\r\n`, 'latin1');
    this.valueAt = this.maxlen.length + HEAD_ROOM;
  }

  announce(request: AnnounceRequest): EventTail {
    return this.announceTail(request.infoHash, 'bt', request.event, request.peer, request.seeder, request, request.protocol ?? 'http');
  }

  announceWs(request: WsAnnounceRequest): EventTail {
    return this.announceTail(request.infoHash, 'ws', request.removed === true ? 'removed' : request.event, request.peerId, request.seeder, request, 'ws');
  }

  /** A scrape, which may expire peers; `sweep`: the coordinator's expiry sweep. */
  scrape(infoHash: InfoHash, swarm: SwarmKind, sweep: boolean): EventTail {
    const out = this.out;
    let at = copyBytes(out, 0, this.maxlen);
    at = copyBytes(out, at, SWARM_HEAD);
    at = writeHexOf(out, at, infoHash);
    out[at++] = 0x20;
    at = writeLatin1(out, at, swarm);
    at = writeLatin1(out, at, sweep ? SWEEP_TAIL : NO_SWEEP_TAIL);
    return out.subarray(0, at);
  }

  private announceTail(infoHash: InfoHash, swarm: SwarmKind, event: AnnounceRequest['event'] | 'removed', peer: Uint8Array | string, seeder: boolean, facts: AnnounceFacts, protocol: EventProtocol): EventTail {
    const bound = this.valueAt + announceFactsBound(peer, facts) + 2;
    if (this.out.length < bound) this.out = Buffer.allocUnsafe(2 * bound);
    const out = this.out;
    const end = writeAnnounceFacts(out, this.valueAt, infoHash, swarm, Date.now(), event, peer, seeder, facts, protocol);
    out[end] = 13;
    out[end + 1] = 10;
    // `$<length>\r\n` right before the facts, MAXLEN's bulk before it.
    const length = end - this.valueAt;
    const start = this.valueAt - 3 - decimalDigits(length) - this.maxlen.length;
    let at = copyBytes(out, start, this.maxlen);
    out[at] = 0x24; // $
    at = writeDecimal(out, at + 1, length);
    out[at] = 13;
    out[at + 1] = 10;
    return out.subarray(start, end + 2);
  }
}

/** A scrape's swarm argument's head (`<ih> <swarm>`, SWARM_TEXT_LENGTH bytes), and its sweep argument after it. */
const SWARM_HEAD = Buffer.from(`$${SWARM_TEXT_LENGTH}\r\n`, 'latin1');
const SWEEP_TAIL = `\r\n$${SWEEP_ARGUMENT.length}\r\n${SWEEP_ARGUMENT}\r\n`;
const NO_SWEEP_TAIL = '\r\n$0\r\n\r\n';

/** Byte loop: a Buffer.copy of a few bytes costs more. */
function copyBytes(out: Buffer, at: number, bytes: Buffer): number {
  for (let i = 0; i < bytes.length; i++) out[at++] = bytes[i]!;
  return at;
}
