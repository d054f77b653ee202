/**
 * The Redis store's WebSocket announce cache (--redis-announce-cache; src/store/redis/ws-announce-cache.ts): what
 * it answers and what it leaves to calls, peer ownership kept, what `refresh_ws` applies, and what it reports
 * back, checked through a second store without the cache on the same real Redis (single node and 3-master cluster).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AnnounceEvent, InfoHash } from '../../src/protocol/types.js';
import type { RedisStore } from '../../src/store/redis/redis-store.js';
import type { WsAnnounceRequest, WsPeer } from '../../src/store/store.js';
import { connectTestStore, startRedis, type TestRedis } from '../helpers/redis.js';
import { hash, wsPeerId } from './conformance.js';

const TTL = 100;

function announce(infoHash: InfoHash, n: number, event: AnnounceEvent = 'none', options: { route?: string; seeder?: boolean; numwant?: number } = {}): WsAnnounceRequest {
  return { infoHash, peerId: wsPeerId(n), route: options.route ?? `proc-a/${n}`, event, seeder: options.seeder ?? false, numwant: options.numwant ?? 5 };
}

/** A peer as `n@route`, for comparisons. */
function named(peers: readonly WsPeer[]): string[] {
  return peers.map((peer) => `${peer.peerId.charCodeAt(3) + 256 * peer.peerId.charCodeAt(4)}@${peer.route}`).sort();
}

