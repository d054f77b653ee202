/**
 * Swarm events of the Redis store (one real node): each change is one record of the swarm's partition, made in
 * the same function call, numbered 1, 2, 3 … per swarm; a partition's records go to its stream as one entry
 * once they fill the batch bytes, and the rest at each flush; expiries found by a call are reported; with
 * events off no stream is written.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseEntry, type SwarmEvent } from '../../src/events/schema.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { EventPartitions, crc16 } from '../../src/store/redis/swarm-keys.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { hash, v4, v6, wsPeerId } from '../store/conformance.js';

const TTL = 100;
const PARTITIONS = 8;

/** The cluster slot of a key, as Redis computes it (the first non-empty {…} hash tag). */
function keySlot(key: Buffer): number {
  const open = key.indexOf(0x7b);
  const close = open < 0 ? -1 : key.indexOf(0x7d, open + 1);
  return (close > open + 1 ? crc16(key, open + 1, close) : crc16(key)) & 16383;
}

/** Every event in the streams, after the store moved its pending records there. */
async function readAll(admin: Redis, partitions: EventPartitions, store: RedisStore): Promise<SwarmEvent[]> {
  await store.flushEvents(true);
  const events: SwarmEvent[] = [];
  for (const stream of partitions.streams) {
    for (const [, fields] of await admin.xrange(stream, '-', '+')) events.push(...parseEntry(fields));
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

  /** Stores a test left open (it failed before closing them): closed after it, so that the run ends. */
  const open = new Set<RedisStore>();
  afterEach(async () => {
    await Promise.allSettled([...open].map((store) => store.close()));
  });

  const connect = async (events: boolean, { batchBytes = 4096, flushMs = 60_000, maxlen = 10_000 } = {}): Promise<RedisStore> => {
    const store = await RedisStore.connect({
      peerTtlSeconds: TTL,
      wsPeerTtlSeconds: TTL,
      now: () => clock,
      target: redis.target,
      timeoutMs: 5000,
      onError: () => {},
      ...(events ? { events: { partitions: PARTITIONS, maxlen, batchBytes, flushMs } } : {}),
    });
    open.add(store);
    const close = store.close.bind(store);
    store.close = () => {
      open.delete(store);
      return close();
    };
    return store;
  };

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
    const events = await readAll(admin, partitions, store);
    assert.deepEqual(events.map((e) => [e.seq, e.event, e.peer, e.complete, e.incomplete]), [
      [1, 'started', '10.0.0.1:6881', 0, 1],
      [2, 'update', '10.0.0.1:6881', 0, 1],
      [3, 'started', '[2001:db8:0:0:0:0:0:2]:6881', 1, 1],
      [4, 'completed', '10.0.0.1:6881', 2, 0],
      [5, 'stopped', '10.0.0.1:6881', 1, 0],
    ]);
    assert.deepEqual(
      { ...events[1], time: 0 },
      { v: 4, ih: Buffer.from(ih, 'latin1').toString('hex'), swarm: 'bt', seq: 2, time: 0, event: 'update', proto: 'udp', peer: '10.0.0.1:6881', key: 'k1', uploaded: 11, downloaded: 20, left: 30, seeder: false, complete: 0, incomplete: 1 },
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
    const expired = async () => (await readAll(admin, partitions, store)).filter((e) => e.event === 'expired').map((e) => [e.ih.slice(0, 4), e.peer, e.complete + e.incomplete]);
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
    const events = await readAll(admin, new EventPartitions(PARTITIONS), store);
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
    const events = await readAll(admin, new EventPartitions(PARTITIONS), store);
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

  /** Announces `count` re-announces of one peer to one swarm (after its start): one event each. */
  async function announceMany(store: RedisStore, ih: string, count: number): Promise<void> {
    await store.announce({ infoHash: ih, peer: v4(1), event: 'started', seeder: false, numwant: 0, protocol: 'udp', key: 'k', uploaded: 0, downloaded: 0, left: 9 });
    for (let i = 1; i < count; i++) await store.announce({ infoHash: ih, peer: v4(1), event: 'none', seeder: false, numwant: 0, protocol: 'udp', key: 'k', uploaded: i, downloaded: 0, left: 9 });
  }

  /** Every entry of a stream: its events' sequence numbers. */
  const seqs = async (stream: string) => (await admin.xrange(stream, '-', '+')).map(([, fields]) => parseEntry(fields).map((e) => e.seq));

  it('keeps records pending until a flush, which moves them in entries of about the batch bytes, in order, once a period', async () => {
    await redis.flush();
    const store = await connect(true, { batchBytes: 600 });
    const other = await connect(true, { batchBytes: 600 }); // another process
    const partitions = new EventPartitions(PARTITIONS);
    const ih = hash(7);
    const p = partitions.partitionOf(ih);
    const stream = partitions.streams[p]!;
    await announceMany(store, ih, 10);
    assert.equal(await admin.exists(stream), 0);
    const pending = (await admin.get(partitions.pendingKeys[p]!))!;
    assert.equal(pending.split('\n').length, 11);
    assert.equal(await store.flushEvents(), pending.length);
    assert.equal(await admin.exists(partitions.pendingKeys[p]!), 0);
    const entries = await admin.xrange(stream, '-', '+');
    assert.ok(entries.length > 1 && entries.length < 10, `${entries.length} entries`);
    for (const [i, [, fields]] of entries.entries()) {
      assert.deepEqual([fields[0], fields[1], fields[2]], ['v', '4', 'e']);
      const records = fields[3]!;
      assert.ok(records.endsWith('\n'));
      // At least the batch bytes, cut after the record that reached them; the last entry what was left.
      if (i < entries.length - 1) assert.ok(records.length >= 600 && records.length < 600 + 200, `${records.length} bytes`);
    }
    assert.deepEqual((await seqs(stream)).flat(), Array.from({ length: 10 }, (_, i) => i + 1));

    // Within the period nobody moves them again, this process nor another; now = regardless.
    await announceMany(store, ih, 2);
    assert.equal(await store.flushEvents(), 0);
    assert.equal(await other.flushEvents(), 0);
    assert.equal(await admin.xlen(stream), entries.length);
    assert.ok((await other.flushEvents(true)) > 0);
    assert.deepEqual((await seqs(stream)).slice(entries.length), [[11, 12]]);
    await Promise.all([store.close(), other.close()]);
  });

  it('appends an entry per event with batch bytes 0', async () => {
    await redis.flush();
    const store = await connect(true, { batchBytes: 0 });
    const partitions = new EventPartitions(PARTITIONS);
    const ih = hash(8);
    await announceMany(store, ih, 5);
    await store.flushEvents();
    assert.deepEqual(await seqs(partitions.streams[partitions.partitionOf(ih)]!), [[1], [2], [3], [4], [5]]);
    await store.close();
  });

  it('moves pending records by its timer and when it closes; trims a stream to about maxlen events', async () => {
    await redis.flush();
    const partitions = new EventPartitions(PARTITIONS);
    const ih = hash(9);
    const stream = partitions.streams[partitions.partitionOf(ih)]!;
    const timed = await connect(true, { flushMs: 50 });
    await announceMany(timed, ih, 3);
    const deadline = Date.now() + 10_000;
    while ((await admin.xlen(stream)) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual((await seqs(stream)).flat(), [1, 2, 3]);
    await announceMany(timed, ih, 2);
    await timed.close();
    assert.deepEqual((await seqs(stream)).flat(), [1, 2, 3, 4, 5]);

    // The trim keeps the entries that hold about maxlen events, by the events per entry so far: whole nodes of
    // 100 entries (MAXLEN ~), so between maxlen and 100 entries' more.
    for (const [batchBytes, perEntry] of [[0, 1], [300, 3]] as const) {
      await redis.flush();
      const store = await connect(true, { batchBytes, maxlen: 150 });
      await announceMany(store, ih, 900);
      await store.flushEvents();
      const kept = await seqs(stream);
      assert.ok(kept.every((events, i) => i === kept.length - 1 || events.length === perEntry), JSON.stringify(kept.slice(0, 3)));
      const events = kept.flat();
      assert.ok(events.length >= 150 && kept.length <= 150 / perEntry + 100, `${kept.length} entries, ${events.length} events`);
      assert.equal(events.at(-1), 900);
      await store.close();
    }
  });
});
