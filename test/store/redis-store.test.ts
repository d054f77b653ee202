/** The shared Store conformance suite against a real single Redis node and a real 3-master Redis Cluster. */
import { after, before, describe } from 'node:test';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { runStoreConformance } from './conformance.js';

for (const kind of ['single', 'cluster'] as const) {
  describe(`Redis ${kind}`, () => {
    let redis: TestRedis;
    before(async () => {
      redis = await startRedis(kind);
    });
    after(() => redis.stop());

    runStoreConformance(`redis ${kind}`, async (options) => {
      await redis.flush();
      return RedisStore.connect({
        ...options,
        target: redis.target,
        timeoutMs: 2000,
        onError: () => {},
      });
    });
  });
}
