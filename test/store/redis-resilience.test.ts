/**
 * The Redis store under concurrency and failure: parallel announces from many connections (as many workers would
 * make) leave exact counts; a dead Redis gives clients a clean failure, and the tracker recovers by itself.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import type { AnnounceEvent } from '../../src/protocol/types.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpConnectPacket } from '../helpers/wire.js';
import { hash, v4 } from './conformance.js';

const connect = (redis: TestRedis) =>
  RedisStore.connect({
    target: redis.target,
    peerTtlSeconds: 600,
    wsPeerTtlSeconds: 600,
    now: () => Math.floor(Date.now() / 1000),
    timeoutMs: 2000,
    onError: () => {},
  });

describe('Redis Cluster store under concurrency', () => {
  let redis: TestRedis;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis('cluster');
    for (let i = 0; i < 6; i++) stores.push(await connect(redis));
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
  });

  it('parallel announces, completions and stops on one swarm from six connections leave exact counts', async () => {
    const ih = hash(4242);
    const peers = 300;
    const via = (i: number) => stores[i % stores.length]!;
    const announce = (i: number, event: AnnounceEvent, seeder: boolean) =>
      via(i + Math.floor(Math.random() * 6)).announce({ infoHash: ih, peer: v4(i), event, seeder, numwant: 50 });
    await Promise.all(Array.from({ length: peers }, (_, i) => announce(i, 'started', false)));
    // Every third peer completes — twice, through two connections at once; every fifth stops; others re-announce.
    const round: Promise<unknown>[] = [];
    for (let i = 0; i < peers; i++) {
      if (i % 5 === 0) round.push(announce(i, 'stopped', false));
      else if (i % 3 === 0) round.push(announce(i, 'completed', true), announce(i, 'completed', true));
      else round.push(announce(i, 'none', false));
    }
    await Promise.all(round);
    const expected = { stopped: 0, seeders: 0, leechers: 0 };
    for (let i = 0; i < peers; i++) {
      if (i % 5 === 0) expected.stopped++;
      else if (i % 3 === 0) expected.seeders++;
      else expected.leechers++;
    }
    const [counts] = await stores[0]!.scrape([ih]);
    assert.deepEqual(counts, { complete: expected.seeders, incomplete: expected.leechers, downloaded: expected.seeders });
  });
});

describe('Redis failure and recovery', () => {
  let redis: TestRedis;
  let t: TestTracker;
  before(async () => {
    redis = await startRedis('single');
    t = await startTestTracker({ redisUrl: (redis.target as { url: string }).url, storeTimeout: 500 });
  });
  after(async () => {
    await t.stop();
    await redis.stop();
  });

  const infoHash = Buffer.alloc(20, 0x5a);
  const httpAnnounce = async (port: number) => {
    const query = `info_hash=${percentEncodeAll(infoHash)}&peer_id=${'-RS0001-'.padEnd(20, 'x')}&port=${port}&left=0`;
    // The bound: a reply, failure or not, within a few seconds even while Redis is down.
    const response = await fetch(`${t.httpUrl}?${query}`, { signal: AbortSignal.timeout(5000) });
    return decodeStrictDict(new Uint8Array(await response.arrayBuffer()));
  };

  const udpAnnounce = (): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error('no UDP reply within 5 s'));
      }, 5000);
      socket.on('message', (reply) => {
        if (reply.readUInt32BE(0) === 0) {
          const packet = udpAnnouncePacket({
            connectionId: reply.subarray(8, 16),
            transactionId: 7,
            infoHash,
            peerId: Buffer.alloc(20, 0x41),
            port: 7000,
          });
          socket.send(packet, t.port, '127.0.0.1');
          return;
        }
        clearTimeout(timer);
        socket.close();
        resolve(reply);
      });
      socket.send(udpConnectPacket(6), t.port, '127.0.0.1');
    });

  it('answers with a clean failure while Redis is down, and recovers by itself when it is back', async () => {
    assert.equal((await httpAnnounce(6001)).int('complete'), 1);

    await redis.kill();
    const down = await httpAnnounce(6001);
    assert.ok(down.has('failure reason'), 'HTTP: a bencoded failure reason');
    const udpDown = await udpAnnounce();
    assert.equal(udpDown.readUInt32BE(0), 3, 'UDP: an error packet');
    assert.equal(udpDown.readUInt32BE(4), 7);

    // Back, empty (scripts included: the first call meets NOSCRIPT and must reload).
    await redis.start();
    let recovered;
    for (let attempt = 0; attempt < 50; attempt++) {
      recovered = await httpAnnounce(6002);
      if (!recovered.has('failure reason')) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(recovered && !recovered.has('failure reason'), 'announces work again without a restart');
    assert.equal(recovered.int('complete'), 1);
    const udpUp = await udpAnnounce();
    assert.equal(udpUp.readUInt32BE(0), 1, 'UDP announces work again');
  });
});
