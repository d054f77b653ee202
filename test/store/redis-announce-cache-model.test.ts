/**
 * The announce caches' `refresh` and `refresh_ws` functions against their models: random announces of one swarm
 * (seeders, completions, stops, clock jumps that expire peers or abandon the swarm, announces by another
 * process, calls above the sample; HTTP/UDP: both address families; WebSocket: other routes for a peer_id) go
 * to Redis B through a store with the cache, and their model to Redis A through stores without it. HTTP/UDP:
 * per peer, in the order first seen, `completed` if it completed, then `stopped` if its last announce stopped,
 * else an announce without event (docs/scaling.md). WebSocket: the same for each peer Redis holds for the route
 * it was answered for, and every other one reported lost. After each trial both Redis hold the same keys, byte
 * for byte (hash fields, the peer lists with their generation bytes, the header, the slot's totals, a TTL on each).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { AnnounceEvent, AnnounceRequest, InfoHash, ScrapeCounts } from '../../src/protocol/types.js';
import type { AnnounceCache } from '../../src/store/redis/announce-cache.js';
import { decodeWsAnnounce, type WsRefresh } from '../../src/store/redis/function-calls.js';
import { HEADER_FIELD, POSITION_STEP, REFRESH_TAGS, SWARM_HEADER } from '../../src/store/redis/function-contract.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { WIRE_KEYS, WS_KEYS, swarmKey } from '../../src/store/redis/swarm-keys.js';
import type { WsAnnounceRequest } from '../../src/store/store.js';
import { fuzzSeed } from '../helpers/fuzz-seed.js';
import { connectTestStore, startRedis, type TestRedis } from '../helpers/redis.js';
import { hash, v4, v6, wsPeerId } from './conformance.js';

const TTL = 100;
const TRIALS = 150;
const EVENTS: AnnounceEvent[] = ['none', 'started', 'completed', 'stopped'];
const { seed, where } = fuzzSeed('redis-announce-cache-model');

/** The peer lists, each with its swarm's hash kind and its entries' size (a WebSocket swarm's is in its header). */
const LISTS = [
  { kind: WIRE_KEYS[1], hash: WIRE_KEYS[0], stride: 6, count: SWARM_HEADER.offset.first_count, capacity: SWARM_HEADER.offset.first_capacity },
  { kind: WIRE_KEYS[2], hash: WIRE_KEYS[0], stride: 18, count: SWARM_HEADER.offset.second_count, capacity: SWARM_HEADER.offset.second_capacity },
  { kind: WS_KEYS[1], hash: WS_KEYS[0], stride: 0, count: SWARM_HEADER.offset.first_count, capacity: SWARM_HEADER.offset.first_capacity },
];

/**
 * A string key's value as hex; a peer list's as its capacity, its `count` entries and their generation bytes:
 * the bytes beyond `count` are never read, and the two ways may leave different ones there (a removal copies the
 * last entry into a hole and leaves its old bytes behind, before or after that entry was refreshed).
 */
async function listValue(client: Redis, key: Buffer): Promise<string> {
  const value = (await client.getBuffer(key))!;
  const list = LISTS.find(({ kind }) => key.toString('latin1', 0, 2) === kind);
  const header = list && (await client.hgetBuffer(Buffer.concat([Buffer.from(list.hash), key.subarray(2)]), HEADER_FIELD));
  if (list === undefined || !header) return value.toString('hex');
  const count = header.readUInt32LE(list.count);
  const capacity = header.readUInt32LE(list.capacity);
  const stride = list.stride || header.readUInt32LE(SWARM_HEADER.offset.width);
  const gens = capacity * stride;
  return `${capacity} ${value.subarray(0, count * stride).toString('hex')} ${value.subarray(gens, gens + count).toString('hex')}`;
}

