/** HTTP announce and scrape on uWebSockets.js: moves bytes between requests and the store. */
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { encodeFailure } from '../protocol/bencode-writer.js';
import {
  encodeCompactAnnounceReply,
  encodeDictAnnounceReply,
  parseHttpAnnounceQuery,
} from '../protocol/http-announce.js';
import { encodeHttpScrapeReply, parseHttpScrapeQuery } from '../protocol/http-scrape.js';
import { passkeyOfSegment } from '../protocol/announce-path.js';
import { compactPeerAddressText, compactPeerFromBytes, compactPeerFromText } from '../protocol/ip-address.js';
import { COMPACT_V6_LENGTH, RequestError } from '../protocol/types.js';
import { RequestMeter, httpSlowReaders } from '../metrics/tracker-metrics.js';
import type { Store } from '../store/store.js';
import type { AbuseLimits } from '../abuse/abuse-limits.js';
import type { AccessControl } from '../access/access-control.js';
import type { AnnouncePolicy } from './announce-policy.js';
import { Admission, type Refusal } from './admission.js';
import type { InFlight } from './in-flight.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';

const announceMeter = new RequestMeter('http', 'announce');
const scrapeMeter = new RequestMeter('http', 'scrape');

const NOT_FOUND = encodeFailure('not found: use /announce or /scrape (/KEY/announce, /KEY/scrape with a passkey)');
const FULL_SCRAPE_OFF = encodeFailure('full scrape is disabled: give info_hash');
const STORE_FAILURE = encodeFailure('tracker storage unavailable, retry later');

export interface HttpTrackerDeps {
  config: TrackerConfig;
  store: Store;
  policy: AnnouncePolicy;
  inFlight: InFlight;
  log: Logger;
  abuse: AbuseLimits;
  access: AccessControl;
}

/** The IP bytes of a compact peer, as a Set key. */
function ipKey(peer: Uint8Array): string {
  return Buffer.from(peer.buffer, peer.byteOffset, peer.length - 2).toString('hex');
}

/**
 * Every X-Forwarded-For line of a request as one list (RFC 7230 §3.2.2): a proxy that appends a line of its own
 * (HAProxy's `option forwardfor`) leaves the client's forged line first, so reading only the first is spoofable.
 */
function forwardedFor(req: HttpRequest): string {
  let hops = '';
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') hops = hops === '' ? value : `${hops},${value}`;
  });
  return hops;
}

/**
 * The requester's compact peer: the connection's source address, or, when that is a trusted reverse proxy,
 * the right-most X-Forwarded-For address that is not one (the left part of the header is client-controlled).
 */
export function requesterPeer(res: HttpResponse, req: HttpRequest, port: number, trusted: ReadonlySet<string>): Uint8Array {
  const peer = compactPeerFromBytes(new Uint8Array(res.getRemoteAddress()), port);
  if (trusted.size === 0 || !trusted.has(ipKey(peer))) return peer;
  const hops = forwardedFor(req).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = compactPeerFromText(hops[i]!.trim(), port);
    if (hop === null) break;
    if (!trusted.has(ipKey(hop))) return hop;
  }
  return peer;
}

/** The configured trusted reverse proxies, as requesterPeer takes them. */
export function trustedProxyKeys(addresses: readonly string[]): ReadonlySet<string> {
  return new Set(addresses.map((text) => ipKey(compactPeerFromText(text, 0)!)));
}

/** The passkey of a `/:passkey/…` route, validated; undefined on the keyless route, whose parameter reads ''. */
function passkeyOfRoute(req: HttpRequest): string | undefined {
  const segment = req.getParameter(0);
  return segment === undefined || segment === '' ? undefined : passkeyOfSegment(segment);
}

/** A request answered after an await: whether the client went away, and whether it asked to close. */
interface Pending {
  aborted: boolean;
  readonly close: boolean;
}

function pending(res: HttpResponse, req: HttpRequest): Pending {
  const state = { aborted: false, close: req.getHeader('connection').toLowerCase() === 'close' };
  res.onAborted(() => {
    state.aborted = true;
  });
  return state;
}

const heldReplies = httpSlowReaders.child({ outcome: 'held' });
const slowReadersClosed = httpSlowReaders.child({ outcome: 'closed' });

/**
 * Sends a reply without ever queueing more than one for a client that does not read. uWS appends whatever the
 * kernel does not take to the connection's buffer, and answers pipelined requests one after the other, so a
 * client that pipelines and never reads would grow that buffer without bound. tryEnd stops instead: the rest
 * of this reply waits here (at most `maxHeld` bytes, else the connection is closed) until the socket drains,
 * and uWS closes a connection that sends another request while a reply is still pending.
 */
function send(res: HttpResponse, body: Uint8Array, close: boolean, maxHeld: number, status?: string): void {
  if (status !== undefined) res.writeStatus(status);
  res.writeHeader('Content-Type', 'text/plain');
  if (close) {
    // uWS closes after replying to `Connection: close`; say so, as HTTP/1.1 asks.
    res.writeHeader('Connection', 'close').end(body, true);
    return;
  }
  if (res.tryEnd(body, body.length)[0]) return;
  heldReplies.inc();
  let drained = false;
  // Also what lets a reply stay pending after a request handler returns.
  res.onAborted(() => {
    if (!drained) slowReadersClosed.inc();
  });
  if (body.length - res.getWriteOffset() > maxHeld) {
    res.close();
    return;
  }
  res.onWritable((offset) => {
    const [sent, done] = res.tryEnd(body.subarray(offset), body.length);
    drained = done;
    return sent;
  });
}

