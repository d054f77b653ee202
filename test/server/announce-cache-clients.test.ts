/**
 * The Redis store's announce cache (--redis-announce-cache) as clients meet it: `bittorrent-tracker` Clients over
 * HTTP, UDP and WebSocket (real WebRTC) against a tracker with the cache on a real 3-master Redis Cluster, checked
 * through a second tracker without it on the same cluster (what every other process sees).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Client, { type ScrapeData, type UpdateData } from './load-tracker-client.js';
import { ClientRecorder } from '../helpers/client-recorder.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { WebRtcClients } from '../helpers/webrtc-recorder.js';
import { metricValue } from '../helpers/prometheus.js';

const WAIT_MS = 8000;
const CACHE_MS = 400;

class Recorder extends ClientRecorder<string> {
  constructor(name: string, client: Client) {
    super(name, client, WAIT_MS);
  }
}

/** Info hashes of ASCII bytes: the bencode package returns non-UTF-8 dictionary keys as hex, which the client misreads. */
function asciiInfoHash(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Buffer.from(Array.from(randomBytes(20), (b) => alphabet.charCodeAt(b % alphabet.length))).toString('hex');
}

const counts = (update: UpdateData | ScrapeData) => ({ complete: update.complete, incomplete: update.incomplete });

let cluster: TestRedis;
before(async () => {
  cluster = await startRedis('cluster');
});
after(async () => {
  // The clients' idle keep-alive sockets (Node's global fetch) would hold the process open for their timeout.
  const dispatcher = (globalThis as Record<symbol, { close?: () => Promise<void> } | undefined>)[Symbol.for('undici.globalDispatcher.1')];
  await dispatcher?.close?.();
  await cluster.stop();
});

