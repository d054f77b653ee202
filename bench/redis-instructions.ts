/**
 * What one call of the swarm functions costs Redis, in instructions: redis-server run under valgrind's
 * callgrind, which counts the instructions it executes, the same figure run after run whatever else the machine
 * is doing (the CPU-time benches move by ±30% here). For telling apart two versions of lua/swarm-functions.lua
 * or of the store's calls by a few percent, where timing cannot.
 *
 *   npm run bench:redis-instructions -- [--peers 20000] [--swarms 2000] [--calls 20000]
 *        [--phases join,reannounce,reannounce0,plain,cached,refreshed,stop] [--ws] [--events P]
 *
 * One Redis node in cluster mode (every slot its own, so each redis.call pays the cluster's key checks as on a
 * real cluster), loaded with --peers peers (Zipf 1 over --swarms swarms, a third of them seeders) through the
 * store itself, then each phase counted on its own:
 * - join: --calls new peers announce `started` (the functions' general path: a peer added, counts changed);
 * - reannounce: --calls re-announces of loaded peers, numwant 50 (the common path: HMGET, SETRANGE, GETRANGE);
 * - reannounce0: the same with numwant 0 (no sample read);
 * - plain: the common path of --calls re-announces done by plain commands, without a function: HMGET of the
 *   header and the peer, then SETRANGE of its generation byte and GETRANGE of 50 entries (pipelined). What the
 *   same work costs without Lua, and without its atomicity (another call may move the peer in between);
 * - cached: the reannounce phase's announces through a second store with the announce cache on
 *   (`--redis-announce-cache`, docs/scaling.md; a period longer than the phase, so each swarm is read once and
 *   its re-announces refreshed in calls of up to 500 peers, all sent at the end of the phase): everything
 *   Redis does for them, per announce; it also prints FCALLs per announce;
 * - refreshed: the same announces again through that store, every one answered from it: only the refresh calls
 *   (one per swarm), per announce: what a re-announce costs Redis once its swarm is held;
 * - stop: --calls loaded peers announce `stopped` (general path: a peer removed).
 * --events P: swarm events on (docs/events.md), P partitions, the default trim; each announce carries uploaded,
 * downloaded, left and a key, as in bench/events.ts (no `plain`, `cached` or `refreshed` phase then; nor with --ws).
 * Per call it prints Redis' instructions in all, and where they went (inclusive counts of redis-server's own
 * functions; the Debian binary is stripped, so Lua's internals have no names): the function call
 * (`luaCallFunction`: the library's Lua code, its `redis.call`s and the reply), of it the commands the Lua code
 * runs (`scriptCall`), Lua's garbage collector (`lua_gc`, a step every 50 calls) and numbers formatted as text
 * for `redis.call` (`__snprintf_chk`); the rest is reading the request and writing the reply.
 *
 * Needs valgrind (Debian package). Everything on 127.0.0.1, bounded by --calls; stops the Redis it started.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { AnnounceEvent, InfoHash } from '../src/protocol/types.js';
import { HEADER_FIELD, POSITION_STEP, SWARM_HEADER } from '../src/store/redis/function-contract.js';
import { whenReady } from '../src/store/redis/connection.js';
import type { AnnounceCache } from '../src/store/redis/announce-cache.js';
import { RedisStore } from '../src/store/redis/redis-store.js';
import { WIRE_KEYS, swarmKey } from '../src/store/redis/swarm-keys.js';
import { Zipf } from './zipf.js';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '20000' },
    swarms: { type: 'string', default: '2000' },
    calls: { type: 'string', default: '20000' },
    phases: { type: 'string', default: 'join,reannounce,reannounce0,plain,cached,refreshed,stop' },
    ws: { type: 'boolean', default: false },
    events: { type: 'string', default: '0' },
  },
});
const peers = Number(values.peers);
const swarms = Number(values.swarms);
const calls = Number(values.calls);
const phases = values.phases.split(',');
const ws = values.ws;
const partitions = Number(values.events);

/** redis-server's functions whose inclusive counts the table shows, and their column names. */
const PARTS: readonly [string, string][] = [
  ['luaCallFunction', 'function call'],
  ['scriptCall', 'its commands'],
  ['lua_gc', 'Lua GC'],
  ['__snprintf_chk', 'numbers as text'],
];

