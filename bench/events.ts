/**
 * The cost of swarm events (docs/events.md), side by side in one run on one local Redis node (pinned to
 * --redis-cpu; this process to --bench-cpu):
 * - Redis store: the same re-announces (HTTP/UDP, numwant 50, --window in flight, with uploaded/downloaded/left
 *   and a key) against a store with events off and one with events on, alternating, --rounds times: Redis CPU
 *   per announce (INFO cpu), the FCALL's own µs (INFO commandstats) and this process's CPU per announce (the
 *   tracker side: encoding the command and its event arguments).
 * - Embedded store: this process's CPU per announce with events off, as JSON lines (to /dev/null) and to the
 *   Redis node's streams (and that node's CPU per event appended).
 * - Stream memory per event at the default trim: --fill announces into one partition (P = 1) trimmed to
 *   --maxlen, then MEMORY USAGE (SAMPLES 0) of the stream over XLEN.
 *
 *   flock /tmp/redswarm-bench.lock node --import tsx bench/events.ts [--peers 20000] [--swarms 2000]
 *        [--announces 100000] [--rounds 3] [--window 256] [--fill 150000] [--maxlen 100000]
 *
 * Everything is on 127.0.0.1, bounded in count; the Redis node is stopped at the end (or on SIGINT/SIGTERM).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { SwarmEventRecorder } from '../src/events/recorder.js';
import { JsonLinesSink, RedisStreamSink } from '../src/events/sinks.js';
import type { AnnounceRequest } from '../src/protocol/types.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { RedisStore } from '../src/store/redis/redis-store.js';
import { EventPartitions } from '../src/store/redis/swarm-keys.js';
import type { Store } from '../src/store/store.js';
import { onInterrupt, startWatchdog } from './harness/lifetime.js';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '20000' },
    swarms: { type: 'string', default: '2000' },
    announces: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '256' },
    fill: { type: 'string', default: '150000' },
    maxlen: { type: 'string', default: '100000' },
    partitions: { type: 'string', default: '64' },
    'bench-cpu': { type: 'string', default: '0' },
    'redis-cpu': { type: 'string', default: '1' },
  },
});
const peers = Number(values.peers);
const swarms = Number(values.swarms);
const announces = Number(values.announces);
const rounds = Number(values.rounds);
const windowSize = Number(values.window);
const maxlen = Number(values.maxlen);
startWatchdog(900, 'bench/events.ts: still running after 15 minutes, giving up', 3);
execFileSync('taskset', ['-p', '-c', values['bench-cpu'], String(process.pid)], { stdio: 'ignore' });

const dir = mkdtempSync(join(tmpdir(), 'redswarm-bench-events-'));
const script = new URL('../deploy/redis-cluster.sh', import.meta.url).pathname;
const stopRedis = () => {
  execFileSync('bash', [script, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
};
onInterrupt(stopRedis);
const node = execFileSync('taskset', ['-c', values['redis-cpu'], 'bash', script, 'start', dir, '--single'], { encoding: 'utf8' }).trim().split('\n').pop()!;
const target = { url: `redis://${node}` };
const admin = new Redis(target.url);

async function info(section: string, field: string): Promise<number> {
  const text = await admin.info(section);
  return Number(/^(\S+):(\S+)$/m.exec(text.split('\n').find((line) => line.startsWith(`${field}:`)) ?? '')?.[2] ?? 0);
}
const redisCpu = async () => (await info('cpu', 'used_cpu_user')) + (await info('cpu', 'used_cpu_sys'));
async function fcallStats(): Promise<{ calls: number; usec: number }> {
  const line = (await admin.info('commandstats')).split('\n').find((l) => l.startsWith('cmdstat_fcall:')) ?? '';
  return { calls: Number(/calls=(\d+)/.exec(line)?.[1] ?? 0), usec: Number(/usec=(\d+)/.exec(line)?.[1] ?? 0) };
}

/** The k-th membership of a store: its swarm (a prefix of its own per store) and peer. */
function request(prefix: number, k: number, event: AnnounceRequest['event'], round: number): AnnounceRequest {
  const infoHash = Buffer.alloc(20);
  infoHash.writeUInt32BE(k % swarms, 0);
  infoHash.writeUInt32BE(prefix, 4);
  const peer = Uint8Array.of(10, (k >> 16) & 0xff, (k >> 8) & 0xff, k & 0xff, 0x1a, 0xe1);
  return { infoHash: infoHash.toString('latin1'), peer, event, seeder: false, numwant: 50, protocol: 'udp', key: 'a1b2c3d4', uploaded: round * 16384 * k, downloaded: round * 65536, left: 1_000_000 };
}

