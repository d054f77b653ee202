/**
 * WebRTC signaling between workers survives whole Redis Cluster restarts: an instance with two workers on a
 * 3-master cluster (persistent, so swarms outlive the restarts) holds WebSocket sockets on both workers, each
 * the seeder of a swarm of its own. The cluster is restarted three times with its node configuration kept
 * (SIGKILL and SIGTERM, short and long outages); after each, within a bound, both workers' channels are
 * subscribed again, every socket gets offers from every other (across workers too), no seeder left its swarm,
 * and the workers logged the loss and the recovery of their channel.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startInstance, type Instance } from '../helpers/instance.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { RawSocket, offer, type Json } from '../helpers/raw-socket.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/** How long after the cluster reports cluster_state:ok again signaling must work again. */
const RECOVERY_MS = 20_000;
const SOCKETS = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Seeder {
  socket: RawSocket;
  infoHash: string;
  peerId: string;
}

/** Sends an announce and waits for its reply (offers relayed to the socket meanwhile are not replies). */
async function announce(socket: RawSocket, message: Json): Promise<Json> {
  const from = socket.received.length;
  socket.send({ action: 'announce', ...message });
  return socket.next(
    'the announce reply',
    (m) => m.info_hash === message.info_hash && ('interval' in m || 'failure reason' in m),
    from,
  );
}

