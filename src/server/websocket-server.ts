/**
 * The WebSocket (WebTorrent) tracker on the HTTP port: uWebSockets.js sockets in, the store for swarm state,
 * the signal router for offers and answers between peers. One socket may be a peer of many swarms (under one
 * or more peer_ids); closing it, or its idle timeout, removes all of them.
 */
import { performance } from 'node:perf_hooks';
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { passkeyOfAnnouncePath } from '../protocol/announce-path.js';
import { compactPeerAddressText } from '../protocol/ip-address.js';
import type { InfoHash } from '../protocol/types.js';
import {
  WsRequestError,
  encodeWsAnnounceReply,
  encodeWsAnswer,
  encodeWsFailure,
  encodeWsOffer,
  encodeWsScrapeReply,
  parseWsMessage,
  type WsAnnounceMessage,
  type WsAnswerMessage,
  type WsMessage,
  type WsScrapeMessage,
} from '../protocol/websocket.js';
import type { Store, WsAnnounceRequest, WsAnnounceResult } from '../store/store.js';
import type { AnnouncePolicy } from './announce-policy.js';
import type { InFlight } from './in-flight.js';
import type { AbuseLimits } from '../abuse/abuse-limits.js';
import type { AccessControl } from '../access/access-control.js';
import { requesterPeer, trustedProxyKeys } from './http-server.js';
import { Admission } from './admission.js';
import { PendingOffers } from './pending-offers.js';
import { NO_PAIRS, SocketPairs } from './socket-pairs.js';
import { RequestMeter, answersDropped, wsAnnouncesRefused, wsConnections, wsSlowReaders, wsUpgradesRefused } from '../metrics/tracker-metrics.js';
import type { Signal, SignalRouter } from './signal-router.js';
import { uWS, type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket } from './uws.js';

/** Offers kept per socket for answer authorization (see PendingOffers). */
const PENDING_OFFERS_PER_SOCKET = 256;
/** uWebSockets.js `send` result when the message was dropped for backpressure. */
const SEND_DROPPED = 2;
/** Close codes (RFC 6455): unsupported data. */
const CLOSE_UNSUPPORTED_DATA = 1003;
const STORE_FAILURE = 'tracker storage unavailable, retry later';
const PEER_ID_IN_USE = 'peer_id is in use by another connection';

export interface WsTrackerDeps {
  config: TrackerConfig;
  store: Store;
  policy: AnnouncePolicy;
  inFlight: InFlight;
  router: SignalRouter;
  log: Logger;
  /** Milliseconds, for offer timeouts. */
  clockMs: () => number;
  abuse: AbuseLimits;
  access: AccessControl;
}

const announceMeter = new RequestMeter('ws', 'announce');
const answerMeter = new RequestMeter('ws', 'answer');
const scrapeMeter = new RequestMeter('ws', 'scrape');
const malformedMeter = new RequestMeter('ws', 'unknown');

/**
 * One WebSocket's state, kept small because a tracker holds ~100k of them: no nested Map, no closure, and on
 * the socket object itself. uWebSockets.js copies the upgrade's user data onto its socket object (getUserData()
 * returns the socket, which every WebSocket test relies on), and V8 keeps an object's first three added
 * properties in one PropertyArray of 3 slots (40 bytes; 88 for 7 to 9): so three properties for every
 * socket, the rare ones added only where they exist; the send queue and the socket's pairs are the server's.
 */
interface ConnectionState {
  /** The socket's route in the signal router; '' once the socket is closed. */
  route: string;
  /**
   * The client's IP: the abuse limits' source, and locality mode's choice of offer targets. IPv4 as a signed
   * 32-bit integer (a small integer in the property slot: no 24-byte string a socket) unless locality mode was
   * on at the upgrade, else a binary string (4 or 16 bytes), as the store takes it.
   */
  readonly ip: number | string;
  /** The first block of the socket's (swarm, peer_id) pairs in the server's SocketPairs (closing it removes them all). */
  pairs: number;
  /** The passkey of the upgrade's path (`/KEY/announce`), checked at every announce and scrape: keys get revoked. */
  readonly passkey?: string;
  /** The offers delivered to this socket that it may still answer; undefined once none is left. */
  pending?: PendingOffers | undefined;
}

/** A socket and its state: the same object (see ConnectionState). */
type Connection = WebSocket<ConnectionState> & ConnectionState;

/** sourceOf's result, one per address family, port bytes left 0: an announce allocates no Buffer. */
const SOURCE_V4 = Buffer.alloc(4 + 2);
const SOURCE_V6 = Buffer.alloc(16 + 2);

