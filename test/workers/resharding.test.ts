/**
 * Resharding with swarms in place, with real processes: a redswarm instance (a primary and two workers) on a
 * 3-master + 3-replica Redis Cluster serves mixed HTTP, UDP and WebSocket announce load (mixed-load.ts) on
 * swarms whose slots move between masters meanwhile:
 *
 * 1. by hand, slot after slot, as redis-cli does it but key by key (CLUSTER SETSLOT IMPORTING on the target,
 *    MIGRATING on the source, MIGRATE, SETSLOT NODE on every master): the tracker meets ASK (the swarm's keys
 *    moved), TRYAGAIN (some keys moved, or a swarm without IPv6 keys) and MOVED (after the move);
 * 2. as an operator adds a master: a new empty node joins (`redis-cli --cluster add-node`) and slots holding live
 *    swarms move to it (`redis-cli --cluster reshard`);
 * 3. as an operator removes it again: its slots go back (`redis-cli --cluster reshard`) and, right after, the node
 *    leaves (`redis-cli --cluster del-node`); calls a stale slot map still sends to the removed node are answered
 *    "CLUSTERDOWN Hash slot not served" there, and are retried on a refreshed map.
 *
 * Every reply is a success (no failure, no hang), every success counts at least the peers confirmed before it
 * was sent and at most those sent by the time it came (no swarm ever looked emptier than it was), and once the
 * load stops each swarm holds exactly the peers announced, seeders and leechers apart.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { swarmSlot } from '../../src/store/redis/swarm-keys.js';
import { startInstance, trackerWorkerPids, type Instance } from '../helpers/instance.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { ClusterAdmin, startRedis, type ClusterNodeView, type TestRedis } from '../helpers/redis.js';
import { decodeStrictDict, percentEncodeAll } from '../helpers/wire.js';
import { MixedLoad, show, summary, type LoadSwarm, type Sample } from './mixed-load.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The instance's --store-timeout (the default): a call retried on TRYAGAIN gives up after this. */
const STORE_TIMEOUT_MS = 2000;
const HANG_MS = STORE_TIMEOUT_MS + 2000;
/** Slots moved per test, and swarms in each. */
const SLOTS = 4;
const SWARMS_PER_SLOT = 3;

/** The 2-byte tags (first bytes of an info hash) of each slot: 4 per slot, CRC16 being a bijection on 16 bits. */
const tagsOfSlot = (() => {
  const tags = new Map<number, number[]>();
  return (slot: number): number[] => {
    if (tags.size === 0) {
      for (let tag = 0; tag < 0x10000; tag++) {
        const s = swarmSlot(String.fromCharCode(tag >> 8, tag & 0xff) + '\0'.repeat(18));
        tags.set(s, [...(tags.get(s) ?? []), tag]);
      }
    }
    return tags.get(slot) ?? [];
  };
})();

function hashInSlot(slot: number, n: number): Buffer {
  const tags = tagsOfSlot(slot);
  const tag = tags[n % tags.length]!;
  const infoHash = Buffer.concat([Buffer.from([tag >> 8, tag & 0xff]), randomBytes(18)]);
  assert.equal(swarmSlot(infoHash.toString('latin1')), slot);
  return infoHash;
}

/** Slots served by `master`, in order. */
function slotsOf(master: ClusterNodeView): number[] {
  return master.slots.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
}

interface Expected {
  /** Per swarm: HTTP/UDP peers (ip:port) and WebSocket peers (peer_id hex), each with whether it is a seeder. */
  wire: Map<string, boolean>[];
  ws: Map<string, boolean>[];
}

/** The peers each swarm must hold after the load: every peer with a success reply, seeder as it announced. */
function expectedPeers(samples: readonly Sample[], swarms: number): Expected {
  const wire = Array.from({ length: swarms }, () => new Map<string, boolean>());
  const ws = Array.from({ length: swarms }, () => new Map<string, boolean>());
  for (const s of samples) {
    if (s.outcome !== 'ok') continue;
    // mixed-load.ts: HTTP and UDP peers n of a lane announce left = n % 2 (their port's last digit's parity);
    // WebSocket peers left = lane % 2.
    if (s.protocol === 'ws') ws[s.swarm]!.set(s.peer, s.lane % 2 === 0);
    else wire[s.swarm]!.set(s.peer, Number(s.peer.split(':')[1]) % 2 === 0);
  }
  return { wire, ws };
}