/** Every key of a node, its value as hex (a hash as its sorted fields, a peer list as listValue's), and whether it has a TTL. */
async function dump(client: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await client.keysBuffer('*')) {
    const name = key.toString('hex');
    const type = await client.type(key);
    if (type === 'string') {
      out[name] = await listValue(client, key);
    } else if (type === 'hash') {
      const fields = await client.hgetallBuffer(key);
      const header = fields.h;
      if (header !== undefined) {
        // An empty list's lower bound of its oldest generation is never read: the two ways may leave different ones.
        if (header.readUInt32LE(SWARM_HEADER.offset.first_count) === 0) header.writeUInt32LE(0, SWARM_HEADER.offset.first_oldest);
        if (header.readUInt32LE(SWARM_HEADER.offset.second_count) === 0) header.writeUInt32LE(0, SWARM_HEADER.offset.second_oldest);
      }
      out[name] = JSON.stringify(Object.entries(fields).map(([field, value]) => [Buffer.from(field, 'latin1').toString('hex'), value.toString('hex')]).sort());
    } else {
      out[name] = type;
    }
    out[`${name} has a TTL`] = String((await client.pttl(key)) > 0);
  }
  return out;
}

/** The route Redis holds a WebSocket peer for, or undefined when the swarm has no such peer. */
async function holder(client: Redis, infoHash: InfoHash, peerId: string): Promise<string | undefined> {
  const [header, value] = await client.hmgetBuffer(swarmKey(WS_KEYS[0], infoHash), HEADER_FIELD, Buffer.from(peerId, 'latin1'));
  if (!header || !value) return undefined;
  const width = header.readUInt32LE(SWARM_HEADER.offset.width);
  const position = Math.floor(Number(value.toString()) / POSITION_STEP);
  const entry = await client.getrangeBuffer(swarmKey(WS_KEYS[1], infoHash), position * width, (position + 1) * width - 1);
  // An announce's reply with this one entry: the store's own decoder reads it.
  return decodeWsAnnounce([header, entry]).peers[0]?.route;
}

/** A linear congruential generator from the run's seed: random(n) in [0, n). */
function randomFrom(seed: number): (n: number) => number {
  let state = seed || 1;
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 0x1_0000_0000) * n);
  };
}