/**
 * A connection's source as the abuse limits count it: its address with port 0. Valid until the next call (the
 * abuse limits and the log line read it at once, nothing keeps it).
 */
function sourceOf(connection: Connection): Uint8Array {
  const { ip } = connection;
  if (typeof ip === 'number') {
    SOURCE_V4.writeInt32BE(ip, 0);
    return SOURCE_V4;
  }
  const source = ip.length === 4 ? SOURCE_V4 : SOURCE_V6;
  // Byte by byte: a few chars, where Buffer#write's call into C++ costs more than the copy.
  for (let i = 0; i < ip.length; i++) source[i] = ip.charCodeAt(i);
  return source;
}

/** The connection's IP as the store takes it (a binary string), when locality mode asks for it. */
function storeIp(connection: Connection, locality: boolean): string | undefined {
  const { ip } = connection;
  if (typeof ip === 'string') return ip;
  return locality ? String.fromCharCode(ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff) : undefined;
}

/** A swarm as sockets keep it: a number (in SocketPairs), and one info hash string for all. */
interface SharedHash {
  readonly hash: InfoHash;
  readonly id: number;
  /** The pairs of open sockets in this swarm. */
  users: number;
}

/**
 * The swarms sockets are in, numbered, each with one string of its info hash (each message parses a copy of its
 * own, ~40 bytes per socket and swarm otherwise), counted by the pairs that keep it.
 */
class SharedHashes {
  private readonly hashes = new Map<InfoHash, SharedHash>();
  private readonly byId: (SharedHash | undefined)[] = [];
  private readonly freeIds: number[] = [];

  take(infoHash: InfoHash): SharedHash {
    let shared = this.hashes.get(infoHash);
    if (shared === undefined) {
      const id = this.freeIds.pop() ?? this.byId.length;
      this.byId[id] = shared = { hash: infoHash, id, users: 0 };
      this.hashes.set(infoHash, shared);
    }
    shared.users++;
    return shared;
  }

  /** The number of the swarm, or -1 when no socket is in it. */
  idOf(infoHash: InfoHash): number {
    return this.hashes.get(infoHash)?.id ?? -1;
  }

  get(id: number): SharedHash {
    return this.byId[id]!;
  }

  release(id: number): void {
    const shared = this.byId[id]!;
    if (--shared.users > 0) return;
    this.hashes.delete(shared.hash);
    this.byId[shared.id] = undefined;
    this.freeIds.push(shared.id);
  }
}

export class WebSocketTracker {
  private openSockets = 0;
  /** The messages queued for each connection in this event-loop turn (see send). */
  private outboxes = new Map<Connection, string[]>();
  private readonly trustedProxies: ReadonlySet<string>;
  private readonly admission: Admission<Connection>;
  private readonly hashes = new SharedHashes();
  private readonly pairs = new SocketPairs();
  /**
   * Announces of a pair of a socket (key: info hash, peer_id, route) a store that answers later has not
   * answered yet. A refusal (peer_id in use) takes the pair away from the socket only when no later announce of
   * it is still on its way: that one may have been accepted (the other owner left meanwhile) and answers last.
   */
  private readonly unanswered = new Map<string, number>();
  /** The sockets that hold offers: exactly those with `pending` (dropOffers takes both away), for forgetExpiredOffers. */
  private readonly offered = new Set<Connection>();

  constructor(private readonly deps: WsTrackerDeps) {
    this.trustedProxies = trustedProxyKeys(deps.config.trustedProxies);
    this.admission = new Admission(deps, 'ws', (connection: Connection) => compactPeerAddressText(sourceOf(connection)));
    deps.router.receiveWith((socket, signal) => this.receive(socket as Connection, signal));
  }

  /** Open WebSocket connections. */
  get sockets(): number {
    return this.openSockets;
  }

  /**
   * Forgets the offers whose answer time is up, on every socket that holds some, and a socket's record of them
   * once it holds none (answered or timed out): a socket forgets them by itself only when its next offer comes.
   * Run by the tracker's sweep timer (--sweep-interval); returns the sockets still holding offers.
   */
  forgetExpiredOffers(): number {
    const now = this.deps.clockMs();
    for (const connection of this.offered) {
      if (connection.pending!.expire(now) === 0) this.dropOffers(connection);
    }
    return this.offered.size;
  }

  private dropOffers(connection: Connection): void {
    connection.pending = undefined;
    this.offered.delete(connection);
  }

