/**
 * The Redis store on a real local Redis Cluster (3 masters, no replicas, pinned to one core): memory per peer,
 * Redis CPU per announce, and this process's (the tracker side's) CPU per announce.
 *
 *   node --expose-gc --import tsx bench/redis-store.ts [--peers 1000000] [--swarms 100000] [--exponent 1]
 *        [--announces 200000] [--numwant 50] [--window 256] [--single] [--clock real|fixed] [--rounds 1]
 *        [--compare path/to/other/redis-store.ts] [--ws] [--stats 20] [-- redis-server args]
 *
 * e.g. `-- --hash-max-listpack-entries 1024` to try other encodings.
 * Memory is used_memory summed over the masters after loading, minus before; CPU is used_cpu_user+sys
 * summed over the masters (INFO cpu) and process.cpuUsage() here, over the load phase (new peers: the
 * functions' general path) and each announce phase (re-announces: mostly the common path).
 *
 * --compare loads a second store module (another version of src/store/redis/redis-store.ts, e.g. a copy of
 * the previous commit's under .tmp/) into the same cluster with the same peers, and alternates the two
 * stores' announce phases, `--rounds` times: a side-by-side comparison on this noisy machine. Each store gets
 * info hashes of its own, so two versions of one key layout do not share swarms.
 * --churn N: after the announce rounds, `--rounds` rounds (alternating the stores, as above) of N new peers
 * joining the loaded swarms (Zipf, as the load) and then stopping: Redis CPU per join and per stop, the
 * functions' general path (peers added and removed, the slot's totals changed).
 * --stats N: after loading (this store only; not with --compare), N reads of the store's totals (one per
 * slot, summed) and one pass the way totals were counted before them (SCAN of the keyspace and a scrape of
 * every swarm found, as RedisStore.stats() did): Redis CPU, the tracker side's CPU and wall time of each.
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
    stats: { type: 'string', default: '0' },
    churn: { type: 'string', default: '0' },
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
async function commandStats(announces: number, unit = 'announce'): Promise<string> {
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
    .map(([name, { calls, usec }]) => `    ${name}: ${(calls / announces).toFixed(2)} calls, ${(usec / announces).toFixed(2)} µs per ${unit}`)
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
  const hashOf = (swarm: number, variant: number) => {
    const b = Buffer.alloc(20);
    b.writeUInt32BE(swarm, 0);
    b[8] = variant;
    b.writeUInt32BE((swarm * 2654435761) >>> 0, 16);
    return b.toString('latin1');
  };
  let variant = 0;
  /** Added to peer numbers for their addresses: new peers of the same swarms (churn). */
  let peerBase = 0;
  const address = (n: number) => {
    const a = n + peerBase;
    return Uint8Array.of(10 + ((a >>> 24) & 0x3f), a >>> 16, a >>> 8, a, 0x1a, 0xe1);
  };
  const request = (n: number, want: number): AnnounceRequest => ({
    infoHash: hashOf(swarmOf[n]!, variant),
    peer: address(n),
    event: 'none',
    seeder: n % 3 === 0,
    numwant: want,
  });
  const wsRequest = (n: number, want: number): WsAnnounceRequest => ({
    infoHash: hashOf(swarmOf[n]!, variant),
    peerId: `-WW0001-${String(n + peerBase).padStart(12, '0')}`,
    route: `Zm9vYmFyYmF6cXV4/${(n % 5000).toString(36)}`,
    event: 'none',
    seeder: n % 3 === 0,
    numwant: want,
  });

  /** Runs count announces on a store, `windowSize` in flight at a time; returns the peers returned. */
  async function run(store: Store, count: number, pick: (i: number) => number, want: number, event: AnnounceRequest['event'] = 'none'): Promise<number> {
    let next = 0;
    let returned = 0;
    const lane = async () => {
      while (next < count) {
        const n = pick(next++);
        // Not `returned += await …`: that reads `returned` before the await.
        const got = ws
          ? (await store.announceWs({ ...wsRequest(n, want), event })).peers.length
          : (await store.announce({ ...request(n, want), event })).peers.length / 6;
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
  const redisCpu = () => sumInfo('cpu', ['used_cpu_user', 'used_cpu_sys']);
  for (const [i, store] of stores.entries()) {
    variant = i;
    const memoryBefore = await sumInfo('memory', ['used_memory']);
    const redisCpuBefore = await redisCpu();
    const t = performance.now();
    await run(store, peers, (n) => n, 0);
    const loadSeconds = (performance.now() - t) / 1000;
    const loadRedisCpu = (await redisCpu()) - redisCpuBefore;
    const memoryAfter = await sumInfo('memory', ['used_memory']);
    console.log(
      `[${variants[i]!.name}] loaded ${peers} peers (Zipf ${values.exponent} over ${swarms} swarms) in ${loadSeconds.toFixed(1)} s; ` +
        `Redis CPU ${((loadRedisCpu * 1e6) / peers).toFixed(1)} µs per new peer; ` +
        `memory per peer (used_memory over masters): ${((memoryAfter - memoryBefore) / peers).toFixed(1)} B`,
    );
  }

  if (Number(values.stats) > 0) await statsReads(stores[0]!, Number(values.stats));

  for (let round = 1; round <= rounds; round++) {
    for (const [i, store] of stores.entries()) {
      variant = i;
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
  const churn = Number(values.churn);
  for (let round = 1; churn > 0 && round <= rounds; round++) {
    for (const [i, store] of stores.entries()) {
      variant = i;
      peerBase = peers * round;
      gc();
      const measure = async (event: AnnounceRequest['event']) => {
        const before = await redisCpu();
        await run(store, churn, (k) => (k * 7919) % peers, 0, event);
        return (((await redisCpu()) - before) * 1e6) / churn;
      };
      const join = await measure('started');
      const stop = await measure('stopped');
      console.log(`[${variants[i]!.name}] churn round ${round}: ${churn} new peers then stops: Redis CPU ${join.toFixed(1)} µs per join, ${stop.toFixed(1)} µs per stop`);
    }
  }
  peerBase = 0;
  for (const store of stores) await store.close();

  /** Reads of the totals, then the SCAN-based pass they replace (`--stats`). */
  async function statsReads(store: Store, reads: number): Promise<void> {
    if (variants.length > 1) throw new Error('--stats measures this store alone: leave out --compare');
    // No forced GC here: after one, V8 runs the read's code cold again (2-5× the client CPU of a warm read).
    const measure = async <T>(what: () => Promise<T>) => {
      for (const m of masters) await m.config('RESETSTAT');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const redisBefore = await redisCpu();
      const cpuBefore = process.cpuUsage();
      const t = performance.now();
      const result = await what();
      const wallMs = performance.now() - t;
      const cpu = process.cpuUsage(cpuBefore);
      const redisMs = ((await redisCpu()) - redisBefore) * 1000;
      return { result, wallMs, redisMs, clientMs: (cpu.user + cpu.system) / 1000, commands: await commandStats(1, 'pass') };
    };
    const rows: { wallMs: number; redisMs: number; clientMs: number }[] = [];
    let last: Awaited<ReturnType<Store['totals']>> | null = null;
    let commands = '';
    const first = await measure(() => store.totals());
    console.log(`totals() first read (cold code): wall ${first.wallMs.toFixed(1)} ms, Redis CPU ${first.redisMs.toFixed(1)} ms, client CPU ${first.clientMs.toFixed(1)} ms`);
    for (let i = 0; i < 2; i++) await store.totals();
    for (let i = 0; i < reads; i++) {
      const m = await measure(() => store.totals());
      rows.push(m);
      last = m.result;
      commands = m.commands;
    }
    const median = (key: 'wallMs' | 'redisMs' | 'clientMs') => rows.map((r) => r[key]).sort((a, b) => a - b)[rows.length >> 1]!;
    console.log(`totals(): ${JSON.stringify(last)}`);
    console.log(
      `totals() read, median of ${reads} after 3 to warm up: wall ${median('wallMs').toFixed(1)} ms, Redis CPU ${median('redisMs').toFixed(1)} ms ` +
        `(3 masters, INFO cpu), client CPU ${median('clientMs').toFixed(1)} ms; per read, commandstats:\n${commands}`,
    );
    console.log(`  all reads (wall / Redis / client ms): ${rows.map((r) => `${r.wallMs.toFixed(0)}/${r.redisMs.toFixed(1)}/${r.clientMs.toFixed(0)}`).join(' ')}`);
    // The pass before: every swarm found by SCAN, and a scrape call each (which also expired peers).
    const scan = await measure(async () => {
      const hashes = await store.listSwarms(Number.MAX_SAFE_INTEGER);
      let swarmsFound = 0;
      let seeders = 0;
      let leechers = 0;
      for (let i = 0; i < hashes.length; i += 1000) {
        for (const c of await store.scrape(hashes.slice(i, i + 1000))) {
          if (c.complete + c.incomplete === 0) continue;
          swarmsFound++;
          seeders += c.complete;
          leechers += c.incomplete;
        }
      }
      return { swarms: swarmsFound, seeders, leechers };
    });
    console.log(`SCAN + scrape pass: ${JSON.stringify(scan.result)}`);
    console.log(
      `SCAN + scrape pass: wall ${scan.wallMs.toFixed(0)} ms, Redis CPU ${scan.redisMs.toFixed(0)} ms, client CPU ${scan.clientMs.toFixed(0)} ms; ` +
        `commandstats:\n${scan.commands}`,
    );
    const t = last!;
    const agree = scan.result.swarms === t.swarms && scan.result.seeders === t.ipv4.seeders + t.ipv6.seeders && scan.result.leechers === t.ipv4.leechers + t.ipv6.leechers;
    console.log(`the two agree: ${agree}`);
  }
} finally {
  for (const m of masters) m.disconnect();
  execFileSync('bash', [script, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
}
