/**
 * The price of scale-out, at the tracker level: one tracker on the embedded store and one on a local 3-master
 * Redis Cluster, the same UDP and HTTP announce load against each in one run, with CPU per response of the
 * tracker and of Redis side by side (docs/performance.md, "Redis store at the tracker level").
 *
 *   npm run bench:redis-tracker -- [--duration 8] [--warmup 3] [--rounds 2] [--phases udp,http]
 *        [--stores memory,redis,redis-cache] [--announce-cache 1000] [--events none:80,started:10,completed:5,stopped:5] [--memberships 65536] [--no-build]
 *        [--http-connections 64]
 *        [--tracker-args "..."] [--perf-redis S]
 *
 * Set-up: compiles redswarm with tsc into .tmp/ (`--no-build`: runs it through tsx), starts the cluster
 * (deploy/redis-cluster.sh, no replicas) pinned to --redis-cpu, then one tracker per store, each with one worker
 * (`--workers 1`), both pinned to --tracker-cpu (only one is loaded at a time), and runs every phase against
 * each store in turn (the order alternates between rounds), the generators pinned to --gen-cpu:
 * - udp: bench/udp-load.ts, 8 sockets × 16 requests in flight (128), announces only (`--scrape` to add scrapes),
 *   of --memberships fixed (hash, peer) pairs (0: a random pair each, nearly always a new peer of its swarm);
 * - http: bench/http-load.ts, wrk with --http-connections keep-alive connections (64: 64 in flight), 65 536 pre-built requests
 *   (fixed (hash, peer, event) triples) sent round-robin: after the first pass, re-announces.
 * Each phase is an unmeasured warm-up run, then the measured run. Tracker CPU: utime+stime of its process tree
 * over the measured window (/proc). Redis CPU: used_cpu_user+sys of the masters (INFO cpu) from just before to
 * just after the measured run (the generator's start-up, ~0.3 s of idle Redis, included). Also from Redis:
 * FCALLs per response, responses per read() of Redis (INFO stats total_reads_processed, all masters: Redis'
 * networking costs per read, not per call) and the FCALLs' own µs (INFO commandstats). --perf-redis S records `perf` of the masters for S
 * seconds of each Redis phase and prints the top symbols.
 *
 * Store `redis-cache`: a tracker on the same cluster with `--redis-announce-cache` --announce-cache ms
 * (docs/scaling.md), the store's explicit trade of exactness for Redis CPU. It sends what it collected up to
 * that period after the announces, so its phases wait the period and a second after the warm-up (whose changes
 * are not counted) and after the measured run (whose changes are: Redis' counters are read after the wait, and
 * the tracker's CPU in the wait is added to its figure).
 *
 * --baseline DIR: a third tracker, on the same cluster, built from another copy of the repo (e.g. `git archive`
 * of an earlier commit, with node_modules linked): this version against that one, side by side.
 *
 * Everything is on 127.0.0.1, bounded in time; only processes started here are stopped.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startWatchdog } from './harness/lifetime.js';
import { processTreeCpu, processTreeRss, type CpuTime } from './harness/proc-cpu.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    phases: { type: 'string', default: 'udp,http' },
    stores: { type: 'string', default: 'memory,redis' },
    events: { type: 'string', default: 'none:80,started:10,completed:5,stopped:5' },
    scrape: { type: 'string', default: '0' },
    'http-connections': { type: 'string', default: '64' },
    memberships: { type: 'string', default: '65536' },
    hashes: { type: 'string', default: '100000' },
    'tracker-cpu': { type: 'string', default: '0' },
    'gen-cpu': { type: 'string', default: '1' },
    'redis-cpu': { type: 'string', default: '1' },
    'no-build': { type: 'boolean', default: false },
    'tracker-args': { type: 'string', default: '' },
    'perf-redis': { type: 'string', default: '0' },
    baseline: { type: 'string', default: '' },
    'announce-cache': { type: 'string', default: '1000' },
  },
});
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const phases = values.phases.split(',') as ('udp' | 'http')[];
const stores = values.stores.split(',') as ('memory' | 'redis' | 'redis-cache' | 'baseline')[];
if (values.baseline && !stores.includes('baseline')) stores.push('baseline');
const perfSeconds = Number(values['perf-redis']);
const root = new URL('..', import.meta.url).pathname;
startWatchdog(120 + rounds * phases.length * stores.length * (duration + warmup + 17 + 2 * Number(values['announce-cache']) / 1000), 'tracker-redis: watchdog: the run did not finish in time', 2);

mkdirSync(join(root, '.tmp'), { recursive: true });
const tmp = mkdtempSync(join(root, '.tmp', 'tracker-redis-'));
const started: ChildProcess[] = [];
let nodes: string[] = [];
let masters: Redis[] = [];

/** Stops what this run started: the trackers first (they drain), then the cluster. */
async function cleanup(): Promise<void> {
  const running = started.filter((child) => child.exitCode === null && child.signalCode === null);
  const exited = running.map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of running) child.kill('SIGTERM');
  await Promise.race([Promise.all(exited), new Promise((resolve) => setTimeout(resolve, 5000))]);
  for (const master of masters) master.disconnect();
  try {
    execFileSync('bash', [join(root, 'deploy/redis-cluster.sh'), 'stop', join(tmp, 'redis')]);
  } catch {
    /* already stopped */
  }
  rmSync(tmp, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().finally(() => process.exit(1)));

