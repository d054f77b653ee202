/**
 * Reading the partition streams (docs/events.md): `follow` for a tail (XREAD, no state in Redis), and
 * GroupConsumer for at-least-once processing with a consumer group: each entry is handed to `handle` and
 * acknowledged (XACK) only after it returns; entries a consumer was given but did not acknowledge (it died) are
 * handed out again: its own on restart (same name), another's once idle for `claimIdleMs` (XAUTOCLAIM).
 * An entry holds one or more events (schema.ts): it is acknowledged once all of them are handled. Entries of
 * one stream are handled one at a time, in stream order, so one swarm's events stay in order as long as one
 * consumer of the group reads a stream at a time (docs/events.md).
 */
import type { Cluster, Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisClient, whenReady, type RedisTarget } from '../store/redis/connection.js';
import { EventPartitions } from '../store/redis/swarm-keys.js';
import { parseEntry, type SwarmEvent } from './schema.js';

/** One event of a stream entry: where it is and what it says. */
export interface StreamEvent {
  readonly stream: string;
  /** The entry ID (`<ms>-<n>`): unique and increasing within its stream. */
  readonly id: string;
  /** The event's place in its entry (from 0): (id, index) is unique and increasing within the stream. */
  readonly index: number;
  readonly event: SwarmEvent;
}

type Entries = [id: string, fields: string[]][];

/** The events of each entry, in order. */
function eventsOf(stream: string, entries: Entries | null | undefined): StreamEvent[][] {
  return (entries ?? []).map(([id, fields]) =>
    // An entry trimmed since it was delivered comes back without fields: nothing to handle.
    fields && fields.length > 0 ? parseEntry(fields).map((event, index) => ({ stream, id, index, event })) : [],
  );
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
 * event, until `signal` aborts. Polls every stream in turn (a blocking read covers one slot in a cluster).
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
      for (const [id] of reply?.[0]?.[1] ?? []) last.set(stream, id);
      for (const events of eventsOf(stream, reply?.[0]?.[1])) {
        for (const event of events) visit(event);
        got += events.length;
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
      // Pending entries with no fields (trimmed since) are acknowledged too, or `0` would return them forever.
      handled += await this.handleAll(stream, entries, handle, signal);
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
    const entryEvents = eventsOf(stream, entries);
    for (const [i, [id]] of entries.entries()) {
      if (signal.aborted) break;
      const events = entryEvents[i]!;
      for (const event of events) await handle(event);
      // Acknowledged once all its events are handled (an entry with none, too: it would be pending for good).
      await this.redis.xack(stream, this.options.group, id);
      handled += events.length;
    }
    return handled;
  }
}
