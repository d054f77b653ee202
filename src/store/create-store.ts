/** Picks the store the configuration asks for. */
import type { TrackerConfig } from '../config/index.js';
import { embeddedStoreEvents, redisStoreEvents } from '../events/setup.js';
import { throttledWarning, type Logger } from '../log.js';
import { MemoryStore } from './memory/memory-store.js';
import { RedisStore } from './redis/redis-store.js';
import { unixSeconds, type Store, type StoreOptions } from './store.js';

/** Peers an announce cache's call asks for at most. */
const CACHE_SAMPLE_MAX = 200;
/** A WebSocket swarm's sample, in announces' offers (--ws-max-offers). */
const WS_SAMPLE_ANNOUNCES = 10;

export function storeOptions(config: TrackerConfig, now: () => number = unixSeconds): StoreOptions {
  return {
    peerTtlSeconds: config.peerTtl,
    wsPeerTtlSeconds: config.wsPeerTtl,
    now,
    // Reads the running configuration, which a reload changes in place.
    localityShare: () => (config.locality === 'on' ? config.localityRandomShare : null),
  };
}

/** The Redis the configuration names, or null for the embedded store. */
export function redisTarget(config: TrackerConfig): { url: string } | { cluster: string[] } | null {
  if (config.redisUrl !== '') return { url: config.redisUrl };
  return config.redisCluster.length > 0 ? { cluster: config.redisCluster } : null;
}

export async function createStore(config: TrackerConfig, log: Logger): Promise<Store> {
  const target = redisTarget(config);
  if (target === null) return new MemoryStore(storeOptions(config), await embeddedStoreEvents(config, log));
  return RedisStore.connect({
    ...storeOptions(config),
    events: redisStoreEvents(config),
    target,
    timeoutMs: config.storeTimeout,
    // The sample answers any numwant up to it; UDP replies hold at most 200 IPv4 peers. A WebSocket announce's
    // offers go to a window of its sample: ten announces' worth spreads them. Read per call: a reload may
    // change --numwant-max and --ws-max-offers.
    ...(config.redisAnnounceCache > 0
      ? {
          announceCache: {
            ms: config.redisAnnounceCache,
            sample: () => Math.min(config.numwantMax, CACHE_SAMPLE_MAX),
            wsSample: () => Math.min(WS_SAMPLE_ANNOUNCES * config.wsMaxOffers, CACHE_SAMPLE_MAX),
          },
        }
      : {}),
    // A dead Redis makes ioredis report every reconnect attempt: one line every few seconds, with a count.
    onError: throttledWarning(log, 'redis connection problem'),
  });
}
