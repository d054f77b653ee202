/**
 * Failover and outages under load, with real processes: a redswarm instance (a primary and two workers) on a
 * 3-master + 3-replica Redis Cluster (cluster-node-timeout 3000, cluster-require-full-coverage no), serving
 * mixed HTTP, UDP and WebSocket announce load (mixed-load.ts) while
 *
 * 1. a master is SIGKILLed — the worst one to lose: the master of the process index and the coordinator lease,
 *    and of a worker's heartbeat and sharded signaling channel (workers are replaced until one's process id lands
 *    there), so that the subscription has to follow its slot to the promoted replica and the coordinator must
 *    not take a worker that could not beat for dead: clients get protocol failure replies (never a hang, never a
 *    reply that is not one of the protocols') only for swarms of the failed master and only until its replica
 *    is promoted (bound: cluster-node-timeout + 5 s after the kill); the other masters' swarms are served
 *    throughout; the WebSocket seeders announced before the kill are still in their swarms and offers and
 *    answers flow between the workers again; /readyz says `degraded` (503 with ?strict) and recovers; no
 *    worker exits;
 * 2. the whole cluster goes down for 10 s (every node SIGKILLed, then started again with its node
 *    configuration): only failure replies while it is down, none hanging beyond the store timeout; /readyz
 *    503; success again within 5 s of every node answering PING; no worker exits.
 *
 * Measured figures (promotion time, failure window, recovery) are printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { swarmSlot } from '../../src/store/redis/swarm-keys.js';
import { startInstance, trackerWorkerPids, type Instance } from '../helpers/instance.js';
import { parseExposition } from '../helpers/prometheus.js';
import { RawSocket, offer, type Json } from '../helpers/raw-socket.js';
import { ClusterAdmin, pingNode, startRedis, type ClusterNodeView, type TestRedis } from '../helpers/redis.js';
import { MixedLoad, STORE_FAILURE, outcomes, show, summary, type LoadSwarm, type Protocol, type Sample } from './mixed-load.js';

/** deploy/redis-cluster.sh's cluster-node-timeout. */
const NODE_TIMEOUT_MS = 3000;
/** The instance's --store-timeout: a failed master's swarms get failure replies after this at the latest. */
const STORE_TIMEOUT_MS = 1000;
/** A reply later than this is a hang: the store timeout, plus room for a busy machine. */
const HANG_MS = STORE_TIMEOUT_MS + 2000;
/** The issue's bound: failure replies stop within cluster-node-timeout + 5 s of the kill. */
const FAILOVER_BOUND_MS = NODE_TIMEOUT_MS + 5000;
/** The issue's bound: success again within 5 s of Redis answering again after a full outage. */
const OUTAGE_RECOVERY_MS = 5000;
/** Signaling after the failover: the subscription's self-check runs every 5 s; two periods and room. */
const SIGNALING_RECOVERY_MS = 20_000;
const OUTAGE_MS = 10_000;
/** Times both workers are replaced at most, for one of them to get a process id whose slot is on the index's master. */
const MAX_WORKER_CYCLES = 6;
const PROTOCOLS: readonly Protocol[] = ['http', 'udp', 'ws'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `count` random info hashes whose swarms live in slots served by `master`. */
function hashesOn(nodes: readonly ClusterNodeView[], master: ClusterNodeView, count: number): Buffer[] {
  const out: Buffer[] = [];
  while (out.length < count) {
    const infoHash = randomBytes(20);
    if (ClusterAdmin.ownerOf(nodes, swarmSlot(infoHash.toString('latin1')))?.id === master.id) out.push(infoHash);
  }
  return out;
}

/** /readyz (and /readyz?strict) polled every 200 ms while a test runs. */
class ReadinessLog {
  readonly entries: { at: number; status: number; body: string; strict: boolean }[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly metricsPort: number) {
    this.loop = (async () => {
      while (!this.stopped) {
        await Promise.all([this.probe(false), this.probe(true)]);
        await sleep(200);
      }
    })();
  }

  private async probe(strict: boolean): Promise<void> {
    const at = Date.now();
    try {
      const response = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz${strict ? '?strict' : ''}`, { signal: AbortSignal.timeout(HANG_MS) });
      this.entries.push({ at, status: response.status, body: (await response.text()).trim(), strict });
    } catch (error) {
      this.entries.push({ at, status: 0, body: String(error), strict });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

describe('failover and outages under mixed HTTP, UDP and WebSocket load', () => {
  let redis: TestRedis | undefined;
  let instance: Instance | undefined;
  let admin: ClusterAdmin | undefined;
  let workerPids: number[] = [];
  /** A socket on each worker (by the worker's id, 1 and 2). */
  const workerSockets = new Map<number, RawSocket>();
  const extraSockets: RawSocket[] = [];

  async function wsConnectionsPerWorker(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const s of parseExposition(await instance!.metrics())) {
      if (s.name === 'redswarm_ws_connections') counts.set(Number(s.labels.worker), s.value);
    }
    return counts;
  }

  /** The master the first test kills, and what lives on it besides swarms. */
  let victim: ClusterNodeView;
  let victimHoldsIndex = false;
  let workerCycles = 0;
  /** Where the instance's output stood once its workers were settled: nothing after it may say a worker died. */
  let outputFrom = 0;

  /** Every worker's sharded signaling channel (sig:{processId}) and the master it lives on. */
  async function signalingChannels(topology: readonly ClusterNodeView[]): Promise<{ channel: string; master: ClusterNodeView }[]> {
    const channels = new Set<string>();
    for (const node of redis!.nodes) for (const c of (await admin!.client(node).call('PUBSUB', 'SHARDCHANNELS', 'sig:*')) as string[]) channels.add(c);
    return Promise.all([...channels].sort().map(async (channel) => ({ channel, master: ClusterAdmin.ownerOf(topology, await keySlot(channel))! })));
  }

  async function keySlot(key: string): Promise<number> {
    return (await admin!.client(redis!.nodes[0]!).cluster('KEYSLOT', key)) as number;
  }

  before(async () => {
    redis = await startRedis('cluster');
    const nodes = (redis.target as { cluster: string[] }).cluster.join(',');
    instance = await startInstance(['--redis-cluster', nodes, '--store-timeout', String(STORE_TIMEOUT_MS), '--log-level', 'info'], { workers: 2 });
    admin = new ClusterAdmin(() => redis!.nodes);

    // The worst master to lose: the one with the process index and the coordinator lease (fixed slots) and a
    // worker's heartbeat and signaling channel (both tagged with its random process id, so one slot). Both
    // workers are replaced (SIGKILL; the primary forks new ones, with new ids) until one's channel lands there.
    const topology = await admin.topology();
    const indexMaster = ClusterAdmin.ownerOf(topology, await keySlot('redswarm:processes'))!;
    for (;;) {
      const channels = await signalingChannels(topology);
      assert.equal(channels.length, 2, `one channel per worker: ${channels.map((c) => c.channel).join(' ')}`);
      const onIndexMaster = channels.find((c) => c.master.id === indexMaster.id);
      if (onIndexMaster !== undefined || workerCycles === MAX_WORKER_CYCLES) {
        // Rarely ((4/9)^7) no worker got there: the master of a channel, without the index, is still a failover.
        victim = (onIndexMaster ?? channels[0]!).master;
        victimHoldsIndex = victim.id === indexMaster.id;
        break;
      }
      workerCycles++;
      const old = trackerWorkerPids(instance);
      for (const pid of old) process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      for (;;) {
        const pids = trackerWorkerPids(instance);
        const now = pids.length === 2 && !pids.some((pid) => old.includes(pid)) ? await signalingChannels(topology) : [];
        if (now.length === 2 && !now.some((c) => channels.some((o) => o.channel === c.channel))) break;
        assert.ok(Date.now() < deadline, `replaced workers subscribed their channels (${pids.join(',')}: ${now.map((c) => c.channel).join(' ')})`);
        await sleep(100);
      }
    }
    outputFrom = instance.output().length;
    workerPids = trackerWorkerPids(instance).sort();
    assert.equal(workerPids.length, 2, 'two workers');

    // One socket on each worker: opened one at a time, each one's worker told by the connection gauge.
    for (let attempt = 0; workerSockets.size < 2; attempt++) {
      assert.ok(attempt < 40, 'sockets land on both workers');
      const before = await wsConnectionsPerWorker();
      const socket = await RawSocket.open(instance.wsUrl);
      let worker: number | undefined;
      for (let poll = 0; worker === undefined && poll < 100; poll++) {
        const now = await wsConnectionsPerWorker();
        worker = [...now].find(([w, n]) => n > (before.get(w) ?? 0))?.[0];
        if (worker === undefined) await sleep(20);
      }
      assert.ok(worker !== undefined, 'the new socket shows in a worker gauge');
      if (workerSockets.has(worker)) extraSockets.push(socket);
      else workerSockets.set(worker, socket);
    }
  });

  after(async () => {
    try {
      for (const socket of [...workerSockets.values(), ...extraSockets]) if (socket.closeCode === undefined) socket.ws.terminate();
      admin?.close();
      await instance?.stop();
    } finally {
      await redis?.stop();
    }
  });

  /** The workers did not change: none exited (a replaced one would have a new PID) and the primary runs. */
  function assertNoWorkerExited(): void {
    assert.equal(instance!.process.exitCode, null, 'the primary runs');
    assert.deepEqual(trackerWorkerPids(instance!).sort(), workerPids, 'the same two workers run');
    assert.doesNotMatch(instance!.output().slice(outputFrom), /worker died/);
  }

  it('a SIGKILLed master: failure replies only for its swarms and only until its replica is promoted; signaling and /readyz recover', async (t) => {
    const topology = await admin!.topology();
    const masters = topology.filter((n) => n.master && n.slots.length > 0);
    assert.equal(masters.length, 3);

    const channels = await signalingChannels(topology);
    const replica = topology.find((n) => n.masterId === victim.id);
    assert.ok(replica, 'the victim has a replica');
    const keyOwner = async (key: string) => ClusterAdmin.ownerOf(topology, await keySlot(key))!.address;
    t.diagnostic(
      `victim ${victim.address} (replica ${replica.address}): signaling channel and heartbeat of ${channels.filter((c) => c.master.id === victim.id).length} worker(s), ` +
        `process index ${victimHoldsIndex ? 'too' : `not (on ${await keyOwner('redswarm:processes')})`}, coordinator lease on ${await keyOwner('redswarm:coordinator')}; ` +
        `workers replaced ${workerCycles} time(s) to get there`,
    );

    // Load swarms: 4 on each master. Signaling swarms: on each master, one seeded by each worker's socket.
    const swarms: LoadSwarm[] = masters.flatMap((m) => hashesOn(topology, m, 4).map((infoHash) => ({ infoHash, group: m.id === victim.id ? 'victim' : 'other' })));
    const [w1, w2] = [...workerSockets.values()] as [RawSocket, RawSocket];
    const exchanges = masters.flatMap((m, mi) => {
      const [h1, h2] = hashesOn(topology, m, 2).map((h) => h.toString('latin1'));
      return [
        { master: m.address, infoHash: h1!, seeder: w1, seederId: `-SG0001-seed-${mi}-1`.padEnd(20, 'x'), asker: w2, askerId: `-SG0001-ask-${mi}-2`.padEnd(20, 'x') },
        { master: m.address, infoHash: h2!, seeder: w2, seederId: `-SG0001-seed-${mi}-2`.padEnd(20, 'x'), asker: w1, askerId: `-SG0001-ask-${mi}-1`.padEnd(20, 'x') },
      ];
    });

    /** Waits (bounded) for the announce reply to a socket's message about `infoHash`. */
    const announce = async (socket: RawSocket, message: Json): Promise<Json | undefined> => {
      const from = socket.received.length;
      socket.send({ action: 'announce', ...message });
      try {
        return await socket.until('an announce reply', () => socket.received.slice(from).find((m) => m.info_hash === message.info_hash && ('interval' in m || 'failure reason' in m)), HANG_MS);
      } catch {
        return undefined;
      }
    };
    for (const e of exchanges) {
      const reply = await announce(e.seeder, { info_hash: e.infoHash, peer_id: e.seederId, left: 0, numwant: 0, offers: [] });
      assert.equal(reply?.complete, 1, `seeder announced: ${JSON.stringify(reply)}`);
    }
    // Each asker offers to the only other peer of its swarm, the seeder on the other worker, which answers.
    let round = 0;
    const signalingRound = async (): Promise<string[]> => {
      round++;
      const problems = await Promise.all(
        exchanges.map(async (e, i): Promise<string | undefined> => {
          const offerId = `r${round}x${i}`.padEnd(20, '.');
          const asked = await announce(e.asker, { info_hash: e.infoHash, peer_id: e.askerId, left: 1, numwant: 1, offers: [offer(offerId)] });
          if (asked === undefined || 'failure reason' in asked) return `${e.master}: offer announce ${JSON.stringify(asked)}`;
          const relayed = await e.seeder.until('the offer', () => e.seeder.received.find((m) => m.offer_id === offerId), 2000).catch(() => undefined);
          if (relayed === undefined) return `${e.master}: offer not delivered`;
          e.seeder.send({ action: 'announce', info_hash: e.infoHash, peer_id: e.seederId, to_peer_id: e.askerId, offer_id: offerId, answer: { type: 'answer', sdp: 'v=0 answer' } });
          const answered = await e.asker.until('the answer', () => e.asker.received.find((m) => m.offer_id === offerId && 'answer' in m), 2000).catch(() => undefined);
          if (answered === undefined) return `${e.master}: answer not delivered`;
          if (answered.peer_id !== e.seederId) return `${e.master}: answer from ${String(answered.peer_id)}`;
          return undefined;
        }),
      );
      for (const socket of [w1, w2]) socket.received.splice(0, socket.received.length);
      return problems.filter((p): p is string => p !== undefined);
    };
    assert.deepEqual(await signalingRound(), [], 'offers and answers flow between the workers before the kill');

    const readiness = new ReadinessLog(instance!.metricsPort);
    const load = new MixedLoad(instance!, swarms, { http: 3, udp: 3, ws: 2, hangMs: HANG_MS, maxMs: 90_000 });
    let samples: Sample[] = [];
    let killAt = 0;
    let failedAt: number | undefined;
    let promotedAt: number | undefined;
    let signalingAt: number | undefined;
    let signalingProblems: string[] = [];
    try {
      await load.start();
      await load.answered(300);
      assert.deepEqual(outcomes(load.samples), { ok: load.samples.length }, `before the kill every request succeeds: ${summary(load.samples)}`);

      // The victim's replica has what the seeders announced.
      for (let i = 0; i < 50 && (await admin!.client(victim.address).call('WAIT', 1, 100)) !== 1; i++);
      const pid = await admin!.pid(victim.address);
      killAt = Date.now();
      process.kill(pid, 'SIGKILL');

      // Promotion: the surviving masters agree that the replica serves the victim's slots.
      const survivors = masters.filter((m) => m.id !== victim.id).map((m) => m.address);
      const victimSlot = victim.slots[0]![0];
      while (promotedAt === undefined) {
        assert.ok(Date.now() - killAt < 30_000, 'the replica is promoted within 30 s');
        const views = await Promise.all(survivors.map((s) => admin!.topology([s]).catch(() => undefined)));
        if (failedAt === undefined && views.some((v) => v?.find((n) => n.id === victim.id)?.failed)) failedAt = Date.now();
        if (views.every((v) => v !== undefined && ClusterAdmin.ownerOf(v, victimSlot)?.id === replica.id)) promotedAt = Date.now();
        else await sleep(50);
      }
      // Until the victim's swarms are served again on every protocol (its last 10 requests on them successes;
      // bounded, the bound asserted below), and a bit more.
      const servedAgain = (p: Protocol) => {
        const last = load.samples.filter((s) => s.protocol === p && s.group === 'victim' && s.sent > promotedAt!).slice(-10);
        return last.length === 10 && last.every((s) => s.outcome === 'ok');
      };
      while (!PROTOCOLS.every(servedAgain) && Date.now() - killAt < FAILOVER_BOUND_MS + 5000) await sleep(50);
      await load.answered(200);

      // Signaling: offers and answers between the workers again, the sharded subscription moved to the new master.
      while (signalingAt === undefined && Date.now() - promotedAt < SIGNALING_RECOVERY_MS) {
        signalingProblems = await signalingRound();
        if (signalingProblems.length === 0) signalingAt = Date.now();
        else await sleep(250);
      }
      // /readyz: ready again (polled until the bound; asserted below).
      const readyAgain = () => {
        const plain = readiness.entries.filter((e) => !e.strict && e.at > killAt);
        return plain.some((e) => e.body.startsWith('degraded')) && plain.at(-1)?.body === 'ready';
      };
      while (!readyAgain() && Date.now() - killAt < FAILOVER_BOUND_MS + 5000) await sleep(100);
    } finally {
      samples = await load.stop();
      await load.close();
      await readiness.stop();
    }

    const failures = samples.filter((s) => s.outcome !== 'ok');
    const lastFailure = failures.reduce((last, s) => Math.max(last, s.done), 0);
    const byProtocol = (group: string) =>
      PROTOCOLS.map((p) => {
        const own = failures.filter((s) => s.protocol === p && s.group === group);
        return `${p} ${own.length}${own.length ? ` (+${own[0]!.done - killAt}…+${own.at(-1)!.done - killAt} ms)` : ''}`;
      }).join(', ');
    t.diagnostic(
      `kill → failure agreed ${failedAt === undefined ? '?' : failedAt - killAt} ms, replica promoted ${promotedAt! - killAt} ms, ` +
        `last failure reply ${lastFailure ? lastFailure - killAt : '-'} ms, signaling back ${signalingAt === undefined ? 'never' : signalingAt - killAt} ms after the kill`,
    );
    t.diagnostic(`failure replies for the victim's swarms: ${byProtocol('victim')}; slowest failure ${Math.max(0, ...failures.map((s) => s.done - s.sent))} ms`);
    t.diagnostic(`all requests: ${summary(samples)}`);

    // Never a hang, never anything but a success or the protocols' failure reply.
    const broken = samples.filter((s) => s.outcome === 'hang' || s.outcome === 'bad' || (s.outcome === 'failure' && s.detail !== STORE_FAILURE));
    assert.equal(broken.length, 0, `hangs or bad replies: ${show(broken, killAt)}`);
    // Failures only for the victim's swarms, only after the kill, and not beyond the bound.
    const misplaced = failures.filter((s) => s.group !== 'victim' || s.done < killAt);
    assert.equal(misplaced.length, 0, `failures outside the victim's swarms or before the kill: ${show(misplaced, killAt)}`);
    assert.ok(failures.length > 0, 'the victim\'s swarms failed while it had no master');
    assert.ok(lastFailure - killAt <= FAILOVER_BOUND_MS, `failure replies stopped ${lastFailure - killAt} ms after the kill (bound ${FAILOVER_BOUND_MS} ms)`);
    // The other masters' swarms were served throughout the outage, on every protocol; the victim's again after.
    for (const p of PROTOCOLS) {
      const during = samples.filter((s) => s.protocol === p && s.group === 'other' && s.sent >= killAt && s.done <= promotedAt!);
      assert.ok(during.length >= 5 && during.every((s) => s.outcome === 'ok'), `${p}: other masters' swarms served during the outage (${during.length})`);
      const afterwards = samples.filter((s) => s.protocol === p && s.group === 'victim' && s.sent > lastFailure);
      assert.ok(afterwards.length >= 5, `${p}: the victim's swarms served again (${afterwards.length} requests)`);
    }

    // The seeders announced before the kill are still in their swarms: the promoted replica had them, and nothing
    // took a live worker's peers out (the coordinator must not take a worker that could not beat during the
    // failover for dead). Then offers and answers flow between the workers again.
    const scrape = await w1.request({ action: 'scrape', info_hash: exchanges.map((e) => e.infoHash) });
    const files = scrape.files as Record<string, { complete: number }>;
    const removals = instance!.output().slice(outputFrom).split('\n').filter((line) => line.includes("removed a dead process's WebSocket peers"));
    assert.deepEqual(exchanges.map((e) => files[e.infoHash]?.complete), exchanges.map(() => 1), `every seeder is still in its swarm; the tracker logged: ${removals.join(' ') || 'no removal'}`);
    assert.ok(signalingAt !== undefined, `signaling back within ${SIGNALING_RECOVERY_MS} ms of the promotion: ${signalingProblems.join('; ')}`);

    // /readyz: ready before, degraded (still 200; 503 with ?strict) during the outage, ready again after.
    const plain = readiness.entries.filter((e) => !e.strict);
    const strict = readiness.entries.filter((e) => e.strict);
    assert.ok(plain.filter((e) => e.at < killAt).every((e) => e.status === 200 && e.body === 'ready'), 'ready before the kill');
    const degraded = plain.filter((e) => e.status === 200 && /^degraded: \d+ of 16 parts of the keyspace unavailable/.test(e.body));
    assert.ok(degraded.length > 0, `/readyz reported the outage: ${JSON.stringify(plain.filter((e) => e.at >= killAt).slice(0, 5))}`);
    assert.ok(strict.some((e) => e.status === 503 && e.body.startsWith('degraded')), '/readyz?strict was 503 while degraded');
    assert.ok(plain.every((e) => e.status === 200), `/readyz stayed 200 (one master of three down): ${JSON.stringify(plain.filter((e) => e.status !== 200).slice(0, 3))}`);
    const readyAgain = plain.find((e) => e.at > degraded.at(-1)!.at && e.body === 'ready');
    assert.ok(readyAgain, '/readyz ready again after the failover');
    assert.ok(readyAgain.at - killAt <= FAILOVER_BOUND_MS + 1000, `/readyz ready again ${readyAgain.at - killAt} ms after the kill`);
    t.diagnostic(
      `/readyz: degraded from +${degraded[0]!.at - killAt} ms ("${degraded[0]!.body.split(':').slice(0, 2).join(':')}") to +${degraded.at(-1)!.at - killAt} ms, ready again at +${readyAgain.at - killAt} ms`,
    );
    assertNoWorkerExited();
  });

  it('the whole cluster down for 10 s: failure replies only, no crash, success again within 5 s of every node answering', async (t) => {
    const topology = await admin!.topology();
    const masters = topology.filter((n) => n.master && n.slots.length > 0 && !n.failed);
    const swarms: LoadSwarm[] = masters.flatMap((m) => hashesOn(topology, m, 3).map((infoHash) => ({ infoHash, group: m.address })));
    const readiness = new ReadinessLog(instance!.metricsPort);
    const load = new MixedLoad(instance!, swarms, { http: 3, udp: 3, ws: 2, hangMs: HANG_MS, maxMs: 90_000 });
    // Every node answering PING, polled: when they all stopped and when they all answer again.
    let downAt: number | undefined;
    let backAt: number | undefined;
    let watching = true;
    const watcher = (async () => {
      while (watching && backAt === undefined) {
        const answers = await Promise.all(redis!.nodes.map((node) => pingNode(node, 300)));
        if (downAt === undefined && answers.every((a) => !a)) downAt = Date.now();
        else if (downAt !== undefined && answers.every((a) => a)) backAt = Date.now();
        await sleep(20);
      }
    })();
    let samples: Sample[] = [];
    let restartedAt = 0;
    try {
      await load.start();
      await load.answered(300);
      const warm = load.samples.slice();
      assert.deepEqual(outcomes(warm), { ok: warm.length }, `before the outage every request succeeds: ${summary(warm)}`);

      await redis!.restart({ signal: 'SIGKILL', downMs: OUTAGE_MS });
      restartedAt = Date.now(); // every node reports cluster_state:ok
      while (backAt === undefined) {
        assert.ok(Date.now() - restartedAt < 10_000, 'the PING watcher saw the nodes back');
        await sleep(20);
      }
      // Load until 5 s after the nodes answered, then 2 s more to show it holds.
      while (Date.now() < backAt + OUTAGE_RECOVERY_MS + 2000) await sleep(100);
    } finally {
      watching = false;
      await watcher;
      samples = await load.stop();
      await load.close();
      await readiness.stop();
    }
    assert.ok(downAt !== undefined && backAt !== undefined);
    const [down0, back0] = [downAt, backAt];
    const origin = down0;

    const broken = samples.filter((s) => s.outcome === 'hang' || s.outcome === 'bad' || (s.outcome === 'failure' && s.detail !== STORE_FAILURE));
    assert.equal(broken.length, 0, `hangs or bad replies: ${show(broken, origin)}`);
    const failures = samples.filter((s) => s.outcome === 'failure');
    const lastFailure = failures.reduce((last, s) => Math.max(last, s.done), 0);
    const firstOk = (p: Protocol) => samples.find((s) => s.protocol === p && s.sent > back0 && s.outcome === 'ok');
    t.diagnostic(
      `down ${back0 - down0} ms; cluster_state:ok on every node ${restartedAt - back0} ms after all answered PING; ` +
        `first success after PING: ${PROTOCOLS.map((p) => `${p} +${(firstOk(p)?.done ?? NaN) - back0} ms`).join(', ')}; ` +
        `last failure reply +${lastFailure - back0} ms; slowest failure ${Math.max(0, ...failures.map((s) => s.done - s.sent))} ms`,
    );
    t.diagnostic(`all requests: ${summary(samples)}`);

    for (const p of PROTOCOLS) {
      // While down: failure replies (every one of them, on every protocol), never a success.
      const down = samples.filter((s) => s.protocol === p && s.sent >= down0 && s.done <= back0);
      assert.ok(down.length >= 5, `${p}: requests answered while Redis was down (${down.length})`);
      assert.ok(down.every((s) => s.outcome === 'failure'), `${p}: only failure replies while down: ${show(down.filter((s) => s.outcome !== 'failure'), origin)}`);
      // Back: every request sent 5 s after every node answered succeeds.
      const recovered = samples.filter((s) => s.protocol === p && s.sent >= back0 + OUTAGE_RECOVERY_MS);
      assert.ok(recovered.length >= 5, `${p}: requests after the recovery bound (${recovered.length})`);
      const late = recovered.filter((s) => s.outcome !== 'ok');
      assert.equal(late.length, 0, `${p}: failures more than ${OUTAGE_RECOVERY_MS} ms after Redis was back: ${show(late, back0)}`);
    }

    // /readyz: 503 store unavailable while down, ready again after.
    const plain = readiness.entries.filter((e) => !e.strict);
    const unavailable = plain.filter((e) => e.at >= down0 && e.at + HANG_MS <= back0 && e.status !== 0);
    assert.ok(unavailable.length > 0 && unavailable.every((e) => e.status === 503 && e.body.startsWith('store unavailable')), `/readyz 503 while down: ${JSON.stringify(unavailable.slice(0, 3))}`);
    const ready = plain.find((e) => e.at > back0 && e.body === 'ready');
    assert.ok(ready && ready.at - back0 <= OUTAGE_RECOVERY_MS + 1000, `/readyz ready again ${ready ? ready.at - back0 : '-'} ms after Redis was back`);
    t.diagnostic(`/readyz ready again ${ready.at - back0} ms after every node answered PING`);
    assertNoWorkerExited();
  });
});
