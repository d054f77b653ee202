/**
 * Swarm events of the Redis store (one real node): each change is one stream entry of the swarm's partition,
 * appended in the same function call, numbered 1, 2, 3 … per swarm; expiries found by a call are reported;
 * with events off no stream is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseEntry, type SwarmEvent } from '../../src/events/schema.js';
import { EventPartitions, crc16 } from '../../src/store/redis/swarm-keys.js';
import { connectTestStore, startRedis, type TestRedis } from '../helpers/redis.js';
import { hash, v4, v6, wsPeerId } from '../store/conformance.js';

const TTL = 100;
const PARTITIONS = 8;

/** The cluster slot of a key, as Redis computes it (the first non-empty {…} hash tag). */
function keySlot(key: Buffer): number {
  const open = key.indexOf(0x7b);
  const close = open < 0 ? -1 : key.indexOf(0x7d, open + 1);
  return (close > open + 1 ? crc16(key, open + 1, close) : crc16(key)) & 16383;
}

async function readAll(admin: Redis, partitions: EventPartitions): Promise<SwarmEvent[]> {
  const events: SwarmEvent[] = [];
  for (const stream of partitions.streams) {
    for (const [, fields] of await admin.xrange(stream, '-', '+')) events.push(parseEntry(fields));
  }
  return events;
}

