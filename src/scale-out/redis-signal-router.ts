/**
 * WebRTC signaling across processes and machines that share a Redis (Cluster): a route names its process, and
 * a signal for another process's socket is published on that process's own sharded channel (SPUBLISH), which
 * only that process subscribes to (SSUBSCRIBE). The channel's hash tag is the process id, so each process's
 * traffic stays on one shard. A process only ever delivers what it receives to its own sockets: no message is
 * forwarded twice or looped.
 *
 * A subscription can be lost without any error (ioredis' sharded subscribers can stay unsubscribed after a
 * whole Redis Cluster restarts), so every process checks its own channel every few seconds: it publishes a probe
 * to itself, and when Redis answers but the probe does not come back, it re-creates its subscriber connection.
 * A lost and a restored channel are logged once each; re-subscriptions are counted.
 *
 * A publish that reaches no subscriber is counted and dropped, and removes nothing: a live process whose
 * subscription is being restored looks exactly like a dead one. The peers of dead processes are removed through
 * the process registry (process-registry.ts): by a worker's primary at once, by the coordinator when a whole
 * instance is gone.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { throttledWarning, type Logger } from '../log.js';
import type { InfoHash } from '../protocol/types.js';
import { offersRelayed, signalResubscribes, signalsUndeliverable } from '../metrics/tracker-metrics.js';
import { LocalSignalRouter, type Signal, type SignalReceiver, type SignalRouter } from '../server/signal-router.js';
import { createRedisClient, type RedisConnectionOptions } from '../store/redis/connection.js';
import { processOf } from './process-registry.js';

/** Where a process lists the WebSocket peers of its sockets, so that its death can remove them. */
export interface PeerList {
  joined(route: string, infoHash: InfoHash, peerId: string): void;
  left(route: string, infoHash: InfoHash, peerId: string): void;
}

export interface SelfCheckOptions {
  /** Milliseconds between two probes of the process's own channel. */
  checkIntervalMs?: number;
  /** Milliseconds a probe may take to come back; at most half the interval. Default: the target's timeout. */
  probeTimeoutMs?: number;
}

const CHECK_INTERVAL_MS = 5000;

/** One self-check: a probe published to this process's own channel, and what became of it. */
interface Probe {
  readonly nonce: string;
  /** SPUBLISH's answer: how many subscribers got it; 'failed' when Redis did not answer. */
  receivers: number | 'failed' | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Sent right after a re-subscription: its failure waits for the next period rather than re-creating again. */
  readonly confirming: boolean;
}

/** The sharded channel of a process. */
function channelOf(processId: string): string {
  return `sig:{${processId}}`;
}

function connect(connection: RedisConnectionOptions, subscriber: boolean): Redis | Cluster {
  return createRedisClient(connection, { offlineQueue: true, shardedSubscribers: subscriber });
}

/**
 * A signal another process published, checked for the shape this process relies on (Redis is shared: a
 * malformed message is dropped, never a crash); undefined when it is not one. Processes before 2026-12 published
 * session descriptions as `{type, sdp}` objects, later ones as their JSON text: an object is turned into text
 * here, so that offers and answers keep flowing between old and new processes during a rolling update. The
 * text itself is relayed as it came, as any other process's signal: Redis is trusted as the store is.
 */
function relayedSignal(parsed: { route?: unknown; signal?: unknown }): { route: string; signal: Signal } | undefined {
  const { route, signal } = parsed;
  if (typeof route !== 'string' || typeof signal !== 'object' || signal === null) return undefined;
  const fields = signal as Record<string, unknown>;
  if (typeof fields.infoHash !== 'string' || typeof fields.fromPeerId !== 'string') return undefined;
  if (fields.kind === 'offer') {
    const offer = fields.offer as Record<string, unknown> | null | undefined;
    if (typeof fields.fromRoute !== 'string' || typeof fields.toPeerId !== 'string') return undefined;
    if (typeof offer !== 'object' || offer === null || typeof offer.offerId !== 'string') return undefined;
    offer.offer = descriptionText(offer.offer);
    if (typeof offer.offer !== 'string') return undefined;
  } else if (fields.kind === 'answer') {
    if (typeof fields.offerId !== 'string') return undefined;
    fields.answer = descriptionText(fields.answer);
    if (typeof fields.answer !== 'string') return undefined;
  } else {
    return undefined;
  }
  return { route, signal: signal as Signal };
}

