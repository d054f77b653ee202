/**
 * What a tracker process on a shared Redis needs beyond the store: its registration (heartbeat and the list of
 * its WebSocket peers), the signal router that reaches sockets of other processes, and its candidacy for the
 * coordinator lease. One ioredis client carries the registry's and the coordinator's few commands.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { throttledWarning, type Logger } from '../log.js';
import { createRedisClient, whenReady, type RedisConnectionOptions } from '../store/redis/connection.js';
import type { Store } from '../store/store.js';
import { partitionStreams } from '../events/consumer.js';
import { EventsMaintenance } from '../events/maintenance.js';
import { Coordinator } from './coordinator.js';
import { ProcessRegistration } from './process-registry.js';
import { RedisSignalRouter } from './redis-signal-router.js';

export interface ScaleOutOptions extends RedisConnectionOptions {
  /** Milliseconds a process counts as alive after its last heartbeat. */
  heartbeatMs: number;
  /** Milliseconds the coordinator lease lasts unless renewed. */
  leaseMs: number;
  /**
   * Swarm events on: the partitions, whose consumer-group eventsMaintenance the coordinator samples, and the store's sweep of
   * swarms about to expire unannounced, which the coordinator runs (src/events/maintenance.ts).
   */
  events?: { partitions: number; sweepExpiring: () => Promise<number> };
}

export interface ScaleOut {
  readonly processId: string;
  readonly router: RedisSignalRouter;
  /** The registry's client, for other modules' few commands (the access lists' polls). */
  readonly redis: Redis | Cluster;
  close(): Promise<void>;
}

/** A client for the registry's and coordinator's commands (queued while Redis reconnects: they are few). */
export async function registryClient(options: RedisConnectionOptions, log: Logger): Promise<Redis | Cluster> {
  const redis = createRedisClient(options, { offlineQueue: true });
  redis.on('error', throttledWarning(log, 'registry connection problem'));
  await whenReady(redis, options.timeoutMs);
  return redis;
}

export async function startScaleOut(options: ScaleOutOptions, store: Store, log: Logger): Promise<ScaleOut> {
  const processId = randomBytes(9).toString('base64url');
  const redis = await registryClient(options, log);
  // A peer list outlives its heartbeat by a lease and a beat: whoever holds the lease then still finds it.
  const registration = new ProcessRegistration(redis, processId, { heartbeatMs: options.heartbeatMs, peersGraceMs: options.leaseMs + options.heartbeatMs }, log);
  await registration.start();
  log.info({ processId }, 'registered');
  const router = await RedisSignalRouter.start(options, processId, registration, log);
  const coordinator = new Coordinator(redis, store, processId, options, log);
  coordinator.start();
  const events = options.events;
  const eventsMaintenance =
    events === undefined
      ? undefined
      : new EventsMaintenance(redis, partitionStreams(events.partitions), () => coordinator.isHolder, events.sweepExpiring, throttledWarning(log, 'swarm events maintenance failed'));
  return {
    processId,
    router,
    redis,
    async close() {
      await eventsMaintenance?.close();
      await coordinator.close();
      await router.close();
      await registration.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

