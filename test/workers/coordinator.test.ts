/**
 * The process registry and the coordinator with real processes on real Redis: a whole instance killed with
 * SIGKILL loses its WebSocket peers within two heartbeat TTLs, removed exactly once by one survivor, and leaves
 * nothing in Redis; when the lease holder dies another process takes over; the same on one Redis node with
 * `--workers 1` instances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startInstance, type Instance } from '../helpers/instance.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { RawSocket, binaryId } from '../helpers/raw-socket.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const HEARTBEAT_TTL_S = 2;
const LEASE_TTL_S = 3;
const TIMES = ['--heartbeat-ttl', String(HEARTBEAT_TTL_S), '--coordinator-lease-ttl', String(LEASE_TTL_S), '--log-level', 'info'];

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

function logLines(instance: Instance): LogLine[] {
  return instance
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The process ids an instance's tracker processes registered with. */
function processIds(instance: Instance): string[] {
  return logLines(instance)
    .filter((line) => line.msg === 'registered')
    .map((line) => line.processId as string);
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Date.now() - started;
}

/** Kills the instance's primary and every worker at once, as a machine that dies would. */
function killWholeInstance(instance: Instance): void {
  for (const pid of [...instance.workerPids(), instance.process.pid!]) process.kill(pid, 'SIGKILL');
}

async function leaseHolder(instances: Instance[]): Promise<Instance | undefined> {
  for (const instance of instances) {
    if (instance.process.exitCode !== null || instance.process.signalCode !== null) continue;
    const held = total(parseExposition(await instance.metrics()), 'redswarm_coordinator_lease_held');
    if (held === 1) return instance;
  }
  return undefined;
}

/** Every key in Redis (all masters) that names one of `ids` in its hash tag, and index entries. */
async function leftovers(redis: TestRedis, ids: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const node of redis.nodes) {
    const client = new Redis({ host: '127.0.0.1', port: Number(node.split(':')[1]) });
    try {
      if (((await client.role()) as string[])[0] !== 'master') continue;
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
        cursor = next;
        found.push(...keys.filter((key) => ids.some((id) => key.includes(`{${id}}`))));
      } while (cursor !== '0');
      const index = await client.zrange('redswarm:processes', 0, -1).catch(() => [] as string[]);
      found.push(...index.filter((id) => ids.includes(id)).map((id) => `redswarm:processes ${id}`));
    } finally {
      client.disconnect();
    }
  }
  return found;
}

/** Sockets on `instance`, each the seeder of a swarm of its own; spread over its workers by the kernel. */
async function seeders(instance: Instance, tag: string, count: number): Promise<{ sockets: RawSocket[]; hashes: string[] }> {
  const hashes = Array.from({ length: count }, (_, i) => binaryId(tag, i));
  const sockets = await Promise.all(hashes.map(() => RawSocket.open(instance.wsUrl)));
  for (const [i, socket] of sockets.entries()) {
    const reply = await socket.request({ action: 'announce', info_hash: hashes[i], peer_id: binaryId('s', i), left: 0, numwant: 0, offers: [] });
    assert.equal(reply.complete, 1);
  }
  return { sockets, hashes };
}

async function seederCounts(observer: RawSocket, hashes: string[]): Promise<number[]> {
  const reply = await observer.request({ action: 'scrape', info_hash: hashes });
  const files = reply.files as Record<string, { complete: number }>;
  return hashes.map((hash) => files[hash]?.complete ?? 0);
}

for (const setup of ['a 3-master Redis Cluster', 'one Redis node'] as const) {
  describe(`coordinator on ${setup}`, () => {
    let redis: TestRedis;
    const instances: Instance[] = [];
    const start = async (workers: number): Promise<Instance> => {
      const store = 'cluster' in redis.target ? ['--redis-cluster', redis.target.cluster.join(',')] : ['--redis', redis.target.url];
      const instance = await startInstance([...store, ...TIMES], { workers });
      instances.push(instance);
      return instance;
    };

    before(async () => {
      redis = await startRedis(setup === 'one Redis node' ? 'single' : 'cluster');
    });
    after(async () => {
      await Promise.allSettled(instances.map((instance) => instance.stop()));
      await redis?.stop();
    });

    it("a whole instance killed: its WebSocket peers leave within 2 heartbeat TTLs, removed once, and nothing of it stays in Redis", async () => {
      // The victim has a primary and two workers on the cluster; one worker alone on one node (no primary).
      const victim = await start(setup === 'one Redis node' ? 1 : 2);
      const survivors = [await start(1), await start(1)];
      const { hashes } = await seeders(victim, 'd', 8);
      const observer = await RawSocket.open(survivors[0]!.wsUrl);
      assert.deepEqual(await seederCounts(observer, hashes), hashes.map(() => 1));
      const victimIds = processIds(victim);
      assert.equal(victimIds.length, setup === 'one Redis node' ? 1 : 2);

      killWholeInstance(victim);
      const tookMs = await until(
        "the dead instance's peers to leave their swarms",
        async () => (await seederCounts(observer, hashes)).every((n) => n === 0),
        2 * HEARTBEAT_TTL_S * 1000 + 2000,
      );
      // Removed exactly once: one clean-up line per dead process, by one survivor, for all 8 peers together. The
      // line comes after the removal, through a pipe: waited for.
      const removalLines = () => survivors.flatMap(logLines).filter((line) => line.msg === "removed a dead process's WebSocket peers");
      await until('the removals logged', () => removalLines().length >= victimIds.length, 5000);
      // The dead processes' heartbeats, peer lists and index entries are gone.
      await until('nothing of the dead processes left in Redis', async () => (await leftovers(redis, victimIds)).length === 0, 5000);
      const removals = removalLines();
      assert.deepEqual(removals.map((line) => line.deadProcess).sort(), [...victimIds].sort(), JSON.stringify(removals));
      assert.equal(removals.reduce((sum, line) => sum + (line.removed as number), 0), 8);
      await observer.close();
      assert.ok(tookMs <= 2 * HEARTBEAT_TTL_S * 1000 + 2000, `${tookMs} ms`);
    });

    it('the lease holder killed: another process takes the lease over and does its work', async () => {
      const candidates = instances.filter((instance) => instance.process.exitCode === null && instance.process.signalCode === null);
      let holder: Instance | undefined;
      await until('a lease holder', async () => (holder = await leaseHolder(candidates)) !== undefined, LEASE_TTL_S * 1000 + 2000);
      const other = candidates.find((instance) => instance !== holder)!;
      const { hashes } = await seeders(holder!, 'e', 3);
      const observer = await RawSocket.open(other.wsUrl);
      const holderIds = processIds(holder!);
      killWholeInstance(holder!);
      // The lease runs out within one TTL and the other process tries every third of it; the rest is slack for a
      // loaded machine (a bound to stop waiting at, not a measure).
      await until('the other instance to hold the lease', async () => (await leaseHolder([other])) === other, 2 * LEASE_TTL_S * 1000 + 2000);
      await until('the dead holder\'s peers to leave', async () => (await seederCounts(observer, hashes)).every((n) => n === 0), LEASE_TTL_S * 1000 + 2 * HEARTBEAT_TTL_S * 1000 + 2000);
      const removals = () => logLines(other).filter((line) => line.msg === "removed a dead process's WebSocket peers" && holderIds.includes(line.deadProcess as string));
      await until('the removals logged', () => removals().length >= holderIds.length, 5000);
      await until('nothing of the dead holder left in Redis', async () => (await leftovers(redis, holderIds)).length === 0, 5000);
      assert.equal(removals().length, holderIds.length);
      await observer.close();
    });
  });
}