  /**
   * Serves WebSocket upgrades on every path of the app (WebTorrent uses `ws://host:port` and `…/announce`);
   * `/KEY/announce` gives the socket a passkey.
   */
  attach(app: TemplatedApp): void {
    const { config } = this.deps;
    app.ws<ConnectionState>('/*', {
      compression: uWS.DISABLED,
      maxPayloadLength: config.wsMaxMessageBytes,
      idleTimeout: config.wsIdleTimeout,
      sendPingsAutomatically: true,
      maxBackpressure: config.wsMaxBackpressure,
      // Declared as a number in this build's types; read as a boolean by the addon.
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => {
        if (this.openSockets >= config.wsMaxSockets) {
          wsUpgradesRefused.inc();
          res.writeStatus('503 Service Unavailable').end('too many WebSocket connections');
          return;
        }
        // Refused before the upgrade: a browser then reports a failed connection, and nothing is kept for it.
        const refusal = this.deps.access.originRefusal(req.getHeader('origin'));
        if (refusal !== null) {
          res.writeStatus('403 Forbidden').end(refusal);
          return;
        }
        let passkey;
        try {
          passkey = passkeyOfAnnouncePath(req.getUrl());
        } catch (error) {
          res.writeStatus('400 Bad Request').end((error as Error).message);
          return;
        }
        // The client's address as HTTP requests see it (behind trusted proxies too).
        const source = requesterPeer(res, req, 0, this.trustedProxies);
        if (!this.deps.abuse.wsAdmits(source)) {
          res.writeStatus('429 Too Many Requests').end('too many WebSocket connections from your address');
          return;
        }
        const ip =
          source.length === 4 + 2 && config.locality !== 'on'
            ? Buffer.from(source.buffer, source.byteOffset, 4).readInt32BE(0)
            : Buffer.from(source.buffer, source.byteOffset, source.length - 2).toString('latin1');
        const state: ConnectionState = passkey === undefined ? { route: '', ip, pairs: NO_PAIRS } : { route: '', ip, pairs: NO_PAIRS, passkey };
        res.upgrade(
          state,
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const connection = ws as Connection;
        connection.route = this.deps.router.attach(connection);
        this.deps.abuse.wsOpened(sourceOf(connection));
        this.openSockets++;
        wsConnections.inc();
      },
      message: (ws, data, isBinary) => {
        const connection = ws as Connection;
        if (isBinary) {
          malformedMeter.count('error');
          ws.end(CLOSE_UNSUPPORTED_DATA, 'text frames only');
          return;
        }
        let message: WsMessage;
        try {
          message = parseWsMessage(Buffer.from(data).toString(), config.scrapeMaxHashes);
        } catch (error) {
          malformedMeter.count('error');
          // The codec throws only WsRequestError; anything else would be its bug, still no reason to crash.
          const failure = error instanceof WsRequestError ? error : new WsRequestError('announce', 'malformed message');
          this.send(connection, encodeWsFailure(failure.action, failure.message, failure.infoHash));
          return;
        }
        if (message.kind === 'announce') this.announce(connection, message);
        else if (message.kind === 'answer') this.answer(connection, message);
        else this.scrape(connection, message);
      },
      close: (ws) => this.closed(ws as Connection),
    });
  }

  private announce(connection: Connection, message: WsAnnounceMessage): void {
    const { config, store, inFlight, router } = this.deps;
    const { infoHash, peerId, event } = message;
    // The socket's passkey at each announce: keys get revoked.
    const refusal =
      this.admission.passkeyRefusal(connection.passkey, announceMeter, connection) ??
      this.admission.announceRefusal(infoHash, peerId, sourceOf(connection), announceMeter);
    if (refusal !== undefined) {
      this.send(connection, encodeWsFailure('announce', refusal.reason, infoHash, refusal.retryAfter));
      return;
    }
    const at = this.pairIndex(connection, infoHash, peerId);
    // The strings the socket keeps for a new peer, which the embedded store keeps too (not this message's copies).
    let kept = { infoHash, peerId };
    if (event === 'stopped') {
      if (at >= 0) this.leave(connection, at, infoHash, peerId);
    } else if (at < 0) {
      if (this.pairs.count(connection.pairs) >= config.wsMaxSwarmsPerSocket) {
        wsAnnouncesRefused.inc({ reason: 'swarm limit' });
        announceMeter.count('rejected');
        const reason = `too many swarms on one connection (at most ${config.wsMaxSwarmsPerSocket})`;
        this.send(connection, encodeWsFailure('announce', reason, infoHash));
        return;
      }
      // Recorded before the store answers, so that a close meanwhile still removes the peer.
      const shared = this.hashes.take(infoHash);
      kept = { infoHash: shared.hash, peerId: this.pairs.peerIdOf(connection.pairs, peerId) };
      connection.pairs = this.pairs.add(connection.pairs, kept.peerId, shared.id);
      router.joined(connection.route, infoHash, peerId);
    }
    const started = performance.now();
    const wanted = message.numwant < 0 ? Infinity : message.numwant;
    const numwant = event === 'stopped' ? 0 : Math.min(message.offers.length, config.wsMaxOffers, wanted);
    const request: WsAnnounceRequest = { ...kept, route: connection.route, event, seeder: message.seeder, numwant, passkey: connection.passkey, ip: storeIp(connection, config.locality === 'on'), uploaded: message.uploaded, downloaded: message.downloaded, left: message.left };
    // The embedded store answers at once: no promise, and the replies leave within this socket's callback.
    let result: WsAnnounceResult | undefined;
    try {
      result = store.announceWsNow?.(request);
    } catch (error) {
      announceMeter.done('error', started);
      this.storeFailed(connection, error, 'announce', infoHash);
      return;
    }
    if (result !== undefined) {
      this.announced(connection, message, result, started);
      return;
    }
    const done = inFlight.begin();
    // Ids are 20 bytes each (the codec checks): the key cannot be read two ways.
    const key = infoHash + peerId + connection.route;
    this.unanswered.set(key, (this.unanswered.get(key) ?? 0) + 1);
    store.announceWs(request).then(
      (answer) => {
        done();
        this.announced(connection, message, answer, started, this.answered(key));
      },
      (error: unknown) => {
        done();
        this.answered(key);
        announceMeter.done('error', started);
        this.storeFailed(connection, error, 'announce', infoHash);
      },
    );
  }

  /** One announce of `key` (see unanswered) is answered; whether others still are not. */
  private answered(key: string): boolean {
    const left = this.unanswered.get(key)! - 1;
    if (left === 0) this.unanswered.delete(key);
    else this.unanswered.set(key, left);
    return left > 0;
  }

  /**
   * The store's answer to an announce: the reply to the sender, then each offer to one of the peers returned.
   * `laterPending`: a later announce of the same pair is still unanswered.
   */
  private announced(connection: Connection, message: WsAnnounceMessage, result: WsAnnounceResult, started: number, laterPending = false): void {
    const { policy, router } = this.deps;
    const { infoHash, peerId } = message;
    if (result.conflict) {
      wsAnnouncesRefused.inc({ reason: 'peer_id in use' });
      announceMeter.done('rejected', started);
      // Not this socket's peer (any more): its close must not stop it, nor its process's death.
      const at = laterPending ? -1 : this.pairIndex(connection, infoHash, peerId);
      if (at >= 0) this.leave(connection, at, infoHash, peerId);
      this.send(connection, encodeWsFailure('announce', PEER_ID_IN_USE, infoHash));
      return;
    }
    announceMeter.done('ok', started);
    if (connection.route === '') return;
    this.send(connection, encodeWsAnnounceReply(infoHash, policy.wsInterval(), result));
    // Each offer to a different peer (the store returns distinct peers, never the requester).
    const { peers } = result;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      const signal: Signal = {
        kind: 'offer',
        infoHash,
        fromPeerId: peerId,
        fromRoute: connection.route,
        toPeerId: peer.peerId,
        offer: message.offers[i]!,
      };
      router.deliver(peer.route, signal);
    }
  }

