/**
 * The Redis store on a real local Redis Cluster (3 masters, no replicas, pinned to one core): memory per peer,
 * Redis CPU per announce, and this process's (the tracker side's) CPU per announce.
 *
 *   node --expose-gc --import tsx bench/redis-store.ts [--peers 1000000] [--swarms 100000] [--exponent 1]
 *        [--announces 200000] [--numwant 50] [--window 256] [--single] [--clock real|fixed] [--rounds 1]
 *        [--compare path/to/other/redis-store.ts] [--ws] [-- redis-server args]
 *
 * e.g. `-- --hash-max-listpack-entries 1024` to try other encodings.
 * Memory is used_memory summed over the masters after loading, minus before; CPU is used_cpu_user+sys
 * summed over the masters (INFO cpu) and process.cpuUsage() here, over the announce phase only.
 *
 * --compare loads a second store module (another version of src/store/redis/redis-store.ts, e.g. a copy of
 * the previous commit's under .tmp/) into the same cluster with the same peers, and alternates the two
 * stores' announce phases, `--rounds` times: a side-by-side comparison on this noisy machine. Its key layout
 * must differ from this one's (it does for every version so far).
 * --clock real: every call sees the current time, so a re-announce moves its peer's expiry as it does in
 * production; fixed: the clock stands still (re-announces rewrite identical scores, which is cheaper).
 * --ws: WebSocket announces (peer_id + route) instead of HTTP/UDP ones.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { AnnounceRequest } from '../src/protocol/types.js';
import type { Store, WsAnnounceRequest } from '../src/store/store.js';
import { RedisStore, type RedisStoreOptions } from '../src/store/redis/redis-store.js';
import { Zipf } from './zipf.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    peers: { type: 'string', default: '1000000' },
    swarms: { type: 'string', default: '100000' },
    exponent: { type: 'string', default: '1' },
    announces: { type: 'string', default: '200000' },
    numwant: { type: 'string', default: '50' },
    window: { type: 'string', default: '256' },
    single: { type: 'boolean', default: false },
    clock: { type: 'string', default: 'real' },
    rounds: { type: 'string', default: '1' },
    compare: { type: 'string' },
    ws: { type: 'boolean', default: false },
    commandstats: { type: 'boolean', default: false },
    'redis-cpu': { type: 'string', default: '1' },
  },
});
const peers = Number(values.peers);
const swarms = Number(values.swarms);
const announces = Number(values.announces);
const numwant = Number(values.numwant);
const windowSize = Number(values.window);
const rounds = Number(values.rounds);
const ws = values.ws;

type Connect = (options: RedisStoreOptions) => Promise<Store>;
const variants: { name: string; connect: Connect }[] = [{ name: 'this', connect: (o) => RedisStore.connect(o) }];
if (values.compare) {
  const path = resolve(values.compare);
  const module = (await import(pathToFileURL(path).href)) as { RedisStore: { connect: Connect } };
  variants.push({ name: path.replace(`${process.cwd()}/`, ''), connect: (o) => module.RedisStore.connect(o) });
}

const script = new URL('../deploy/redis-cluster.sh', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'redswarm-bench-redis-'));
const startArgs = ['-c', values['redis-cpu']!, 'bash', script, 'start', dir, ...(values.single ? ['--single'] : ['--replicas', '0'])];
if (positionals.length > 0) startArgs.push('--', ...positionals);
const nodes = execFileSync('taskset', startArgs, { encoding: 'utf8' }).trim().split('\n').pop()!.split(',');
const masters = nodes.map((node) => new Redis({ host: '127.0.0.1', port: Number(node.split(':')[1]) }));

async function sumInfo(section: string, fields: string[]): Promise<number> {
  let total = 0;
  for (const m of masters) {
    const info = await m.info(section);
    for (const field of fields) total += Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  }
  return total;
}

/** Calls and µs of the script commands (EVALSHA or FCALL) since the last RESETSTAT. */
async function scriptStats(): Promise<{ calls: number; usec: number }> {
  let calls = 0;
  let usec = 0;
  for (const m of masters) {
    for (const match of (await m.info('commandstats')).matchAll(/^cmdstat_(?:evalsha|fcall):calls=(\d+),usec=(\d+)/gm)) {
      calls += Number(match[1]);
      usec += Number(match[2]);
    }
  }
  return { calls, usec };
}

