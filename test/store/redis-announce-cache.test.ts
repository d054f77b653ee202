/**
 * The Redis store's announce caches (--redis-announce-cache; src/store/redis/announce-cache.ts for HTTP/UDP,
 * ws-announce-cache.ts for WebSocket): what they answer and what they leave to calls, what they send to Redis and
 * when, their bounds, and for WebSocket peer ownership kept, checked through a second store without the cache on
 * the same real Redis (single node and 3-master cluster).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AnnounceEvent, AnnounceRequest, InfoHash } from '../../src/protocol/types.js';
import type { WsAnnounceRequest, WsPeer } from '../../src/store/store.js';
import { Cluster, Redis } from 'ioredis';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { WIRE_KEYS, swarmKey } from '../../src/store/redis/swarm-keys.js';
import { connectTestStore, startRedis, type TestRedis } from '../helpers/redis.js';
import { hash, peersOf, v4, v6, wsPeerId } from './conformance.js';

const TTL = 100;

function announce(infoHash: InfoHash, peer: Uint8Array, event: AnnounceEvent = 'none', options: { seeder?: boolean; numwant?: number } = {}): AnnounceRequest {
  return { infoHash, peer, event, seeder: options.seeder ?? false, numwant: options.numwant ?? 50 };
}

function wsAnnounce(infoHash: InfoHash, n: number, event: AnnounceEvent = 'none', options: { route?: string; seeder?: boolean; numwant?: number } = {}): WsAnnounceRequest {
  return { infoHash, peerId: wsPeerId(n), route: options.route ?? `proc-a/${n}`, event, seeder: options.seeder ?? false, numwant: options.numwant ?? 5 };
}

/** A peer as `n@route`, for comparisons. */
function named(peers: readonly WsPeer[]): string[] {
  return peers.map((peer) => `${peer.peerId.charCodeAt(3) + 256 * peer.peerId.charCodeAt(4)}@${peer.route}`).sort();
}

const hex = (peer: Uint8Array) => Buffer.from(peer).toString('hex');

