/**
 * The coordinator through a Redis outage, on a real Redis node paused with CLIENT PAUSE: its round is queued
 * through the pause and answered after it, the lease having expired meanwhile. Every process's heartbeat ran
 * out too; a live one whose client comes back a little later than the coordinator's must keep its WebSocket
 * peers, while a process that stays silent is removed once Redis has answered promptly for a heartbeat TTL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createLogger } from '../../src/log.js';
import { Coordinator } from '../../src/scale-out/coordinator.js';
import { heartbeatKey, PROCESS_INDEX, ProcessRegistration } from '../../src/scale-out/process-registry.js';
import { createRedisClient } from '../../src/store/redis/connection.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const HEARTBEAT_MS = 1500;
const LEASE_MS = 2000;
/** Longer than the lease and the heartbeat: both run out while Redis is paused. */
const PAUSE_MS = 3000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the coordinator through a Redis outage', () => {
  let redis: TestRedis;
  let client: Redis;
  let admin: Redis;

  before(async () => {
    redis = await startRedis('single');
    const { url } = redis.target as { url: string };
    // Commands wait through the pause rather than time out, as in ioredis' offline queue during an outage.
    client = createRedisClient({ target: redis.target, timeoutMs: 10_000 }, { offlineQueue: true }) as Redis;
    admin = new Redis(url);
  });
  after(async () => {
    client?.disconnect();
    admin?.disconnect();
    await redis?.stop();
  });

  it('keeps the peers of a process that beats again within a heartbeat TTL of the outage, removes a silent one', async () => {
    const store = new MemoryStore({ peerTtlSeconds: 600, wsPeerTtlSeconds: 600, now: () => Math.floor(Date.now() / 1000) });
    const log = createLogger('silent');
    // The coordinator's own log: its warning about the slow answers.
    const lines: Record<string, unknown>[] = [];
    const coordinatorLog = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const times = { heartbeatMs: HEARTBEAT_MS, peersGraceMs: LEASE_MS + HEARTBEAT_MS };
    // Two processes of the test's own making: their peers in the store and in their lists, their beats by hand.
    const processes = ['live-process', 'dead-process'];
    const infoHash = (id: string) => id.padEnd(20, '.').slice(0, 20);
    for (const id of processes) {
      const route = `${id}/0.0`;
      await store.announceWs({ infoHash: infoHash(id), peerId: 'p'.repeat(20), route, event: 'started', seeder: true, numwant: 0 });
      new ProcessRegistration(client, id, times, log).joined(route, infoHash(id), 'p'.repeat(20));
    }
    const beat = (id: string) => Promise.all([client.set(heartbeatKey(id), '1', 'PX', HEARTBEAT_MS), client.zadd(PROCESS_INDEX, Date.now(), id)]);
    const beating = new Set(processes);
    const beats = setInterval(() => {
      for (const id of beating) void beat(id);
    }, HEARTBEAT_MS / 3);
    const seeders = async () => (await store.scrapeWs(processes.map(infoHash))).map((counts) => counts.complete);

    const coordinator = new Coordinator(client, store, 'the-coordinator', { heartbeatMs: HEARTBEAT_MS, leaseMs: LEASE_MS }, coordinatorLog);
    try {
      for (const id of processes) await beat(id);
      coordinator.start();
      // Holding the lease, and answered promptly for longer than a heartbeat TTL: it judges from now on.
      await sleep(HEARTBEAT_MS + 1000);
      assert.ok(coordinator.isHolder);
      assert.deepEqual(await seeders(), [1, 1], 'nobody judged while both beat');

      beating.clear();
      const paused = Date.now();
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
      // The live process's client comes back a second after Redis does (slower than the coordinator's).
      await sleep(paused + PAUSE_MS + 1000 - Date.now());
      beating.add('live-process');
      await beat('live-process');
      const deadline = Date.now() + 4 * HEARTBEAT_MS;
      while ((await seeders())[1] !== 0) {
        assert.ok(Date.now() < deadline, 'the silent process is removed');
        await sleep(100);
      }
      assert.deepEqual(await seeders(), [1, 0], 'the live process keeps its peer');
      const slow = lines.find((line) => String(line.msg).startsWith('coordinator: Redis answered slowly'));
      assert.ok(slow, `the slow answer is logged: ${JSON.stringify(lines)}`);
      assert.ok(typeof slow.tookMs === 'number' && slow.tookMs >= PAUSE_MS / 2, JSON.stringify(slow));
    } finally {
      clearInterval(beats);
      await coordinator.close();
    }
  });
});
