/**
 * WebRTC signaling across processes and machines that share a Redis (Cluster): a route names its process, and
 * a signal for another process's socket is published on that process's own sharded channel (SPUBLISH), which
 * only that process subscribes to (SSUBSCRIBE). The channel's hash tag is the process id, so each process's
 * traffic stays on one shard. A process only ever delivers what it receives to its own sockets: no message is
 * forwarded twice or looped.
 *
 * Dead routes are cleaned up two ways: a publish that reaches no subscriber means the process is gone, so the
 * peer an offer was meant for is removed at once; and every process lists its WebSocket peers in a set of its
 * own, so that when a worker dies its primary removes all of them (`removeProcessPeers`).
 */
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { InfoHash } from '../protocol/types.js';
import type { Store } from '../store/store.js';
import { offersRelayed } from '../metrics/tracker-metrics.js';
import { LocalSignalRouter, type Signal, type SignalReceiver, type SignalRouter } from './signal-router.js';
import { hostPort } from '../store/redis/nodes.js';

export interface RedisSignalTarget {
  target: { url: string } | { cluster: string[] };
  timeoutMs: number;
}

/** The sharded channel of a process. */
function channelOf(processId: string): string {
  return `sig:{${processId}}`;
}

/** The set listing a process's WebSocket peers, as `infoHashHex peerIdHex route` members. */
function peersSetOf(processId: string): string {
  return `wsp:{${processId}}`;
}

function processOf(route: string): string {
  return route.slice(0, route.indexOf('/'));
}


function connect(target: RedisSignalTarget, subscriber: boolean): Redis | Cluster {
  const options = { commandTimeout: target.timeoutMs, maxRetriesPerRequest: 1 };
  return 'url' in target.target
    ? new Redis(target.target.url, options)
    : new Cluster(target.target.cluster.map(hostPort), { shardedSubscribers: subscriber, redisOptions: options });
}

export class RedisSignalRouter implements SignalRouter {
  private readonly local = new LocalSignalRouter();
  private readonly offersRemote = offersRelayed.child({ kind: 'offer', route: 'remote' });
  private readonly answersRemote = offersRelayed.child({ kind: 'answer', route: 'remote' });

  private constructor(
    private readonly publisher: Redis | Cluster,
    private readonly subscriber: Redis | Cluster,
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** Subscribes to this process's channel; resolves once signals for its sockets can arrive. */
  static async start(target: RedisSignalTarget, store: Store, log: Logger): Promise<RedisSignalRouter> {
    const publisher = connect(target, false);
    const subscriber = connect(target, true);
    for (const client of [publisher, subscriber]) client.on('error', (error: Error) => log.warn({ err: error }, 'signaling connection problem'));
    const router = new RedisSignalRouter(publisher, subscriber, store, log);
    subscriber.on('smessage', (_channel: string, message: string) => router.received(message));
    await subscriber.ssubscribe(channelOf(router.processId));
    return router;
  }

  /** This process's id: the first part of every route it makes. */
  get processId(): string {
    return this.local.processId;
  }

  attach(receiver: SignalReceiver): string {
    return this.local.attach(receiver);
  }

  detach(route: string): void {
    this.local.detach(route);
  }

  deliver(route: string, signal: Signal): boolean {
    if (this.local.owns(route)) return this.local.deliver(route, signal);
    (this.publisher.spublish(channelOf(processOf(route)), JSON.stringify({ route, signal })) as Promise<number>).then(
      (receivers) => {
        if (receivers > 0) (signal.kind === 'offer' ? this.offersRemote : this.answersRemote).inc();
        else if (signal.kind === 'offer') this.removeDeadPeer(signal.infoHash, signal.toPeerId, route);
      },
      (error: unknown) => this.log.warn({ err: error }, 'publishing a signal failed'),
    );
    return true;
  }

  /** Lists a peer of this process's sockets, so that its process's death can remove it. */
  joined(route: string, infoHash: InfoHash, peerId: string): void {
    this.publisher.sadd(peersSetOf(processOf(route)), member(infoHash, peerId, route)).catch(() => {});
  }

  left(route: string, infoHash: InfoHash, peerId: string): void {
    this.publisher.srem(peersSetOf(processOf(route)), member(infoHash, peerId, route)).catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([this.publisher.quit(), this.subscriber.quit()].map((p) => p.catch(() => {})));
  }

  /** Removes every WebSocket peer a (dead) process listed, and the list. */
  static async removeProcessPeers(processId: string, target: RedisSignalTarget, store: Store): Promise<number> {
    const client = connect(target, false);
    try {
      const members = await client.smembers(peersSetOf(processId));
      await Promise.all(
        members.map((entry) => {
          const [infoHashHex, peerIdHex, route] = entry.split(' ') as [string, string, string];
          return store.announceWs({
            infoHash: Buffer.from(infoHashHex, 'hex').toString('latin1'),
            peerId: Buffer.from(peerIdHex, 'hex').toString('latin1'),
            route,
            event: 'stopped',
            seeder: false,
            numwant: 0,
          });
        }),
      );
      await client.del(peersSetOf(processId));
      return members.length;
    } finally {
      client.disconnect();
    }
  }

  /** A signal published for one of this process's sockets: delivered here, never forwarded again. */
  private received(message: string): void {
    let parsed: { route: string; signal: Signal };
    try {
      parsed = JSON.parse(message) as { route: string; signal: Signal };
    } catch {
      return;
    }
    // False when the socket closed after the sender picked it: its peers are being removed already.
    if (!this.local.deliver(parsed.route, parsed.signal)) this.log.debug({ route: parsed.route }, 'signal for a closed socket');
  }

  private removeDeadPeer(infoHash: InfoHash, peerId: string, route: string): void {
    this.store
      .announceWs({ infoHash, peerId, route, event: 'stopped', seeder: false, numwant: 0 })
      .then(() => this.publisher.srem(peersSetOf(processOf(route)), member(infoHash, peerId, route)))
      .catch((error: unknown) => this.log.warn({ err: error }, 'removing a dead route failed'));
  }
}

function member(infoHash: InfoHash, peerId: string, route: string): string {
  return `${Buffer.from(infoHash, 'latin1').toString('hex')} ${Buffer.from(peerId, 'latin1').toString('hex')} ${route}`;
}
