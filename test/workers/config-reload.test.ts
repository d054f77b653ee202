/**
 * Live reload with real processes: a config file changed under a running tracker and SIGHUP — the new interval
 * is in the replies (of every worker), options that need a restart are named in one warning, and a broken file
 * leaves the running configuration serving.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInstance, type Instance } from '../helpers/instance.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { decodeStrictDict, percentEncodeAll } from '../helpers/wire.js';

function configFile(interval: number, extra = ''): string {
  return `[announce]\ninterval = ${interval}\ninterval-jitter = 0\npeer-ttl = 7200\n${extra}`;
}

/** The interval of one announce, on a connection of its own (so that requests spread over the workers). */
async function intervalOf(instance: Instance, n: number): Promise<number> {
  const query = `info_hash=${percentEncodeAll(new Uint8Array(20).fill(9))}&peer_id=${`-RL0001-${String(n).padStart(12, '0')}`}&port=${1000 + n}&left=0`;
  const response = await fetch(`${instance.httpUrl}?${query}`, { headers: { connection: 'close' } });
  return decodeStrictDict(new Uint8Array(await response.arrayBuffer())).int('interval');
}

async function intervals(instance: Instance, count: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) seen.add(await intervalOf(instance, i));
  return seen;
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function count(text: string, pattern: RegExp): number {
  return (text.match(new RegExp(pattern.source, 'g')) ?? []).length;
}

for (const setup of ['one process, embedded store', 'a primary with 2 workers on Redis'] as const) {
  describe(`SIGHUP reload: ${setup}`, () => {
    let dir: string;
    let file: string;
    let redis: TestRedis | undefined;
    let instance: Instance;
    /** Processes that reload: the single process, or the primary and each worker. */
    const reloaders = setup === 'one process, embedded store' ? 1 : 3;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'redswarm-reload-'));
      file = join(dir, 'redswarm.toml');
      await writeFile(file, configFile(1800));
      const store: string[] = [];
      if (setup !== 'one process, embedded store') {
        redis = await startRedis('single');
        store.push('--redis', (redis.target as { url: string }).url);
      }
      instance = await startInstance(['--config', file, ...store], { workers: setup === 'one process, embedded store' ? 1 : 2 });
    });
    after(async () => {
      await instance?.stop();
      await redis?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('applies a changed interval to every reply after SIGHUP', async () => {
      assert.deepEqual(await intervals(instance, 10), new Set([1800]));
      await writeFile(file, configFile(600));
      instance.process.kill('SIGHUP');
      await until('every process reloaded', () => count(instance.output(), /"msg":"configuration reloaded"/) === reloaders);
      assert.deepEqual(await intervals(instance, 20), new Set([600]), 'every worker answers with the new interval');
    });

    it('names the options that need a restart in one warning, and applies the rest', async () => {
      const before = count(instance.output(), /need a restart to take effect/);
      await writeFile(file, configFile(900, '[websocket]\nws-max-message-bytes = 2048\n'));
      instance.process.kill('SIGHUP');
      await until('the warnings', () => count(instance.output(), /need a restart to take effect: ws-max-message-bytes"/) === before + reloaders);
      assert.deepEqual(await intervals(instance, 10), new Set([900]));
    });

    it('a broken file is reported and the running configuration keeps serving', async () => {
      for (const [broken, reason] of [
        ['[announce]\ninterval = "soon"\n', /\[announce\] interval: expected an integer/],
        ['[announce]\ninterval = 5\n', /\[announce\] interval: must be between 10 and 86400, got 5/],
        ['[announce]\nintervall = 60\n', /\[announce\] intervall: unknown option/],
        ['[announce\ninterval = 60\n', /not valid TOML/],
        ['[announce]\ninterval = 9000\npeer-ttl = 7200\n', /--peer-ttl must be at least --interval/],
        // Valid alone, but beyond the peer TTL the store keeps until a restart.
        ['[announce]\ninterval = 9000\npeer-ttl = 20000\n', /--peer-ttl must be at least --interval.*running values/],
      ] as const) {
        const errorsBefore = count(instance.output(), /configuration not reloaded/);
        await writeFile(file, broken);
        instance.process.kill('SIGHUP');
        await until(`the error for ${JSON.stringify(broken)}`, () => count(instance.output(), /configuration not reloaded/) > errorsBefore);
        const line = instance.output().split('\n').filter((l) => l.includes('configuration not reloaded')).pop()!;
        assert.match(line, reason);
        assert.ok(line.includes(file), `the error names the file: ${line}`);
        // The primary checks first and forwards nothing: one error line, not one per process.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(count(instance.output(), /configuration not reloaded/), errorsBefore + 1);
        assert.deepEqual(await intervals(instance, 6), new Set([900]));
      }
      assert.equal(instance.process.exitCode, null, 'still running');
    });
  });
}
