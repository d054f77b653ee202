/**
 * The Store conformance suite with swarm events on: the embedded store writing JSON lines, and the Redis store
 * on a real 3-master cluster with its swarm keys in their event partitions' slots. Events change nothing a
 * client sees.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { SwarmEventRecorder } from '../../src/events/recorder.js';
import { JsonLinesSink } from '../../src/events/sinks.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { runStoreConformance } from '../store/conformance.js';

describe('memory store, events as JSON lines', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redswarm-events-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  let n = 0;
  runStoreConformance('memory + events', async (options) => new MemoryStore(options, new SwarmEventRecorder(new JsonLinesSink(join(dir, `events-${n++}.jsonl`)))));
});

describe('Redis cluster store, events on', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis('cluster');
  });
  after(() => redis.stop());
  runStoreConformance('redis cluster + events', async (options) => {
    await redis.flush();
    return RedisStore.connect({ ...options, target: redis.target, timeoutMs: 5000, onError: () => {}, events: { partitions: 16, maxlen: 100_000 } });
  });
});