const dir = mkdtempSync(join(tmpdir(), 'redswarm-bench-instructions-'));
const port = Number(execFileSync('bash', ['-c', '. bench/lib.sh; free_port'], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname }).trim());
const redis = spawn(
  'valgrind',
  ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'callgrind.out')}`, 'redis-server', '--port', String(port), '--bind', '127.0.0.1',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-announce-ip', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
  { stdio: 'ignore' },
);
// valgrind missing: said when the wait for Redis below fails (the error event would otherwise end the process).
redis.on('error', (error) => console.error(`redis-instructions: ${error.message} (is valgrind installed?)`));
const control = (...args: string[]) => execFileSync('callgrind_control', [...args, String(redis.pid)], { stdio: 'ignore' });

const infoHash = (swarm: number): InfoHash => {
  const bytes = Buffer.alloc(20);
  bytes.writeUInt32BE(Math.imul(swarm + 1, 2654435761) >>> 0, 0);
  bytes.writeUInt32BE(swarm, 16);
  return bytes.toString('latin1');
};
const address = (peer: number) => Buffer.from([10, (peer >> 16) & 255, (peer >> 8) & 255, peer & 255, 0x1a, 0xe1]);
const zipf = new Zipf(swarms, 1);
/** Each peer's swarm, fixed: a peer re-announces and stops in the swarm it joined. */
const swarmOf = Array.from({ length: peers + calls }, () => zipf.next());

try {
  // Under valgrind, Redis takes a few seconds to start listening: the client reconnects until it answers.
  const admin = new Redis({ port, retryStrategy: () => 300 });
  admin.on('error', () => {}); // refused until then
  const exited = once(redis, 'exit').then(([code]) => {
    throw new Error(`valgrind redis-server exited with code ${String(code)} (is valgrind installed?)`);
  });
  exited.catch(() => {}); // its normal end, at the finally below
  await Promise.race([whenReady(admin, 60_000), exited]);
  await admin.cluster('ADDSLOTSRANGE', 0, 16383);
  while (!(await admin.cluster('INFO')).includes('cluster_state:ok')) await new Promise((resolve) => setTimeout(resolve, 200));
  const storeOptions = {
    target: { cluster: [`127.0.0.1:${port}`] },
    peerTtlSeconds: 3600,
    wsPeerTtlSeconds: 3600,
    now: () => Math.floor(Date.now() / 1000),
    timeoutMs: 60_000,
    onError: (error: Error) => console.error('redis:', error.message),
  };
  const store = await RedisStore.connect({ ...storeOptions, ...(partitions > 0 ? { events: { partitions, maxlen: 100_000 } } : {}) });

  /** Announces of peers from..from+count (peer p in swarm swarmOf[p]), 64 in flight. */
  const announce = async (from: number, count: number, event: AnnounceEvent, numwant: number, through = store) => {
    let next = from;
    const worker = async () => {
      while (next < from + count) {
        const peer = next++;
        const hash = infoHash(swarmOf[peer]!);
        const seeder = peer % 3 === 0;
        // What an accounting consumer wants of each announce (only sent on with --events).
        const facts = { uploaded: peer * 1024, downloaded: peer * 512, left: seeder ? 0 : 4096, key: `k${peer % 97}` };
        if (ws) await store.announceWs({ infoHash: hash, peerId: `-RS0001-${String(peer).padStart(12, '0')}`, route: 'bench.1', event, seeder, numwant, ...facts });
        else await through.announce({ infoHash: hash, peer: address(peer), event, seeder, numwant, ...facts });
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  };
  /** The common path's commands without the function, 64 re-announces in flight (HTTP/UDP swarms). */
  const plain = async (count: number) => {
    const [hashKind, v4Kind] = WIRE_KEYS;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const peer = next++;
        const hash = infoHash(swarmOf[peer]!);
        const list = swarmKey(v4Kind, hash);
        const [header, value] = await admin!.hmgetBuffer(swarmKey(hashKind, hash), HEADER_FIELD, address(peer));
        const count = header!.readUInt32LE(SWARM_HEADER.offset.first_count);
        const capacity = header!.readUInt32LE(SWARM_HEADER.offset.first_capacity);
        const position = Math.floor(Number(value) / POSITION_STEP);
        const generation = Math.floor(Date.now() / 1000 / header!.readUInt32LE(SWARM_HEADER.offset.generation_seconds)) % 256;
        const first = Math.max(0, Math.floor(Math.random() * (count - 50)));
        await admin!
          .pipeline()
          .setrange(list, capacity * 6 + position, Buffer.from([generation]))
          .getrangeBuffer(list, first * 6, Math.min(count, first + 50) * 6 - 1)
          .exec();
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  };
  // Connected before the counting: its start-up (the library's load) is not the phase's. Its period outlasts
  // the run; its refreshes are sent at the end of each phase (the cache's sendAll).
  const cached = await RedisStore.connect({ ...storeOptions, announceCache: { ms: 3_600_000, sample: () => 200, wsSample: () => 100 } });
  const cache = (cached as unknown as { cache: AnnounceCache }).cache;
  const fcalls = async () => Number(/^cmdstat_fcall:calls=(\d+)/m.exec(await admin.info('commandstats'))?.[1] ?? 0);
  const throughCache = async (phase: string) => {
    const before = await fcalls();
    await announce(0, Math.min(calls, peers), 'none', 50, cached);
    await cache.sendAll();
    console.log(`${phase}: ${((await fcalls()) - before) / Math.min(calls, peers)} FCALLs per announce`);
  };
  const runs: Record<string, () => Promise<void>> = {
    join: () => announce(peers, calls, 'started', 50),
    reannounce: () => announce(0, Math.min(calls, peers), 'none', 50),
    reannounce0: () => announce(0, Math.min(calls, peers), 'none', 0),
    stop: () => announce(0, Math.min(calls, peers), 'stopped', 50),
    plain: () => plain(Math.min(calls, peers)),
    cached: () => throughCache('cached'),
    refreshed: () => throughCache('refreshed'),
  };

  await announce(0, peers, 'started', 50);
  await announce(0, peers, 'none', 50); // every code path warm
  const rows: string[] = [];
  for (const phase of phases) {
    const run = runs[phase];
    if (run === undefined) throw new Error(`unknown phase ${phase}`);
    if (['plain', 'cached', 'refreshed'].includes(phase) && (ws || partitions > 0)) continue;
    const counted = phase === 'join' ? calls : Math.min(calls, peers);
    control('--zero');
    await run();
    control('--dump');
    const dump = readdirSync(dir).filter((name) => name.startsWith('callgrind.out.')).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop())).pop()!;
    const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dir, dump)], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const count = (name: string) => Number(new RegExp(`^\\s*([\\d,]+) \\([^)]*\\)\\s+\\S*?:${name}(?:@\\S+)? `, 'm').exec(annotated)?.[1]!.replaceAll(',', '') ?? 0);
    const total = Number(/^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/m.exec(annotated)?.[1]!.replaceAll(',', '') ?? 0);
    rows.push(`| ${phase} | ${Math.round(total / counted).toLocaleString('en')} | ${PARTS.map(([name]) => Math.round(count(name) / counted).toLocaleString('en')).join(' | ')} |`);
    console.log(`${phase}: ${counted} calls counted`);
  }
  await cached.close();
  await store.close();
  admin.disconnect();
  console.log(`\nRedis instructions per call (${ws ? 'WebSocket' : 'HTTP/UDP'} announces${partitions > 0 ? `, events on (${partitions} partitions)` : ''}; ${peers} peers in ${swarms} swarms, Zipf 1; redis-server ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1]})`);
  console.log(`| phase | in all | ${PARTS.map(([, label]) => label).join(' | ')} |`);
  console.log(`| --- | ---: | ${PARTS.map(() => '---:').join(' | ')} |`);
  for (const row of rows) console.log(row);
} finally {
  if (redis.exitCode === null && redis.signalCode === null) {
    redis.kill('SIGTERM');
    await once(redis, 'exit');
  }
  rmSync(dir, { recursive: true, force: true });
}
