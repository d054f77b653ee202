/**
 * The reference consumer (src/events/accounting.ts): exact per-key and per-torrent totals from real announces
 * of the bittorrent-tracker client with chosen byte counts; and at-least-once delivery without double counting
 * when the consumer (`redswarm events account`, a child process) is killed mid-stream and restarted, and when
 * another consumer of the group claims what the dead one left pending (XAUTOCLAIM).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { Accounting } from '../../src/events/accounting.js';
import { GroupConsumer, connectEvents, partitionStreams } from '../../src/events/consumer.js';
import { consumerGroups } from '../../src/events/maintenance.js';
import { parseEntry } from '../../src/events/schema.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import Client from '../server/load-tracker-client.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { v4 } from '../store/conformance.js';

const PARTITIONS = 8;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let redis: TestRedis;
let events: Redis | Cluster;
const streams = partitionStreams(PARTITIONS);
before(async () => {
  redis = await startRedis('cluster');
  events = await connectEvents(redis.target);
});
after(async () => {
  events.disconnect();
  await redis.stop();
  // The client's keep-alive fetch sockets (see bittorrent-tracker-client.test.ts).
  await (globalThis as Record<symbol, { close?: () => Promise<void> } | undefined>)[Symbol.for('undici.globalDispatcher.1')]?.close?.();
});

/** Runs the accounting consumer in this process until `done()` holds, or 30 s have passed. */
async function accountUntil(consumer: string, done: () => Promise<boolean>, claimIdleMs = 60_000): Promise<void> {
  const accounting = new Accounting(events);
  const stop = new AbortController();
  const running = new GroupConsumer(events, { streams, group: 'accounting', consumer, claimIdleMs, pollMs: 20 }).run(async (entry) => void (await accounting.apply(entry)), stop.signal);
  const deadline = Date.now() + 30_000;
  while (!(await done()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  stop.abort();
  await running;
}

/** True once the group has read at least `total` entries and has none pending. */
const groupHasRead = (total: number) => async (): Promise<boolean> => {
  const { read, pending } = await groupRead();
  return pending === 0 && read >= total;
};

/** Entries the `accounting` group has read and has pending, over every stream. */
async function groupRead(): Promise<{ read: number; pending: number }> {
  let read = 0;
  let pending = 0;
  for (const stream of streams) {
    for (const info of await consumerGroups(events, stream)) {
      if (info.get('name') !== 'accounting') continue;
      read += Number(info.get('entries-read') ?? 0);
      pending += Number(info.get('pending'));
    }
  }
  return { read, pending };
}

describe('accounting from bittorrent-tracker client announces', () => {
  let t: TestTracker;
  before(async () => {
    await redis.flush();
    t = await startTestTracker({ redisCluster: (redis.target as { cluster: string[] }).cluster, events: 'redis', eventsPartitions: PARTITIONS });
  });
  after(() => t.stop());

  it('keeps exact per-key and per-torrent totals', async () => {
    const torrentA = randomBytes(20).toString('hex');
    const torrentB = randomBytes(20).toString('hex');
    /** A client whose announces say `state` (and `key`, over HTTP); each step waits for the tracker's reply. */
    const peer = (infoHash: string, key: string | null, port: number) => {
      const state = { uploaded: 0, downloaded: 0, left: 1000 };
      const client = new Client({
        infoHash,
        peerId: randomBytes(20),
        announce: [key === null ? t.udpUrl : t.httpUrl],
        port,
        getAnnounceOpts: () => ({ ...state, ...(key === null ? {} : { key }) }),
      });
      client.on('warning', () => {});
      const step = async (action: 'start' | 'update' | 'complete' | 'stop', uploaded: number, downloaded: number, left: number) => {
        Object.assign(state, { uploaded, downloaded, left });
        const replied = action === 'stop' ? undefined : once(client, 'update');
        client[action]();
        await replied;
      };
      return { client, step };
    };
    const alice = peer(torrentA, 'alice', 7001);
    const bobA = peer(torrentA, 'bob', 7002);
    const bobB = peer(torrentB, 'bob', 7003);
    const carol = peer(torrentB, null, 7004); // UDP: its key is the packet's, 0

    await alice.step('start', 0, 0, 1000);
    await bobA.step('start', 5, 0, 1000); // counts from a previous session: a start counts them afresh
    await bobB.step('start', 0, 0, 500);
    await carol.step('start', 0, 0, 500);
    await alice.step('update', 100, 300, 700);
    await bobA.step('update', 55, 20, 980);
    await bobB.step('complete', 10, 500, 0);
    await carol.step('update', 7, 9, 491);
    await alice.step('complete', 150, 1000, 0);
    await alice.step('stop', 400, 1000, 0);
    await bobA.step('stop', 75, 20, 980);
    await carol.step('stop', 8, 9, 491);
    // 4 starts, 3 updates, 2 completes, 3 stops. The stops are not waited for: consume until the totals are the
    // expected ones (30 s at most). Stopping at 12 entries read (as this test first did) failed once in CI with
    // totals short of the last events.
    const expectedKeys = {
      alice: { uploaded: 400, downloaded: 1000, completed: 1 },
      bob: { uploaded: 5 + 50 + 20 + 10, downloaded: 20 + 500, completed: 1 },
      '00000000': { uploaded: 8, downloaded: 9, completed: 0 },
    };
    const totalsNow = async () => {
      const totals = await new Accounting(events).totals(streams);
      return { keys: Object.fromEntries(totals.keys), torrents: Object.fromEntries(totals.torrents) };
    };
    const expected = { keys: expectedKeys, torrents: { [torrentA]: 1, [torrentB]: 1 } };
    await accountUntil('in-test', async () => isDeepStrictEqual(await totalsNow(), expected));
    for (const p of [alice, bobA, bobB, carol]) p.client.destroy();

    assert.deepEqual(await totalsNow(), expected);
  });
});

describe('accounting consumer killed and restarted mid-stream', () => {
  const TORRENTS = 8;
  const PEERS = 40;
  const ROUNDS = 6;
  let consumer: ChildProcess | undefined;
  after(() => void consumer?.kill('SIGKILL'));

  const startConsumer = (name: string): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'events', 'account', name, '--redis-cluster', (redis.target as { cluster: string[] }).cluster.join(','), '--events-partitions', String(PARTITIONS)], { cwd: ROOT, stdio: 'ignore' });

  /** Waits until the group has read more than `entries`, then kills the consumer at once. */
  async function killAfter(child: ChildProcess, entries: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    while ((await groupRead()).read <= entries && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  it('loses no event and applies none twice', async () => {
    await redis.flush();
    const store = await RedisStore.connect({ peerTtlSeconds: 3600, wsPeerTtlSeconds: 3600, now: () => Math.floor(Date.now() / 1000), target: redis.target, timeoutMs: 5000, onError: () => {}, events: { partitions: PARTITIONS, maxlen: 1_000_000 } });
    const hashes = Array.from({ length: TORRENTS }, () => randomBytes(20).toString('latin1'));
    const kinds = ['started', 'none', 'completed', 'none', 'none', 'stopped'] as const;
    await Promise.all(
      hashes.flatMap((infoHash, t) =>
        Array.from({ length: PEERS }, async (_, p) => {
          for (let r = 0; r < ROUNDS; r++) {
            await store.announce({ infoHash, peer: v4(p), event: kinds[r]!, seeder: r >= 2, numwant: 0, protocol: 'udp', key: `k${p % 7}`, uploaded: r * (p + 1) * 10, downloaded: r * (t + 1) * 7, left: r >= 2 ? 0 : 100 });
          }
        }),
      ),
    );
    await store.close();
    const total = TORRENTS * PEERS * ROUNDS;

    consumer = startConsumer('c1');
    await killAfter(consumer, total / 4);
    consumer = startConsumer('c1'); // takes back its own pending entries first
    await killAfter(consumer, total / 2);
    // Another consumer claims what c1 left pending (XAUTOCLAIM) and reads the rest.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await accountUntil('c2', groupHasRead(total), 200);

    assert.deepEqual(await groupRead(), { read: total, pending: 0 });
    const expected: Record<string, { uploaded: number; downloaded: number; completed: number }> = {};
    for (let t = 0; t < TORRENTS; t++) {
      for (let p = 0; p < PEERS; p++) {
        const key = (expected[`k${p % 7}`] ??= { uploaded: 0, downloaded: 0, completed: 0 });
        key.uploaded += (ROUNDS - 1) * (p + 1) * 10;
        key.downloaded += (ROUNDS - 1) * (t + 1) * 7;
        key.completed += 1;
      }
    }
    const totals = await new Accounting(events).totals(streams);
    assert.deepEqual(Object.fromEntries(totals.keys), expected);
    assert.deepEqual(Object.fromEntries(totals.torrents), Object.fromEntries(hashes.map((h) => [Buffer.from(h, 'latin1').toString('hex'), PEERS])));

    // Delivered again (as after a crash between applying and acknowledging): nothing is applied twice.
    const accounting = new Accounting(events);
    for (const stream of streams) {
      for (const [id, fields] of await events.xrange(stream, '-', '+')) {
        assert.equal(await accounting.apply({ stream, id, event: parseEntry(fields) }), false);
      }
    }
    assert.deepEqual(Object.fromEntries((await accounting.totals(streams)).keys), expected);
  });
});
