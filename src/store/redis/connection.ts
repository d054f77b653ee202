/**
 * Connections to Redis and its topology: ioredis clients made from one target and timeout (the store's, and
 * any other module's, e.g. the WebRTC signal router's), the wait until a node or cluster is ready, the function
 * library loaded on every master, and the slot map the store's own connections (script-client.ts) route by.
 */
import { Cluster, Redis } from 'ioredis';
import type { ConnectionSettings, Topology } from './script-client.js';
import { hostPort } from './nodes.js';

/** A single node (`redis://…`), or the seed nodes of a cluster (`host:port`). */
export type RedisTarget = { url: string } | { cluster: string[] };

export interface RedisConnectionOptions {
  target: RedisTarget;
  /** Milliseconds a command, a connection attempt or a slot-map refresh may take. */
  timeoutMs: number;
}

export interface RedisClientOptions {
  /**
   * Queue commands while disconnected (ioredis' default) rather than fail them at once. Off for the store:
   * while Redis is unreachable, maintenance commands fail instead of piling up.
   */
  offlineQueue: boolean;
  /** Cluster only: a client for sharded pub/sub subscriptions (SSUBSCRIBE). */
  shardedSubscribers?: boolean;
}

/** Reconnect backoff: 100 ms × attempts, at most 2 s. ioredis keeps reconnecting in the background. */
const reconnectDelay = (attempts: number) => Math.min(100 * attempts, 2000);

/** An ioredis client (not yet connected) for the target, every wait bounded by `timeoutMs`. */
export function createRedisClient({ target, timeoutMs }: RedisConnectionOptions, options: RedisClientOptions): Redis | Cluster {
  const node = { commandTimeout: timeoutMs, maxRetriesPerRequest: 1, connectTimeout: timeoutMs };
  if ('url' in target) {
    return new Redis(target.url, { ...node, enableOfflineQueue: options.offlineQueue, retryStrategy: reconnectDelay });
  }
  return new Cluster(target.cluster.map(hostPort), {
    enableOfflineQueue: options.offlineQueue,
    scaleReads: 'master',
    slotsRefreshTimeout: timeoutMs,
    clusterRetryStrategy: reconnectDelay,
    shardedSubscribers: options.shardedSubscribers ?? false,
    redisOptions: node,
  });
}

/** Resolves once the client is ready; disconnects it and rejects if that takes longer than the timeout (at least 5 s). */
export function whenReady(redis: Redis | Cluster, timeoutMs: number): Promise<void> {
  const waitMs = Math.max(timeoutMs, 5000);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.disconnect();
      reject(new Error(`Redis not ready within ${waitMs} ms`));
    }, waitMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The masters of a cluster, or the single node. */
export function mastersOf(redis: Redis | Cluster): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Loads the function library on every master, which also checks that Redis has Functions (7.0+); a node that
 * misses it later (restarted, flushed, new) gets it again on its first call (script-client.ts). Disconnects
 * and throws when Redis cannot run it.
 */
export async function loadLibrary(redis: Redis | Cluster, library: string): Promise<void> {
  const loads = await Promise.allSettled(mastersOf(redis).map((node) => node.function('LOAD', library)));
  for (const load of loads) {
    const message = load.status === 'rejected' ? String((load.reason as Error).message) : '';
    if (/unknown command/i.test(message)) {
      redis.disconnect();
      throw new Error(`the Redis store needs Redis 7.0 or newer (Functions): ${message}`);
    }
    // Another tracker of this version loaded it first: fine. A library Redis refuses is a bug to show now.
    if (/error (registering|compiling)/i.test(message)) {
      redis.disconnect();
      throw new Error(`Redis refused the store's functions: ${message}`);
    }
  }
}

/** Where slots live, and what to stop when the store closes. */
export interface OwnedTopology extends Topology {
  close(): void;
}

/** The slot map of ioredis' Cluster, plus the MOVED answers seen since its last refresh. */
export class ClusterTopology implements OwnedTopology {
  private readonly table: (string | undefined)[] = new Array(16384);
  private lastRefresh = 0;
  private pending: NodeJS.Timeout | null = null;

  constructor(private readonly cluster: Cluster) {
    this.rebuild();
    cluster.on('refresh', () => this.rebuild());
  }

  nodeFor(slot: number): string | undefined {
    return this.table[slot];
  }

  moved(slot: number, node: string): void {
    this.table[slot] = node;
    this.refresh();
  }

  /** At most one CLUSTER SLOTS a second. */
  refresh(): void {
    if (this.pending !== null) return;
    const wait = this.lastRefresh + 1000 - Date.now();
    this.pending = setTimeout(
      () => {
        this.pending = null;
        this.lastRefresh = Date.now();
        this.cluster.refreshSlotsCache();
      },
      Math.max(0, wait),
    );
    this.pending.unref();
  }

  close(): void {
    if (this.pending !== null) clearTimeout(this.pending);
  }

  private rebuild(): void {
    for (let slot = 0; slot < 16384; slot++) this.table[slot] = this.cluster.slots[slot]?.[0];
  }
}

/** One node serves every slot. */
function singleTopology(node: string): OwnedTopology {
  return { nodeFor: () => node, moved: () => {}, refresh: () => {}, close: () => {} };
}

export interface StoreConnection {
  /** ioredis: the cluster topology and the maintenance commands (SCAN). */
  readonly redis: Redis | Cluster;
  /** The slot map the store's own connections route by. */
  readonly topology: OwnedTopology;
  /** ioredis' connection settings, copied by the store's own connections. */
  readonly settings: ConnectionSettings;
}

/**
 * Connects to the node or cluster, waits until it is ready (or fails after the timeout), and loads the function
 * library on every master.
 */
export async function connectStore(
  options: RedisConnectionOptions & { onError: (error: Error) => void },
  library: string,
): Promise<StoreConnection> {
  const redis = createRedisClient(options, { offlineQueue: false });
  redis.on('error', options.onError);
  await whenReady(redis, options.timeoutMs);
  await loadLibrary(redis, library);
  if (redis instanceof Cluster) {
    const nodeOptions = redis.options.redisOptions ?? {};
    return {
      redis,
      topology: new ClusterTopology(redis),
      settings: { username: nodeOptions.username, password: nodeOptions.password, tls: nodeOptions.tls },
    };
  }
  const { host, port, username, password, db, tls } = redis.options;
  return { redis, topology: singleTopology(`${host}:${port}`), settings: { username, password, db, tls } };
}