/** `count` announces with `window` in flight; the k-th is request(k). */
async function run(store: Store, count: number, make: (i: number) => AnnounceRequest): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: windowSize }, async () => {
    while (next < count) await store.announce(make(next++));
  }));
}

const now = () => Math.floor(Date.now() / 1000);
const common = { peerTtlSeconds: 3600, wsPeerTtlSeconds: 3600, now, target, timeoutMs: 5000, onError: () => {} };
const variants = [
  { name: 'redis, events off', prefix: 1, store: await RedisStore.connect(common) as Store },
  { name: 'redis, events on', prefix: 2, store: await RedisStore.connect({ ...common, events: { partitions: Number(values.partitions), maxlen } }) as Store },
];
for (const v of variants) await run(v.store, peers, (k) => request(v.prefix, k, 'started', 0));
console.log(`Redis store: ${peers} peers in ${swarms} swarms loaded per variant; ${announces} re-announces a round, ${windowSize} in flight`);
for (let round = 1; round <= rounds; round++) {
  for (const v of round % 2 === 1 ? variants : [...variants].reverse()) {
    const cpuBefore = await redisCpu();
    const fcallBefore = await fcallStats();
    const self = process.cpuUsage();
    const t = performance.now();
    await run(v.store, announces, (i) => request(v.prefix, (i * 7919) % peers, 'none', round));
    const seconds = (performance.now() - t) / 1000;
    const used = process.cpuUsage(self);
    const redis = (await redisCpu()) - cpuBefore;
    const fcall = await fcallStats();
    console.log(
      `[${v.name}] round ${round}: ${(announces / seconds).toFixed(0)}/s; Redis CPU ${((redis * 1e6) / announces).toFixed(2)} µs/announce ` +
        `(FCALL ${((fcall.usec - fcallBefore.usec) / (fcall.calls - fcallBefore.calls)).toFixed(2)} µs); ` +
        `tracker side ${((used.user + used.system) / announces).toFixed(2)} µs/announce`,
    );
  }
}
for (const v of variants) await v.store.close();

// The embedded store: the tracker's own CPU per announce, announceNow() in a tight loop (as bench/codec does).
const memoryVariants = [
  { name: 'memory, events off', store: new MemoryStore(common) },
  { name: 'memory, events as JSON lines', store: new MemoryStore(common, new SwarmEventRecorder(new JsonLinesSink('/dev/null'))) },
  { name: 'memory, events to Redis', store: new MemoryStore(common, new SwarmEventRecorder(await RedisStreamSink.connect(target, { partitions: Number(values.partitions), maxlen }, 5000))) },
];
for (const v of memoryVariants) await run(v.store, peers, (k) => request(3, k, 'started', 0));
for (let round = 1; round <= rounds; round++) {
  for (const v of round % 2 === 1 ? memoryVariants : [...memoryVariants].reverse()) {
    const cpuBefore = await redisCpu();
    const self = process.cpuUsage();
    await run(v.store, announces, (i) => request(3, (i * 7919) % peers, 'none', round));
    const used = process.cpuUsage(self);
    const redis = (await redisCpu()) - cpuBefore;
    console.log(`[${v.name}] round ${round}: tracker CPU ${((used.user + used.system) / announces).toFixed(2)} µs/announce; Redis CPU ${((redis * 1e6) / announces).toFixed(2)} µs/announce`);
  }
}
for (const v of memoryVariants) await v.store.close();

// Stream memory per event at the trim: one partition, so that it fills.
const fill = Number(values.fill);
const one = await RedisStore.connect({ ...common, events: { partitions: 1, maxlen } });
await run(one, fill, (i) => request(4, i % peers, i < peers ? 'started' : 'none', 1 + Math.floor(i / peers)));
await one.close();
const stream = new EventPartitions(1).streams[0]!;
const length = await admin.xlen(stream);
const bytes = Number(await admin.call('MEMORY', 'USAGE', stream, 'SAMPLES', '0'));
const fields = (await admin.xrevrange(stream, '+', '-', 'COUNT', 1))[0]![1];
const valueBytes = fields.filter((_, i) => i % 2 === 1).reduce((sum, value) => sum + Buffer.byteLength(value), 0);
console.log(`stream memory: ${fill} events appended, MAXLEN ~ ${maxlen}: XLEN ${length}, MEMORY USAGE ${(bytes / 1048576).toFixed(1)} MiB, ${(bytes / length).toFixed(1)} B/event (the last event's values: ${valueBytes} B)`);
admin.disconnect();
stopRedis();
process.exit(0);
