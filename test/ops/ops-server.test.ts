/**
 * The operator endpoints' judgement: /readyz reflects the share of the keyspace this process can reach on a
 * real 3-master Redis Cluster, whichever master fails; store totals (by family and WebSocket) are served
 * from the store's own counts, never read twice at once, and left out while the store cannot give them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { defaultConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { startOpsServer, type OpsServer } from '../../src/ops/ops-server.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { createStore, storeOptions } from '../../src/store/create-store.js';
import type { Store, StoreTotals } from '../../src/store/store.js';
import { parseExposition } from '../helpers/prometheus.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const log = createLogger('silent');
/** How long a paused master keeps every client waiting; well above the store timeout below. */
const PAUSE_MS = 1500;

async function get(ops: OpsServer, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${ops.port}${path}`);
  return { status: response.status, body: await response.text() };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('/readyz on a 3-master Redis Cluster', () => {
  let redis: TestRedis;
  let store: Store;
  let ops: OpsServer;
  /** One client per master, and the master that serves slot 0 (the one the old probe looked at). */
  let masters: Redis[] = [];
  let slotZeroMaster: Redis;

  before(async () => {
    redis = await startRedis('cluster');
    const clients = redis.nodes.map((node) => new Redis({ host: '127.0.0.1', port: Number(node.split(':')[1]) }));
    for (const client of clients) {
      if (((await client.role()) as string[])[0] === 'master') masters.push(client);
      else client.disconnect();
    }
    assert.equal(masters.length, 3);
    const slots = await masters[0]!.cluster('SLOTS');
    const owner = slots.find(([from, to]) => from <= 0 && 0 <= to)![2]![1];
    slotZeroMaster = masters.find((m) => m.options.port === owner)!;
    const config = { ...defaultConfig(), redisCluster: redis.nodes, storeTimeout: 300, logLevel: 'silent' as const };
    store = await createStore(config, log);
    ops = await startOpsServer('127.0.0.1', 0, { trackerMetrics: async () => '', store, workers: 1 }, log);
  });
  after(async () => {
    await ops?.close();
    await store?.close();
    for (const master of masters) master.disconnect();
    await redis?.stop();
  });

  const pause = (master: Redis) => master.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const ready = async () => (await get(ops, '/readyz')).body === 'ready\n';

  it('is ready while every master answers', async () => {
    assert.deepEqual(await get(ops, '/readyz'), { status: 200, body: 'ready\n' });
  });

  for (const which of ['the master of slot 0', 'another master'] as const) {
    it(`reports the part of the keyspace lost when ${which} stops answering, and stays in rotation`, async () => {
      await until('ready', ready);
      await pause(which === 'the master of slot 0' ? slotZeroMaster : masters.find((m) => m !== slotZeroMaster)!);
      const { status, body } = await get(ops, '/readyz');
      assert.equal(status, 200, body);
      assert.match(body, /^degraded: \d+ of 16 parts of the keyspace unavailable/);
      const lost = Number(/^degraded: (\d+)/.exec(body)![1]);
      assert.ok(lost >= 1 && lost < 16, body);
      const strict = await get(ops, '/readyz?strict');
      assert.equal(strict.status, 503, strict.body);
      await until('ready again once the master answers', ready);
    });
  }

  it('is unready when no master answers', async () => {
    await until('ready', ready);
    await Promise.all(masters.map(pause));
    const { status, body } = await get(ops, '/readyz');
    assert.equal(status, 503);
    assert.match(body, /^store unavailable/);
    await until('ready again', ready);
  });

  it('serves the totals of every master by family and WebSocket, and leaves them out while the store cannot answer', async () => {
    await until('ready', ready);
    // Swarms in slots of every master: the first two bytes pick the slot.
    for (let i = 0; i < 30; i++) {
      const infoHash = String.fromCharCode(i * 8, 0x5a) + '\x01'.repeat(18);
      await store.announce({ infoHash, peer: Uint8Array.of(10, 0, 0, i, 0x1a, 0xe1), event: 'started', seeder: i % 3 === 0, numwant: 0 });
      if (i % 5 === 0) await store.announce({ infoHash, peer: Uint8Array.of(0x20, 1, 13, 184, ...new Array<number>(10).fill(0), 0, i, 0x1a, 0xe1), event: 'started', seeder: false, numwant: 0 });
      if (i % 10 === 0) await store.announceWs({ infoHash, peerId: `-WW0001-${String(i).padStart(12, '0')}`, route: `r/${i}`, event: 'started', seeder: true, numwant: 0 });
    }
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the totals' cache
    const stats = JSON.parse((await get(ops, '/stats.json')).body) as Record<string, unknown>;
    assert.deepEqual(
      { swarms: stats.swarms, peers: stats.peers, websocket: stats.websocket },
      {
        swarms: 30,
        peers: { seeders: 10, leechers: 26, ipv4: { seeders: 10, leechers: 20 }, ipv6: { seeders: 0, leechers: 6 } },
        websocket: { swarms: 3, peers: { seeders: 3, leechers: 0 } },
      },
    );
    const samples = parseExposition((await get(ops, '/metrics')).body);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);
    assert.deepEqual(value('redswarm_swarms'), [30]);
    assert.deepEqual(value('redswarm_ws_swarms'), [3]);
    assert.deepEqual(value('redswarm_peers', { kind: 'leecher', family: 'ipv6' }), [6]);
    assert.deepEqual(value('redswarm_peers', { kind: 'seeder', family: 'websocket' }), [3]);

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await Promise.all(masters.map(pause));
    const failed = await get(ops, '/stats.json');
    assert.equal(failed.status, 503);
    assert.match(failed.body, /store totals unavailable/);
    const metrics = await get(ops, '/metrics');
    assert.equal(metrics.status, 200, 'the tracker metrics are still served');
    assert.deepEqual(parseExposition(metrics.body).filter((s) => s.name.startsWith('redswarm_peers') || s.name.endsWith('swarms')), []);
    await until('ready again', ready);
  });
});

describe('/stats.json with a slow store', () => {
  it('never runs two store reads at once, and reuses a finished one', async () => {
    const memory = new MemoryStore(storeOptions(defaultConfig()));
    let running = 0;
    let most = 0;
    let passes = 0;
    const slow: Store = Object.assign(Object.create(memory) as Store, {
      async totals(): Promise<StoreTotals> {
        passes++;
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 400));
        running--;
        return memory.totals();
      },
    });
    // Totals older than 50 ms are recomputed: with a 400 ms pass, a cache aged from the pass's start would
    // start a second pass beside the first at every request.
    const ops = await startOpsServer('127.0.0.1', 0, { trackerMetrics: async () => '', store: slow, workers: 1, statsMaxAgeMs: 50 }, log);
    try {
      const requests: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        requests.push(get(ops, '/stats.json'));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const replies = (await Promise.all(requests)) as { status: number }[];
      assert.ok(replies.every((reply) => reply.status === 200));
      assert.equal(most, 1, 'store passes overlapped');
      assert.ok(passes <= 3, `${passes} passes for 10 requests over 1 s`);
    } finally {
      await ops.close();
      await memory.close();
    }
  });
});

describe('/readyz of a primary', () => {
  it('is 503 while no worker listens, and ready once one does', async () => {
    const memory = new MemoryStore(storeOptions(defaultConfig()));
    let listening = 0;
    const ops = await startOpsServer('127.0.0.1', 0, { trackerMetrics: async () => '', store: memory, workers: 2, listening: () => listening }, log);
    try {
      assert.deepEqual(await get(ops, '/readyz'), { status: 503, body: 'starting: 0 of 2 workers listening\n' });
      listening = 1;
      assert.deepEqual(await get(ops, '/readyz'), { status: 200, body: 'ready\n' });
    } finally {
      await ops.close();
      await memory.close();
    }
  });
});
