/**
 * Swarm events of the embedded store: JSON lines for one box without Redis, the partition streams of a Redis
 * used only for events, and an announce answered with a failure when its event could not be appended.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SwarmEventRecorder } from '../../src/events/recorder.js';
import { parseEntry, type SwarmEvent } from '../../src/events/schema.js';
import { JsonLinesSink, RedisStreamSink } from '../../src/events/sinks.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { EventPartitions } from '../../src/store/redis/swarm-keys.js';
import { startRedis } from '../helpers/redis.js';
import { hash, v4, wsPeerId } from '../store/conformance.js';

const TTL = 100;

describe('embedded store events as JSON lines', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redswarm-events-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes one line per change, the same schema as the streams, expiries included', async () => {
    let clock = 1_000_000;
    const file = join(dir, 'events.jsonl');
    const sink = new JsonLinesSink(file);
    const store = new MemoryStore({ peerTtlSeconds: TTL, wsPeerTtlSeconds: TTL, now: () => clock }, new SwarmEventRecorder(sink));
    const ih = hash(7);
    await store.announce({ infoHash: ih, peer: v4(1), event: 'started', seeder: false, numwant: 5, protocol: 'udp', key: 'abcd1234', uploaded: 0, downloaded: 0, left: 100 });
    await store.announce({ infoHash: ih, peer: v4(2), event: 'started', seeder: true, numwant: 5, protocol: 'http', passkey: 'secret' });
    await store.announce({ infoHash: ih, peer: v4(1), event: 'completed', seeder: true, numwant: 5, protocol: 'udp', key: 'abcd1234', uploaded: 5, downloaded: 100, left: 0 });
    await store.announce({ infoHash: ih, peer: v4(3), event: 'stopped', seeder: false, numwant: 0 }); // unknown: nothing changes
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'r/1', event: 'started', seeder: false, numwant: 0, uploaded: 1, downloaded: 2, left: 3 });
    clock += 30;
    await store.announce({ infoHash: ih, peer: v4(2), event: 'none', seeder: true, numwant: 5, protocol: 'http' });
    clock += TTL - 10;
    await store.sweep();
    await store.close();
    const events = (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as SwarmEvent);
    assert.deepEqual(events.map((e) => [e.swarm, e.seq, e.event, e.proto, e.peer, e.key, e.uploaded, e.downloaded, e.left, e.seeder, e.complete, e.incomplete]), [
      ['bt', 1, 'started', 'udp', '10.0.0.1:6881', 'abcd1234', 0, 0, 100, false, 0, 1],
      ['bt', 2, 'started', 'http', '10.0.0.2:6881', 'secret', null, null, null, true, 1, 1],
      ['bt', 3, 'completed', 'udp', '10.0.0.1:6881', 'abcd1234', 5, 100, 0, true, 2, 0],
      ['ws', 1, 'started', 'ws', Buffer.from(wsPeerId(1), 'latin1').toString('hex'), null, 1, 2, 3, false, 0, 1],
      ['bt', 4, 'update', 'http', '10.0.0.2:6881', null, null, null, null, true, 2, 0],
      ['bt', 5, 'expired', null, '10.0.0.1:6881', null, null, null, null, true, 1, 0],
      ['ws', 2, 'expired', 'ws', Buffer.from(wsPeerId(1), 'latin1').toString('hex'), null, null, null, null, false, 0, 0],
    ]);
    assert.equal(events[0]!.ih, Buffer.from(ih, 'latin1').toString('hex'));
  });
});

describe('embedded store events to Redis', () => {
  it('appends to the partition streams, and fails the announce when the append fails', async () => {
    const redis = await startRedis('single');
    const admin = new Redis((redis.target as { url: string }).url);
    admin.on('error', () => {}); // Redis is stopped on purpose below
    const options = { partitions: 4, maxlen: 1000 };
    const sink = await RedisStreamSink.connect(redis.target, options, 1000);
    const store = new MemoryStore({ peerTtlSeconds: TTL, wsPeerTtlSeconds: TTL, now: () => 1_000_000 }, new SwarmEventRecorder(sink));
    try {
      const ih = hash(9);
      for (let i = 0; i < 20; i++) await store.announce({ infoHash: ih, peer: v4(i % 3), event: 'none', seeder: false, numwant: 5, protocol: 'udp' });
      const partitions = new EventPartitions(4);
      const stream = partitions.streams[partitions.partitionOf(ih)]!;
      const seqs = (await admin.xrange(stream, '-', '+')).map(([, fields]) => parseEntry(fields).seq);
      assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => i + 1));

      await redis.kill();
      await assert.rejects(store.announce({ infoHash: ih, peer: v4(1), event: 'none', seeder: false, numwant: 5 }));
      await assert.rejects(store.announce({ infoHash: hash(10), peer: v4(1), event: 'started', seeder: false, numwant: 5 }));
    } finally {
      await store.close();
      admin.disconnect();
      await redis.stop();
    }
  });
});