  /** An answer goes only to the peer whose offer was delivered to this socket; it gets no reply. */
  private answer(connection: Connection, message: WsAnswerMessage): void {
    const route = connection.pending?.take(message, this.deps.clockMs());
    if (route === undefined) {
      answersDropped.inc();
      answerMeter.count('rejected');
      return;
    }
    answerMeter.count('ok');
    const signal: Signal = {
      kind: 'answer',
      infoHash: message.infoHash,
      fromPeerId: message.peerId,
      offerId: message.offerId,
      answer: message.answer,
    };
    this.deps.router.deliver(route, signal);
  }

  private scrape(connection: Connection, message: WsScrapeMessage): void {
    const { config, store, inFlight } = this.deps;
    const refusal = this.admission.passkeyRefusal(connection.passkey, scrapeMeter, connection);
    if (refusal !== undefined) {
      this.send(connection, encodeWsFailure('scrape', refusal.reason));
      return;
    }
    if (message.infoHashes.length === 0 && config.fullScrapeLimit === 0) {
      scrapeMeter.count('rejected');
      this.send(connection, encodeWsFailure('scrape', 'full scrape is disabled: give info_hash'));
      return;
    }
    const started = performance.now();
    const done = inFlight.begin();
    const listed =
      message.infoHashes.length > 0 ? Promise.resolve(message.infoHashes) : store.listWsSwarms(config.fullScrapeLimit).then((all) => this.deps.access.listable(all));
    listed
      .then(async (infoHashes) => encodeWsScrapeReply(infoHashes, this.deps.access.scrapeCounts(infoHashes, await store.scrapeWs(infoHashes), 'ws')))
      .then(
        (reply) => {
          scrapeMeter.done('ok', started);
          this.send(connection, reply);
        },
        (error: unknown) => {
          scrapeMeter.done('error', started);
          this.storeFailed(connection, error, 'scrape');
        },
      )
      .finally(done);
  }

