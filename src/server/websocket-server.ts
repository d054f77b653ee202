/**
 * The WebSocket (WebTorrent) tracker on the HTTP port: uWebSockets.js sockets in, the store for swarm state,
 * the signal router for offers and answers between peers. One socket may be a peer of many swarms (under one
 * or more peer_ids); closing it, or its idle timeout, removes all of them.
 */
import { performance } from 'node:perf_hooks';
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
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
import type { Store } from '../store/store.js';
import type { AnnouncePolicy } from './announce-policy.js';
import type { InFlight } from './in-flight.js';
import { PendingOffers } from './pending-offers.js';
import { RequestMeter, answersDropped, wsAnnouncesRefused, wsConnections, wsSlowReaders, wsUpgradesRefused } from '../metrics/tracker-metrics.js';
import type { Signal, SignalRouter } from './signal-router.js';
import { uWS, type TemplatedApp, type WebSocket } from './uws.js';

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
}

/** uWebSockets.js copies a socket's user data object without its prototype: the state rides inside it. */
interface UserData {
  readonly connection: Connection;
}

/** One WebSocket's state. */
const announceMeter = new RequestMeter('ws', 'announce');
const answerMeter = new RequestMeter('ws', 'answer');
const scrapeMeter = new RequestMeter('ws', 'scrape');
const malformedMeter = new RequestMeter('ws', 'unknown');

class Connection {
  ws: WebSocket<UserData> | null = null;
  route = '';
  /** The peer_ids announced over this socket in each swarm (usually one), so that closing it removes them all. */
  readonly peers = new Map<InfoHash, string[]>();
  /** (swarm, peer_id) pairs in `peers`: what wsMaxSwarmsPerSocket bounds. */
  memberships = 0;
  pending: PendingOffers | null = null;

  has(infoHash: InfoHash, peerId: string): boolean {
    return this.peers.get(infoHash)?.includes(peerId) ?? false;
  }

  add(infoHash: InfoHash, peerId: string): void {
    const peerIds = this.peers.get(infoHash);
    if (peerIds === undefined) this.peers.set(infoHash, [peerId]);
    else peerIds.push(peerId);
    this.memberships++;
  }

  /** False when the peer was not on this socket. */
  remove(infoHash: InfoHash, peerId: string): boolean {
    const peerIds = this.peers.get(infoHash);
    const at = peerIds === undefined ? -1 : peerIds.indexOf(peerId);
    if (at < 0) return false;
    if (peerIds!.length === 1) this.peers.delete(infoHash);
    else peerIds!.splice(at, 1);
    this.memberships--;
    return true;
  }
}

export class WebSocketTracker {
  private openSockets = 0;

  constructor(private readonly deps: WsTrackerDeps) {}

  /** Open WebSocket connections. */
  get sockets(): number {
    return this.openSockets;
  }

