/**
 * Passkeys shared by every process of a Redis deployment, edited with the real CLI: two tracker processes on one
 * Redis Cluster, both --private; a key added with `redswarm keys add` works on both, over HTTP, UDP and
 * WebSocket, in one swarm; revoked with `redswarm keys revoke`, it stops working on both. Logs hold keys masked.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PASSKEY_REQUIRED, PASSKEY_UNKNOWN } from '../../src/server/passkeys.js';
import { until } from '../access/clients.js';
import { REPO_ROOT } from '../clients/netns.js';
import { redswarmCommand } from '../clients/tracker.js';
import { startInstance, type Instance } from '../helpers/instance.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { PROTOCOLS, httpRequest, type Outcome } from './clients.js';

const failure = (outcome: Outcome): string | undefined => ('failure' in outcome ? outcome.failure : undefined);

describe('passkeys in Redis, shared by two processes, edited with `redswarm keys`', () => {
  let redis: TestRedis;
  let nodes: string;
  let instances: Instance[] = [];
  const keys = (...args: string[]): string => redswarmCommand(REPO_ROOT, ['keys', ...args, '--redis-cluster', nodes]);

  before(async () => {
    redis = await startRedis('cluster');
    nodes = (redis.target as { cluster: string[] }).cluster.join(',');
    // Debug: refused keys are logged (masked).
    const args = ['--redis-cluster', nodes, '--private', 'true', '--log-level', 'debug'];
    instances = await Promise.all([startInstance(args, { workers: 1 }), startInstance(args, { workers: 1 })]);
  });

  after(async () => {
    await Promise.allSettled(instances.map((instance) => instance.stop()));
    await redis?.stop();
  });

  it('a key works on both processes once added, and on neither once revoked', async () => {
    const [a, b] = instances as [Instance, Instance];
    const key = randomBytes(16).toString('hex');
    const infoHash = randomBytes(20);
    assert.equal(failure(await httpRequest(a.port, 'announce', key, infoHash)), PASSKEY_UNKNOWN);

    keys('add', key);
    assert.match(keys('list'), new RegExp(`^${key}$`, 'm'));
    for (const instance of [a, b]) {
      await until('the added key to work', async () => failure(await httpRequest(instance.port, 'announce', key, infoHash)) === undefined);
    }
    // One swarm: the HTTP peer announced on both, a UDP announce (URL data) and a WebSocket scrape on b see it.
    assert.deepEqual(await PROTOCOLS.udp(b.port, 'announce', key, infoHash), { seeders: 1 });
    assert.deepEqual(await httpRequest(a.port, 'scrape', key, infoHash), { seeders: 1 });
    assert.deepEqual(await PROTOCOLS.ws(b.port, 'scrape', key, infoHash), { seeders: 0 }); // WebSocket swarms are apart
    assert.equal(failure(await httpRequest(b.port, 'scrape', undefined, infoHash)), PASSKEY_REQUIRED);

    keys('revoke', key);
    for (const instance of [a, b]) {
      await until('the revoked key to be refused', async () => failure(await httpRequest(instance.port, 'announce', key, infoHash)) === PASSKEY_UNKNOWN);
      for (const request of Object.values(PROTOCOLS)) {
        assert.equal(failure(await request(instance.port, 'announce', key, infoHash)), PASSKEY_UNKNOWN, request.name);
      }
    }
    assert.doesNotMatch(keys('list'), new RegExp(key));

    // Every refusal was logged with the key masked, never whole.
    for (const instance of [a, b]) {
      const output = instance.output();
      assert.ok(output.includes(`"passkey":"${key.slice(0, 4)}…"`), 'a refusal logged with the masked key');
      assert.ok(!output.includes(key), 'the whole key in a log line');
    }
  });
});