/** Every command's calls and µs per announce (the functions' inner commands included), summed over the masters. */
async function commandStats(announces: number): Promise<string> {
  const sums = new Map<string, { calls: number; usec: number }>();
  for (const m of masters) {
    for (const [, name, calls, usec] of (await m.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
      const sum = sums.get(name!) ?? { calls: 0, usec: 0 };
      sum.calls += Number(calls);
      sum.usec += Number(usec);
      sums.set(name!, sum);
    }
  }
  return [...sums]
    .filter(([name]) => name !== 'info' && name !== 'config|resetstat')
    .sort((a, b) => b[1].usec - a[1].usec)
    .map(([name, { calls, usec }]) => `    ${name}: ${(calls / announces).toFixed(2)} calls, ${(usec / announces).toFixed(2)} µs per announce`)
    .join('\n');
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

try {
  const fixedNow = Math.floor(Date.now() / 1000);
  const now = values.clock === 'fixed' ? () => fixedNow : () => Math.floor(Date.now() / 1000);
  const stores: Store[] = [];
  for (const variant of variants) {
    stores.push(
      await variant.connect({
        target: values.single ? { url: `redis://${nodes[0]}` } : { cluster: nodes },
        peerTtlSeconds: 3600,
        wsPeerTtlSeconds: 3600,
        now,
        timeoutMs: 10_000,
        onError: (error) => console.error('redis:', error.message),
      }),
    );
  }

  const zipf = new Zipf(swarms, Number(values.exponent));
  const swarmOf = Int32Array.from({ length: peers }, (_, n) => (n < swarms ? n : zipf.next()));
  const hashOf = (swarm: number) => {
    const b = Buffer.alloc(20);
    b.writeUInt32BE(swarm, 0);
    b.writeUInt32BE((swarm * 2654435761) >>> 0, 16);
    return b.toString('latin1');
  };
  const request = (n: number, want: number): AnnounceRequest => ({
    infoHash: hashOf(swarmOf[n]!),
    peer: Uint8Array.of(10 + ((n >>> 24) & 0x3f), n >>> 16, n >>> 8, n, 0x1a, 0xe1),
    event: 'none',
    seeder: n % 3 === 0,
    numwant: want,
  });
  const wsRequest = (n: number, want: number): WsAnnounceRequest => ({
    infoHash: hashOf(swarmOf[n]!),
    peerId: `-WW0001-${String(n).padStart(12, '0')}`,
    route: `Zm9vYmFyYmF6cXV4/${(n % 5000).toString(36)}`,
    event: 'none',
    seeder: n % 3 === 0,
    numwant: want,
  });

  /** Runs count announces on a store, `windowSize` in flight at a time; returns the peers returned. */
  async function run(store: Store, count: number, pick: (i: number) => number, want: number): Promise<number> {
    let next = 0;
    let returned = 0;
    const lane = async () => {
      while (next < count) {
        const n = pick(next++);
        // Not `returned += await …`: that reads `returned` before the await.
        const got = ws ? (await store.announceWs(wsRequest(n, want))).peers.length : (await store.announce(request(n, want))).peers.length / 6;
        returned += got;
      }
    };
    await Promise.all(Array.from({ length: windowSize }, lane));
    return returned;
  }

  const encodings = (await masters[0]!.config('GET', '*-max-listpack-entries')) as string[];
  console.log(
    `Redis ${values.single ? 'single node' : `cluster, ${masters.length} masters`} (${encodings.join(' ')} ${positionals.join(' ')}), ` +
      `${ws ? 'WebSocket' : 'HTTP/UDP'} announces, clock ${values.clock}`,
  );
  for (const [i, store] of stores.entries()) {
    const memoryBefore = await sumInfo('memory', ['used_memory']);
    const t = performance.now();
    await run(store, peers, (n) => n, 0);
    const loadSeconds = (performance.now() - t) / 1000;
    const memoryAfter = await sumInfo('memory', ['used_memory']);
    const stats = ws ? null : await store.stats();
    console.log(
      `[${variants[i]!.name}] loaded ${stats ? stats.seeders + stats.leechers : peers} peers in ${stats?.swarms ?? '?'} swarms ` +
        `(Zipf ${values.exponent}) in ${loadSeconds.toFixed(1)} s; memory per peer (used_memory over masters): ` +
        `${((memoryAfter - memoryBefore) / peers).toFixed(1)} B`,
    );
  }

  for (let round = 1; round <= rounds; round++) {
    for (const [i, store] of stores.entries()) {
      gc();
      for (const m of masters) await m.config('RESETSTAT');
      const redisCpuBefore = await sumInfo('cpu', ['used_cpu_user', 'used_cpu_sys']);
      const cpuBefore = process.cpuUsage();
      const t = performance.now();
      const returned = await run(store, announces, (k) => (k * 7919 + round * 104729) % peers, numwant);
      const seconds = (performance.now() - t) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const redisCpu = (await sumInfo('cpu', ['used_cpu_user', 'used_cpu_sys'])) - redisCpuBefore;
      const { calls, usec } = await scriptStats();
      if (values.commandstats) console.log(await commandStats(announces));
      console.log(
        `[${variants[i]!.name}] round ${round}: ${announces} re-announces, numwant ${numwant}, ${windowSize} in flight: ` +
          `${(announces / seconds).toFixed(0)}/s, ${(returned / announces).toFixed(1)} peers returned on average; ` +
          `Redis CPU ${((redisCpu * 1e6) / announces).toFixed(1)} µs/announce (script time ${(usec / calls).toFixed(1)} µs); ` +
          `client CPU ${((cpu.user + cpu.system) / announces).toFixed(1)} µs/announce`,
      );
    }
  }
  for (const store of stores) await store.close();
} finally {
  for (const m of masters) m.disconnect();
  execFileSync('bash', [script, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
}