describe('signaling between workers across Redis Cluster restarts', () => {
  let redis: TestRedis;
  let instance: Instance | undefined;
  const seeders: Seeder[] = [];
  let observer: RawSocket;
  let round = 0;

  /** Every sharded signaling channel subscribed on any node of the cluster, sorted. */
  async function signalingChannels(): Promise<string[]> {
    const channels = new Set<string>();
    for (const node of redis.nodes) {
      const [host, port] = node.split(':');
      const client = new Redis({ host: host!, port: Number(port), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      client.on('error', () => {});
      try {
        await client.connect();
        for (const channel of (await client.call('PUBSUB', 'SHARDCHANNELS', 'sig:*')) as string[]) channels.add(channel);
      } catch {
        // a node not answering yet: its channels are not back
      } finally {
        client.disconnect();
      }
    }
    return [...channels].sort();
  }

  /**
   * Every socket offers to every other socket's swarm (then leaves it again): how many of those offers arrived.
   * Stops at the first announce the store failed.
   */
  async function offerRound(): Promise<{ delivered: number; sent: number; failure?: string }> {
    round++;
    const expected: { to: RawSocket; offerId: string }[] = [];
    for (const [j, target] of seeders.entries()) {
      for (const [i, from] of seeders.entries()) {
        if (i === j) continue;
        // Four offers, each to a different peer: the seeder gets one even if a leecher of a failed round stayed.
        const offers = Array.from({ length: 4 }, (_, n) => offer(`r${round}-${i}-${j}-${n}`.padEnd(20, '.')));
        const reply = await announce(from.socket, { info_hash: target.infoHash, peer_id: from.peerId, left: 1, numwant: 4, offers });
        if ('failure reason' in reply) return { delivered: 0, sent: expected.length, failure: String(reply['failure reason']) };
        for (const o of offers) expected.push({ to: target.socket, offerId: o.offer_id as string });
        const left = await announce(from.socket, { info_hash: target.infoHash, peer_id: from.peerId, left: 1, numwant: 0, event: 'stopped', offers: [] });
        if ('failure reason' in left) return { delivered: 0, sent: expected.length, failure: String(left['failure reason']) };
      }
    }
    const pairs = seeders.length * (seeders.length - 1);
    const arrived = (): number => {
      const hit = new Set<string>();
      for (const { to, offerId } of expected) {
        if (to.received.some((m) => m.offer_id === offerId)) hit.add(offerId.slice(0, offerId.lastIndexOf('-')));
      }
      return hit.size;
    };
    const deadline = Date.now() + 1000;
    while (arrived() < pairs && Date.now() < deadline) await sleep(20);
    return { delivered: arrived(), sent: pairs };
  }

  async function seederCounts(): Promise<number[]> {
    const reply = await observer.request({ action: 'scrape', info_hash: seeders.map((s) => s.infoHash) });
    const files = (reply.files ?? {}) as Record<string, { complete: number }>;
    return seeders.map((s) => files[s.infoHash]?.complete ?? -1);
  }

  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return total(parseExposition(await instance!.metrics()), name, labels);
  }

  /** Log lines of one worker (or of all) from `from` on. */
  function logLines(from: number, message: string): Json[] {
    return instance!
      .output()
      .slice(from)
      .split('\n')
      .filter((line) => line.includes(message))
      .map((line) => JSON.parse(line) as Json);
  }

  before(async () => {
    // Persistent, so that swarms outlive a restart: any seeder missing afterwards was removed by the tracker.
    redis = await startRedis('cluster', ['--appendonly', 'yes', '--appendfsync', 'always']);
    const nodes = (redis.target as { cluster: string[] }).cluster.join(',');
    instance = await startInstance(['--redis-cluster', nodes, '--log-level', 'info'], { workers: 2 });
    // Connections land on either worker (SO_REUSEPORT): open sockets until both hold some.
    const connectionsPerWorker = async (): Promise<number[]> =>
      parseExposition(await instance!.metrics())
        .filter((s) => s.name === 'redswarm_ws_connections')
        .map((s) => s.value);
    while (seeders.length < SOCKETS || (await connectionsPerWorker()).filter((n) => n > 0).length < 2) {
      assert.ok(seeders.length < 4 * SOCKETS, `sockets spread over both workers (${await connectionsPerWorker()})`);
      const k = seeders.length;
      seeders.push({ socket: await RawSocket.open(instance.wsUrl), infoHash: Buffer.alloc(20, 0x40 + k).toString('latin1'), peerId: `-RS0001-seeder-${String(k).padStart(5, '0')}` });
    }
    for (const seeder of seeders) {
      const reply = await announce(seeder.socket, { info_hash: seeder.infoHash, peer_id: seeder.peerId, left: 0, numwant: 0, offers: [] });
      assert.equal(reply.complete, 1, JSON.stringify(reply));
    }
    observer = await RawSocket.open(instance.wsUrl);
  });

  after(async () => {
    try {
      for (const socket of [...seeders.map((s) => s.socket), observer]) if (socket !== undefined && socket.closeCode === undefined) socket.ws.terminate();
      await instance?.stop();
    } finally {
      await redis?.stop();
    }
  });

  it('after each of three restarts, both workers re-subscribe, offers flow again within a bound, and no live peer is removed', async (t) => {
    const channels = await signalingChannels();
    assert.equal(channels.length, 2, `one channel per worker: ${channels.join(' ')}`);
    const first = await offerRound();
    assert.deepEqual(first, { delivered: first.sent, sent: first.sent }, 'offers flow before any restart');
    const crossedBefore = await metric('redswarm_ws_offers_relayed_total', { kind: 'offer', route: 'remote' });
    assert.ok(crossedBefore > 0, 'some offers crossed workers');

    const restarts = [
      // Longer than a self-check period (5 s): every worker sees its channel fail, and must log its recovery.
      { signal: 'SIGKILL', downMs: 6000, mustLog: true },
      { signal: 'SIGTERM', downMs: 0, mustLog: false },
      { signal: 'SIGKILL', downMs: 1500, mustLog: false },
    ] as const;
    for (const [n, { signal, downMs, mustLog }] of restarts.entries()) {
      const logFrom = instance!.output().length;
      await redis.restart({ signal, downMs });
      const back = Date.now();

      let last: unknown;
      for (;;) {
        const now = await signalingChannels();
        const result = now.join() === channels.join() ? await offerRound() : { channels: now };
        if ('delivered' in result && result.delivered === result.sent && result.failure === undefined) break;
        last = result;
        assert.ok(
          Date.now() - back < RECOVERY_MS,
          `restart ${n + 1} (${signal}, down ${downMs} ms): signaling not back within ${RECOVERY_MS} ms: ${JSON.stringify(last)}; ` +
            `seeders in their swarms: ${JSON.stringify(await seederCounts().catch((e: unknown) => String(e)))}; ` +
            `log: ${JSON.stringify(logLines(logFrom, '"msg"').filter((l) => !String(l.msg).includes('connection problem')).map(({ time, worker, role, msg, deadProcess, removed, reason, err }) => ({ time, worker, role, msg, deadProcess, removed, reason, err: (err as { message?: string } | undefined)?.message })))}`,
        );
        await sleep(250);
      }
      const tookMs = Date.now() - back;
      assert.deepEqual(await seederCounts(), seeders.map(() => 1), `restart ${n + 1}: every seeder is still in its swarm`);

      const lost = logLines(logFrom, 'signaling channel lost');
      const workers = (lines: Json[]) => [...new Set(lines.map((l) => l.worker))].sort();
      if (mustLog) {
        assert.deepEqual(workers(lost), [1, 2], 'both workers logged the loss');
        await (async () => {
          // The "restored" line comes with the next passing probe, at most one period after signals flow.
          const deadline = Date.now() + 8000;
          while (workers(logLines(logFrom, 'signaling channel restored')).length < 2) {
            assert.ok(Date.now() < deadline, `both workers log the recovery: ${JSON.stringify(logLines(logFrom, 'signaling channel'))}`);
            await sleep(100);
          }
        })();
      }
      // Each loss is one warning per worker, and the warnings about the connection itself are rate-limited.
      for (const worker of [1, 2]) {
        assert.ok(lost.filter((l) => l.worker === worker).length <= 1, `worker ${worker}: one loss warning per outage`);
        const problems = logLines(logFrom, 'signaling connection problem').filter((l) => l.worker === worker);
        assert.ok(problems.length <= Math.ceil((Date.now() - back + downMs + 5000) / 5000) + 1, `worker ${worker}: ${problems.length} connection warnings`);
      }
      t.diagnostic(
        `restart ${n + 1} (${signal}, down ${downMs} ms): signaling back ${tookMs} ms after the cluster; ` +
          `loss logged by workers [${workers(lost)}], recovery by [${workers(logLines(logFrom, 'signaling channel restored'))}]`,
      );
    }
    t.diagnostic(
      `re-subscriptions: ${await metric('redswarm_signal_resubscribes_total')}, ` +
        `undeliverable signals: ${await metric('redswarm_ws_signals_undeliverable_total')}`,
    );
  });
});