  /** Serves WebSocket upgrades on every path of the app (WebTorrent uses `ws://host:port` and `…/announce`). */
  attach(app: TemplatedApp): void {
    const { config } = this.deps;
    app.ws<UserData>('/*', {
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
        res.upgrade(
          { connection: new Connection() },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const { connection } = ws.getUserData();
        connection.ws = ws;
        connection.route = this.deps.router.attach((signal) => this.receive(connection, signal));
        this.openSockets++;
        wsConnections.inc();
      },
      message: (ws, data, isBinary) => {
        const { connection } = ws.getUserData();
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
      close: (ws) => this.closed(ws.getUserData().connection),
    });
  }

  private announce(connection: Connection, message: WsAnnounceMessage): void {
    const { config, store, policy, inFlight, router } = this.deps;
    const { infoHash, peerId, event } = message;
    if (event === 'stopped') {
      if (connection.remove(infoHash, peerId)) router.left(connection.route, infoHash, peerId);
    } else if (!connection.has(infoHash, peerId)) {
      if (connection.memberships >= config.wsMaxSwarmsPerSocket) {
        wsAnnouncesRefused.inc({ reason: 'swarm limit' });
        announceMeter.count('rejected');
        const reason = `too many swarms on one connection (at most ${config.wsMaxSwarmsPerSocket})`;
        this.send(connection, encodeWsFailure('announce', reason, infoHash));
        return;
      }
      // Recorded before the store answers, so that a close meanwhile still removes the peer.
      connection.add(infoHash, peerId);
      router.joined(connection.route, infoHash, peerId);
    }
    const started = performance.now();
    const wanted = message.numwant < 0 ? Infinity : message.numwant;
    const numwant = event === 'stopped' ? 0 : Math.min(message.offers.length, config.wsMaxOffers, wanted);
    const done = inFlight.begin();
    store
      .announceWs({ infoHash, peerId, route: connection.route, event, seeder: message.seeder, numwant })
      .then(
        (result) => {
          done();
          if (result.conflict) {
            wsAnnouncesRefused.inc({ reason: 'peer_id in use' });
            announceMeter.done('rejected', started);
            // Not this socket's peer (any more): its close must not stop it, nor its process's death.
            if (connection.remove(infoHash, peerId)) router.left(connection.route, infoHash, peerId);
            this.send(connection, encodeWsFailure('announce', PEER_ID_IN_USE, infoHash));
            return;
          }
          announceMeter.done('ok', started);
          if (connection.ws === null) return;
          this.send(connection, encodeWsAnnounceReply(infoHash, policy.wsInterval(), result));
          // Each offer to a different peer (the store returns distinct peers, never the requester).
          result.peers.forEach((peer, i) => {
            const signal: Signal = {
              kind: 'offer',
              infoHash,
              fromPeerId: peerId,
              fromRoute: connection.route,
              toPeerId: peer.peerId,
              offer: message.offers[i]!,
            };
            router.deliver(peer.route, signal);
          });
        },
        (error: unknown) => {
          done();
          announceMeter.done('error', started);
          this.storeFailed(connection, error, 'announce', infoHash);
        },
      );
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
    if (message.infoHashes.length === 0 && config.fullScrapeLimit === 0) {
      scrapeMeter.count('rejected');
      this.send(connection, encodeWsFailure('scrape', 'full scrape is disabled: give info_hash'));
      return;
    }
    const started = performance.now();
    const done = inFlight.begin();
    const listed =
      message.infoHashes.length > 0 ? Promise.resolve(message.infoHashes) : store.listWsSwarms(config.fullScrapeLimit);
    listed
      .then(async (infoHashes) => encodeWsScrapeReply(infoHashes, await store.scrapeWs(infoHashes)))
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

  /** A signal routed to this socket: an offer is remembered so that its answer can be authorized. */
  private receive(connection: Connection, signal: Signal): boolean {
    if (connection.ws === null) return false;
    if (signal.kind === 'answer') {
      return this.send(connection, encodeWsAnswer(signal.infoHash, signal.fromPeerId, signal.offerId, signal.answer));
    }
    const { config } = this.deps;
    connection.pending ??= new PendingOffers(config.wsOfferTimeout * 1000, PENDING_OFFERS_PER_SOCKET);
    const { offer, infoHash, fromPeerId, toPeerId, fromRoute } = signal;
    connection.pending.add(offer.offerId, infoHash, fromPeerId, toPeerId, fromRoute, this.deps.clockMs());
    return this.send(connection, encodeWsOffer(infoHash, fromPeerId, offer));
  }

  /** Sends one message; a reader that lets more than wsMaxBackpressure pile up is closed instead. */
  private send(connection: Connection, text: string): boolean {
    const ws = connection.ws;
    if (ws === null) return false;
    let status = 0;
    ws.cork(() => {
      status = ws.send(text, false);
    });
    if (status !== SEND_DROPPED) return true;
    wsSlowReaders.inc();
    if (connection.ws !== null) ws.close();
    return false;
  }

  private storeFailed(connection: Connection, error: unknown, action: 'announce' | 'scrape', infoHash?: InfoHash): void {
    this.deps.log.error({ err: error }, 'store request failed');
    this.send(connection, encodeWsFailure(action, STORE_FAILURE, infoHash));
  }

  /** Close, idle timeout or drop: the socket's peers leave every swarm they were in. */
  private closed(connection: Connection): void {
    const { store, inFlight, router, log } = this.deps;
    connection.ws = null;
    connection.pending = null;
    router.detach(connection.route);
    this.openSockets--;
    wsConnections.dec();
    for (const [infoHash, peerIds] of connection.peers) {
      for (const peerId of peerIds) {
        router.left(connection.route, infoHash, peerId);
        const done = inFlight.begin();
        store
          .announceWs({ infoHash, peerId, route: connection.route, event: 'stopped', seeder: false, numwant: 0 })
          .catch((error: unknown) => log.error({ err: error }, 'removing a closed socket\'s peer failed'))
          .finally(done);
      }
    }
    connection.peers.clear();
    connection.memberships = 0;
  }
}