/** `node <args>` for a file of a tree (a copy of the repo): compiled, or through tsx. */
function treeFiles(tree: string, name: string): (file: string) => string[] {
  if (values['no-build']) return (file) => ['--import', 'tsx', join(tree, file)];
  const out = join(tmp, name);
  console.log(`== compiling ${tree} into ${out}`);
  try {
    execFileSync('npx', ['--no-install', 'tsc', '-p', join(tree, 'tsconfig.json'), '--outDir', out, '--sourceMap', 'false'], { stdio: 'pipe', cwd: root });
  } catch {
    // tsc emits despite type errors elsewhere in the tree; what matters is that the entry points are there.
  }
  cpSync(join(tree, 'lua'), join(out, 'lua'), { recursive: true });
  cpSync(join(tree, 'bench/http-announce.lua'), join(out, 'bench/http-announce.lua'));
  return (file) => [join(out, file.replace(/\.ts$/, '.js'))];
}
const nodeFile = treeFiles(root, 'build');
/** --baseline DIR: another version of the repo (with node_modules), run as a third tracker on the same cluster. */
const baselineFile = values.baseline ? treeFiles(values.baseline, 'build-baseline') : nodeFile;

const pin = (cpu: string, command: string[]): string[] => ['taskset', '-c', cpu, ...command];

const cpuSeconds = (cpu: CpuTime): number => cpu.user + cpu.system;
/** Waits out the announce cache's period and a second: until what it collected has been sent and answered. */
const settle = () => new Promise((resolve) => setTimeout(resolve, Number(values['announce-cache']) + 1000));