function descriptionText(description: unknown): unknown {
  if (typeof description !== 'object' || description === null) return description;
  const { type, sdp } = description as { type?: unknown; sdp?: unknown };
  return JSON.stringify({ type, sdp });
}

export class RedisSignalRouter implements SignalRouter {
  private readonly local: LocalSignalRouter;
  private readonly offersRemote = offersRelayed.child({ kind: 'offer', route: 'remote' });
  private readonly answersRemote = offersRelayed.child({ kind: 'answer', route: 'remote' });
  private readonly publisher: Redis | Cluster;
  private subscriber: Redis | Cluster;
  // A dead Redis makes ioredis report every reconnect attempt, and every signal published meanwhile fails.
  private readonly connectionProblem: (error: unknown) => void;
  private readonly publishProblem: (error: unknown) => void;
  private readonly checkIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private checkTimer: NodeJS.Timeout | undefined;
  private probe: Probe | undefined;
  /** Since when the probes fail, and how often the subscriber was re-created since; undefined while they pass. */
  private lost: { since: number; resubscribes: number } | undefined;
  /** The SSUBSCRIBE of a re-created subscriber, until Redis confirms it (or refuses it). */
  private resubscribing: { startedAt: number } | undefined;
  private closed = false;

  private constructor(
    private readonly connection: RedisConnectionOptions,
    processId: string,
    private readonly peers: PeerList,
    private readonly log: Logger,
    options: SelfCheckOptions,
  ) {
    this.local = new LocalSignalRouter(processId);
    this.connectionProblem = throttledWarning(log, 'signaling connection problem');
    this.publishProblem = throttledWarning(log, 'publishing a signal failed');
    this.checkIntervalMs = options.checkIntervalMs ?? CHECK_INTERVAL_MS;
    this.probeTimeoutMs = Math.min(options.probeTimeoutMs ?? connection.timeoutMs, this.checkIntervalMs / 2);
    this.publisher = connect(connection, false);
    this.publisher.on('error', this.connectionProblem);
    this.subscriber = this.connectSubscriber();
  }

  /**
   * Subscribes to the channel of process `processId` (the first part of every route it makes); resolves once
   * signals for its sockets can arrive. `peers` lists the peers of its sockets.
   */
  static async start(
    connection: RedisConnectionOptions,
    processId: string,
    peers: PeerList,
    log: Logger,
    options: SelfCheckOptions = {},
  ): Promise<RedisSignalRouter> {
    const router = new RedisSignalRouter(connection, processId, peers, log, options);
    try {
      await router.subscriber.ssubscribe(router.channel);
    } catch (error) {
      await router.close();
      throw error;
    }
    router.checkTimer = setInterval(() => router.check(), router.checkIntervalMs).unref();
    return router;
  }

  private get channel(): string {
    return channelOf(this.processId);
  }

  /** This process's id: the first part of every route it makes. */
  get processId(): string {
    return this.local.processId;
  }

  receiveWith(receiver: SignalReceiver): void {
    this.local.receiveWith(receiver);
  }

  attach(socket: object): string {
    return this.local.attach(socket);
  }

  detach(route: string): void {
    this.local.detach(route);
  }

  deliver(route: string, signal: Signal): boolean {
    if (this.local.owns(route)) return this.local.deliver(route, signal);
    (this.publisher.spublish(channelOf(processOf(route)), JSON.stringify({ route, signal })) as Promise<number>).then(
      (receivers) => {
        if (receivers > 0) (signal.kind === 'offer' ? this.offersRemote : this.answersRemote).inc();
        // Nobody subscribed: the process died (its primary removes its peers) or is restoring its subscription
        // (its peers are alive). Either way the peer is not this process's to remove.
        else signalsUndeliverable.inc({ kind: signal.kind, route: 'remote' });
      },
      this.publishProblem,
    );
    return true;
  }

  /** Lists a peer of this process's sockets, so that its process's death can remove it. */
  joined(route: string, infoHash: InfoHash, peerId: string): void {
    this.peers.joined(route, infoHash, peerId);
  }

