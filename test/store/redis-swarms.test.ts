/**
 * The Redis store's swarm functions (lua/swarm-functions.lua) where the conformance suite does not reach:
 * large swarms shrinking (packed entries moved into holes, strings cut down), more expired peers than one
 * call removes, WebSocket entries widened for a longer route, and the keys' TTLs and cleanup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { InfoHash } from '../../src/protocol/types.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { WIRE_KEYS, WS_KEYS, swarmKey } from '../../src/store/redis/swarm-keys.js';
import { useSingleNodeStore, type TestRedis } from '../helpers/redis.js';
import { hash, peersOf, v4, v6, wsPeerId } from './conformance.js';

const TTL = 100;
const hex = (peer: Uint8Array) => Buffer.from(peer).toString('hex');

describe('Redis store swarms', () => {
  let redis: TestRedis;
  let store: RedisStore;
  let admin: Redis;
  let clock = 1_700_000_000;

  useSingleNodeStore({ peerTtlSeconds: TTL, wsPeerTtlSeconds: TTL, now: () => clock }, (node) => ({ redis, store, admin } = node));

  const announce = (infoHash: InfoHash, peer: Uint8Array, event: 'none' | 'stopped' | 'completed' = 'none', numwant = 50) =>
    store.announce({ infoHash, peer, event, seeder: false, numwant });

  it('keeps a large swarm exact while most of it leaves, in any order', async () => {
    const ih = hash(900);
    const live = new Set<number>();
    for (let i = 0; i < 600; i++) {
      await announce(ih, v4(i), 'none', 0);
      live.add(i);
    }
    // Stops in a shuffled order: every hole is filled from the end, the string shrinks on the way.
    const order = [...live].sort((a, b) => ((a * 7919) % 601) - ((b * 7919) % 601));
    for (const i of order.slice(0, 560)) {
      const result = await announce(ih, v4(i), 'stopped');
      live.delete(i);
      assert.equal(result.incomplete, live.size);
    }
    const [someone] = live;
    const result = await announce(ih, v4(someone!), 'none', 1000);
    const expected = [...live].filter((i) => i !== someone).map((i) => hex(v4(i))).sort();
    assert.deepEqual(peersOf(result.peers, 6).sort(), expected, 'every other live peer, each once');
    // Windows of a few peers: still only live ones, never the requester, exactly numwant.
    for (let k = 0; k < 50; k++) {
      const window = peersOf((await announce(ih, v4(someone!), 'none', 7)).peers, 6);
      assert.equal(window.length, 7);
      assert.equal(new Set(window).size, 7);
      for (const peer of window) assert.ok(expected.includes(peer));
    }
    const length = await admin.strlen(swarmKey('p4', ih));
    assert.ok(length <= 7 * (2 * live.size + 32), `the packed string was cut down (${length} bytes)`);
    assert.equal(await admin.hlen(swarmKey('ph', ih)), live.size + 1, 'one hash field per peer, and the header');
  });

  it('removes at most 1000 expired peers per call, samples only live ones meanwhile, and catches up', async () => {
    const ih = hash(901);
    for (let i = 0; i < 1100; i++) await announce(ih, v4(i), 'none', 0);
    clock += TTL + 1;
    const first = await announce(ih, v4(5000), 'none', 50);
    assert.equal(first.peers.length, 0, 'no expired peer is returned');
    assert.equal(first.incomplete, 101, 'the 100 expired peers beyond the limit are still counted');
    const second = await announce(ih, v4(5001), 'none', 50);
    assert.deepEqual(peersOf(second.peers, 6), [hex(v4(5000))]);
    assert.equal(second.incomplete, 2);
    assert.deepEqual(await store.scrape([ih]), [{ complete: 0, incomplete: 2, downloaded: 0 }]);
  });

  it('expires peers by generations of ttl / 80, within one generation of their TTL', async () => {
    // TTL 800 s: generations of 10 s, a peer lives 80 of them after the one of its last announce.
    const long = await RedisStore.connect({
      target: redis.target, peerTtlSeconds: 800, wsPeerTtlSeconds: 800, now: () => clock, timeoutMs: 5000, onError: () => {},
    });
    try {
      const ih = hash(905);
      clock = Math.ceil(clock / 10) * 10 + 7; // 7 s into a generation
      await long.announce({ infoHash: ih, peer: v4(1), event: 'none', seeder: false, numwant: 0 });
      clock += 3; // the first second of the next generation
      await long.announce({ infoHash: ih, peer: v4(2), event: 'none', seeder: false, numwant: 0 });
      const at = (offset: number) => {
        clock += offset;
        return long.scrape([ih]).then(([counts]) => counts!.incomplete);
      };
      assert.equal(await at(789), 2, 'both live 792 s after the first announce');
      assert.equal(await at(1), 1, 'the first expires 793 s after its announce (its generation ended 7 s after it)');
      assert.equal(await at(9), 1, 'the second lives its full 800 s');
      assert.equal(await at(1), 0);
    } finally {
      await long.close();
    }
  });

  it('applies a changed TTL to the peers already in a swarm', async () => {
    const longer = await RedisStore.connect({
      target: redis.target, peerTtlSeconds: 800, wsPeerTtlSeconds: 800, now: () => clock, timeoutMs: 5000, onError: () => {},
    });
    try {
      const [raised, lowered] = [hash(907), hash(908)];
      const start = (clock = Math.ceil(clock / 10) * 10);
      for (const ih of [raised, lowered]) await announce(ih, v4(1)); // TTL 100: generations of 2 s
      clock = start + 50;
      for (const ih of [raised, lowered]) {
        await longer.announce({ infoHash: ih, peer: v4(2), event: 'none', seeder: false, numwant: 0 }); // now 10 s
      }
      const live = async (s: RedisStore, ih: InfoHash, at: number) => {
        clock = start + at;
        return (await s.scrape([ih]))[0]!.incomplete;
      };
      assert.equal(await live(longer, raised, 150), 2, 'the first peer outlives its old TTL of 100 s');
      // Back to 100 s after 550 s: 275 generations of 2 s, beyond what a byte holds (and 275 mod 256 < 50).
      assert.equal(await live(store, lowered, 600), 0, 'both long expired at the old TTL');
      assert.equal(await live(longer, raised, 799), 2);
      assert.equal(await live(longer, raised, 800), 1, 'the first expires at the new TTL');
    } finally {
      await longer.close();
    }
  });

  it('empties a swarm whose keys outlived their TTL by clock, so generations never wrap around', async () => {
    const ih = hash(906);
    await announce(ih, v4(1), 'completed');
    for (let i = 2; i < 40; i++) await announce(ih, v4(i));
    // 512 s at generations of 2 s: 256 generations, so every stored generation byte looks like the current one.
    clock += 512;
    const result = await announce(ih, v4(100), 'none', 50);
    assert.deepEqual([result.peers.length, result.incomplete, result.downloaded], [0, 1, 1]);
    assert.equal(await admin.hlen(swarmKey('ph', ih)), 2, 'the header and the one live peer');
  });

  const announceWs = (infoHash: InfoHash, n: number, route: string, event: 'none' | 'stopped' = 'none', numwant = 0) =>
    store.announceWs({ infoHash, peerId: wsPeerId(n), route, event, seeder: n === 99, numwant });

  it('widens WebSocket entries for a longer route, keeping every peer and route; a refused announce widens nothing', async () => {
    const ih = hash(902);
    const routes = new Map<number, string>();
    for (let i = 0; i < 40; i++) {
      routes.set(i, `r/${i}`);
      await announceWs(ih, i, `r/${i}`);
    }
    const long = `${'x'.repeat(200)}/long`;
    const narrow = await admin.strlen(swarmKey('wp', ih));
    assert.equal((await announceWs(ih, 7, long)).conflict, true, "peer 7 is r/7's");
    assert.equal(await admin.strlen(swarmKey('wp', ih)), narrow, 'the refused announce left the entries as they were');
    routes.set(40, long);
    await announceWs(ih, 40, long);
    const result = await announceWs(ih, 99, 'r/99', 'none', 100);
    assert.deepEqual([result.complete, result.incomplete], [1, 41]);
    const got = new Map(result.peers.map((p) => [p.peerId, p.route]));
    assert.equal(got.size, 41);
    for (const [i, route] of routes) assert.equal(got.get(wsPeerId(i)), route);
    // A stop of peer 40 from another route is refused; from its own route it counts.
    assert.equal((await announceWs(ih, 40, 'r/40', 'stopped')).conflict, true);
    assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 1, incomplete: 41, downloaded: 0 }]);
    await announceWs(ih, 40, long, 'stopped');
    assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 1, incomplete: 40, downloaded: 0 }]);
  });

  it('lets another route take an expired WebSocket peer still stored behind more expired peers than one call removes', async () => {
    const ih = hash(909);
    await announceWs(ih, 5000, 'r/5000');
    clock += 2; // the next generation: the 1000 below expire younger, so they are removed first
    for (let i = 0; i < 1000; i++) await announceWs(ih, i, `r/${i}`);
    clock += TTL + 2;
    const taken = await announceWs(ih, 5000, 'other/1');
    assert.deepEqual([taken.conflict, taken.incomplete], [false, 1], 'the expired peer is nobody\'s');
    assert.equal(await admin.hlen(swarmKey('wh', ih)), 2, 'the header and the peer, now at its new route');
    assert.equal((await announceWs(ih, 5000, 'r/5000')).conflict, true);
  });

  it('gives every key of a swarm a TTL beyond its peers, and leaves no key behind an empty swarm', async () => {
    const ih = hash(903);
    await announce(ih, v4(1));
    await announce(ih, v6(1));
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'r/1', event: 'none', seeder: false, numwant: 0 });
    for (const kind of [...WIRE_KEYS, ...WS_KEYS]) {
      const ttl = await admin.ttl(swarmKey(kind, ih));
      assert.ok(ttl > TTL && ttl <= 2 * TTL, `${kind}: TTL ${ttl}`);
    }
    await announce(ih, v4(1), 'stopped');
    await announce(ih, v6(1), 'stopped');
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'r/1', event: 'stopped', seeder: false, numwant: 0 });
    for (const kind of [...WIRE_KEYS, ...WS_KEYS]) assert.equal(await admin.exists(swarmKey(kind, ih)), 0, `${kind} is gone`);
    // A swarm with downloads keeps its header alone (with its TTL) after its last peer.
    const done = hash(904);
    await announce(done, v4(1), 'completed');
    await announce(done, v4(1), 'stopped');
    assert.deepEqual(await store.scrape([done]), [{ complete: 0, incomplete: 0, downloaded: 1 }]);
    assert.deepEqual(await admin.hkeys(swarmKey('ph', done)), ['h']);
    assert.ok((await admin.ttl(swarmKey('ph', done))) > 0);
    assert.equal(await admin.exists(swarmKey('p4', done)), 0);
  });

  it('scrapes a swarm with nothing to expire by reading its header, and runs the function once a peer may have expired', async () => {
    const ih = hash(910);
    await announce(ih, v4(1));
    await announce(ih, v6(1));
    await store.announceWs({ infoHash: ih, peerId: wsPeerId(1), route: 'r/1', event: 'none', seeder: true, numwant: 0 });
    const calls = async (): Promise<Record<string, number>> => {
      const stats = await admin.info('commandstats');
      const count = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
      return { hget: count('hget'), fcall: count('fcall') };
    };
    await admin.config('RESETSTAT');
    assert.deepEqual(await store.scrape([ih, hash(911)]), [{ complete: 0, incomplete: 2, downloaded: 0 }, { complete: 0, incomplete: 0, downloaded: 0 }]);
    assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 1, incomplete: 0, downloaded: 0 }]);
    assert.deepEqual(await calls(), { hget: 3, fcall: 0 }, 'three header reads, no function call');
    clock += TTL / 2;
    await announce(ih, v4(2));
    clock += TTL / 2 + 2; // v4(1), v6(1) and the WebSocket peer have expired; v4(2) has not
    await admin.config('RESETSTAT');
    assert.deepEqual(await store.scrape([ih]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
    assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
    assert.equal((await calls()).fcall, 2, 'a swarm with peers due for expiry runs the scrape function');
    assert.equal(await admin.hlen(swarmKey('ph', ih)), 2, 'which removed the expired peers: the header and v4(2) are left');
  });
});
