/** `redswarm events`: follow the swarm event streams, run the reference accounting consumer, read its totals. */
import { hostname } from 'node:os';
import type { TrackerConfig } from '../config/index.js';
import { Accounting } from '../events/accounting.js';
import { GroupConsumer, connectEvents, follow, partitionStreams, type StreamEvent } from '../events/consumer.js';
import { redisTarget } from '../store/create-store.js';

export const usage = `Usage: redswarm events tail [json] [all]   follow every partition stream (all: from the oldest entry kept)
       redswarm events account [CONSUMER]    the reference consumer: per-key and per-torrent totals in Redis
       redswarm events totals                print those totals as JSON
       redswarm events streams               the partition streams' names
With the Redis of --events-redis, else of --redis/--redis-cluster, and --events-partitions as the trackers'
(docs/events.md).
`;

/** The Redis that holds the streams. */
function eventsTarget(config: TrackerConfig): { url: string } | { cluster: string[] } {
  const [first] = config.eventsRedis;
  if (first !== undefined) return config.eventsRedis.length === 1 && first.startsWith('redis://') ? { url: first } : { cluster: config.eventsRedis };
  const target = redisTarget(config);
  if (target === null) throw new Error('no Redis: give --events-redis, --redis or --redis-cluster');
  return target;
}

/** One line an event: time, info hash, swarm and seq, what happened, who, and the counts. */
export function humanLine({ stream, id, event: e }: StreamEvent): string {
  const bytes = e.uploaded === null ? '' : ` up=${e.uploaded} down=${e.downloaded} left=${e.left}`;
  const key = e.key === null ? '' : ` key=${e.key}`;
  return `${new Date(e.time).toISOString()} ${e.ih} ${e.swarm}#${e.seq} ${e.event} ${e.proto ?? '-'} ${e.peer}${e.seeder ? ' seeder' : ''}${key}${bytes} [${e.complete}/${e.incomplete}] ${stream} ${id}\n`;
}

/** Stops on SIGINT/SIGTERM. */
function untilSignal(): AbortSignal {
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
  return controller.signal;
}

export async function run(args: readonly string[], config: TrackerConfig): Promise<number> {
  const [verb, ...rest] = args;
  const streams = partitionStreams(config.eventsPartitions);
  if (verb === 'streams') {
    process.stdout.write(`${streams.join('\n')}\n`);
    return 0;
  }
  if (verb !== 'tail' && verb !== 'account' && verb !== 'totals') {
    process.stderr.write(usage);
    return 2;
  }
  const redis = await connectEvents(eventsTarget(config), config.storeTimeout);
  try {
    if (verb === 'tail') {
      const json = rest.includes('json');
      await follow(redis, streams, rest.includes('all') ? '0' : '$', (entry) => process.stdout.write(json ? `${JSON.stringify({ stream: entry.stream, id: entry.id, ...entry.event })}\n` : humanLine(entry)), untilSignal());
    } else if (verb === 'account') {
      const accounting = new Accounting(redis);
      const consumer = new GroupConsumer(redis, { streams, group: 'accounting', consumer: rest[0] ?? hostname(), claimIdleMs: 30_000 });
      await consumer.run(async (entry) => void (await accounting.apply(entry)), untilSignal());
    } else {
      const { keys, torrents } = await new Accounting(redis).totals(streams);
      process.stdout.write(`${JSON.stringify({ keys: Object.fromEntries(keys), torrents: Object.fromEntries(torrents) }, null, 2)}\n`);
    }
  } finally {
    redis.disconnect();
  }
  return 0;
}
