/**
 * The shared lists in Redis (a real 3-master cluster): `redswarm access` and `redswarm keys` through the real
 * CLI, two tracker processes that both follow a change, and the passkey store on Redis and in a file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AccessControl, INFO_HASH_REFUSED, PEER_ID_REFUSED } from '../../src/access/access-control.js';
import { defaultConfig, type TrackerConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { createRedisClient, whenReady } from '../../src/store/redis/connection.js';
import { startInstance, type Instance } from '../helpers/instance.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { httpAnnounce, udpAnnounce, until, wsAnnounce, wsOpens } from './clients.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** `redswarm ARGS…` as an operator runs it; resolves with its output, rejects on a non-zero exit. */
async function redswarm(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, timeout: 30_000 });
}

const A = 'a1'.repeat(20);
const C = 'c3'.repeat(20);

describe('shared lists in Redis', () => {
  let redis: TestRedis;
  let store: string[];
  let instances: Instance[] = [];

  before(async () => {
    redis = await startRedis('cluster');
    store = ['--redis-cluster', (redis.target as { cluster: string[] }).cluster.join(',')];
    // The tests poll one torrent from one address until a change shows: no per-address announce limit.
    const args = [...store, '--access-mode', 'deny', '--peer-id-mode', 'deny', '--ws-origins-mode', 'deny', '--announce-rate-limit', '0'];
    instances = await Promise.all([startInstance(args, { workers: 1 }), startInstance(args, { workers: 1 })]);
  });

  after(async () => {
    await Promise.allSettled(instances.map((instance) => instance.stop()));
    await redis?.stop();
  });

  it('`redswarm access add` is followed by every process, `remove` allows again', async () => {
    for (const instance of instances) assert.equal(await httpAnnounce(instance.port, C), null);
    const added = await redswarm('access', 'add', C, A.toUpperCase(), ...store);
    assert.match(added.stderr, /added 2 of 2/);
    for (const instance of instances) {
      await until('C refused', async () => (await httpAnnounce(instance.port, C)) === INFO_HASH_REFUSED);
      assert.equal(await udpAnnounce(instance.port, A), INFO_HASH_REFUSED);
      assert.equal(await wsAnnounce(instance.port, A), INFO_HASH_REFUSED);
    }
    assert.deepEqual((await redswarm('access', 'list', ...store)).stdout.split('\n').filter(Boolean), [A, C]);
    await redswarm('access', 'remove', C, ...store);
    for (const instance of instances) {
      await until('C allowed', async () => (await httpAnnounce(instance.port, C)) === null);
      assert.equal(await httpAnnounce(instance.port, A), INFO_HASH_REFUSED, 'A is still listed');
    }
  });

  it('shares peer_id prefixes the same way', async () => {
    await redswarm('access', 'peer-id', 'add', ...store, '--', '-XL0012-');
    for (const instance of instances) {
      await until('the prefix refused', async () => (await httpAnnounce(instance.port, C, '-XL0012-abcdefghijkl')) === PEER_ID_REFUSED);
    }
  });

  it('shares WebSocket origins the same way', async () => {
    await redswarm('access', 'origin', 'add', 'https://Evil.example', ...store);
    for (const instance of instances) {
      await until('the origin refused', async () => (await wsOpens(instance.port, 'https://evil.example')) === 'HTTP 403');
      assert.equal(await wsOpens(instance.port, 'https://good.example'), true);
    }
  });

  it('refuses a malformed entry and changes nothing', async () => {
    await assert.rejects(redswarm('access', 'add', 'nothex', ...store), (error: { stderr: string }) => /not an info hash/.test(error.stderr));
    assert.deepEqual((await redswarm('access', 'list', ...store)).stdout.split('\n').filter(Boolean), [A]);
  });

  it('`redswarm keys` adds, lists and revokes passkeys that every follower knows within a second or so', async () => {
    const config: TrackerConfig = { ...defaultConfig(), redisCluster: (redis.target as { cluster: string[] }).cluster, accessRedis: true };
    const client = createRedisClient({ target: redis.target, timeoutMs: 2000 }, { offlineQueue: true });
    await whenReady(client, 2000);
    const access = await AccessControl.start(config, createLogger('silent'), client);
    try {
      const key = (await redswarm('keys', 'add', ...store)).stdout.trim();
      assert.match(key, /^[0-9a-f]{32}$/);
      await redswarm('keys', 'add', 'operator-chosen-key', ...store);
      await until('the new key known', () => access.passkeyKnown(key) && access.passkeyKnown('operator-chosen-key'));
      assert.deepEqual((await redswarm('keys', 'list', ...store)).stdout.split('\n').filter(Boolean), [key, 'operator-chosen-key'].sort());
      await redswarm('keys', 'revoke', key, ...store);
      await until('the key revoked', () => !access.passkeyKnown(key));
      assert.ok(access.passkeyKnown('operator-chosen-key'));
    } finally {
      access.close();
      client.disconnect();
    }
  });
});

describe('passkeys in a file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redswarm-keys-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('`redswarm keys` edits the file, and a running tracker follows it', async () => {
    const file = join(dir, 'passkeys.txt');
    const first = (await redswarm('keys', 'add', '--passkey-file', file)).stdout.trim();
    const config: TrackerConfig = { ...defaultConfig(), passkeyFile: file };
    const access = await AccessControl.start(config, createLogger('silent'));
    try {
      assert.ok(access.passkeyKnown(first));
      const second = (await redswarm('keys', 'add', '--passkey-file', file)).stdout.trim();
      await until('the second key known', () => access.passkeyKnown(second));
      await redswarm('keys', 'revoke', first, '--passkey-file', file);
      await until('the first key revoked', () => !access.passkeyKnown(first));
      assert.deepEqual((await redswarm('keys', 'list', '--passkey-file', file)).stdout.split('\n').filter(Boolean), [second]);
      assert.equal(await readFile(file, 'latin1'), `${second}\n`);
      assert.equal(access.passkeyKnown('never-added-key'), false);
    } finally {
      access.close();
    }
  });
});