  /** A signal routed to a socket of this tracker: an offer is remembered so that its answer can be authorized. */
  private receive(connection: Connection, signal: Signal): boolean {
    if (connection.route === '') return false;
    if (signal.kind === 'answer') {
      return this.send(connection, encodeWsAnswer(signal.infoHash, signal.fromPeerId, signal.offerId, signal.answer));
    }
    const { config } = this.deps;
    if (connection.pending === undefined) {
      connection.pending = new PendingOffers(config.wsOfferTimeout * 1000, PENDING_OFFERS_PER_SOCKET);
      this.offered.add(connection);
    }
    const { offer, infoHash, fromPeerId, toPeerId, fromRoute } = signal;
    connection.pending.add(offer.offerId, infoHash, fromPeerId, toPeerId, fromRoute, this.deps.clockMs());
    return this.send(connection, encodeWsOffer(infoHash, fromPeerId, offer));
  }

  /**
   * Queues one message for the socket. Every queue is written at the end of this event-loop turn, each in one
   * cork (one write): the messages a socket gets within a turn (a browser's answers to its offers come back
   * together) cost one system call and one TCP segment instead of one each. False when the socket is closed.
   */
  private send(connection: Connection, message: string): boolean {
    if (connection.route === '') return false;
    const outbox = this.outboxes.get(connection);
    if (outbox !== undefined) {
      outbox.push(message);
    } else {
      if (this.outboxes.size === 0) setImmediate(this.flush);
      this.outboxes.set(connection, [message]);
    }
    return true;
  }

  /** Writes the queued messages; a reader that lets more than wsMaxBackpressure pile up is closed instead. */
  private readonly flush = (): void => {
    const outboxes = this.outboxes;
    this.outboxes = new Map();
    for (const [ws, messages] of outboxes) {
      if (ws.route === '') continue;
      let dropped = false;
      ws.cork(() => {
        for (let i = 0; i < messages.length && !dropped; i++) dropped = ws.send(messages[i]!, false) === SEND_DROPPED;
      });
      if (!dropped) continue;
      wsSlowReaders.inc();
      if (ws.route !== '') ws.close();
    }
  };

  private storeFailed(connection: Connection, error: unknown, action: 'announce' | 'scrape', infoHash?: InfoHash): void {
    this.deps.log.error({ err: error }, 'store request failed');
    this.send(connection, encodeWsFailure(action, STORE_FAILURE, infoHash));
  }

  /** Where the socket's pair (infoHash, peerId) is in this.pairs, or -1. */
  private pairIndex(connection: Connection, infoHash: InfoHash, peerId: string): number {
    const id = this.hashes.idOf(infoHash);
    return id < 0 ? -1 : this.pairs.find(connection.pairs, peerId, id);
  }

  /** The socket's pair (infoHash, peerId), at `at` in this.pairs, is not its own any more. */
  private leave(connection: Connection, at: number, infoHash: InfoHash, peerId: string): void {
    this.deps.router.left(connection.route, infoHash, peerId);
    this.hashes.release(this.pairs.swarmAt(at));
    connection.pairs = this.pairs.remove(connection.pairs, at);
  }

  /** Close, idle timeout or drop: the socket's peers leave every swarm they were in. */
  private closed(connection: Connection): void {
    const { store, inFlight, router, log } = this.deps;
    const { route, pairs } = connection;
    connection.route = '';
    if (connection.pending !== undefined) this.dropOffers(connection);
    router.detach(route);
    this.deps.abuse.wsClosed(sourceOf(connection));
    this.openSockets--;
    wsConnections.dec();
    connection.pairs = NO_PAIRS;
    this.pairs.drain(pairs, (id, peerId) => {
      const infoHash = this.hashes.get(id).hash;
      router.left(route, infoHash, peerId);
      this.hashes.release(id);
      const done = inFlight.begin();
      store
        .announceWs({ infoHash, peerId, route, event: 'stopped', seeder: false, numwant: 0, passkey: connection.passkey })
        .catch((error: unknown) => log.error({ err: error }, 'removing a closed socket\'s peer failed'))
        .finally(done);
    });
  }
}
