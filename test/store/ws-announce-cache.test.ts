/**
 * The WebSocket announce cache's own logic (src/store/redis/ws-announce-cache.ts) on a clock the test moves: which
 * peers a held reply offers, whom it answers for, and what it collects and sends. Its calls to Redis are a
 * recording function here; test/store/redis-announce-cache.test.ts ("WebSocket") runs it on real Redis.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AnnounceEvent, InfoHash } from '../../src/protocol/types.js';
import { REFRESH_TAGS } from '../../src/store/redis/function-contract.js';
import type { WsRefresh } from '../../src/store/redis/function-calls.js';
import { WsAnnounceCache } from '../../src/store/redis/ws-announce-cache.js';
import type { WsAnnounceRequest, WsPeer } from '../../src/store/store.js';
import { hash, wsPeerId } from './conformance.js';

function announce(infoHash: InfoHash, n: number, event: AnnounceEvent = 'none', numwant = 5, seeder = false): WsAnnounceRequest {
  return { infoHash, peerId: wsPeerId(n), route: `r/${n}`, event, seeder, numwant };
}

const peer = (n: number): WsPeer => ({ peerId: wsPeerId(n), route: `r/${n}` });
const counts = { complete: 1, incomplete: 2, downloaded: 3 };

function cacheOn(clock: { now: number }, lost: number[] = []) {
  const sent: WsRefresh[][] = [];
  const cache = new WsAnnounceCache({
    ms: 1000,
    sample: () => 50,
    refreshesPerCall: 500,
    refresh: (_infoHash, peers) => {
      sent.push([...peers]);
      return Promise.resolve({ counts: { complete: 7, incomplete: 8, downloaded: 9 }, lost });
    },
    onRefreshError: () => {},
    now: () => clock.now,
  });
  return { cache, sent };
}

describe('WebSocket announce cache', () => {
  it('offers min(numwant, others) distinct held peers, never the requester', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 50 }), (others, numwant) => {
        const { cache } = cacheOn({ now: 0 });
        const h = hash(1);
        // Peer 1000's call: the others as Redis' sample, 1000 added; then 1000 again, from the cache.
        cache.learn(announce(h, 1000, 'started'), { ...counts, conflict: false, peers: Array.from({ length: others }, (_, n) => peer(n + 1)) }, 50);
        const reply = cache.answer(announce(h, 1000, 'none', numwant));
        assert.ok(reply !== undefined);
        const got = reply.peers.map((p) => p.route);
        assert.equal(got.length, Math.min(numwant, others));
        assert.equal(new Set(got).size, got.length, 'distinct');
        assert.ok(!got.includes('r/1000'), 'never the requester');
      }),
      { numRuns: 300 },
    );
  });

  it('answers only peers Redis confirmed for their route, not stops, not above the sample, not after its period', () => {
    const clock = { now: 0 };
    const { cache } = cacheOn(clock);
    const h = hash(1);
    cache.learn(announce(h, 1, 'started'), { ...counts, conflict: false, peers: [peer(2)] }, 50);
    assert.deepEqual(cache.answer(announce(h, 1))?.peers, [peer(2)]);
    assert.equal(cache.answer(announce(h, 2)), undefined, 'held as a peer, but never confirmed as this process\'s');
    assert.equal(cache.answer({ ...announce(h, 1), route: 'r/other' }), undefined, 'another route');
    assert.equal(cache.answer(announce(h, 1, 'stopped')), undefined);
    assert.equal(cache.answer(announce(h, 1, 'none', 51)), undefined);
    // A refused call confirms nobody; a later call of its own route is confirmed.
    cache.learn({ ...announce(h, 3), route: 'r/x' }, { ...counts, conflict: true, peers: [] }, 50);
    assert.equal(cache.answer({ ...announce(h, 3), route: 'r/x' }), undefined);
    clock.now = 1000;
    assert.equal(cache.answer(announce(h, 1)), undefined, 'the period is over');
  });

  it('collects completions and seeder bits, sends them with routes, and drops members Redis reports lost', async () => {
    const clock = { now: 0 };
    const { cache, sent } = cacheOn(clock, [0]);
    const h = hash(1);
    for (const n of [1, 2]) cache.learn(announce(h, n, 'started'), { ...counts, conflict: false, peers: [] }, 50);
    cache.answer(announce(h, 1, 'completed', 5, true));
    cache.answer(announce(h, 1, 'none', 5, true));
    cache.answer(announce(h, 2));
    await cache.sendAll();
    assert.deepEqual(sent, [
      [
        { peerId: wsPeerId(1), route: 'r/1', tags: REFRESH_TAGS.completed | REFRESH_TAGS.seeder },
        { peerId: wsPeerId(2), route: 'r/2', tags: 0 },
      ],
    ]);
    // Peer 1 was reported lost: its next announce is a call. The counts are the refresh's.
    assert.equal(cache.answer(announce(h, 1)), undefined);
    const reply = cache.answer(announce(h, 2));
    assert.deepEqual([reply?.complete, reply?.incomplete, reply?.downloaded], [7, 8, 9]);
  });

  it('sends the collected changes before a call for the swarm, and a stop takes its peer out of what it offers', async () => {
    const { cache, sent } = cacheOn({ now: 0 });
    const h = hash(1);
    for (const n of [1, 2]) cache.learn(announce(h, n, 'started'), { ...counts, conflict: false, peers: [] }, 50);
    cache.learn(announce(h, 3, 'started'), { ...counts, conflict: false, peers: [peer(1), peer(2)] }, 50);
    cache.answer(announce(h, 2));
    cache.beforeCall(announce(h, 1, 'stopped'));
    await cache.sendAll();
    assert.deepEqual(sent.map((call) => call.map((p) => p.route)), [['r/2']]);
    assert.deepEqual(cache.answer(announce(h, 3))?.peers, [peer(2)]);
    assert.equal(cache.answer(announce(h, 1)), undefined);
  });
});