for (const kind of ['single', 'cluster'] as const) {
  describe(`WebSocket announce cache, Redis ${kind}`, () => {
    let redis: TestRedis;
    let clock = 1_000_000;
    const stores: RedisStore[] = [];
    const connect = async (cache?: { ms: number; sample: number }, refreshErrors?: Error[]) => {
      const store = await connectTestStore(redis, TTL, () => clock, {
        timeoutMs: 2000,
        ...(cache === undefined ? {} : { announceCache: { ms: cache.ms, sample: () => 50, wsSample: () => cache.sample } }),
        onRefreshError: (error) => refreshErrors?.push(error),
      });
      stores.push(store);
      return store;
    };
    const closeAll = async () => {
      for (const store of stores.splice(0)) await store.close();
    };
    before(async () => {
      redis = await startRedis(kind);
    });
    after(async () => {
      await closeAll();
      await redis.stop();
    });

    it("answers a member's re-announces from what Redis last returned, never the requester, and leaves first announces to calls", async () => {
      await redis.flush();
      clock = 1_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 20 });
      const h = hash(1);
      await exact.announceWs(announce(h, 1, 'started', { route: 'proc-b/1' }));
      assert.equal(exact.announceWsNow(announce(h, 1, 'none', { route: 'proc-b/1' })), undefined, 'no cache, no answer at once');
      // A first announce is a call, even of a swarm held: its peer is not yet confirmed as this process's.
      assert.equal(cached.announceWsNow(announce(h, 2, 'started')), undefined);
      const first = await cached.announceWs(announce(h, 2, 'started'));
      assert.deepEqual(named(first.peers), ['1@proc-b/1']);
      assert.equal(cached.announceWsNow(announce(h, 3, 'started')), undefined);
      await cached.announceWs(announce(h, 3, 'started'));
      // Peer 2 again: from the cache, with peer 3 (added from its call) and never itself.
      const again = cached.announceWsNow(announce(h, 2));
      assert.ok(again !== undefined);
      assert.equal(again.conflict, false);
      assert.deepEqual(named(again.peers), ['1@proc-b/1', '3@proc-a/3']);
      assert.equal(again.incomplete, 3);
      // No more than numwant, and never more than the sample: more is a call.
      assert.equal(cached.announceWsNow(announce(h, 2, 'none', { numwant: 1 }))!.peers.length, 1);
      assert.equal(cached.announceWsNow(announce(h, 2, 'none', { numwant: 21 })), undefined);
      await closeAll();
    });

    it("never answers for a peer_id another route holds, nor lets the cache's member be taken over", async () => {
      await redis.flush();
      clock = 1_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 20 });
      const h = hash(2);
      await cached.announceWs(announce(h, 1, 'started'));
      await cached.announceWs(announce(h, 2, 'started'));
      // Peer 1's peer_id from another socket of this process, and from another process: calls, refused.
      assert.equal(cached.announceWsNow(announce(h, 1, 'none', { route: 'proc-a/99' })), undefined);
      assert.equal((await cached.announceWs(announce(h, 1, 'none', { route: 'proc-a/99' }))).conflict, true);
      assert.equal((await exact.announceWs(announce(h, 1, 'started', { route: 'proc-b/1' }))).conflict, true);
      // The refused calls changed nothing: peer 1 is still its first socket's, answered from the cache.
      assert.ok(cached.announceWsNow(announce(h, 1)) !== undefined);
      assert.deepEqual(named(cached.announceWsNow(announce(h, 2))!.peers), ['1@proc-a/1']);
      // Its stop is a call, and it is no longer offered from the cache at once.
      assert.equal(cached.announceWsNow(announce(h, 1, 'stopped')), undefined);
      const stopping = cached.announceWs(announce(h, 1, 'stopped'));
      assert.deepEqual(cached.announceWsNow(announce(h, 2))!.peers, []);
      await stopping;
      assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
      // Now free: the other process takes it.
      assert.equal((await exact.announceWs(announce(h, 1, 'started', { route: 'proc-b/1' }))).conflict, false);
      await closeAll();
    });

    it('refreshes the peers it answered (they outlive their calls\' TTL), applies a seeder change and counts a completion once', async () => {
      await redis.flush();
      clock = 2_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 20 });
      const h = hash(3);
      await cached.announceWs(announce(h, 1, 'started'));
      await cached.announceWs(announce(h, 2, 'started'));
      await cached.announceWs(announce(h, 3, 'started'));
      clock += 60;
      assert.ok(cached.announceWsNow(announce(h, 1)) !== undefined);
      assert.ok(cached.announceWsNow(announce(h, 2, 'completed', { seeder: true })) !== undefined);
      assert.ok(cached.announceWsNow(announce(h, 2, 'completed', { seeder: true })) !== undefined);
      assert.ok(cached.announceWsNow(announce(h, 3, 'none', { seeder: true })) !== undefined);
      assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 3, downloaded: 0 }], 'nothing sent before the flush');
      await cached.close(); // sends what it collected
      clock += 60; // 120 s after the calls, 60 s after the refresh: alive only if refreshed
      assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 2, incomplete: 1, downloaded: 1 }]);
      clock += 60;
      assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 0, downloaded: 1 }]);
      await closeAll();
    });

    it('takes a member whose peer Redis no longer holds for its route out, so that its next announce is a call', async () => {
      await redis.flush();
      clock = 3_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 20 });
      const h = hash(4);
      for (const n of [1, 2, 3]) await cached.announceWs(announce(h, n, 'started'));
      // Peer 1 removed by another process (as the coordinator does for a process it takes for dead), peer 2
      // removed and then taken by another route.
      await exact.announceWs(announce(h, 1, 'stopped'));
      await exact.announceWs(announce(h, 2, 'stopped'));
      await exact.announceWs(announce(h, 2, 'started', { route: 'proc-b/2' }));
      for (const n of [1, 2, 3]) assert.ok(cached.announceWsNow(announce(h, n)) !== undefined, `peer ${n} from the cache`);
      await (cached as unknown as { wsCache: { sendAll(): Promise<void> } }).wsCache.sendAll();
      // The refresh left 1 and 2 alone (2 stays the other route's) and refreshed 3.
      assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 2, downloaded: 0 }]);
      assert.equal(cached.announceWsNow(announce(h, 1)), undefined);
      assert.equal(cached.announceWsNow(announce(h, 2)), undefined);
      assert.ok(cached.announceWsNow(announce(h, 3)) !== undefined);
      // Their calls: peer 1 joins again, peer 2 is refused.
      assert.equal((await cached.announceWs(announce(h, 1))).conflict, false);
      assert.equal((await cached.announceWs(announce(h, 2))).conflict, true);
      assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 3, downloaded: 0 }]);
      await closeAll();
    });

    it('holds a reply no longer than its period: a peer that joined elsewhere is offered after it', async () => {
      await redis.flush();
      clock = 4_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 200, sample: 20 });
      const h = hash(5);
      await cached.announceWs(announce(h, 1, 'started'));
      await exact.announceWs(announce(h, 2, 'started', { route: 'proc-b/2' }));
      assert.deepEqual(cached.announceWsNow(announce(h, 1))!.peers, [], 'held: the join elsewhere is not seen yet');
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(cached.announceWsNow(announce(h, 1)), undefined, 'the held reply has expired');
      assert.deepEqual(named((await cached.announceWs(announce(h, 1))).peers), ['2@proc-b/2']);
      await closeAll();
    });

    it("lands all of a swarm's 1,200 collected refreshes, in calls of at most 500 peers", async () => {
      await redis.flush();
      clock = 5_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 20 });
      const h = hash(6);
      for (let n = 1; n <= 1200; n++) await cached.announceWs(announce(h, n, 'started', { numwant: 0 }));
      clock += 60;
      for (let n = 1; n <= 1200; n++) assert.ok(cached.announceWsNow(announce(h, n, 'none', { numwant: 0 })) !== undefined);
      await cached.close();
      clock += 60;
      assert.equal((await exact.scrapeWs([h]))[0]!.incomplete, 1200);
      await closeAll();
    });
  });
}
