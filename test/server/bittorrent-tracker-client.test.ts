/**
 * An independent implementation of the client side, the `bittorrent-tracker` npm Client, against a real redswarm,
 * over HTTP and over UDP: peers find each other, scrape counts are exact, `completed` counts once, `stopped` leaves.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Client, { type ScrapeData, type UpdateData } from './load-tracker-client.js';
import { ClientRecorder, startSeederThenLeecher } from '../helpers/client-recorder.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';

const WAIT_MS = 8000;

/** Everything a client reports, peers as "ip:port", with a way to wait (bounded) for a condition on it. */
class Recorder extends ClientRecorder<string> {
  constructor(name: string, client: Client) {
    super(name, client, WAIT_MS);
  }

  protected override describeState(): string {
    return `updates ${JSON.stringify(this.updates)}, peers ${JSON.stringify(this.peers)}, scrapes ${JSON.stringify(this.scrapes)}`;
  }
}

/** Info hashes of ASCII bytes: the bencode package returns non-UTF-8 dictionary keys as hex, which the client misreads. */
function asciiInfoHash(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Buffer.from(Array.from(randomBytes(20), (b) => alphabet.charCodeAt(b % alphabet.length))).toString('hex');
}

function destroy(client: Client): Promise<void> {
  return new Promise((resolve) => client.destroy(() => resolve()));
}

/**
 * The client's HTTP requests go through Node's global fetch, whose idle keep-alive sockets hold the process open
 * for their 4 s timeout after the tracker stops (the tracker's close() does not close open connections).
 * Closing the global dispatcher lets the test process exit at once.
 */
async function closeFetchConnections(): Promise<void> {
  const dispatcher = (globalThis as Record<symbol, { close?: () => Promise<void> } | undefined>)[
    Symbol.for('undici.globalDispatcher.1')
  ];
  await dispatcher?.close?.();
}

after(closeFetchConnections);

let cluster: TestRedis;
before(async () => {
  cluster = await startRedis('cluster');
});
after(() => cluster.stop());

for (const [transport, store] of [
  ['http', 'memory'],
  ['udp', 'memory'],
  ['http', 'redis-cluster'],
  ['udp', 'redis-cluster'],
] as const) {
  describe(`bittorrent-tracker Client against redswarm over ${transport.toUpperCase()} (${store} store)`, () => {
    let t: TestTracker;
    const clients: Client[] = [];

    /** A client for `infoHash` announcing `port`; `state.left` is what it reports as left to download. */
    function peer(name: string, infoHash: string, port: number, state: { left: number }): Recorder {
      const client = new Client({
        infoHash,
        peerId: randomBytes(20),
        announce: [transport === 'http' ? t.httpUrl : t.udpUrl],
        port,
        getAnnounceOpts: () => ({ left: state.left, uploaded: 0, downloaded: 0 }),
      });
      clients.push(client);
      return new Recorder(name, client);
    }

    before(async () => {
      t = await startTestTracker(store === 'memory' ? {} : { redisCluster: (cluster.target as { cluster: string[] }).cluster });
    });

    after(async () => {
      await Promise.all(clients.map(destroy));
      await t.stop();
    });

    it('a seeder and a leecher learn each other and scrape counts are exact', async () => {
      const infoHash = asciiInfoHash();
      const seederState = { left: 0 };
      const leecherState = { left: 5000 };
      const seeder = peer('seeder', infoHash, 41001, seederState);
      const leecher = peer('leecher', infoHash, 41002, leecherState);

      const first = seeder.nextUpdate();
      seeder.client.start();
      assert.deepEqual(pickCounts(await first), { complete: 1, incomplete: 0 });
      assert.equal(seeder.peers.length, 0, 'alone in the swarm: no peers');

      const second = leecher.nextUpdate();
      leecher.client.start();
      assert.deepEqual(pickCounts(await second), { complete: 1, incomplete: 1 });
      await leecher.until('the seeder as a peer', () => leecher.peers.includes('127.0.0.1:41001'));

      const third = seeder.nextUpdate();
      seeder.client.update();
      assert.deepEqual(pickCounts(await third), { complete: 1, incomplete: 1 });
      await seeder.until('the leecher as a peer', () => seeder.peers.includes('127.0.0.1:41002'));
      assert.ok(!seeder.peers.includes('127.0.0.1:41001'), 'a peer is never told about itself');
      assert.ok(!leecher.peers.includes('127.0.0.1:41002'), 'a peer is never told about itself');

      const scrape = await leecher.scrape();
      assert.equal(scrape.infoHash, infoHash);
      assert.deepEqual(pickScrape(scrape), { complete: 1, incomplete: 1, downloaded: 0 });
    });

    it('`completed` turns a leecher into a seeder and is counted once', async () => {
      const infoHash = asciiInfoHash();
      const seeder = peer('seeder', infoHash, 42001, { left: 0 });
      const leecherState = { left: 1 << 20 };
      const leecher = peer('leecher', infoHash, 42002, leecherState);
      await startSeederThenLeecher(seeder, leecher);
      assert.deepEqual(pickScrape(await seeder.scrape()), { complete: 1, incomplete: 1, downloaded: 0 });

      leecherState.left = 0;
      let next = leecher.nextUpdate();
      leecher.client.complete();
      assert.deepEqual(pickCounts(await next), { complete: 2, incomplete: 0 });
      assert.deepEqual(pickScrape(await seeder.scrape()), { complete: 2, incomplete: 0, downloaded: 1 });

      // A second `completed` from the same peer does not count again.
      next = leecher.nextUpdate();
      leecher.client.complete();
      await next;
      assert.deepEqual(pickScrape(await leecher.scrape()), { complete: 2, incomplete: 0, downloaded: 1 });
    });

    it('`stopped` removes the peer: counts drop and others no longer get it', async () => {
      const infoHash = asciiInfoHash();
      const a = peer('a', infoHash, 43001, { left: 0 });
      const b = peer('b', infoHash, 43002, { left: 100 });
      const c = peer('c', infoHash, 43003, { left: 100 });
      for (const r of [a, b, c]) {
        const next = r.nextUpdate();
        r.client.start();
        await next;
      }
      assert.deepEqual(pickScrape(await c.scrape()), { complete: 1, incomplete: 2, downloaded: 0 });

      let next = b.nextUpdate();
      b.client.stop();
      await next;
      assert.deepEqual(pickScrape(await c.scrape()), { complete: 1, incomplete: 1, downloaded: 0 });

      next = a.nextUpdate();
      a.client.stop();
      await next;
      assert.deepEqual(pickScrape(await c.scrape()), { complete: 0, incomplete: 1, downloaded: 0 });

      // c asks again: the only other peers have left, so it learns of nobody new.
      const peersBefore = c.peers.length;
      next = c.nextUpdate();
      c.client.update();
      assert.deepEqual(pickCounts(await next), { complete: 0, incomplete: 1 });
      assert.equal(c.peers.length, peersBefore);
    });

    it('scrape of a swarm nobody announced is all zeros', async () => {
      const lonely = peer('scraper', asciiInfoHash(), 44001, { left: 1 });
      assert.deepEqual(pickScrape(await lonely.scrape()), { complete: 0, incomplete: 0, downloaded: 0 });
    });
  });
}

function pickCounts(update: UpdateData): { complete: number; incomplete: number } {
  return { complete: update.complete, incomplete: update.incomplete };
}

function pickScrape(scrape: ScrapeData): { complete: number; incomplete: number; downloaded: number } {
  return { complete: scrape.complete, incomplete: scrape.incomplete, downloaded: scrape.downloaded };
}