  left(route: string, infoHash: InfoHash, peerId: string): void {
    this.peers.left(route, infoHash, peerId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.resubscribing = undefined;
    clearInterval(this.checkTimer);
    clearTimeout(this.probe?.timer);
    await Promise.all([this.publisher.quit(), this.subscriber.quit()].map((p) => p.catch(() => {})));
  }

  /** A signal published for one of this process's sockets: delivered here, never forwarded again. */
  private received(message: string): void {
    let parsed: { route?: unknown; signal?: unknown; probe?: unknown };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    if (parsed.probe !== undefined) {
      if (parsed.probe === this.probe?.nonce) this.judge(this.probe, true);
      return;
    }
    const relayed = relayedSignal(parsed);
    if (relayed === undefined) {
      this.log.debug('malformed signal dropped');
      return;
    }
    // False when the socket closed after the sender picked it: its peers are being removed already.
    if (!this.local.deliver(relayed.route, relayed.signal)) this.log.debug({ route: relayed.route }, 'signal for a closed socket');
  }

  private connectSubscriber(): Redis | Cluster {
    const subscriber = connect(this.connection, true);
    subscriber.on('error', this.connectionProblem);
    subscriber.on('smessage', (_channel: string, message: string) => this.received(message));
    return subscriber;
  }

  /** Publishes a probe to this process's own channel; `judge` decides once it is back, or in time it is not. */
  private check(confirming = false): void {
    if (this.probe !== undefined || this.closed) return; // the last one is still out (its timeout is shorter than the interval)
    // A new connection may take a while to subscribe: judging it before would only re-create it again.
    if (this.resubscribing !== undefined && Date.now() - this.resubscribing.startedAt < 2 * this.checkIntervalMs) return;
    const probe: Probe = { nonce: randomBytes(9).toString('base64url'), receivers: undefined, timer: undefined, confirming };
    this.probe = probe;
    probe.timer = setTimeout(() => this.judge(probe, false), this.probeTimeoutMs).unref();
    (this.publisher.spublish(this.channel, JSON.stringify({ probe: probe.nonce })) as Promise<number>).then(
      (receivers) => {
        probe.receivers = receivers;
        // Nobody subscribed: no need to wait for the probe to know.
        if (receivers === 0) this.judge(probe, false);
      },
      (error: unknown) => {
        probe.receivers = 'failed';
        this.publishProblem(error);
      },
    );
  }

  private judge(probe: Probe, arrived: boolean): void {
    if (this.probe !== probe || this.closed) return;
    this.probe = undefined;
    clearTimeout(probe.timer);
    if (arrived) {
      if (this.lost !== undefined) {
        const { since, resubscribes } = this.lost;
        this.lost = undefined;
        this.log.info({ channel: this.channel, lostForMs: Date.now() - since, resubscribes }, 'signaling channel restored');
      }
      return;
    }
    const reason =
      probe.receivers === undefined
        ? 'redis did not answer'
        : probe.receivers === 'failed'
          ? 'publishing failed'
          : probe.receivers === 0
            ? 'no subscriber'
            : 'probe not received';
    if (this.lost === undefined) {
      this.lost = { since: Date.now(), resubscribes: 0 };
      this.log.warn({ channel: this.channel, reason }, 'signaling channel lost: signals for this process are not arriving');
    }
    // Redis answered, so the subscription is what is broken; when Redis is away, the next probe tells.
    if (typeof probe.receivers === 'number' && !probe.confirming) this.resubscribe();
  }

  /**
   * A fresh subscriber connection: after a cluster restart ioredis' sharded subscriber group can stay stuck
   * (resetting forever, no subscriber for any slot), so re-issuing SSUBSCRIBE on the old client is not enough.
   */
  private resubscribe(): void {
    signalResubscribes.inc();
    this.lost!.resubscribes++;
    const old = this.subscriber;
    old.removeAllListeners('smessage');
    old.disconnect();
    const subscriber = this.connectSubscriber();
    this.subscriber = subscriber;
    const resubscribing = { startedAt: Date.now() };
    this.resubscribing = resubscribing;
    subscriber.ssubscribe(this.channel).then(
      () => {
        if (this.resubscribing !== resubscribing) return;
        this.resubscribing = undefined;
        this.check(true); // confirms it at once rather than a period later
      },
      (error: unknown) => {
        if (this.resubscribing !== resubscribing) return; // replaced or closed meanwhile: not worth a warning
        this.resubscribing = undefined;
        this.connectionProblem(error);
      },
    );
  }
}