/** Runs a command to its end; its stdout. */
function run(command: string[], timeoutS: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command.join(' ')} exited ${code}:\n${out}${err}`));
    });
  });
}

/** The generator's command for a phase. */
function generator(phase: 'udp' | 'http', port: number, seconds: number, cpuPid?: number): string[] {
  const common = ['--port', String(port), '--hashes-file', join(tmp, 'hashes.txt'), '--duration', String(seconds), '--warmup', '0'];
  if (cpuPid !== undefined) common.push('--cpu-pid', String(cpuPid));
  const args =
    phase === 'udp'
      ? [...nodeFile('bench/udp-load.ts'), ...common, '--sockets', '8', '--window', '16', '--scrape', values.scrape, '--events', values.events, '--memberships', values.memberships]
      : [...nodeFile('bench/http-load.ts'), ...common, '--connections', values['http-connections'], '--events', values.events];
  return pin(values['gen-cpu'], ['node', ...args]);
}

interface RedisCounters {
  cpu: number;
  reads: number;
  fcalls: number;
  fcallUsec: number;
  commandstats: Map<string, { calls: number; usec: number }>;
}

async function redisCounters(): Promise<RedisCounters> {
  const c: RedisCounters = { cpu: 0, reads: 0, fcalls: 0, fcallUsec: 0, commandstats: new Map() };
  for (const master of masters) {
    const info = await master.info('all');
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    c.cpu += field('used_cpu_user') + field('used_cpu_sys');
    c.reads += field('total_reads_processed');
    for (const [, name, calls, usec] of info.matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
      const sum = c.commandstats.get(name!) ?? { calls: 0, usec: 0 };
      sum.calls += Number(calls);
      sum.usec += Number(usec);
      c.commandstats.set(name!, sum);
      if (name === 'fcall') {
        c.fcalls += Number(calls);
        c.fcallUsec += Number(usec);
      }
    }
  }
  return c;
}

/** perf of the masters for `seconds`: the top symbols, in a string. */
async function perfRedis(seconds: number): Promise<string> {
  const pids = nodes.map((node) => execFileSync('cat', [join(tmp, 'redis', node.split(':')[1]!, 'redis.pid')], { encoding: 'utf8' }).trim());
  const data = join(tmp, 'perf.data');
  await run(['perf', 'record', '-q', '-g', '-o', data, '-p', pids.join(','), '--', 'sleep', String(seconds)], seconds + 30).catch((e: Error) => e.message);
  try {
    return execFileSync('perf', ['report', '-i', data, '--no-children', '--stdio', '--sort', 'symbol', '-g', 'none', '--percent-limit', '1.5'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter((line) => /^\s+\d/.test(line))
      .slice(0, 30)
      .join('\n');
  } catch (error) {
    return `perf report failed: ${(error as Error).message}`;
  }
}

const field = (line: string, key: string): number => Number(new RegExp(`\\b${key}=([\\d.]+)`).exec(line)?.[1] ?? NaN);

interface Row {
  store: string;
  phase: string;
  rps: number;
  tracker: number;
  redis: number;
  fcalls: number;
  perRead: number;
  fcallUs: number;
  errors: number;
}
const rows: Row[] = [];

async function main(): Promise<void> {
  console.log(`== machine: ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, load ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);
  if (stores.some((store) => store !== 'memory')) {
    const out = await run(pin(values['redis-cpu'], ['bash', join(root, 'deploy/redis-cluster.sh'), 'start', join(tmp, 'redis'), '--replicas', '0']), 60);
    nodes = out.trim().split('\n').pop()!.split(',');
    masters = nodes.map((node) => new Redis({ host: '127.0.0.1', port: Number(node.split(':')[1]) }));
    console.log(`== Redis Cluster ${nodes.join(',')} on cpu ${values['redis-cpu']}`);
  }
  await run(['node', ...nodeFile('bench/udp-load.ts'), '--write-hashes', join(tmp, 'hashes.txt'), '--hashes', values.hashes], 60);

  const trackers = new Map<string, { port: number; pid: number }>();
  for (const store of stores) {
    const port = Number(execFileSync('bash', ['-c', `. ${join(root, 'bench/lib.sh')}; free_port`], { encoding: 'utf8' }).trim());
    const args = ['--host', '127.0.0.1', '--port', String(port), '--metrics-port', '0', '--log-level', 'warn', '--workers', '1'];
    if (store !== 'memory') args.push('--redis-cluster', nodes.join(','));
    if (store === 'redis-cache') args.push('--redis-announce-cache', values['announce-cache']);
    if (values['tracker-args']) args.push(...values['tracker-args'].split(' '));
    // The whole load comes from one address: no per-address announce rate limit.
    const env = { ...process.env, REDSWARM_ANNOUNCE_RATE_LIMIT: '0' };
    const child = spawn('taskset', ['-c', values['tracker-cpu'], 'node', ...(store === 'baseline' ? baselineFile : nodeFile)('src/cli.ts'), ...args], { stdio: ['ignore', 'inherit', 'inherit'], env });
    started.push(child);
    trackers.set(store, { port, pid: child.pid! });
    await run(['node', ...nodeFile('bench/udp-load.ts'), '--port', String(port), '--hashes-file', join(tmp, 'hashes.txt'), '--probe', '--probe-timeout', '30'], 60);
    console.log(`== tracker on the ${store} store: pid ${child.pid}, port ${port}, cpu ${values['tracker-cpu']}`);
  }

  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? stores : [...stores].reverse();
    for (const phase of phases) {
      for (const store of order) {
        const { port, pid } = trackers.get(store)!;
        if (warmup > 0) await run(generator(phase, port, warmup), warmup + 60);
        // The announce cache sends what it collected up to its period later: the warm-up's go before the
        // window opens, the run's own inside it (their tracker CPU added below).
        if (store === 'redis-cache') await settle();
        const before = store !== 'memory' ? await redisCounters() : undefined;
        const perf = store !== 'memory' && perfSeconds > 0 ? perfRedis(Math.min(perfSeconds, duration - 1)) : undefined;
        const out = await run(generator(phase, port, duration, pid), duration + 60);
        const ranUntil = processTreeCpu(pid);
        if (store === 'redis-cache') await settle();
        const trailing = cpuSeconds(processTreeCpu(pid)) - cpuSeconds(ranUntil);
        const after = store !== 'memory' ? await redisCounters() : undefined;
        const result = out.split('\n').find((line) => line.startsWith('RESULT ')) ?? '';
        const responses = field(result, 'responses');
        const row: Row = {
          store,
          phase,
          rps: field(result, 'rps'),
          tracker: field(result, 'cpu_us_per_resp') + (trailing * 1e6) / field(result, 'responses'),
          redis: NaN,
          fcalls: NaN,
          perRead: NaN,
          fcallUs: NaN,
          errors: field(result, 'errors') + (field(result, 'timeouts') || 0),
        };
        if (before && after) {
          row.redis = ((after.cpu - before.cpu) * 1e6) / responses;
          row.fcalls = (after.fcalls - before.fcalls) / responses;
          row.perRead = responses / (after.reads - before.reads);
          row.fcallUs = (after.fcallUsec - before.fcallUsec) / (after.fcalls - before.fcalls);
        }
        rows.push(row);
        console.log(
          `-- round ${round}, ${phase}, ${store}: ${row.rps.toFixed(0)} resp/s, tracker ${row.tracker.toFixed(1)} µs/resp ` +
            `(${(100 * field(result, 'kernel_share')).toFixed(0)}% kernel)` +
            (before ? `, Redis ${row.redis.toFixed(1)} µs/resp, ${row.fcalls.toFixed(2)} FCALL/resp, ${row.perRead.toFixed(1)} responses per Redis read, FCALL ${row.fcallUs.toFixed(1)} µs` : '') +
            `, errors ${row.errors}`,
        );
        if (before && after) {
          const lines = [...after.commandstats]
            .map(([name, s]) => [name, s.calls - (before.commandstats.get(name)?.calls ?? 0), s.usec - (before.commandstats.get(name)?.usec ?? 0)] as const)
            .filter(([name, calls]) => calls > 0 && name !== 'info')
            .sort((a, b) => b[2] - a[2])
            .map(([name, calls, usec]) => `${name} ${(calls / responses).toFixed(2)}×${(usec / calls).toFixed(2)} µs`);
          console.log(`   commandstats per response: ${lines.join(', ')}`);
        }
        if (perf) console.log(`   perf of the masters:\n${await perf}`);
      }
    }
  }

  const median = (xs: number[]) => {
    const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const f = (x: number, digits = 1) => (Number.isNaN(x) ? '–' : x.toFixed(digits));
  console.log(`\n== medians of ${rounds} round(s), ${duration} s measured per phase; events ${values.events}; µs CPU per response`);
  console.log('| phase | store | resp/s | tracker | Redis | total | tracker vs embedded | total vs embedded | FCALL/resp | resp/read | FCALL µs |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const phase of phases) {
    const of = (store: string, key: keyof Row) => median(rows.filter((r) => r.phase === phase && r.store === store).map((r) => r[key] as number));
    const base = of('memory', 'tracker');
    for (const store of stores) {
      const tracker = of(store, 'tracker');
      const redis = of(store, 'redis');
      const total = tracker + (Number.isNaN(redis) ? 0 : redis);
      console.log(
        `| ${phase} | ${store} | ${f(of(store, 'rps'), 0)} | ${f(tracker)} | ${f(redis)} | ${f(total)} | ${f(tracker / base, 2)}× | ${f(total / base, 2)}× | ` +
          `${f(of(store, 'fcalls'), 2)} | ${f(of(store, 'perRead'))} | ${f(of(store, 'fcallUs'))} |`,
      );
    }
  }
  console.log(`tracker memory (RSS) at the end: ${[...trackers].map(([store, { pid }]) => `${store} ${(processTreeRss(pid) / 2 ** 20).toFixed(0)} MiB`).join(', ')}`);
  const errors = rows.reduce((a, r) => a + (Number.isNaN(r.errors) ? 0 : r.errors), 0);
  console.log(`errors and timeouts over all runs: ${errors}`);
}

main()
  .catch((error: unknown) => {
    console.error(`tracker-redis: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    setTimeout(() => process.exit(), 500).unref();
  });
