/**
 * What the Redis store's expiry scan costs (lua/swarm-functions.lua, docs/scaling.md "Expiry"): one swarm of
 * N IPv4 peers on a single Redis node, loaded at t0 and re-announced at t0 + ttl/2 except a `--gone` share
 * (peers that left without a stop: every 1/gone-th, all even). At t0 + ttl the list is due: the next call scans the generation bytes,
 * removes the expired peers and sets the list's bound again. Prints the Redis time (commandstats) of that one
 * call next to a common announce's, for each N.
 *
 *   node --import tsx bench/redis-expiry.ts [--sizes 1000,10000,100000,1000000] [--gone 0.01] [--ttl 2700]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/store/redis/redis-store.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,100000,1000000' },
    gone: { type: 'string', default: '0.01' },
    ttl: { type: 'string', default: '2700' },
  },
});
const sizes = values.sizes!.split(',').map(Number);
const gone = Number(values.gone);
const ttl = Number(values.ttl);

const script = new URL('../deploy/redis-cluster.sh', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'redswarm-bench-expiry-'));
const node = execFileSync('bash', [script, 'start', dir, '--single'], { encoding: 'utf8' }).trim().split('\n').pop()!;
const admin = new Redis(`redis://${node}`);

/** µs of FCALL (and the calls) since the last RESETSTAT. */
async function fcallTime(): Promise<{ calls: number; usec: number }> {
  const match = /^cmdstat_fcall:calls=(\d+),usec=(\d+)/m.exec(await admin.info('commandstats'));
  return { calls: Number(match?.[1] ?? 0), usec: Number(match?.[2] ?? 0) };
}

try {
  let clock = Math.floor(Date.now() / 1000);
  const store = await RedisStore.connect({
    target: { url: `redis://${node}` },
    peerTtlSeconds: ttl,
    wsPeerTtlSeconds: ttl,
    now: () => clock,
    timeoutMs: 30_000,
    onError: (error) => console.error('redis:', error.message),
  });
  const peer = (n: number) => Uint8Array.of(10, n >>> 16, n >>> 8, n, 0x1a, 0xe1);
  console.log(`one swarm of N IPv4 peers, ttl ${ttl} s, ${gone * 100}% of them expired at the scan; Redis µs per call (commandstats)`);
  for (const [s, size] of sizes.entries()) {
    const infoHash = Buffer.alloc(20, s + 1).toString('latin1');
    const announce = (n: number, numwant: number) => store.announce({ infoHash, peer: peer(n), event: 'none', seeder: false, numwant });
    const all = async (filter: (n: number) => boolean, numwant: number) => {
      const batch: Promise<unknown>[] = [];
      for (let n = 0; n < size; n++) {
        if (!filter(n)) continue;
        batch.push(announce(n, numwant));
        if (batch.length === 512) await Promise.all(batch.splice(0));
      }
      await Promise.all(batch);
    };
    const t0 = clock;
    await all(() => true, 0);
    clock = t0 + Math.floor(ttl / 2);
    const stride = Math.round(1 / gone);
    await all((n) => gone === 0 || n % stride !== 0, 0);
    // Common announces, before the list is due.
    await admin.config('RESETSTAT');
    for (let k = 0; k < 1000; k++) await announce((k * 7919) % size | 1, 50); // odd: never a gone one
    const common = await fcallTime();
    clock = t0 + ttl + 60;
    await admin.config('RESETSTAT');
    const result = await announce(1, 50);
    const scan = await fcallTime();
    const removed = size - result.incomplete;
    console.log(
      `N ${size}: common announce ${(common.usec / common.calls).toFixed(1)} µs; the announce that scans ${scan.usec} µs ` +
        `(${removed} expired removed, ${result.incomplete} left)`,
    );
  }
  await store.close();
} finally {
  admin.disconnect();
  execFileSync('bash', [script, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
}
