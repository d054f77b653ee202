/**
 * The Redis store on a real local Redis Cluster (3 masters, no replicas, pinned to one core): memory per peer,
 * Redis CPU per announce, and this process's (the tracker side's) CPU per announce.
 *
 *   node --import tsx bench/redis-store.ts [--peers 1000000] [--swarms 100000] [--exponent 1]
 *        [--announces 200000] [--numwant 50] [--window 256] [--single] [-- redis-server args]
 *
 * e.g. `-- --zset-max-listpack-entries 512 --hash-max-listpack-entries 512` to try other encodings.
 * Memory is used_memory summed over the masters after loading, minus before; CPU is used_cpu_user+sys
 * summed over the masters (INFO cpu) and process.cpuUsage() here, over the announce phase only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { AnnounceRequest } from '../src/protocol/types.js';
import { RedisStore } from '../src/store/redis/redis-store.js';
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
    'redis-cpu': { type: 'string', default: '1' },
  },
});
const peers = Number(values.peers);
const swarms = Number(values.swarms);
const announces = Number(values.announces);
const numwant = Number(values.numwant);
const windowSize = Number(values.window);

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

try {
  const now = Math.floor(Date.now() / 1000);
  const store = await RedisStore.connect({
    target: values.single ? { url: `redis://${nodes[0]}` } : { cluster: nodes },
    peerTtlSeconds: 3600,
    wsPeerTtlSeconds: 3600,
    now: () => now,
    timeoutMs: 10_000,
    onError: (error) => console.error('redis:', error.message),
  });

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

  /** Runs count announces, `windowSize` in flight at a time. */
  async function run(count: number, make: (i: number) => AnnounceRequest): Promise<number> {
    let next = 0;
    let returned = 0;
    const lane = async () => {
      while (next < count) {
        const { peers } = await store.announce(make(next++));
        returned += peers.length / 6; // not `returned += await …`: that reads `returned` before the await
      }
    };
    await Promise.all(Array.from({ length: windowSize }, lane));
    return returned;
  }

  const memoryBefore = await sumInfo('memory', ['used_memory']);
  let t = performance.now();
  await run(peers, (n) => request(n, 0));
  const loadSeconds = (performance.now() - t) / 1000;
  const memoryAfter = await sumInfo('memory', ['used_memory']);
  const stats = await store.stats();

  for (const m of masters) await m.config('RESETSTAT');
  const redisCpuBefore = await sumInfo('cpu', ['used_cpu_user', 'used_cpu_sys']);
  const cpuBefore = process.cpuUsage();
  t = performance.now();
  const returned = await run(announces, (i) => request((i * 7919) % peers, numwant));
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const redisCpu = (await sumInfo('cpu', ['used_cpu_user', 'used_cpu_sys'])) - redisCpuBefore;
  let evalCalls = 0;
  let evalUsec = 0;
  for (const m of masters) {
    const line = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(await m.info('commandstats'));
    evalCalls += Number(line?.[1] ?? 0);
    evalUsec += Number(line?.[2] ?? 0);
  }
  const encodings = (await masters[0]!.config('GET', '*-max-listpack-entries')) as string[];

  console.log(`Redis ${values.single ? 'single node' : `cluster, ${masters.length} masters`} (${encodings.join(' ')} ${positionals.join(' ')})`);
  console.log(`  loaded ${stats.seeders + stats.leechers} peers in ${stats.swarms} swarms (Zipf ${values.exponent}) in ${loadSeconds.toFixed(1)} s`);
  console.log(`  memory per peer (used_memory over masters): ${((memoryAfter - memoryBefore) / peers).toFixed(1)} B`);
  console.log(`  ${announces} re-announces with numwant ${numwant}, ${windowSize} in flight: ${(announces / seconds).toFixed(0)}/s, ${(returned / announces).toFixed(1)} peers returned on average`);
  console.log(`  Redis CPU per announce (INFO cpu): ${((redisCpu * 1e6) / announces).toFixed(1)} µs; script time (commandstats): ${(evalUsec / evalCalls).toFixed(1)} µs`);
  console.log(`  client CPU per announce (this process): ${((cpu.user + cpu.system) / announces).toFixed(1)} µs`);
  await store.close();
} finally {
  for (const m of masters) m.disconnect();
  execFileSync('bash', [script, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
}
