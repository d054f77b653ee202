/** Swarm events as the configuration asks for them (docs/events.md): what each store is given. */
import type { TrackerConfig } from '../config/index.js';
import { throttledWarning, type Logger } from '../log.js';
import { SwarmEventRecorder } from './recorder.js';
import { JsonLinesSink, RedisStreamSink } from './sinks.js';
import type { EventsOptions } from './store-events.js';

export function eventsOptions(config: TrackerConfig): EventsOptions {
  return { partitions: config.eventsPartitions, maxlen: config.eventsMaxlen };
}

/** The `events-redis` option as a Redis target: one `redis://` URL, or cluster seed nodes. */
function eventsRedisTarget(config: TrackerConfig): { url: string } | { cluster: string[] } {
  const [first] = config.eventsRedis;
  if (first === undefined) throw new Error('events = redis with the embedded store needs events-redis (the Redis that takes the events)');
  return config.eventsRedis.length === 1 && first.startsWith('redis://') ? { url: first } : { cluster: config.eventsRedis };
}

/** The Redis store's events: appended by its own function calls, to the store's Redis. */
export function redisStoreEvents(config: TrackerConfig): EventsOptions | undefined {
  if (config.events === 'off') return undefined;
  if (config.events === 'jsonl') throw new Error('events = jsonl is for the embedded store; with Redis use events = redis');
  return eventsOptions(config);
}

/** The embedded store's events: a recorder and its sink. */
export async function embeddedStoreEvents(config: TrackerConfig, log: Logger): Promise<SwarmEventRecorder | undefined> {
  if (config.events === 'off') return undefined;
  if (config.events === 'jsonl') return new SwarmEventRecorder(new JsonLinesSink(config.eventsFile));
  const sink = await RedisStreamSink.connect(eventsRedisTarget(config), eventsOptions(config), config.storeTimeout, throttledWarning(log, 'events Redis connection problem'));
  return new SwarmEventRecorder(sink);
}

/**
 * Seconds before a swarm's keys expire that the coordinator's sweep visits it (RedisStore.sweepExpiring): well
 * beyond a sweep round (5 s) and a lease handover, and below the shorter peer TTL, so that an announced swarm's
 * keys (always more than a TTL from expiring) are never visited.
 */
export function expiryMargin(config: TrackerConfig): number {
  return Math.min(30, Math.floor(Math.min(config.peerTtl, config.wsPeerTtl) / 2));
}
