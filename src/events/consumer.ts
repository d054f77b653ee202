/**
 * Reading the partition streams (docs/events.md): `follow` for a tail (XREAD, no state in Redis), and
 * GroupConsumer for at-least-once processing with a consumer group: each entry is handed to `handle` and
 * acknowledged (XACK) only after it returns; entries a consumer was given but did not acknowledge (it died) are
 * handed out again: its own on restart (same name), another's once idle for `claimIdleMs` (XAUTOCLAIM).
 * Entries of one stream are handled one at a time, in stream order, so one swarm's events stay in order as long
 * as one consumer of the group reads a stream at a time (docs/events.md).
 */
import type { Cluster, Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisClient, whenReady, type RedisTarget } from '../store/redis/connection.js';
import { EventPartitions } from '../store/redis/swarm-keys.js';
import { parseEntry, type SwarmEvent } from './schema.js';

/** One stream entry: where it is and what it says. */
export interface StreamEvent {
  readonly stream: string;
  /** The entry ID (`<ms>-<n>`): unique and increasing within its stream. */
  readonly id: string;
  readonly event: SwarmEvent;
}

type Entries = [id: string, fields: string[]][];

function eventsOf(stream: string, entries: Entries | null | undefined): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (const [id, fields] of entries ?? []) {
    // An entry trimmed since it was delivered comes back without fields: nothing to handle.
    if (fields && fields.length > 0) out.push({ stream, id, event: parseEntry(fields) });
  }
  return out;
}

/** Connects to the Redis that holds the streams. */
export async function connectEvents(target: RedisTarget, timeoutMs = 5000, onError: (error: Error) => void = () => {}): Promise<Redis | Cluster> {
  const redis = createRedisClient({ target, timeoutMs }, { offlineQueue: true });
  redis.on('error', onError);
  await whenReady(redis, timeoutMs);
  return redis;
}

/** Every partition's stream for `partitions` (the deployment's --events-partitions). */
export function partitionStreams(partitions: number): readonly string[] {
  return new EventPartitions(partitions).streams;
}

/**
 * Follows the streams from `from` (`$`: only new entries; `0`: from the oldest kept), calling `visit` with each
 * entry, until `signal` aborts. Polls every stream in turn (a blocking read covers one slot in a cluster).
 */
export async function follow(redis: Redis | Cluster, streams: readonly string[], from: string, visit: (entry: StreamEvent) => void, signal: AbortSignal, pollMs = 200): Promise<void> {
  const last = new Map<string, string>();
  if (from === '$') {
    await Promise.all(streams.map(async (stream) => last.set(stream, (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0')));
  }
  while (!signal.aborted) {
    let got = 0;
    for (const stream of streams) {
      const reply = (await redis.xread('COUNT', 1000, 'STREAMS', stream, last.get(stream) ?? from)) as [string, Entries][] | null;
      for (const entry of eventsOf(stream, reply?.[0]?.[1])) {
        visit(entry);
        last.set(stream, entry.id);
        got++;
      }
    }
    if (got === 0) await sleep(pollMs, undefined, { signal }).catch(() => {});
  }
}

export interface GroupConsumerOptions {
  readonly streams: readonly string[];
  readonly group: string;
  /** This consumer's name: the same name after a restart takes back its own unacknowledged entries. */
  readonly consumer: string;
  /** Milliseconds another consumer's unacknowledged entry waits before this one claims it. */
  readonly claimIdleMs: number;
  readonly batch?: number;
  readonly pollMs?: number;
}

export class GroupConsumer {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: GroupConsumerOptions,
  ) {}

  /** Creates the group on every stream (from its oldest entry) unless it exists. */
  async createGroups(): Promise<void> {
    await Promise.all(
      this.options.streams.map((stream) =>
        this.redis.xgroup('CREATE', stream, this.options.group, '0', 'MKSTREAM').catch((error: Error) => {
          if (!error.message.includes('BUSYGROUP')) throw error;
        }),
      ),
    );
  }

  /** Handles and acknowledges entries until `signal` aborts; `handle` throwing stops the run (nothing acknowledged). */
  async run(handle: (entry: StreamEvent) => Promise<void>, signal: AbortSignal): Promise<void> {
    await this.createGroups();
    const { streams, pollMs = 200 } = this.options;
    // First what this consumer was given before a restart, then what others left behind, then new entries.
    for (const stream of streams) await this.drain(stream, '0', handle, signal);
    while (!signal.aborted) {
      let got = 0;
      for (const stream of streams) {
        if (signal.aborted) break;
        got += await this.claim(stream, handle, signal);
        got += await this.drain(stream, '>', handle, signal);
      }
      if (got === 0) await sleep(pollMs, undefined, { signal }).catch(() => {});
    }
  }

  /** Reads (`0`: this consumer's pending entries; `>`: new ones) and handles until nothing is left. */
  private async drain(stream: string, from: string, handle: (entry: StreamEvent) => Promise<void>, signal: AbortSignal): Promise<number> {
    const { group, consumer, batch = 500 } = this.options;
    let handled = 0;
    while (!signal.aborted) {
      const reply = (await this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'STREAMS', stream, from)) as [string, Entries][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) return handled;
      handled += await this.handleAll(stream, entries, handle, signal);
      // Pending entries with no fields (trimmed since): acknowledged, or `0` would return them forever.
      const empty = entries.filter(([, fields]) => !fields || fields.length === 0).map(([id]) => id);
      if (empty.length > 0) await this.redis.xack(stream, group, ...empty);
      if (entries.length < batch) return handled;
    }
    return handled;
  }

  /** Claims other consumers' entries idle for claimIdleMs and handles them. */
  private async claim(stream: string, handle: (entry: StreamEvent) => Promise<void>, signal: AbortSignal): Promise<number> {
    const { group, consumer, claimIdleMs, batch = 500 } = this.options;
    let cursor = '0-0';
    let handled = 0;
    do {
      const [next, entries, deleted] = (await this.redis.xautoclaim(stream, group, consumer, claimIdleMs, cursor, 'COUNT', batch)) as [string, Entries, string[]?];
      handled += await this.handleAll(stream, entries, handle, signal);
      if (deleted !== undefined && deleted.length > 0) await this.redis.xack(stream, group, ...deleted);
      cursor = next;
    } while (cursor !== '0-0' && !signal.aborted);
    return handled;
  }

  private async handleAll(stream: string, entries: Entries, handle: (entry: StreamEvent) => Promise<void>, signal: AbortSignal): Promise<number> {
    let handled = 0;
    for (const entry of eventsOf(stream, entries)) {
      if (signal.aborted) break;
      await handle(entry);
      await this.redis.xack(stream, this.options.group, entry.id);
      handled++;
    }
    return handled;
  }
}