async function eventually(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const kind of ['single', 'cluster'] as const) {
  describe(`announce cache, Redis ${kind}`, () => {
    let redis: TestRedis;
    let clock = 1_000_000;
    const stores: RedisStore[] = [];
    const connect = async (cache?: { ms: number; sample: number }, refreshErrors?: Error[]) => {
      const store = await connectTestStore(redis, TTL, () => clock, {
        timeoutMs: 2000,
        ...(cache === undefined ? {} : { announceCache: { ms: cache.ms, sample: () => cache.sample, wsSample: () => cache.sample } }),
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

    it('answers re-announces and joins from what Redis last returned, never the requester, and sends their refreshes on its own', async () => {
      await redis.flush();
      const exact = await connect();
      const cached = await connect({ ms: 300, sample: 50 });
      const h = hash(1);
      const [a, b, c] = [v4(1), v4(2), v4(3)];
      await exact.announce(announce(h, a, 'started'));
      // The first announce of the swarm goes to Redis; its reply, with c added, is held.
      const first = await cached.announce(announce(h, c, 'started'));
      assert.deepEqual(peersOf(first.peers, 6), [hex(a)]);
      assert.equal(first.incomplete, 2);
      // b joins from the cache: the held counts (b not yet in them) and both peers held, c included.
      const joined = await cached.announce(announce(h, b, 'started'));
      assert.equal(joined.incomplete, 2);
      assert.deepEqual(peersOf(joined.peers, 6).sort(), [hex(a), hex(c)].sort());
      // c again: from the cache, and not given itself.
      const again = await cached.announce(announce(h, c));
      assert.deepEqual(peersOf(again.peers, 6), [hex(a)]);
      // b's join reaches Redis within a flush period, without any other call.
      await eventually(async () => (await exact.scrape([h]))[0]!.incomplete === 3, 'the cached join reaches Redis');
      await closeAll();
    });

    it('holds a reply no longer than its period: a peer that joined elsewhere is returned after it', async () => {
      await redis.flush();
      const exact = await connect();
      const cached = await connect({ ms: 200, sample: 50 });
      const h = hash(2);
      await cached.announce(announce(h, v4(1), 'started'));
      await exact.announce(announce(h, v4(2), 'started'));
      await eventually(async () => {
        const reply = await cached.announce(announce(h, v4(1)));
        return reply.incomplete === 2 && peersOf(reply.peers, 6).includes(hex(v4(2)));
      }, 'the held reply expires and the next announce asks Redis');
      await closeAll();
    });

    it('refreshes a peer answered from the cache (it outlives the TTL of its last call) and applies a seeder change', async () => {
      await redis.flush();
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 50 });
      const h = hash(3);
      clock = 1_000_000;
      await cached.announce(announce(h, v4(1), 'started'));
      await cached.announce(announce(h, v6(1), 'started'));
      clock += 60;
      // Both from the cache: the IPv4 peer as it was, the IPv6 peer now a seeder (no `completed`).
      assert.equal((await cached.announce(announce(h, v4(1)))).incomplete, 2);
      assert.equal((await cached.announce(announce(h, v6(1), 'none', { seeder: true }))).complete, 0);
      assert.deepEqual(await exact.scrape([h]), [{ complete: 0, incomplete: 2, downloaded: 0 }], 'nothing sent before the flush');
      await cached.close(); // sends what it collected
      clock += 60; // 120 s after the calls, 60 s after the refreshes: alive only if refreshed
      assert.deepEqual(await exact.scrape([h]), [{ complete: 1, incomplete: 1, downloaded: 0 }]);
      clock += 60; // 120 s after the refreshes
      assert.deepEqual(await exact.scrape([h]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
      await closeAll();
    });

    it('applies collected completions and stops in order, and a call for the swarm sends them first', async () => {
      await redis.flush();
      clock = 2_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 50 });
      const h = hash(4);
      const [a, b, c, d, e] = [v4(1), v4(2), v4(3), v4(4), v4(5)];
      await cached.announce(announce(h, a, 'started')); // the call: the swarm is held from its reply
      for (const [peer, event, seeder] of [
        [b, 'started', false], [b, 'completed', true], [b, 'none', true], // joins, completes: a seeder, downloaded 1
        [c, 'started', false], [c, 'stopped', false], // joins and leaves: never there
        [d, 'stopped', false], [d, 'started', false], // leaves and comes back: there
        [e, 'started', false], [e, 'completed', true], [e, 'stopped', true], // completes, then leaves: downloaded 2
      ] as const) {
        const reply = await cached.announce(announce(h, peer, event, { seeder }));
        assert.deepEqual([reply.complete, reply.incomplete], [0, 1], 'all from the held reply');
      }
      assert.deepEqual(await exact.scrape([h]), [{ complete: 0, incomplete: 1, downloaded: 0 }], 'nothing sent yet');
      // Above the sample: a call, and the swarm's collected changes go before it.
      const called = await cached.announce(announce(h, a, 'none', { numwant: 60 }));
      assert.deepEqual([called.complete, called.incomplete, called.downloaded], [1, 2, 2]);
      assert.deepEqual(peersOf(called.peers, 6).sort(), [hex(b), hex(d)].sort());
      await closeAll();
    });

    it('asks Redis for a numwant above its sample, and lands all of a swarm\'s 1,200 collected refreshes', async () => {
      await redis.flush();
      clock = 3_000_000;
      const exact = await connect();
      const cached = await connect({ ms: 60_000, sample: 3 });
      const h = hash(5);
      for (let n = 1; n <= 6; n++) await exact.announce(announce(h, v4(n), 'started'));
      const few = await cached.announce(announce(h, v4(100), 'started', { numwant: 2 }));
      assert.equal(few.peers.length, 2 * 6, 'the requester gets its numwant of the sample of 3');
      const many = await cached.announce(announce(h, v4(101), 'started', { numwant: 5 }));
      assert.equal(many.peers.length, 5 * 6, 'above the sample: from Redis');
      assert.equal(many.incomplete, 8, 'exact: both joins are in');
      for (let n = 1000; n < 2200; n++) await cached.announce(announce(h, v4(n), 'started', { numwant: 3 }));
      await cached.close();
      assert.equal((await exact.scrape([h]))[0]!.incomplete, 8 + 1200);
      await closeAll();
    });

    it('reports a refresh Redis did not take, and answers on', async () => {
      await redis.flush();
      clock = 4_000_000;
      const errors: Error[] = [];
      const cached = await connect({ ms: 60_000, sample: 50 }, errors);
      const h = hash(6);
      await cached.announce(announce(h, v4(1), 'started'));
      await cached.announce(announce(h, v4(2), 'started'));
      // The swarm's peers hash made a string: the refresh's HMGET fails on it.
      await redis.flush();
      const target = redis.target;
      const client =
        'url' in target
          ? new Redis(target.url)
          : new Cluster(target.cluster.map((node) => ({ host: node.split(':')[0]!, port: Number(node.split(':')[1]) })));
      await client.set(swarmKey(WIRE_KEYS[0], h), 'x');
      client.disconnect();
      await cached.close();
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /WRONGTYPE/);
      await closeAll();
    });

    describe('WebSocket', () => {
      it("answers a member's re-announces from what Redis last returned, never the requester, and leaves first announces to calls", async () => {
        await redis.flush();
        clock = 1_000_000;
        const exact = await connect();
        const cached = await connect({ ms: 60_000, sample: 20 });
        const h = hash(1);
        await exact.announceWs(wsAnnounce(h, 1, 'started', { route: 'proc-b/1' }));
        assert.equal(exact.announceWsNow(wsAnnounce(h, 1, 'none', { route: 'proc-b/1' })), undefined, 'no cache, no answer at once');
        // A first announce is a call, even of a swarm held: its peer is not yet confirmed as this process's.
        assert.equal(cached.announceWsNow(wsAnnounce(h, 2, 'started')), undefined);
        const first = await cached.announceWs(wsAnnounce(h, 2, 'started'));
        assert.deepEqual(named(first.peers), ['1@proc-b/1']);
        assert.equal(cached.announceWsNow(wsAnnounce(h, 3, 'started')), undefined);
        await cached.announceWs(wsAnnounce(h, 3, 'started'));
        // Peer 2 again: from the cache, with peer 3 (added from its call) and never itself.
        const again = cached.announceWsNow(wsAnnounce(h, 2));
        assert.ok(again !== undefined);
        assert.equal(again.conflict, false);
        assert.deepEqual(named(again.peers), ['1@proc-b/1', '3@proc-a/3']);
        assert.equal(again.incomplete, 3);
        // No more than numwant, and never more than the sample: more is a call.
        assert.equal(cached.announceWsNow(wsAnnounce(h, 2, 'none', { numwant: 1 }))!.peers.length, 1);
        assert.equal(cached.announceWsNow(wsAnnounce(h, 2, 'none', { numwant: 21 })), undefined);
        await closeAll();
      });

      it("never answers for a peer_id another route holds, nor lets the cache's member be taken over", async () => {
        await redis.flush();
        clock = 1_000_000;
        const exact = await connect();
        const cached = await connect({ ms: 60_000, sample: 20 });
        const h = hash(2);
        await cached.announceWs(wsAnnounce(h, 1, 'started'));
        await cached.announceWs(wsAnnounce(h, 2, 'started'));
        // Peer 1's peer_id from another socket of this process, and from another process: calls, refused.
        assert.equal(cached.announceWsNow(wsAnnounce(h, 1, 'none', { route: 'proc-a/99' })), undefined);
        assert.equal((await cached.announceWs(wsAnnounce(h, 1, 'none', { route: 'proc-a/99' }))).conflict, true);
        assert.equal((await exact.announceWs(wsAnnounce(h, 1, 'started', { route: 'proc-b/1' }))).conflict, true);
        // The refused calls changed nothing: peer 1 is still its first socket's, answered from the cache.
        assert.ok(cached.announceWsNow(wsAnnounce(h, 1)) !== undefined);
        assert.deepEqual(named(cached.announceWsNow(wsAnnounce(h, 2))!.peers), ['1@proc-a/1']);
        // Its stop is a call, and it is no longer offered from the cache at once.
        assert.equal(cached.announceWsNow(wsAnnounce(h, 1, 'stopped')), undefined);
        const stopping = cached.announceWs(wsAnnounce(h, 1, 'stopped'));
        assert.deepEqual(cached.announceWsNow(wsAnnounce(h, 2))!.peers, []);
        await stopping;
        assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
        // Now free: the other process takes it.
        assert.equal((await exact.announceWs(wsAnnounce(h, 1, 'started', { route: 'proc-b/1' }))).conflict, false);
        await closeAll();
      });

      it('refreshes the peers it answered (they outlive their calls\' TTL), applies a seeder change and counts a completion once', async () => {
        await redis.flush();
        clock = 2_000_000;
        const exact = await connect();
        const cached = await connect({ ms: 60_000, sample: 20 });
        const h = hash(3);
        await cached.announceWs(wsAnnounce(h, 1, 'started'));
        await cached.announceWs(wsAnnounce(h, 2, 'started'));
        await cached.announceWs(wsAnnounce(h, 3, 'started'));
        clock += 60;
        assert.ok(cached.announceWsNow(wsAnnounce(h, 1)) !== undefined);
        assert.ok(cached.announceWsNow(wsAnnounce(h, 2, 'completed', { seeder: true })) !== undefined);
        assert.ok(cached.announceWsNow(wsAnnounce(h, 2, 'completed', { seeder: true })) !== undefined);
        assert.ok(cached.announceWsNow(wsAnnounce(h, 3, 'none', { seeder: true })) !== undefined);
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
        for (const n of [1, 2, 3]) await cached.announceWs(wsAnnounce(h, n, 'started'));
        // Peer 1 removed by another process (as the coordinator does for a process it takes for dead), peer 2
        // removed and then taken by another route.
        await exact.announceWs(wsAnnounce(h, 1, 'stopped'));
        await exact.announceWs(wsAnnounce(h, 2, 'stopped'));
        await exact.announceWs(wsAnnounce(h, 2, 'started', { route: 'proc-b/2' }));
        for (const n of [1, 2, 3]) assert.ok(cached.announceWsNow(wsAnnounce(h, n)) !== undefined, `peer ${n} from the cache`);
        await (cached as unknown as { wsCache: { sendAll(): Promise<void> } }).wsCache.sendAll();
        // The refresh left 1 and 2 alone (2 stays the other route's) and refreshed 3.
        assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 2, downloaded: 0 }]);
        assert.equal(cached.announceWsNow(wsAnnounce(h, 1)), undefined);
        assert.equal(cached.announceWsNow(wsAnnounce(h, 2)), undefined);
        assert.ok(cached.announceWsNow(wsAnnounce(h, 3)) !== undefined);
        // Their calls: peer 1 joins again, peer 2 is refused.
        assert.equal((await cached.announceWs(wsAnnounce(h, 1))).conflict, false);
        assert.equal((await cached.announceWs(wsAnnounce(h, 2))).conflict, true);
        assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 3, downloaded: 0 }]);
        await closeAll();
      });

      it('refreshes its peers through a swarm that has expired peers to drop first, checking each route after the move', async () => {
        await redis.flush();
        clock = 6_000_000;
        const exact = await connect();
        const cached = await connect({ ms: 60_000, sample: 20 });
        const h = hash(7);
        const sendAll = () => (cached as unknown as { wsCache: { sendAll(): Promise<void> } }).wsCache.sendAll();
        // Peer 9 (another process) first, so that its removal moves the cache's peers in the list.
        await exact.announceWs(wsAnnounce(h, 9, 'started', { route: 'proc-b/9' }));
        for (const n of [1, 2, 3]) await cached.announceWs(wsAnnounce(h, n, 'started'));
        clock += 60;
        for (const n of [1, 2, 3]) assert.ok(cached.announceWsNow(wsAnnounce(h, n)) !== undefined);
        await sendAll();
        // Peer 3 leaves through the other process and comes back as that process's, unknown to the cache.
        await exact.announceWs(wsAnnounce(h, 3, 'stopped'));
        await exact.announceWs(wsAnnounce(h, 3, 'started', { route: 'proc-b/3' }));
        // 110 s after the start peer 9 has expired: the next refresh drops it first (the general path), and
        // reads the routes where the removal moved the entries.
        clock += 50;
        for (const n of [1, 2, 3]) assert.ok(cached.announceWsNow(wsAnnounce(h, n)) !== undefined);
        await sendAll();
        assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 3, downloaded: 0 }], "1, 2 and the other process's 3");
        assert.equal(cached.announceWsNow(wsAnnounce(h, 3)), undefined, 'reported lost');
        clock += 55; // 1 and 2 were refreshed 55 s ago, 3 announced 105 s ago and not refreshed for proc-a
        assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 2, downloaded: 0 }]);
        clock += 50;
        assert.deepEqual(await exact.scrapeWs([h]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
        await closeAll();
      });

      it('holds a reply no longer than its period: a peer that joined elsewhere is offered after it', async () => {
        await redis.flush();
        clock = 4_000_000;
        const exact = await connect();
        const cached = await connect({ ms: 200, sample: 20 });
        const h = hash(5);
        await cached.announceWs(wsAnnounce(h, 1, 'started'));
        await exact.announceWs(wsAnnounce(h, 2, 'started', { route: 'proc-b/2' }));
        assert.deepEqual(cached.announceWsNow(wsAnnounce(h, 1))!.peers, [], 'held: the join elsewhere is not seen yet');
        await new Promise((resolve) => setTimeout(resolve, 250));
        assert.equal(cached.announceWsNow(wsAnnounce(h, 1)), undefined, 'the held reply has expired');
        assert.deepEqual(named((await cached.announceWs(wsAnnounce(h, 1))).peers), ['2@proc-b/2']);
        await closeAll();
      });

      it("lands all of a swarm's 1,200 collected refreshes, in calls of at most 500 peers", async () => {
        await redis.flush();
        clock = 5_000_000;
        const exact = await connect();
        const cached = await connect({ ms: 60_000, sample: 20 });
        const h = hash(6);
        for (let n = 1; n <= 1200; n++) await cached.announceWs(wsAnnounce(h, n, 'started', { numwant: 0 }));
        clock += 60;
        for (let n = 1; n <= 1200; n++) assert.ok(cached.announceWsNow(wsAnnounce(h, n, 'none', { numwant: 0 })) !== undefined);
        await cached.close();
        clock += 60;
        assert.equal((await exact.scrapeWs([h]))[0]!.incomplete, 1200);
        await closeAll();
      });
    });
  });
}