/** Serves announce and scrape on an app: the plain one and the TLS ones alike. */
export function serveHttp(app: TemplatedApp, { config, store, policy, inFlight, log, abuse, access }: HttpTrackerDeps): TemplatedApp {
  const trustedProxies = trustedProxyKeys(config.trustedProxies);
  /** Sends a reply from outside the request handler: after an await, writes must be corked. */
  const reply = (res: HttpResponse, state: Pending, body: Uint8Array): void => {
    if (state.aborted) return;
    res.cork(() => send(res, body, state.close, config.httpMaxHeldReplyBytes));
  };

  const fail = (res: HttpResponse, error: unknown, state?: Pending): void => {
    const body = error instanceof RequestError ? encodeFailure(error.message) : STORE_FAILURE;
    if (!(error instanceof RequestError)) log.error({ err: error }, 'store request failed');
    if (state === undefined) send(res, body, false, config.httpMaxHeldReplyBytes);
    else reply(res, state, body);
  };

  /** Ends a request whose store work was under way, with its reply or its failure: metered, out of flight. */
  const answered = (res: HttpResponse, state: Pending, meter: RequestMeter, started: number, done: () => void, body: Uint8Array): void => {
    reply(res, state, body);
    meter.done('ok', started);
    done();
  };
  const failedAfter = (res: HttpResponse, state: Pending, meter: RequestMeter, started: number, done: () => void, error: unknown): void => {
    fail(res, error, state);
    meter.done('error', started);
    done();
  };

  const refuse = (res: HttpResponse, refusal: Refusal): void =>
    send(res, encodeFailure(refusal.reason, refusal.retryAfter), false, config.httpMaxHeldReplyBytes);
  // The client's address for the log line: behind trusted proxies too.
  const admission = new Admission({ config, log, access, abuse }, 'http', (res: HttpResponse, req: HttpRequest) =>
    compactPeerAddressText(requesterPeer(res, req, 0, trustedProxies)),
  );
  /**
   * The route's passkey when it lets the request go on (undefined: none given, none needed); null when it does
   * not, once the failure is sent. Checked first: a request refused for its key costs no more parsing.
   */
  const admittedPasskey = (res: HttpResponse, req: HttpRequest, meter: RequestMeter): string | undefined | null => {
    let passkey;
    try {
      passkey = passkeyOfRoute(req);
    } catch (error) {
      meter.count('error');
      fail(res, error);
      return null;
    }
    const refusal = admission.passkeyRefusal(passkey, meter, res, req);
    if (refusal === undefined) return passkey;
    refuse(res, refusal);
    return null;
  };

  const announce = (res: HttpResponse, req: HttpRequest): void => {
    const passkey = admittedPasskey(res, req, announceMeter);
    if (passkey === null) return;
    let request;
    try {
      request = parseHttpAnnounceQuery(req.getQuery() ?? '');
    } catch (error) {
      announceMeter.count('error');
      return fail(res, error);
    }
    const started = performance.now();
    const peer = requesterPeer(res, req, request.port, trustedProxies);
    const refusal = admission.announceRefusal(request.infoHash, request.peerId, peer, announceMeter);
    if (refusal !== undefined) return refuse(res, refusal);
    const isV6 = peer.length === COMPACT_V6_LENGTH;
    const state = pending(res, req);
    const done = inFlight.begin();
    store
      .announce({
        infoHash: request.infoHash,
        peer,
        event: request.event,
        seeder: request.left === 0,
        numwant: request.event === 'stopped' ? 0 : policy.numwant(request.numwant, Infinity),
        passkey,
        // For swarm events only.
        protocol: 'http',
        key: request.key,
        uploaded: request.uploaded,
        downloaded: request.downloaded,
        left: request.left,
      })
      .then(
        (result) => {
          const timing = { interval: policy.interval(), minInterval: policy.minInterval };
          const body = request.compact
            ? encodeCompactAnnounceReply(result, timing, isV6)
            : encodeDictAnnounceReply(result, timing, isV6);
          answered(res, state, announceMeter, started, done, body);
        },
        (error: unknown) => failedAfter(res, state, announceMeter, started, done, error),
      );
  };

  const scrape = (res: HttpResponse, req: HttpRequest): void => {
    if (admittedPasskey(res, req, scrapeMeter) === null) return;
    let hashes;
    try {
      hashes = parseHttpScrapeQuery(req.getQuery() ?? '', config.scrapeMaxHashes);
    } catch (error) {
      scrapeMeter.count('error');
      return fail(res, error);
    }
    if (hashes.length === 0 && config.fullScrapeLimit === 0) {
      scrapeMeter.count('rejected');
      send(res, FULL_SCRAPE_OFF, false, config.httpMaxHeldReplyBytes);
      return;
    }
    const started = performance.now();
    const state = pending(res, req);
    const done = inFlight.begin();
    const listed = hashes.length > 0 ? Promise.resolve(hashes) : store.listSwarms(config.fullScrapeLimit).then((all) => access.listable(all));
    listed
      .then(async (infoHashes) => encodeHttpScrapeReply(infoHashes, access.scrapeCounts(infoHashes, await store.scrape(infoHashes), 'http')))
      .then(
        (body) => answered(res, state, scrapeMeter, started, done, body),
        (error: unknown) => failedAfter(res, state, scrapeMeter, started, done, error),
      );
  };

  // `/announce` and `/KEY/announce` (a private tracker's passkey), the same for scrape.
  return app
    .get('/announce', announce)
    .get('/:passkey/announce', announce)
    .get('/scrape', scrape)
    .get('/:passkey/scrape', scrape)
    .any('/*', (res) => send(res, NOT_FOUND, false, config.httpMaxHeldReplyBytes, '404 Not Found'));
}