/**
 * No success reply counted fewer peers than had been confirmed in its swarm (and kind) before it was sent, nor
 * more than had been sent by the time it came: a swarm split or lost by a move would show as a dip.
 */
function countsNeverDipped(samples: readonly Sample[]): string[] {
  const problems: string[] = [];
  const byKind = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.protocol === 'ws' ? 'ws' : 'wire'} ${s.swarm}`;
    byKind.set(key, [...(byKind.get(key) ?? []), s]);
  }
  for (const [key, list] of byKind) {
    const firstOk = new Map<string, number>();
    const firstSent = new Map<string, number>();
    for (const s of list) {
      if (!firstSent.has(s.peer) || s.sent < firstSent.get(s.peer)!) firstSent.set(s.peer, s.sent);
      if (s.outcome === 'ok' && (!firstOk.has(s.peer) || s.done < firstOk.get(s.peer)!)) firstOk.set(s.peer, s.done);
    }
    for (const s of list) {
      if (s.outcome !== 'ok') continue;
      const counted = s.complete! + s.incomplete!;
      const atLeast = [...firstOk.values()].filter((done) => done < s.sent).length;
      const atMost = [...firstSent.values()].filter((sent) => sent <= s.done).length;
      if (counted < atLeast || counted > atMost) problems.push(`${key}: ${s.protocol} reply counted ${counted}, expected ${atLeast}…${atMost}`);
    }
  }
  return problems;
}

describe('resharding live swarms under mixed HTTP, UDP and WebSocket load', () => {
  let redis: TestRedis | undefined;
  let instance: Instance | undefined;
  let admin: ClusterAdmin | undefined;
  let observer: RawSocket | undefined;
  let workerPids: number[] = [];

  before(async () => {
    redis = await startRedis('cluster');
    const nodes = (redis.target as { cluster: string[] }).cluster.join(',');
    instance = await startInstance(['--redis-cluster', nodes, '--store-timeout', String(STORE_TIMEOUT_MS), '--log-level', 'info'], { workers: 2 });
    admin = new ClusterAdmin(() => redis!.nodes);
    observer = await RawSocket.open(instance.wsUrl);
    workerPids = trackerWorkerPids(instance).sort();
    assert.equal(workerPids.length, 2);
  });

  after(async () => {
    try {
      if (observer?.closeCode === undefined) observer?.ws.terminate();
      admin?.close();
      await instance?.stop();
    } finally {
      await redis?.stop();
    }
  });

  /** Every node in `nodes` agrees that `slots` are served by `owner` (redis-cli checks that before it reshards). */
  async function settled(slots: readonly number[], owner: ClusterNodeView, nodes: readonly string[]): Promise<boolean> {
    for (const address of nodes) {
      const view = await admin!.topology([address]);
      if (!slots.every((slot) => ClusterAdmin.ownerOf(view, slot)?.id === owner.id)) return false;
    }
    return true;
  }

  /** Every swarm's counts, by HTTP scrape (HTTP/UDP swarms) and WebSocket scrape, against what the load announced. */
  async function assertExactCounts(swarms: readonly LoadSwarm[], samples: readonly Sample[]): Promise<void> {
    const expected = expectedPeers(samples, swarms.length);
    const query = swarms.map((s) => `info_hash=${percentEncodeAll(s.infoHash)}`).join('&');
    const http = decodeStrictDict(new Uint8Array(await (await fetch(`http://127.0.0.1:${instance!.port}/scrape?${query}`)).arrayBuffer())).dict('files');
    const ws = (await observer!.request({ action: 'scrape', info_hash: swarms.map((s) => s.infoHash.toString('latin1')) })).files as Record<string, { complete: number; incomplete: number }>;
    const counts = (peers: Map<string, boolean>) => ({ complete: [...peers.values()].filter(Boolean).length, incomplete: [...peers.values()].filter((seeder) => !seeder).length });
    swarms.forEach((swarm, i) => {
      const wire = http.dict(swarm.infoHash.toString('latin1'));
      assert.deepEqual({ complete: wire.int('complete'), incomplete: wire.int('incomplete') }, counts(expected.wire[i]!), `swarm ${i} (${swarm.group}): HTTP/UDP peers`);
      const w = ws[swarm.infoHash.toString('latin1')];
      assert.deepEqual({ complete: w?.complete, incomplete: w?.incomplete }, counts(expected.ws[i]!), `swarm ${i} (${swarm.group}): WebSocket peers`);
      assert.ok(expected.wire[i]!.size >= 8 && expected.ws[i]!.size >= 1, `swarm ${i}: the load reached it (${expected.wire[i]!.size} + ${expected.ws[i]!.size} peers)`);
    });
  }

  /** Every sample a success; no success counting fewer peers than confirmed before, over `history` (default: the samples). */
  function assertAllSucceeded(samples: readonly Sample[], origin: number, history: readonly Sample[] = samples): void {
    const notOk = samples.filter((s) => s.outcome !== 'ok');
    const storeErrors = new Set(
      instance!
        .output()
        .split('\n')
        .filter((line) => line.includes('"store request failed"'))
        .map((line) => String((JSON.parse(line) as { err?: { message?: string } }).err?.message)),
    );
    assert.equal(notOk.length, 0, `every reply a success: ${summary(samples)}; ${show(notOk, origin)}; the tracker logged: ${[...storeErrors].slice(0, 5).join(' | ')}`);
    assert.deepEqual(countsNeverDipped(history).slice(0, 5), [], 'no reply counted fewer peers than were confirmed');
    assert.deepEqual(trackerWorkerPids(instance!).sort(), workerPids, 'the same two workers run');
    assert.doesNotMatch(instance!.output(), /worker died/);
  }

  it('slots moved by hand key by key (IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE): every reply a success through ASK, TRYAGAIN and MOVED; counts survive', async (t) => {
    const topology = await admin!.topology();
    const masters = topology.filter((n) => n.master && n.slots.length > 0);
    const [source, target] = masters as [ClusterNodeView, ClusterNodeView];
    const sourceSlots = slotsOf(source);
    // Slots spread over the source's range, each with a few swarms; and swarms on the other masters, which stay.
    const moving = Array.from({ length: SLOTS }, (_, i) => sourceSlots[Math.floor(((i + 0.5) * sourceSlots.length) / SLOTS)]!);
    const swarms: LoadSwarm[] = [
      ...moving.flatMap((slot) => Array.from({ length: SWARMS_PER_SLOT }, (_, n) => ({ infoHash: hashInSlot(slot, n), group: `slot ${slot}` }))),
      ...masters.slice(1).map((m) => ({ infoHash: hashInSlot(slotsOf(m)[100]!, 0), group: 'staying' })),
    ];
    const counters = async () => ({
      ask: await admin!.errorCount(source.address, 'ASK'),
      moved: await admin!.errorCount(source.address, 'MOVED'),
      tryagain: await admin!.errorCount(target.address, 'TRYAGAIN'),
      asking: await admin!.commandCount(target.address, 'asking'),
    });
    const load = new MixedLoad(instance!, swarms, { http: 3, udp: 3, ws: 2, hangMs: HANG_MS, maxMs: 60_000 });
    let samples: Sample[] = [];
    const started = Date.now();
    let counted: { ask: number; moved: number; tryagain: number; asking: number } | undefined;
    const windows: number[] = [];
    try {
      await load.start();
      // Every lane's every peer in every swarm once (4 peers × 14 swarms per lane), before anything moves.
      await load.answered(8 * 4 * swarms.length, 20_000);
      const before = await counters();
      const others = masters.filter((m) => m.id !== source.id && m.id !== target.id);
      const [host, port] = target.address.split(':');
      for (const slot of moving) {
        const opened = Date.now();
        await admin!.client(target.address).cluster('SETSLOT', slot, 'IMPORTING', source.id);
        await admin!.client(source.address).cluster('SETSLOT', slot, 'MIGRATING', target.id);
        // Key by key, so that swarms are split for a while: their calls get TRYAGAIN until they are whole.
        for (;;) {
          const keys = (await admin!.client(source.address).callBuffer('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as Buffer[];
          if (keys.length === 0) break;
          for (const key of keys) await admin!.client(source.address).callBuffer('MIGRATE', host!, port!, '', 0, 5000, 'KEYS', key);
        }
        // The keys are all on the target, the slot still the source's: the load meets ASK (bounded, short of
        // the store timeout its TRYAGAIN retries wait within).
        const askFrom = await admin!.errorCount(source.address, 'ASK');
        const deadline = Date.now() + 300;
        while (Date.now() < deadline && (await admin!.errorCount(source.address, 'ASK')) < askFrom + 5) await sleep(10);
        for (const node of [target, source, ...others]) await admin!.client(node.address).cluster('SETSLOT', slot, 'NODE', target.id);
        windows.push(Date.now() - opened);
      }
      const deadline = Date.now() + 10_000;
      while (!(await settled(moving, target, redis!.nodes))) {
        assert.ok(Date.now() < deadline, 'every node sees the moved slots on the target');
        await sleep(50);
      }
      // The load keeps going on the moved swarms, now on the target (the source answers MOVED at first).
      await load.answered(8 * swarms.length, 10_000);
      const afterwards = await counters();
      counted = { ask: afterwards.ask - before.ask, moved: afterwards.moved - before.moved, tryagain: afterwards.tryagain - before.tryagain, asking: afterwards.asking - before.asking };
    } finally {
      samples = await load.stop();
    }
    t.diagnostic(`moved slots ${moving.join(', ')} from ${source.address} to ${target.address}; each slot migrating for ${windows.join(', ')} ms`);
    t.diagnostic(`source answered ASK ${counted!.ask}×, MOVED ${counted!.moved}×; target answered TRYAGAIN ${counted!.tryagain}×, ran ASKING ${counted!.asking}×`);
    const slowest = Math.max(...samples.map((s) => s.done - s.sent));
    t.diagnostic(`all requests: ${summary(samples)}; slowest reply ${slowest} ms`);

    try {
      assertAllSucceeded(samples, started);
      assert.ok(counted!.ask > 0 && counted!.asking > 0, 'the tracker followed ASK to the importing node');
      assert.ok(counted!.tryagain > 0, 'the importing node answered TRYAGAIN (split swarms, swarms without IPv6 keys)');
      assert.ok(counted!.moved > 0, 'the tracker followed MOVED after the move');
      await assertExactCounts(swarms, samples);
    } finally {
      await load.close();
    }
  });

  /** What the second test leaves for the third: the master it added, the slots it gave it, and its load (stopped). */
  let grown: { source: ClusterNodeView; added: string; addedId: string; moved: number[]; swarms: LoadSwarm[]; load: MixedLoad } | undefined;

  async function cli(...args: string[]): Promise<string> {
    try {
      return (await run('redis-cli', ['--cluster', ...args], { timeout: 60_000 })).stdout;
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`redis-cli --cluster ${args.join(' ')} failed: ${stdout.slice(-2000)}${stderr}`);
    }
  }

  it('a master added (redis-cli --cluster add-node) and given live swarms (redis-cli --cluster reshard): every reply a success, counts survive', async (t) => {
    const topology = await admin!.topology();
    const masters = topology.filter((n) => n.master && n.slots.length > 0);
    // redis-cli moves the lowest slots of the source: swarms in those, and a few that stay.
    const source = masters.find((m) => slotsOf(m)[0] === 0) ?? masters[0]!;
    const moved = slotsOf(source).slice(0, 16);
    const swarms: LoadSwarm[] = [
      ...[moved[0]!, moved[5]!, moved[10]!, moved[15]!].flatMap((slot) => Array.from({ length: SWARMS_PER_SLOT }, (_, n) => ({ infoHash: hashInSlot(slot, n), group: `slot ${slot}` }))),
      ...masters.map((m) => ({ infoHash: hashInSlot(slotsOf(m).at(-100)!, 0), group: 'staying' })),
    ];
    const load = new MixedLoad(instance!, swarms, { http: 3, udp: 3, ws: 2, hangMs: HANG_MS, maxMs: 60_000 });
    let samples: Sample[] = [];
    const started = Date.now();
    const steps: string[] = [];
    let functionLoads = 0;
    let added = '';
    let addedId = '';
    try {
      await load.start();
      await load.answered(8 * 4 * swarms.length, 20_000);

      // A new empty master joins; every node learns of it, and it of the cluster (redis-cli checks both).
      let at = Date.now();
      added = await redis!.addNode();
      await cli('add-node', added, source.address);
      for (const deadline = Date.now() + 10_000; ; ) {
        const views = await Promise.all(redis!.nodes.map((node) => admin!.topology([node])));
        const seen = views.map((v) => v.find((n) => n.address === added && n.master));
        const ok = String(await admin!.client(added).cluster('INFO')).includes('cluster_state:ok');
        if (ok && seen.every((n) => n !== undefined)) {
          addedId = seen[0]!.id;
          break;
        }
        assert.ok(Date.now() < deadline, 'every node knows the added node, and it the cluster');
        await sleep(50);
      }
      steps.push(`add-node ${added} ${Date.now() - at} ms`);
      await load.answered(8 * swarms.length, 10_000);

      // Slots with live swarms move to it, as an operator would do it.
      at = Date.now();
      await cli('reshard', source.address, '--cluster-from', source.id, '--cluster-to', addedId, '--cluster-slots', String(moved.length), '--cluster-yes');
      steps.push(`reshard ${moved.length} slots to it ${Date.now() - at} ms`);
      const allNodes = [...redis!.nodes, added];
      const addedView = (await admin!.topology([added])).find((n) => n.id === addedId)!;
      assert.deepEqual(slotsOf(addedView), moved, "redis-cli moved the source's lowest slots, where the swarms are");
      for (const deadline = Date.now() + 10_000; !(await settled(moved, addedView, allNodes)); ) {
        assert.ok(Date.now() < deadline, 'every node sees the slots on the new master');
        await sleep(50);
      }
      await load.answered(8 * swarms.length, 10_000);
      // The tracker's calls ran on the new master (redis-cli copied the function library there, or the
      // tracker loaded it on "Function not found").
      const info = await admin!.client(added).info('commandstats');
      functionLoads = Number(/^cmdstat_function\|load:calls=(\d+)/m.exec(info)?.[1] ?? 0);
      assert.ok(Number(/^cmdstat_fcall:calls=(\d+)/m.exec(info)?.[1] ?? 0) > 0, 'announces ran on the new master');

    } finally {
      samples = await load.stop();
    }
    t.diagnostic(`${steps.join('; ')}; FUNCTION LOAD calls on the new master: ${functionLoads}`);
    t.diagnostic(`all requests: ${summary(samples)}; slowest reply ${Math.max(...samples.map((s) => s.done - s.sent))} ms`);
    try {
      assertAllSucceeded(samples, started);
      await assertExactCounts(swarms, samples);
      grown = { source, added, addedId, moved, swarms, load };
    } finally {
      if (grown === undefined) await load.close();
    }
  });

  it(
    'the added master emptied (redis-cli --cluster reshard) and removed right after (redis-cli --cluster del-node) under load: every reply a success, counts survive',
    async (t) => {
      assert.ok(grown, 'the previous test added a master and gave it swarms');
      const { source, added, addedId, moved, swarms, load } = grown;
      const from = load.samples.length;
      const started = Date.now();
      let samples: Sample[] = [];
      try {
        await load.start();
        await load.answered(8 * swarms.length, 10_000);
        // As a script does it: the slots back, then the node out at once.
        let at = Date.now();
        await cli('reshard', source.address, '--cluster-from', addedId, '--cluster-to', source.id, '--cluster-slots', String(moved.length), '--cluster-yes');
        const back = Date.now() - at;
        at = Date.now();
        await cli('del-node', source.address, addedId);
        t.diagnostic(`reshard ${moved.length} slots back ${back} ms, del-node ${added} ${Date.now() - at} ms`);
        for (const deadline = Date.now() + 10_000; !(await settled(moved, source, redis!.nodes)); ) {
          assert.ok(Date.now() < deadline, 'every node sees the slots back on the source');
          await sleep(50);
        }
        // The load goes on until a slot-map refresh would have had time to happen (at most one a second).
        await load.answered(8 * swarms.length, 10_000);
        while (Date.now() - at < 3000) await sleep(100);
        samples = await load.stop();
        const failures = samples.slice(from).filter((s) => s.outcome !== 'ok');
        t.diagnostic(
          `all requests: ${summary(samples.slice(from))}` +
            (failures.length ? `; failures from +${failures[0]!.sent - at} to +${failures.at(-1)!.done - at} ms after del-node` : ''),
        );
        assertAllSucceeded(samples.slice(from), started, samples);
        await assertExactCounts(swarms, samples);
        assert.ok(!(await admin!.topology([source.address])).some((n) => n.id === addedId), 'the removed node is forgotten');
      } finally {
        await load.close();
      }
    },
  );
});