describe('Redis store events', () => {
  let redis: TestRedis;
  let admin: Redis;
  let clock = 1_700_000_000;
  before(async () => {
    redis = await startRedis('single');
    admin = new Redis((redis.target as { url: string }).url);
  });
  after(async () => {
    admin.disconnect();
    await redis.stop();
  });

  const connect = (events: boolean) => connectTestStore(redis, TTL, () => clock, events ? { events: { partitions: PARTITIONS, maxlen: 10_000 } } : {});

  it('writes no stream and keeps the usual keys with events off', async () => {
    await redis.flush();
    const store = await connect(false);
    await store.announce({ infoHash: hash(1), peer: v4(1), event: 'started', seeder: false, numwant: 10 });
    await store.announceWs({ infoHash: hash(1), peerId: wsPeerId(1), route: 'a/1', event: 'started', seeder: false, numwant: 1 });
    const types = await Promise.all((await admin.keys('*')).map((key) => admin.type(key)));
    assert.ok(!types.includes('stream'));
    await store.close();
  });

  it('appends one event per change, numbered per swarm, with the announce facts and the counts after it', async () => {
    await redis.flush();
    const store = await connect(true);
    const ih = hash(2);
    const facts = { protocol: 'udp' as const, key: 'k1', uploaded: 10, downloaded: 20, left: 30 };
    await store.announce({ infoHash: ih, peer: v4(1), event: 'started', seeder: false, numwant: 10, ...facts });
    await store.announce({ infoHash: ih, peer: v4(1), event: 'none', seeder: false, numwant: 10, ...facts, uploaded: 11 });
    await store.announce({ infoHash: ih, peer: v6(2), event: 'started', seeder: true, numwant: 10, passkey: 'pk', protocol: 'http' });
    await store.announce({ infoHash: ih, peer: v4(1), event: 'completed', seeder: true, numwant: 10, ...facts, left: 0 });
    await store.announce({ infoHash: ih, peer: v4(9), event: 'stopped', seeder: false, numwant: 0 }); // unknown: no change
    await store.announce({ infoHash: ih, peer: v4(1), event: 'stopped', seeder: true, numwant: 0 });
    const partitions = new EventPartitions(PARTITIONS);
    const events = await readAll(admin, partitions);
    assert.deepEqual(events.map((e) => [e.seq, e.event, e.peer, e.complete, e.incomplete]), [
      [1, 'started', '10.0.0.1:6881', 0, 1],
      [2, 'update', '10.0.0.1:6881', 0, 1],
      [3, 'started', '[2001:db8:0:0:0:0:0:2]:6881', 1, 1],
      [4, 'completed', '10.0.0.1:6881', 2, 0],
      [5, 'stopped', '10.0.0.1:6881', 1, 0],
    ]);
    assert.deepEqual(
      { ...events[1], time: 0 },
      { v: 3, ih: Buffer.from(ih, 'latin1').toString('hex'), swarm: 'bt', seq: 2, time: 0, event: 'update', proto: 'udp', peer: '10.0.0.1:6881', key: 'k1', uploaded: 11, downloaded: 20, left: 30, seeder: false, complete: 0, incomplete: 1 },
    );
    assert.equal(events[2]!.key, 'pk');
    assert.equal(events[2]!.uploaded, null);
    // Every key of the swarm, its slot's stats key and its stream hash to the partition's slot.
    const slot = partitions.slotOf(partitions.partitionOf(ih));
    const keys = await admin.keysBuffer('*');
    assert.ok(keys.length >= 4);
    for (const key of keys) assert.equal(keySlot(key), slot, key.toString('latin1'));
    await store.close();
  });

  it('has the coordinator sweep report peers of swarms about to expire unannounced, keeping live ones', async () => {
    await redis.flush();
    const store = await connect(true);
    const partitions = new EventPartitions(PARTITIONS);
    const start = clock;
    await store.announce({ infoHash: hash(4), peer: v4(1), event: 'started', seeder: false, numwant: 0 }); // keys until start + 200
    await store.announce({ infoHash: hash(5), peer: v4(1), event: 'started', seeder: false, numwant: 0 });
    clock = start + 95;
    await store.announce({ infoHash: hash(5), peer: v4(2), event: 'started', seeder: false, numwant: 0 }); // live until start + 195
    clock = start + 150;
    assert.equal(await store.sweepExpiring(30), 0); // nothing expires within 30 s yet
    clock = start + 175;
    assert.equal(await store.sweepExpiring(30), 2);
    const expired = async () => (await readAll(admin, partitions)).filter((e) => e.event === 'expired').map((e) => [e.ih.slice(0, 4), e.peer, e.complete + e.incomplete]);
    assert.deepEqual(await expired(), [['0400', '10.0.0.1:6881', 0], ['0500', '10.0.0.1:6881', 1]].sort());
    // hash(4) is gone; hash(5)'s keys were kept for its live peer, until it expires too.
    const indexed = async () => (await Promise.all(partitions.expiryIndexes.map((key) => admin.zrange(key, 0, -1, 'WITHSCORES')))).flat();
    assert.deepEqual(await indexed(), [`bt:${Buffer.from(hash(5), 'latin1').toString('hex')}`, String(start + 175 + 200)]);
    clock = start + 350;
    assert.equal(await store.sweepExpiring(30), 1);
    assert.equal((await expired()).length, 3);
    assert.deepEqual(await indexed(), []);
    await store.close();
  });

  it('reports every peer of a swarm found abandoned (its keys should have expired), and starts its seq again', async () => {
    await redis.flush();
    const store = await connect(true);
    const ih = hash(6);
    await store.announce({ infoHash: ih, peer: v4(1), event: 'started', seeder: true, numwant: 0 });
    await store.announce({ infoHash: ih, peer: v6(2), event: 'started', seeder: false, numwant: 0 });
    clock += 3 * TTL;
    await store.announce({ infoHash: ih, peer: v4(3), event: 'started', seeder: false, numwant: 0 });
    const events = await readAll(admin, new EventPartitions(PARTITIONS));
    assert.deepEqual(events.map((e) => [e.seq, e.event, e.peer, e.complete, e.incomplete]), [
      [1, 'started', '10.0.0.1:6881', 1, 0],
      [2, 'started', '[2001:db8:0:0:0:0:0:2]:6881', 1, 1],
      [3, 'expired', '10.0.0.1:6881', 0, 1],
      [4, 'expired', '[2001:db8:0:0:0:0:0:2]:6881', 0, 0],
      [1, 'started', '10.0.0.3:6881', 0, 1], // the swarm was forgotten after an event that left it empty
    ]);
    await store.close();
  });

  it('reports peers expired by a call, and WebSocket changes in their own swarm', async () => {
    await redis.flush();
    const store = await connect(true);
    const ih = hash(3);
    await store.announce({ infoHash: ih, peer: v4(1), event: 'started', seeder: true, numwant: 10 });
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'a/1', event: 'started', seeder: false, numwant: 1, left: 5 });
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'b/1', event: 'none', seeder: false, numwant: 1 }); // conflict
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'a/1', event: 'stopped', seeder: false, numwant: 0, removed: true });
    clock += TTL + 10;
    await store.announce({ infoHash: ih, peer: v4(2), event: 'started', seeder: false, numwant: 10 });
    const events = await readAll(admin, new EventPartitions(PARTITIONS));
    const bt = events.filter((e) => e.swarm === 'bt').map((e) => [e.seq, e.event, e.peer, e.proto, e.seeder, e.complete, e.incomplete]);
    const ws = events.filter((e) => e.swarm === 'ws').map((e) => [e.seq, e.event, e.proto, e.left]);
    assert.deepEqual(bt, [
      [1, 'started', '10.0.0.1:6881', 'http', true, 1, 0],
      [2, 'expired', '10.0.0.1:6881', null, true, 0, 0],
      [3, 'started', '10.0.0.2:6881', 'http', false, 0, 1],
    ]);
    assert.deepEqual(ws, [
      [1, 'started', 'ws', 5],
      [2, 'removed', 'ws', null],
    ]);
    await store.close();
  });
});