describe('announce caches: refresh and refresh_ws against their models', () => {
  let model: TestRedis;
  let real: TestRedis;
  let clock = 1_000_000;
  const stores: RedisStore[] = [];
  const clients: Redis[] = [];
  const connect = async (redis: TestRedis, cached: boolean) => {
    const store = await connectTestStore(redis, TTL, () => clock, {
      ...(cached ? { announceCache: { ms: 600_000, sample: () => 50, wsSample: () => 50 } } : {}),
      onRefreshError: (error) => assert.fail(`refresh failed: ${error.message} ${where}`),
    });
    stores.push(store);
    return store;
  };
  before(async () => {
    [model, real] = await Promise.all([startRedis('single'), startRedis('single')]);
  });
  after(async () => {
    for (const store of stores) await store.close();
    for (const client of clients) client.disconnect();
    await Promise.all([model?.stop(), real?.stop()]);
  });

  it(`HTTP/UDP: leaves Redis as the announces of the model do, over ${TRIALS} random trials ${where}`, async () => {
    const exactA = await connect(model, false);
    const exactB = await connect(real, false);
    const cachedB = await connect(real, true);
    const cache = (cachedB as unknown as { cache: AnnounceCache }).cache;
    const [clientA, clientB] = [new Redis((model.target as { url: string }).url), new Redis((real.target as { url: string }).url)];
    clients.push(clientA, clientB);
    const random = randomFrom(seed);
    const request = (infoHash: InfoHash, peer: Uint8Array, event: AnnounceEvent, seeder: boolean, numwant = 10): AnnounceRequest => ({
      infoHash,
      peer,
      event,
      seeder,
      numwant: event === 'stopped' ? 0 : numwant,
    });

    for (let trial = 0; trial < TRIALS; trial++) {
      const h = hash(trial + 1);
      const pool = [...Array.from({ length: 1 + random(20) }, (_, i) => v4(i + 1)), ...Array.from({ length: random(12) }, (_, i) => v6(i + 1))];
      // The swarm before: exact announces on both, spread over up to ~1.5 TTL.
      for (let step = random(40); step > 0; step--) {
        if (random(3) === 0) clock += random(40);
        const r = request(h, pool[random(pool.length)]!, EVENTS[random(4)]!, random(2) === 0);
        await exactA.announce(r);
        await exactB.announce(r);
      }
      // Both families held by the cache.
      for (const peer of [v4(100), v6(100)]) {
        await exactA.announce(request(h, peer, 'started', false));
        await cachedB.announce(request(h, peer, 'started', false));
      }
      const jump = random(6);
      clock += [0, 1 + random(5), 60 + random(60), 150 + random(200), random(20), random(20)][jump]!;
      // The announces, and what the cache collects of them (the model's copy).
      const collected = new Map<string, { peer: Uint8Array; tags: number }>();
      const applyModel = async () => {
        for (const { peer, tags } of collected.values()) {
          const seeder = (tags & REFRESH_TAGS.seeder) !== 0;
          if (tags & REFRESH_TAGS.completed) await exactA.announce(request(h, peer, 'completed', seeder));
          if (tags & REFRESH_TAGS.stopped) await exactA.announce(request(h, peer, 'stopped', seeder));
          else if (!(tags & REFRESH_TAGS.completed)) await exactA.announce(request(h, peer, 'none', seeder));
        }
        collected.clear();
      };
      const peers = [...pool, v4(100), v6(100), v4(200), v4(201), v6(200)];
      for (let step = random(30); step > 0; step--) {
        const peer = peers[random(peers.length)]!;
        const event = EVENTS[random(4)]!;
        const seeder = random(2) === 0;
        const kind = random(12);
        if (kind === 0) {
          // Another process, without the cache.
          await exactA.announce(request(h, peer, event, seeder));
          await exactB.announce(request(h, peer, event, seeder));
        } else if (kind === 1 && event !== 'stopped') {
          // Above the sample: a call, after the swarm's collected changes.
          await applyModel();
          await exactA.announce(request(h, peer, event, seeder, 60));
          await cachedB.announce(request(h, peer, event, seeder, 60));
        } else {
          await cachedB.announce(request(h, peer, event, seeder));
          const key = Buffer.from(peer).toString('hex');
          const was = collected.get(key)?.tags ?? 0;
          const completed = event === 'completed' || was & REFRESH_TAGS.completed ? REFRESH_TAGS.completed : 0;
          const tags = event === 'stopped' ? (was & REFRESH_TAGS.seeder) | completed | REFRESH_TAGS.stopped : (seeder ? REFRESH_TAGS.seeder : 0) | completed;
          const entry = collected.get(key);
          if (entry) entry.tags = tags;
          else collected.set(key, { peer, tags });
        }
      }
      clock += random(3);
      await applyModel();
      await cache.sendAll();
      assert.deepEqual(await dump(clientB), await dump(clientA), `trial ${trial} ${where}`);
      await Promise.all([clientA.flushall(), clientB.flushall()]);
      // The next trial starts with nothing held.
      (cache as unknown as { held: { swarms: Map<InfoHash, unknown> } }).held.swarms.clear();
    }
  });

  it(`WebSocket: leaves Redis as the announces of the model do and reports the peers it left alone, over ${TRIALS} random trials ${where}`, async () => {
    const exactA = await connect(model, false);
    const exactB = await connect(real, false);
    const cachedB = await connect(real, true);
    type Refresh = (infoHash: InfoHash, peers: readonly WsRefresh[]) => Promise<{ counts: ScrapeCounts; lost: readonly number[] }>;
    const cache = (cachedB as unknown as { wsCache: { options: { refresh: Refresh }; held: { swarms: Map<InfoHash, unknown> }; sendAll(): Promise<void> } }).wsCache;
    const clientA = new Redis((model.target as { url: string }).url);
    const clientB = new Redis((real.target as { url: string }).url);
    clients.push(clientA, clientB);
    const random = randomFrom(seed + 1);
    const request = (infoHash: InfoHash, n: number, route: string, event: AnnounceEvent, seeder: boolean, numwant = 10): WsAnnounceRequest => ({
      infoHash,
      peerId: wsPeerId(n),
      route,
      event,
      seeder,
      numwant: event === 'stopped' ? 0 : numwant,
    });
    // The model of each refresh the cache sends, on Redis A once Redis B answered it: what has expired goes first
    // (a scrape, as the refresh drops it), then each peer A holds for the route sent gets its announce; the peers
    // left alone must be exactly those B reported.
    let modelled: Promise<void> = Promise.resolve();
    const send = cache.options.refresh;
    cache.options.refresh = (infoHash, peers) => {
      const sent = send(infoHash, peers);
      const previous = modelled;
      modelled = (async () => {
        const [{ lost }] = await Promise.all([sent, previous]);
        await exactA.scrapeWs([infoHash]);
        const leftAlone: number[] = [];
        for (const [j, { peerId, route, tags }] of peers.entries()) {
          if ((await holder(clientA, infoHash, peerId)) !== route) {
            leftAlone.push(j);
            continue;
          }
          const event = tags & REFRESH_TAGS.completed ? 'completed' : 'none';
          await exactA.announceWs({ infoHash, peerId, route, event, seeder: (tags & REFRESH_TAGS.seeder) !== 0, numwant: 0 });
        }
        assert.deepEqual([...lost].sort((a, b) => a - b), leftAlone, `the peers refresh_ws left alone ${where}`);
      })();
      return sent;
    };
    /** A call through the cached store, then (after the refresh it sent first) the same on Redis A. */
    const call = async (r: WsAnnounceRequest) => {
      await cachedB.announceWs(r);
      await modelled;
      await exactA.announceWs(r);
    };

    for (let trial = 0; trial < TRIALS; trial++) {
      const h = hash(1000 + trial);
      const pool = Array.from({ length: 1 + random(15) }, (_, i) => i + 1);
      const otherRoute = (n: number) => `proc-${'bc'[random(2)]}/${n}`;
      // The swarm before: other processes' announces on both, spread over up to ~1.5 TTL.
      for (let step = random(30); step > 0; step--) {
        if (random(3) === 0) clock += random(40);
        const n = pool[random(pool.length)]!;
        const r = request(h, n, otherRoute(n), EVENTS[random(4)]!, random(2) === 0);
        await exactA.announceWs(r);
        await exactB.announceWs(r);
      }
      // This process's peers: calls (each a member unless refused).
      const ours = [100, 101, ...pool.filter(() => random(3) === 0)];
      for (const n of ours) await call(request(h, n, `proc-a/${n}`, 'started', random(2) === 0));
      const jump = random(6);
      clock += [0, 1 + random(5), 60 + random(60), 150 + random(200), random(20), random(20)][jump]!;
      for (let step = random(40); step > 0; step--) {
        const n = [...pool, ...ours][random(pool.length + ours.length)]!;
        const event = EVENTS[random(4)]!;
        const seeder = random(2) === 0;
        const kind = random(12);
        if (kind === 0) {
          // Another process: it may take a peer_id whose member here expired, or be refused.
          const r = request(h, n, otherRoute(n), event, seeder);
          await exactA.announceWs(r);
          await exactB.announceWs(r);
        } else if (kind === 1 && event !== 'stopped') {
          // Above the sample: a call.
          await call(request(h, n, `proc-a/${n}`, event, seeder, 60));
        } else {
          // Mostly the member's own socket; now and then another socket of this process with its peer_id.
          const r = request(h, n, kind === 2 ? `proc-a/9${n}` : `proc-a/${n}`, event, seeder);
          if (cachedB.announceWsNow(r) === undefined) await call(r);
        }
        if (random(8) === 0) clock += random(30);
      }
      clock += random(3);
      await cache.sendAll();
      await modelled;
      assert.deepEqual(await dump(clientB), await dump(clientA), `trial ${trial} ${where}`);
      await Promise.all([clientA.flushall(), clientB.flushall()]);
      cache.held.swarms.clear();
    }
  });
});
