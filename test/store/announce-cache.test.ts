/**
 * The announce cache's own logic (src/store/redis/announce-cache.ts) on a clock the test moves: which peers a
 * held reply gives, when refreshes are sent, and what it forgets. Its calls to Redis are a recording function
 * here; test/store/redis-announce-cache.test.ts runs it on real Redis.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AnnounceEvent, AnnounceRequest, InfoHash } from '../../src/protocol/types.js';
import { AnnounceCache } from '../../src/store/redis/announce-cache.js';
import type { PeerKey } from '../../src/store/redis/function-calls.js';
import { REFRESH_TAGS } from '../../src/store/redis/function-contract.js';
import { hash, peersOf, v4, v6 } from './conformance.js';

function announce(infoHash: InfoHash, peer: Uint8Array, event: AnnounceEvent = 'none', numwant = 50, seeder = false): AnnounceRequest {
  return { infoHash, peer, event, seeder, numwant };
}

function cacheOn(clock: { now: number }, sample = 200) {
  const sent: { infoHash: InfoHash; peers: Map<PeerKey, number> }[] = [];
  const cache = new AnnounceCache({
    ms: 1000,
    sample: () => sample,
    refreshesPerCall: 3,
    refresh: (infoHash, peers) => {
      sent.push({ infoHash, peers: new Map(peers) });
      return Promise.resolve({ complete: 7, incomplete: 8, downloaded: 9 });
    },
    onRefreshError: () => {},
    now: () => clock.now,
  });
  // The test moves the clock and runs the ticks itself.
  const tick = () => (cache as unknown as { held: { sendDue(now: number): void } }).held.sendDue(clock.now);
  return { cache, sent, tick };
}

const entries = (peers: Uint8Array[]) => Buffer.concat(peers);

describe('announce cache', () => {
  it('gives min(numwant, others) distinct held peers, never the requester', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 60 }),
        fc.boolean(),
        fc.boolean(),
        (others, numwant, requesterHeld, ipv6) => {
          const clock = { now: 0 };
          const { cache } = cacheOn(clock);
          const make = ipv6 ? v6 : v4;
          const held = Array.from({ length: others }, (_, n) => make(n + 1));
          const requester = make(1000);
          const h = hash(1);
          // The call's requester is added to what is held: `first` is that one.
          const first = requesterHeld ? requester : make(2000);
          cache.learn(announce(h, first, 'started'), { complete: 0, incomplete: 0, downloaded: 0, peers: entries(held) }, 200);
          const reply = cache.answer(announce(h, requester, 'none', numwant));
          assert.ok(reply !== undefined);
          const got = peersOf(reply.peers, requester.length);
          const pool = new Set([...held, ...(requesterHeld ? [] : [first])].map((p) => Buffer.from(p).toString('hex')));
          assert.equal(got.length, Math.min(numwant, pool.size));
          assert.equal(new Set(got).size, got.length, 'distinct');
          for (const peer of got) assert.ok(pool.has(peer), 'held, and not the requester');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('answers any event up to its sample, for the family it holds, until its period ends', () => {
    const clock = { now: 0 };
    const { cache } = cacheOn(clock, 50);
    const h = hash(2);
    cache.learn(announce(h, v4(1), 'started'), { complete: 1, incomplete: 2, downloaded: 3, peers: entries([v4(2), v4(3)]) }, 50);
    for (const event of ['none', 'started', 'completed', 'stopped'] as const) assert.ok(cache.answer(announce(h, v4(9), event)), event);
    assert.equal(cache.answer(announce(h, v4(9), 'none', 51)), undefined, 'numwant above the sample');
    assert.equal(cache.answer(announce(h, v6(9))), undefined, 'no IPv6 peers held');
    assert.equal(cache.answer(announce(hash(3), v4(9))), undefined, 'another swarm');
    assert.deepEqual({ ...cache.answer(announce(h, v4(9)))!, peers: undefined }, { complete: 1, incomplete: 2, downloaded: 3, peers: undefined });
    clock.now = 999;
    assert.ok(cache.answer(announce(h, v4(9))));
    clock.now = 1000;
    assert.equal(cache.answer(announce(h, v4(9))), undefined, 'held for 1000 ms');
  });

  it('collects per peer its seeder bit, whether it completed, and whether its last announce stopped', () => {
    const clock = { now: 0 };
    const { cache, sent, tick } = cacheOn(clock);
    const h = hash(6);
    const { seeder, completed, stopped } = REFRESH_TAGS;
    cache.learn(announce(h, v4(100), 'started'), { complete: 0, incomplete: 0, downloaded: 0, peers: Buffer.alloc(0) }, 200);
    const sequences: [AnnounceEvent, boolean][][] = [
      [['started', false], ['none', false]],
      [['none', false], ['completed', true], ['none', true]],
      [['started', false], ['stopped', false]],
      [['completed', true], ['stopped', true]],
      [['stopped', false], ['started', true]],
    ];
    sequences.forEach((sequence, n) => {
      for (const [event, isSeeder] of sequence) cache.answer(announce(h, v4(n + 1), event, 50, isSeeder));
    });
    clock.now = 1000;
    tick();
    const tags = new Map(sent.flatMap((call) => [...call.peers]));
    assert.deepEqual(
      sequences.map((_, n) => tags.get((10 * 2 ** 24 + (n + 1)) * 65536 + 6881)),
      [0, seeder | completed, stopped, seeder | completed | stopped, seeder],
    );
  });

  it('takes a peer out of what it holds when it stops, and sends a swarm\'s changes before a call for it', () => {
    const clock = { now: 0 };
    const { cache, sent } = cacheOn(clock);
    const h = hash(5);
    cache.learn(announce(h, v4(1), 'started'), { complete: 0, incomplete: 2, downloaded: 0, peers: entries([v4(2), v4(3)]) }, 200);
    assert.ok(cache.answer(announce(h, v4(2), 'stopped', 0)));
    assert.deepEqual(peersOf(cache.answer(announce(h, v4(9)))!.peers, 6).sort(), [v4(1), v4(3)].map((p) => Buffer.from(p).toString('hex')).sort());
    assert.equal(sent.length, 0);
    cache.beforeCall(h);
    assert.equal(sent.length, 1);
    assert.deepEqual([...sent[0]!.peers.values()], [REFRESH_TAGS.stopped, 0]);
  });

  it('sends a swarm\'s refreshes once, in calls of at most refreshesPerCall, within its period, and forgets it after', async () => {
    const clock = { now: 0 };
    const { cache, sent, tick } = cacheOn(clock);
    const h = hash(4);
    cache.learn(announce(h, v4(1), 'started'), { complete: 0, incomplete: 0, downloaded: 0, peers: Buffer.alloc(0) }, 200);
    for (let n = 1; n <= 6; n++) cache.answer(announce(h, v4(n), 'none', 50, n % 2 === 0));
    cache.answer(announce(h, v4(1))); // again: one refresh of it
    clock.now = 874; // due at 1000 less a tick (125 ms)
    tick();
    assert.equal(sent.length, 0);
    clock.now = 875;
    tick();
    assert.deepEqual(
      sent.map((call) => call.peers.size),
      [3, 3],
    );
    const keys = sent.flatMap((call) => [...call.peers]);
    assert.equal(new Set(keys.map(([peer]) => peer)).size, 6);
    assert.deepEqual(keys.filter(([, tags]) => tags === REFRESH_TAGS.seeder).length, 3, 'peers 2, 4, 6 seed');
    await new Promise((resolve) => setImmediate(resolve));
    // The counts after the refresh answer from now on.
    assert.equal(cache.answer(announce(h, v4(8)))!.complete, 7);
    clock.now = 2000;
    tick();
    assert.equal(sent.length, 3, "v4(8)'s refresh");
    clock.now = 4000;
    tick();
    assert.equal(cache.size, 0, 'forgotten once nothing is held or due');
    await cache.close();
  });

  it('sends each swarm\'s changes when due even while another swarm\'s go early with its calls', () => {
    const clock = { now: 0 };
    const { cache, sent, tick } = cacheOn(clock);
    const [busy, quiet] = [hash(7), hash(8)];
    for (const h of [busy, quiet]) cache.learn(announce(h, v4(1), 'started'), { complete: 0, incomplete: 0, downloaded: 0, peers: Buffer.alloc(0) }, 200);
    for (clock.now = 0; clock.now <= 1000; clock.now += 50) {
      cache.answer(announce(busy, v4(3)));
      if (clock.now === 0) cache.answer(announce(quiet, v4(2))); // due at 875, queued behind the busy swarm
      if (clock.now % 100 === 0) cache.beforeCall(busy); // a call for it: its changes go first
      tick();
      if (clock.now < 875) assert.ok(!sent.some((call) => call.infoHash === quiet), `not before it is due (${clock.now} ms)`);
    }
    assert.ok(sent.some((call) => call.infoHash === quiet), 'the quiet swarm\'s change went out when due');
  });
});
