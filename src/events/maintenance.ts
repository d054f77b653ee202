/**
 * The coordinator's share of swarm events, every few seconds, by one process only (`active`: the coordinator
 * lease's holder, or the embedded store's sink): consumer-group lag per partition stream
 * (`redswarm_events_consumer_lag`, from XINFO GROUPS), so that the deployment's sum over processes is each
 * group's lag once (a process that stops being the sampler drops its values); and with the Redis store, the
 * sweep of swarms whose keys are about to expire unannounced (RedisStore.sweepExpiring).
 */
import type { Cluster, Redis } from 'ioredis';
import { consumerLag } from './metrics.js';

const EVERY_MS = 5000;

/** XINFO GROUPS of a stream, each group's fields by name (none when the stream does not exist). */
export async function consumerGroups(redis: Redis | Cluster, stream: string): Promise<Map<string, unknown>[]> {
  const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][];
  return groups.map((group) => {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < group.length; i += 2) info.set(String(group[i]), group[i + 1]);
    return info;
  });
}

export class EventsMaintenance {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private sampled = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly streams: readonly string[],
    private readonly active: () => boolean,
    /** The Redis store's expiry sweep; absent with the embedded store (its own sweep reports expiries). */
    private readonly sweepExpiring?: () => Promise<number>,
    onError: (error: unknown) => void = () => {},
  ) {
    this.timer = setInterval(() => {
      this.running ??= this.round()
        .catch(onError) // Redis away: the next round tries again
        .finally(() => {
          this.running = undefined;
        });
    }, EVERY_MS);
    this.timer.unref();
  }

  async round(): Promise<void> {
    if (!this.active()) {
      if (this.sampled) consumerLag.reset();
      this.sampled = false;
      return;
    }
    await this.sweepExpiring?.();
    for (const stream of this.streams) {
      for (const info of await consumerGroups(this.redis, stream)) {
        // `lag` is null when Redis cannot tell (entries deleted or trimmed past the group): not reported then.
        const lag = info.get('lag');
        if (typeof lag === 'number') consumerLag.set({ stream, group: String(info.get('name')) }, lag);
      }
    }
    this.sampled = true;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
