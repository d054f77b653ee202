/**
 * The Redis store's own connections (script-client.ts) on a real 3-master + 3-replica cluster whose topology
 * changes under them: keys in the slot Redis computes, a slot resharded under load (ASK while it migrates,
 * MOVED after), functions flushed (reloaded), a paused node (timeouts), a manual failover (MOVED from the
 * demoted master) and a killed master (clean failures, then the promoted replica takes over).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { AnnounceRequest, InfoHash } from '../../src/protocol/types.js';
import { STATS_FIELDS, addSlotCounts } from '../../src/store/redis/function-calls.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { WIRE_KEYS, WS_KEYS, statsKey, swarmKey, swarmSlot } from '../../src/store/redis/swarm-keys.js';
import { ClusterAdmin, startRedis, type ClusterNodeView, type TestRedis } from '../helpers/redis.js';
import { peersOf, v4, v6 } from './conformance.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Redis store on a changing cluster', () => {
  let redis: TestRedis;
  let store: RedisStore;
  const admin = new ClusterAdmin(() => redis.nodes);
  const client = (address: string): Redis => admin.client(address);
  const errors: string[] = [];

  /** The cluster as a live node sees it; a master flagged failed counts as none. */
  const topology = async (): Promise<ClusterNodeView[]> =>
    (await admin.topology()).map((node) => ({ ...node, master: node.master && !node.failed }));

  /** Masters by their own account (right after a cluster starts, other nodes' views may lag). */
  const masters = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const address of redis.nodes) {
      const role = (await client(address).role().catch(() => ['down'])) as string[];
      if (role[0] === 'master') out.push(address);
    }
    return out;
  };

  const owner = async (slot: number): Promise<ClusterNodeView> => {
    const nodes = await topology();
    const node = nodes.find((n) => n.master && n.slots.some(([a, b = a]) => a <= slot && slot <= b));
    assert.ok(node, `a master serves slot ${slot}`);
    return node;
  };

  /** An info hash whose swarm lives in `slot`'s neighbourhood: same tag as `like`. */
  const sameSlot = (like: InfoHash, n: number): InfoHash => like.slice(0, 2) + String.fromCharCode(n) + like.slice(3);

  const announce = (infoHash: InfoHash, peer: number, event: AnnounceRequest['event'] = 'none') =>
    store.announce({ infoHash, peer: v4(peer), event, seeder: false, numwant: 50 });
  const announce6 = (infoHash: InfoHash, peer: number) => store.announce({ infoHash, peer: v6(peer), event: 'none', seeder: false, numwant: 50 });

  const errorCount = async (address: string, kind: string): Promise<number> =>
    Number(new RegExp(`^errorstat_${kind}:count=(\\d+)`, 'm').exec(await client(address).info('errorstats'))?.[1] ?? 0);

  before(async () => {
    redis = await startRedis('cluster');
    store = await RedisStore.connect({
      target: redis.target,
      peerTtlSeconds: 600,
      wsPeerTtlSeconds: 600,
      now: () => Math.floor(Date.now() / 1000),
      timeoutMs: 500,
      onError: (error) => errors.push(error.message),
    });
  });

  after(async () => {
    await store.close();
    admin.close();
    await redis.stop();
  });

  it('puts every key of a swarm in the slot Redis Cluster computes', async () => {
    const seed = client(redis.nodes[0]!);
    for (const first of [0x00, 0x7b, 0x7d, 0xff]) {
      for (const second of [0x00, 0x7b, 0x7d, 0x41]) {
        const infoHash = Buffer.from([first, second, ...Buffer.alloc(18, 0x7d)]).toString('latin1');
        for (const kind of [...WIRE_KEYS, ...WS_KEYS]) {
          assert.equal(await seed.cluster('KEYSLOT', swarmKey(kind, infoHash) as unknown as string), swarmSlot(infoHash));
        }
      }
    }
  });

  it('reloads its functions on nodes that lost them', async () => {
    const infoHash = Buffer.alloc(20, 0x11).toString('latin1');
    await announce(infoHash, 1);
    for (const address of await masters()) await client(address).function('FLUSH');
    const result = await announce(infoHash, 2);
    assert.deepEqual([result.incomplete, peersOf(result.peers, 6)], [2, [Buffer.from(v4(1)).toString('hex')]]);
  });

  it('fails a call to a paused node after the timeout, and works again once the node does', async () => {
    const infoHash = Buffer.alloc(20, 0x22).toString('latin1');
    await announce(infoHash, 1);
    const node = await owner(swarmSlot(infoHash));
    await client(node.address).client('PAUSE', 1500, 'ALL');
    const started = Date.now();
    await assert.rejects(announce(infoHash, 2), /no reply within 500 ms/);
    const waited = Date.now() - started;
    assert.ok(waited >= 450 && waited < 1400, `failed after ${waited} ms`);
    await sleep(1200);
    const result = await announce(infoHash, 3);
    // The timed-out call may have run once the pause ended: 2 or 3 peers, never an error.
    assert.ok(result.incomplete >= 2, JSON.stringify(result));
  });

  it('follows a slot resharded to another master: ASK while it migrates, TRYAGAIN retried, MOVED after', async () => {
    // A swarm with IPv4 and IPv6 peers has all its keys; one with IPv4 peers only lacks the IPv6 ones, and a
    // new one has none. Redis answers TRYAGAIN to a multi-key call missing some keys while their slot
    // migrates, so those two wait (within the timeout) until the migration ends.
    const full = Buffer.from('33'.repeat(20), 'hex').toString('latin1');
    const partial = sameSlot(full, 2);
    const fresh = sameSlot(full, 1);
    const slot = swarmSlot(full);
    await announce(full, 1);
    await announce6(full, 1);
    await announce(partial, 1);
    const source = await owner(slot);
    const target = (await topology()).find((n) => n.master && n.slots.length > 0 && n.id !== source.id)!;
    const [targetHost, targetPort] = target.address.split(':');
    const asking = async () => Number(/^cmdstat_asking:calls=(\d+)/m.exec(await client(target.address).info('commandstats'))?.[1] ?? 0);
    const askingBefore = await asking();

    await client(target.address).cluster('SETSLOT', slot, 'IMPORTING', source.id);
    await client(source.address).cluster('SETSLOT', slot, 'MIGRATING', target.id);
    // The full swarm is still on the source.
    assert.equal((await announce(full, 2)).incomplete, 3);
    // Its keys move: the swarm follows them (ASK), whole.
    const keys = (await client(source.address).callBuffer('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as Buffer[];
    assert.ok(keys.length >= 4);
    await client(source.address).callBuffer('MIGRATE', targetHost!, targetPort!, '', 0, 5000, 'KEYS', ...keys);
    const moved = await announce(full, 3);
    assert.equal(moved.incomplete, 4);
    assert.equal(peersOf(moved.peers, 6).length, 2);
    assert.ok((await asking()) > askingBefore, 'ASKING sent to the importing node');

    // The others get TRYAGAIN until the slot is the target's; then the source answers MOVED and the store
    // follows.
    const waiting = [announce(partial, 2), announce(fresh, 7)];
    await sleep(150);
    const movedBefore = await errorCount(source.address, 'MOVED');
    for (const node of [target, source, ...(await topology()).filter((n) => n.master && n.slots.length > 0 && n.id !== source.id && n.id !== target.id)]) {
      await client(node.address).cluster('SETSLOT', slot, 'NODE', target.id);
    }
    assert.deepEqual((await Promise.all(waiting)).map((r) => r.incomplete), [2, 1]);
    assert.ok((await errorCount(target.address, 'TRYAGAIN')) > 0, 'the importing node answered TRYAGAIN meanwhile');
    assert.equal((await announce(full, 4)).incomplete, 5);
    assert.ok((await errorCount(source.address, 'MOVED')) > movedBefore, 'the old owner answered MOVED');
    assert.deepEqual(await store.scrape([full, partial, fresh]), [
      { complete: 0, incomplete: 5, downloaded: 0 },
      { complete: 0, incomplete: 2, downloaded: 0 },
      { complete: 0, incomplete: 1, downloaded: 0 },
    ]);
    // The slot's totals moved with it (one of its keys) and went on counting through ASK and TRYAGAIN:
    // 3 swarms, 7 IPv4 and 1 IPv6 leechers.
    const sums = new Array<number>(STATS_FIELDS).fill(0);
    assert.equal(addSlotCounts(sums, await client(target.address).getBuffer(statsKey(slot)), Math.floor(Date.now() / 1000)), true);
    assert.deepEqual(sums, [3, 0, 7, 0, 1, 0, 0, 0]);
  });

  it('follows a manual failover: the demoted master answers MOVED, the promoted replica has the swarm', async () => {
    const infoHash = Buffer.alloc(20, 0x44).toString('latin1');
    await announce(infoHash, 1);
    await announce(infoHash, 2);
    const master = await owner(swarmSlot(infoHash));
    await client(master.address).call('WAIT', 1, 1500);
    const replica = (await topology()).find((n) => n.masterId === master.id)!;
    await client(replica.address).cluster('FAILOVER');
    for (let i = 0; i < 100 && (await owner(swarmSlot(infoHash))).id !== replica.id; i++) await sleep(100);
    assert.equal((await owner(swarmSlot(infoHash))).id, replica.id, 'the replica took over');
    const result = await announce(infoHash, 3);
    assert.equal(result.incomplete, 3);
  });

  it('fails cleanly while a killed master is failed over, then recovers without a restart', async () => {
    const infoHash = Buffer.alloc(20, 0x55).toString('latin1');
    await announce(infoHash, 1);
    await announce(infoHash, 2);
    const master = await owner(swarmSlot(infoHash));
    // Its replica has everything (it may still be syncing after the failover test).
    for (let i = 0; i < 50 && (await client(master.address).call('WAIT', 1, 200)) !== 1; i++);
    assert.equal(await client(master.address).call('WAIT', 1, 200), 1, 'the replica is in sync');
    const pid = Number(/^process_id:(\d+)/m.exec(await client(master.address).info('server'))![1]);
    process.kill(pid, 'SIGKILL');
    let failures = 0;
    let recovered = null;
    const started = Date.now();
    while (Date.now() - started < 30_000) {
      try {
        recovered = await announce(infoHash, 3);
        break;
      } catch (error) {
        failures++;
        assert.match((error as Error).message, /^Redis/);
        await sleep(200);
      }
    }
    assert.ok(recovered, 'announces work again after the failover');
    assert.ok(failures > 0, 'the calls failed while the slot had no master');
    assert.equal(recovered.incomplete, 3);
  });
});
