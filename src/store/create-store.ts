/** Picks the store the configuration asks for. */
import type { TrackerConfig } from '../config.js';
import type { Logger } from '../log.js';
import { MemoryStore } from './memory/memory-store.js';
import { RedisStore } from './redis/redis-store.js';
import { unixSeconds, type Store, type StoreOptions } from './store.js';

export function storeOptions(config: TrackerConfig, now: () => number = unixSeconds): StoreOptions {
  return { peerTtlSeconds: config.peerTtl, wsPeerTtlSeconds: config.wsPeerTtl, now };
}

/** The Redis the configuration names, or null for the embedded store. */
export function redisTarget(config: TrackerConfig): { url: string } | { cluster: string[] } | null {
  if (config.redisUrl !== '') return { url: config.redisUrl };
  return config.redisCluster.length > 0 ? { cluster: config.redisCluster } : null;
}

export async function createStore(config: TrackerConfig, log: Logger): Promise<Store> {
  const target = redisTarget(config);
  if (target === null) return new MemoryStore(storeOptions(config));
  // A dead Redis makes ioredis report every reconnect attempt: keep the log to one line a few seconds.
  let lastLogged = 0;
  return RedisStore.connect({
    ...storeOptions(config),
    target,
    timeoutMs: config.storeTimeout,
    onError: (error) => {
      const now = Date.now();
      if (now - lastLogged < 5000) return;
      lastLogged = now;
      log.warn({ err: error }, 'redis connection problem');
    },
  });
}