for (const transport of ['http', 'udp'] as const) {
  describe(`announce cache: bittorrent-tracker Clients over ${transport.toUpperCase()}`, () => {
    let cached: TestTracker;
    let exact: TestTracker;
    const clients: Client[] = [];

    function peer(name: string, tracker: TestTracker, infoHash: string, port: number, left: number): Recorder {
      const client = new Client({
        infoHash,
        peerId: randomBytes(20),
        announce: [transport === 'http' ? tracker.httpUrl : tracker.udpUrl],
        port,
        getAnnounceOpts: () => ({ left, uploaded: 0, downloaded: 0 }),
      });
      clients.push(client);
      return new Recorder(name, client);
    }

    before(async () => {
      const redisCluster = (cluster.target as { cluster: string[] }).cluster;
      cached = await startTestTracker({ redisCluster, redisAnnounceCache: CACHE_MS });
      exact = await startTestTracker({ redisCluster });
    });

    after(async () => {
      await Promise.all(clients.map((client) => new Promise<void>((resolve) => client.destroy(() => resolve()))));
      await cached.stop();
      await exact.stop();
    });

    it('a joining leecher is answered from the seeder\'s reply, and reaches Redis by itself, with no other call', async () => {
      const infoHash = asciiInfoHash();
      const seeder = peer('seeder', cached, infoHash, 45001, 0);
      const leecher = peer('leecher', cached, infoHash, 45002, 100);
      const observer = peer('observer', exact, infoHash, 45003, 100);

      let next = seeder.nextUpdate();
      seeder.client.start();
      assert.deepEqual(counts(await next), { complete: 1, incomplete: 0 });
      next = leecher.nextUpdate();
      leecher.client.start();
      // The seeder's reply, held: the seeder as a peer, and counts without the leecher yet.
      assert.deepEqual(counts(await next), { complete: 1, incomplete: 0 });
      await leecher.until('the seeder as a peer', () => leecher.peers.includes('127.0.0.1:45001'));

      // Another tracker on the cluster sees the leecher once the cache's refresh went out (due within CACHE_MS;
      // the wait allows more, for a busy machine: how late is a bench's question, not a test's).
      const deadline = Date.now() + 5 * CACHE_MS + 2000;
      for (;;) {
        const scrape = await observer.scrape();
        if (scrape.incomplete === 1) {
          assert.deepEqual(counts(scrape), { complete: 1, incomplete: 1 });
          break;
        }
        assert.ok(Date.now() < deadline, `the cached join did not reach Redis: ${JSON.stringify(counts(scrape))}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });

    it('`completed` and `stopped` answered from the cache reach Redis by themselves, with no other call', async () => {
      const infoHash = asciiInfoHash();
      const seeder = peer('seeder', cached, infoHash, 46001, 0);
      let left = 100;
      const leecherClient = new Client({
        infoHash,
        peerId: randomBytes(20),
        announce: [transport === 'http' ? cached.httpUrl : cached.udpUrl],
        port: 46002,
        getAnnounceOpts: () => ({ left, uploaded: 0, downloaded: 0 }),
      });
      clients.push(leecherClient);
      const leecher = new Recorder('leecher', leecherClient);
      const observer = peer('observer', exact, infoHash, 46003, 100);
      let next = seeder.nextUpdate();
      seeder.client.start();
      await next;
      next = leecher.nextUpdate();
      leecher.client.start();
      await next;
      left = 0;
      next = leecher.nextUpdate();
      leecher.client.complete();
      await next;
      next = seeder.nextUpdate();
      seeder.client.stop();
      await next;
      // The leecher completed (a seeder now, one download) and the seeder left: one seeder, as other trackers see it.
      const deadline = Date.now() + 5 * CACHE_MS + 2000;
      for (;;) {
        const scrape = await observer.scrape();
        const seen = { ...counts(scrape), downloaded: scrape.downloaded };
        if (seen.downloaded === 1 && seen.complete === 1) {
          assert.deepEqual(seen, { complete: 1, incomplete: 0, downloaded: 1 });
          break;
        }
        assert.ok(Date.now() < deadline, `the cached completion and stop did not reach Redis: ${JSON.stringify(seen)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
  });
}

describe('announce cache: bittorrent-tracker Clients over WebSocket (real WebRTC)', () => {
  let cached: TestTracker;
  let exact: TestTracker;
  const webrtc = new WebRtcClients();
  const fromCache = () => metricValue('redswarm_announce_cache_answers_total', { from: 'cache', swarm: 'ws' });

  before(async () => {
    const redisCluster = (cluster.target as { cluster: string[] }).cluster;
    // Long enough to hold the swarm from the leecher's join until the seeder's update.
    cached = await startTestTracker({ redisCluster, redisAnnounceCache: 10_000 });
    exact = await startTestTracker({ redisCluster });
  });

  after(async () => {
    await webrtc.destroyAll();
    await cached.stop();
    await exact.stop();
  });

  it("a re-announce answered from the cache relays its offers, the answers come back, and a data channel opens", async () => {
    const infoHash = randomBytes(20).toString('hex');
    // Clients on sockets of their own (a URL each); the leecher sends no offers: the seeder's update must.
    const seeder = webrtc.peer('seeder', `ws://127.0.0.1:${cached.port}/s`, infoHash, { left: 0 });
    const leecher = webrtc.peer('leecher', `ws://127.0.0.1:${cached.port}/l`, infoHash, { left: 1000, numwant: 0 });
    const observer = webrtc.peer('observer', `ws://127.0.0.1:${exact.port}/o`, infoHash, { left: 1000, numwant: 0 });
    for (const recorder of [seeder, leecher]) {
      const next = recorder.nextUpdate();
      recorder.client.start();
      await next;
    }
    const before = await fromCache();
    const next = seeder.nextUpdate();
    seeder.client.update();
    assert.deepEqual(counts(await next), { complete: 1, incomplete: 1 });
    assert.equal(await fromCache(), before + 1, 'the update was answered from the cache');
    await leecher.until("a peer from the seeder's offer", () => leecher.peers.length > 0);
    await seeder.until("a peer from the leecher's answer", () => seeder.peers.length > 0);
    await leecher.until("the seeder's greeting over the data channel", () => leecher.received.includes('hello from seeder'));
    // Every other process sees both peers: they joined by calls.
    assert.deepEqual(counts(await observer.scrape()), { complete: 1, incomplete: 1 });
  });
});
