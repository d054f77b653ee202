/**
 * The Redis store's totals (RedisStore.totals(): per-slot counts kept by the swarm functions, summed at read
 * time) where the conformance suite does not reach: against an independent count read from every swarm's own
 * keys under random workloads; swarms whose keys Redis really expired (no function ran for them); a read that
 * changes nothing; and swarms whose header is of the previous layout (never counted, no per-family seeders).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import type { InfoHash } from '../../src/protocol/types.js';
import { STATS_FIELDS, addSlotCounts } from '../../src/store/redis/function-calls.js';
import {
  HEADER_FIELD,
  PEER_FLAGS,
  POSITION_STEP,
  PREVIOUS_HEADER_SIZE,
  STATS_BUCKET,
  STATS_BUCKET_SECONDS,
  STATS_COUNTS,
  STATS_HEAD,
  SWARM_HEADER,
} from '../../src/store/redis/function-contract.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { statsKey, swarmKey, swarmSlot } from '../../src/store/redis/swarm-keys.js';
import type { StoreTotals } from '../../src/store/store.js';
import { useSingleNodeStore, type TestRedis } from '../helpers/redis.js';
import { hash, v4, v6, wsPeerId } from './conformance.js';

const TTL = 30;
const WS_TTL = 20;
const bucketEnd = (keysUntil: number) => Math.ceil(keysUntil / STATS_BUCKET_SECONDS) * STATS_BUCKET_SECONDS;
const ZERO: StoreTotals = { swarms: 0, ipv4: { seeders: 0, leechers: 0 }, ipv6: { seeders: 0, leechers: 0 }, ws: { swarms: 0, seeders: 0, leechers: 0 } };

describe('Redis store totals', () => {
  let redis: TestRedis;
  let store: RedisStore;
  let admin: Redis;
  let clock = 1_700_000_000;

  useSingleNodeStore({ peerTtlSeconds: TTL, wsPeerTtlSeconds: WS_TTL, now: () => clock }, (node) => ({ redis, store, admin } = node));

  const wire = (infoHash: InfoHash, peer: Uint8Array, event: 'none' | 'started' | 'completed' | 'stopped' = 'none', seeder = false) =>
    store.announce({ infoHash, peer, event, seeder, numwant: 5 });
  const ws = (infoHash: InfoHash, n: number, event: 'none' | 'started' | 'completed' | 'stopped' = 'none', seeder = false) =>
    store.announceWs({ infoHash, peerId: wsPeerId(n), route: `r/${n}`, event, seeder, numwant: 3 });

  /**
   * What Redis holds, counted without the totals: every listed swarm's hash read whole (a peer's family is the
   * length of its field, seeding its flag), skipping a swarm whose keys have expired by the clock (their TTL
   * ran out, plus the rest of its bucket) though Redis, on its own clock, still has them.
   */
  const independentCount = async (wireHashes: InfoHash[], wsHashes: InfoHash[]): Promise<StoreTotals> => {
    const counts = { swarms: 0, ipv4: { seeders: 0, leechers: 0 }, ipv6: { seeders: 0, leechers: 0 }, ws: { swarms: 0, seeders: 0, leechers: 0 } };
    for (const [kind, hashes] of [['ph', wireHashes], ['wh', wsHashes]] as const) {
      for (const infoHash of hashes) {
        const fields = await admin.hgetallBuffer(swarmKey(kind, infoHash));
        const header = fields[HEADER_FIELD];
        if (header === undefined || bucketEnd(header.readUInt32LE(SWARM_HEADER.offset.keys_until)) <= clock) continue;
        const peers = Object.entries(fields).filter(([field]) => field !== HEADER_FIELD);
        if (peers.length === 0) continue;
        if (kind === 'ph') counts.swarms++;
        else counts.ws.swarms++;
        for (const [field, value] of peers) {
          const into = kind === 'wh' ? counts.ws : Buffer.from(field, 'latin1').length === 6 ? counts.ipv4 : counts.ipv6;
          if (Number(value.toString()) % POSITION_STEP & PEER_FLAGS.seeder) into.seeders++;
          else into.leechers++;
        }
      }
    }
    return counts;
  };

  /** The buckets in use of a slot's stats key: [end, counts…] each (a free one ends at 0). */
  const buckets = async (slot: number): Promise<number[][]> => {
    const value = await admin.getBuffer(statsKey(slot));
    if (value === null) return [];
    const out: number[][] = [];
    for (let at = STATS_HEAD.size; at < value.length; at += STATS_BUCKET.size) {
      if (value.readUInt32BE(at) === 0) continue;
      out.push([value.readUInt32BE(at), ...STATS_COUNTS.names.map((name) => value.readInt32BE(at + STATS_BUCKET.offset[name]))]);
    }
    return out;
  };

  it('equal an independent count of what Redis holds under random announces, stops, completes, scrapes and time', async () => {
    const op = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('wire' as const),
          swarm: fc.integer({ min: 0, max: 11 }),
          peer: fc.integer({ min: 0, max: 15 }),
          v6: fc.boolean(),
          event: fc.constantFrom('none' as const, 'none' as const, 'started' as const, 'completed' as const, 'stopped' as const),
          seeder: fc.boolean(),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('ws' as const),
          swarm: fc.integer({ min: 0, max: 5 }),
          peer: fc.integer({ min: 0, max: 7 }),
          event: fc.constantFrom('none' as const, 'started' as const, 'completed' as const, 'stopped' as const),
          seeder: fc.boolean(),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('scrape' as const), swarm: fc.integer({ min: 0, max: 11 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 45 }) }) },
    );
    // Swarms several to a slot (same first two bytes), both kinds in some: the slot's counts change for one
    // swarm while others are counted there, in the same bucket or in others.
    const inSlot = (slotOf: number, n: number) => {
      const bytes = Buffer.from(hash(1000 + slotOf), 'latin1');
      bytes[2] = n;
      return bytes.toString('latin1');
    };
    const wireHashes = Array.from({ length: 12 }, (_, i) => inSlot(i % 4, i));
    const wsHashes = Array.from({ length: 6 }, (_, i) => inSlot(i % 5, 100 + i));
    let checks = 0;
    await fc.assert(
      // size 'max': lengths spread over the whole range (the default size keeps most runs near minLength).
      fc.asyncProperty(fc.array(op, { minLength: 40, maxLength: 160, size: 'max' }), async (ops) => {
        await admin.flushall();
        const check = async (when: string) => {
          checks++;
          assert.deepEqual(await store.totals(), await independentCount(wireHashes, wsHashes), when);
        };
        for (const [i, o] of ops.entries()) {
          if (o.kind === 'tick') {
            clock += o.seconds;
            await check(`after op ${i}, at +${o.seconds} s`);
          } else if (o.kind === 'scrape') {
            await store.scrape([wireHashes[o.swarm]!]);
          } else if (o.kind === 'wire') {
            await wire(wireHashes[o.swarm]!, o.v6 ? v6(o.peer) : v4(o.peer), o.event, o.seeder);
          } else {
            await ws(wsHashes[o.swarm]!, o.peer, o.event, o.seeder);
          }
        }
        await check('at the end');
      }),
      { numRuns: 12 },
    );
    // About 190 on average; far fewer would mean the workload stopped exercising time.
    assert.ok(checks > 60, `${checks} checks`);
  });

  it('stop counting a swarm whose keys Redis expired, within one bucket, with no call on it; its slot goes on', async () => {
    await admin.flushall();
    // Keys that expire 17 s into a bucket (a) and 3 s before one ends (b).
    const t0 = (clock = Math.ceil((clock + 1000) / STATS_BUCKET_SECONDS) * STATS_BUCKET_SECONDS - 43);
    const a = hash(1200); // IPv4 seeder and IPv6 leecher; its keys will expire in Redis
    const d = a.slice(0, 2) + 'd' + a.slice(3); // same slot, kept alive
    const b = hash(1201); // WebSocket, expires too
    const slot = swarmSlot(a);
    await wire(a, v4(1), 'started', true);
    await wire(a, v6(1), 'started');
    await wire(d, v4(2), 'started');
    await ws(b, 1, 'started', true);
    const aUntil = t0 + 2 * TTL;
    const bUntil = t0 + 2 * WS_TTL;
    const withA = { ipv4: { seeders: 1, leechers: 1 }, ipv6: { seeders: 0, leechers: 1 } };
    const expected = (aCounted: boolean, bCounted: boolean): StoreTotals => ({
      swarms: aCounted ? 2 : 1,
      ipv4: aCounted ? withA.ipv4 : { seeders: 0, leechers: 1 },
      ipv6: aCounted ? withA.ipv6 : { seeders: 0, leechers: 0 },
      ws: bCounted ? { swarms: 1, seeders: 1, leechers: 0 } : ZERO.ws,
    });
    assert.deepEqual(await store.totals(), expected(true, true));

    /** Moves the clock to `to`, re-announcing d at most every TTL / 2; Redis expires a and b when their time comes. */
    let expiredA = false;
    let expiredB = false;
    const advance = async (to: number) => {
      while (clock < to) {
        clock = Math.min(to, clock + TTL / 2);
        await wire(d, v4(2));
        if (!expiredB && clock >= bUntil) {
          for (const key of [swarmKey('wh', b), swarmKey('wp', b)]) assert.equal(await admin.pexpire(key, 1), 1);
          expiredB = true;
        }
        if (!expiredA && clock >= aUntil) {
          for (const key of [swarmKey('ph', a), swarmKey('p4', a), swarmKey('p6', a)]) assert.equal(await admin.pexpire(key, 1), 1);
          expiredA = true;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    };
    const expiredBefore = Number(/expired_keys:(\d+)/.exec(await admin.info('stats'))![1]);
    // Counted until the end of their bucket (at most STATS_BUCKET_SECONDS after their keys expired), not after.
    assert.deepEqual([bucketEnd(aUntil) - aUntil, bucketEnd(bUntil) - bUntil], [43, 3]);
    for (const at of [bUntil, bucketEnd(bUntil) - 1, bucketEnd(bUntil), aUntil, bucketEnd(aUntil) - 1, bucketEnd(aUntil)]) {
      await advance(at);
      assert.deepEqual(await store.totals(), expected(at < bucketEnd(aUntil), at < bucketEnd(bUntil)), `at ${at - t0} s`);
    }
    const reclaimed = [swarmKey('ph', a), swarmKey('p4', a), swarmKey('p6', a), swarmKey('wh', b), swarmKey('wp', b)];
    assert.equal(await admin.exists(...reclaimed), 0, 'Redis reclaimed them');
    assert.ok(Number(/expired_keys:(\d+)/.exec(await admin.info('stats'))![1]) - expiredBefore >= 5, 'by their TTL');
    // A change within d's bucket is made in place; the next rewrite of the slot (a's hash announced again: a new
    // swarm, counted once) frees the ended bucket.
    await wire(d, v4(3));
    assert.deepEqual(await store.totals(), { ...expected(false, false), ipv4: { seeders: 0, leechers: 2 } });
    await wire(a, v6(9), 'started', true);
    assert.ok((await buckets(slot)).every(([end]) => end! > clock), 'no ended bucket left in the slot');
    assert.deepEqual(await store.totals(), {
      swarms: 2,
      ipv4: { seeders: 0, leechers: 2 },
      ipv6: { seeders: 1, leechers: 0 },
      ws: ZERO.ws,
    });
    // The slot's key lasts as long as its last bucket and one more (set relative to the writer's clock, which
    // this test moves faster than Redis' own: bounded by what a write can set), so an idle slot's totals go.
    const ttl = await admin.ttl(statsKey(slot));
    assert.ok(ttl > 0 && ttl <= 2 * TTL + 2 * STATS_BUCKET_SECONDS, `TTL ${ttl}`);
    clock += 2 * TTL + STATS_BUCKET_SECONDS;
    assert.deepEqual(await store.totals(), ZERO);
    // A slot whose swarms all left has no key at all.
    await wire(a, v6(9), 'started', true);
    await wire(d, v4(2), 'started');
    assert.equal((await buckets(slot)).length, 1);
    await wire(a, v6(9), 'stopped');
    await wire(d, v4(2), 'stopped');
    assert.equal(await admin.exists(statsKey(slot)), 0);
  });

  it("count a swarm again at its next change when its slot's stats key was lost", async () => {
    await admin.flushall();
    const x = hash(1600);
    await wire(x, v4(1), 'started', true);
    await wire(x, v4(2), 'started');
    await admin.del(statsKey(swarmSlot(x))); // evicted, or deleted by hand
    assert.deepEqual(await store.totals(), ZERO);
    // The header says where x is counted; that bucket is gone, so the change is undone and x counted afresh.
    await wire(x, v6(3), 'started');
    assert.deepEqual(await store.totals(), { swarms: 1, ipv4: { seeders: 1, leechers: 1 }, ipv6: { seeders: 0, leechers: 1 }, ws: ZERO.ws });
    await wire(x, v4(1), 'stopped');
    assert.deepEqual(await store.totals(), { swarms: 1, ipv4: { seeders: 0, leechers: 1 }, ipv6: { seeders: 0, leechers: 1 }, ws: ZERO.ws });
    // The last peer of a swarm whose slot lost its key leaves: no key is left behind (a zero-filled one made by
    // the check would never expire).
    const y = hash(1601);
    await wire(y, v4(1), 'started');
    await admin.del(statsKey(swarmSlot(y)));
    await wire(y, v4(1), 'stopped');
    assert.equal(await admin.exists(statsKey(swarmSlot(y))), 0);
  });

  it('are read without writing anything: one GETRANGE per slot', async () => {
    await admin.flushall();
    for (let i = 0; i < 50; i++) await wire(hash(1300 + i), v4(i), 'started', i % 2 === 0);
    await ws(hash(1400), 1, 'started');
    const changes = async () => Number(/rdb_changes_since_last_save:(\d+)/.exec(await admin.info('persistence'))![1]);
    const before = await changes();
    await admin.config('RESETSTAT');
    const totals = await store.totals();
    assert.deepEqual(totals, { swarms: 50, ipv4: { seeders: 25, leechers: 25 }, ipv6: { seeders: 0, leechers: 0 }, ws: { swarms: 1, seeders: 0, leechers: 1 } });
    assert.equal(await changes(), before, 'nothing written');
    const commands = [...(await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, calls]) => `${name} ${calls}`);
    assert.deepEqual(commands.filter((c) => !c.startsWith('info ') && !c.startsWith('config|')), ['getrange 16384']);
  });

  it('count a swarm of the previous layout (no per-family seeders, never counted) at its first general call', async () => {
    await admin.flushall();
    const l = hash(1500);
    const w = hash(1501);
    await wire(l, v4(1), 'started', true);
    await wire(l, v4(2), 'started');
    await wire(l, v6(1), 'started', true);
    await wire(l, v6(2), 'started');
    await wire(l, v6(3), 'started');
    await ws(w, 1, 'started', true);
    await ws(w, 2, 'started');
    const counted: StoreTotals = { swarms: 1, ipv4: { seeders: 1, leechers: 1 }, ipv6: { seeders: 1, leechers: 2 }, ws: { swarms: 1, seeders: 1, leechers: 1 } };
    assert.deepEqual(await store.totals(), counted);
    /** What the previous version left: a header without the appended fields, and no count in the slot. */
    const makePrevious = async () => {
      for (const [kind, infoHash] of [['ph', l], ['wh', w]] as const) {
        const header = (await admin.hgetBuffer(swarmKey(kind, infoHash), HEADER_FIELD))!;
        await admin.hset(swarmKey(kind, infoHash), HEADER_FIELD, header.subarray(0, PREVIOUS_HEADER_SIZE));
        await admin.del(statsKey(swarmSlot(infoHash)));
      }
      assert.deepEqual(await store.totals(), ZERO);
    };
    const headerSize = async () => (await admin.hgetBuffer(swarmKey('ph', l), HEADER_FIELD))!.length;

    // A scrape reads it right and counts it.
    await makePrevious();
    assert.deepEqual(await store.scrape([l]), [{ complete: 2, incomplete: 3, downloaded: 0 }]);
    assert.deepEqual(await store.scrapeWs([w]), [{ complete: 1, incomplete: 1, downloaded: 0 }]);
    assert.deepEqual(await store.totals(), counted);
    assert.equal(await headerSize(), SWARM_HEADER.size);

    // A re-announce, which would take the common path on this layout's header, takes the general one.
    await makePrevious();
    const again = await wire(l, v6(1), 'none', true);
    assert.deepEqual([again.complete, again.incomplete], [2, 3]);
    assert.equal((await ws(w, 2)).incomplete, 1);
    assert.deepEqual(await store.totals(), counted);
    assert.equal(await headerSize(), SWARM_HEADER.size);
    await wire(l, v4(1), 'stopped');
    await wire(l, v6(2), 'completed', true);
    assert.deepEqual(await store.totals(), { ...counted, ipv4: { seeders: 0, leechers: 1 }, ipv6: { seeders: 2, leechers: 1 } });
  });

  it('read a slot whose earliest bucket has ended whole, and add only its live buckets', () => {
    // Totals, then a free bucket, one ending at 160 and one at 100 (positions do not follow the ends).
    const value = Buffer.alloc(STATS_HEAD.size + 3 * STATS_BUCKET.size);
    const put = (at: number, counts: number[]) => STATS_COUNTS.names.forEach((name, f) => value.writeInt32BE(counts[f]!, at + STATS_COUNTS.offset[name]));
    put(0, [3, 3, 3, 3, 3, 3, 3, 3]);
    value.writeUInt32BE(100, STATS_HEAD.offset.earliest_end);
    const bucket = (p: number) => STATS_HEAD.size + p * STATS_BUCKET.size;
    value.writeUInt32BE(160, bucket(1));
    put(bucket(1) + STATS_BUCKET.offset.wire_swarms, [2, 2, 2, 2, 2, 2, 2, 2]);
    value.writeUInt32BE(100, bucket(2));
    put(bucket(2) + STATS_BUCKET.offset.wire_swarms, [1, 1, 1, 1, 1, 1, 1, 1]);
    const sums = () => new Array<number>(STATS_FIELDS).fill(0);
    const early = sums();
    assert.equal(addSlotCounts(early, value.subarray(0, STATS_HEAD.size), 99), true);
    assert.deepEqual(early, [3, 3, 3, 3, 3, 3, 3, 3], 'no bucket ended: the totals');
    const late = sums();
    assert.equal(addSlotCounts(late, value.subarray(0, STATS_HEAD.size), 100), false, 'the head is not enough');
    assert.deepEqual(late, sums());
    assert.equal(addSlotCounts(late, value, 100), true);
    assert.deepEqual(late, [2, 2, 2, 2, 2, 2, 2, 2], 'the live bucket only');
    assert.equal(addSlotCounts(late, null, 100), true);
  });
});
