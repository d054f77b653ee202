/**
 * Ordering per info hash across machines: two tracker instances (two workers each) on one real Redis Cluster
 * with events on, announcing concurrently to the same swarms over HTTP; a consumer group reads the partition
 * streams while they do and checks that every swarm's sequence numbers arrive strictly increasing, without a
 * gap, all in one stream, and that every announce is there exactly once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GroupConsumer, connectEvents, partitionStreams } from '../../src/events/consumer.js';
import { startInstance, type Instance } from '../helpers/instance.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { percentEncodeAll } from '../helpers/wire.js';

const PARTITIONS = 8;
const SWARMS = 6;
const PEERS = 20;
const ROUNDS = 4;

describe('swarm events: order per info hash across instances', () => {
  let redis: TestRedis;
  let instances: Instance[] = [];
  before(async () => {
    redis = await startRedis('cluster');
    const nodes = (redis.target as { cluster: string[] }).cluster.join(',');
    const args = ['--redis-cluster', nodes, '--events', 'redis', '--events-partitions', String(PARTITIONS), '--log-level', 'info'];
    const started = await Promise.allSettled([0, 1].map(() => startInstance(args, { workers: 2, readyTimeoutMs: 90_000 })));
    instances = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason; // after() stops what started
  });
  after(async () => {
    await Promise.allSettled(instances.map((instance) => instance.stop()));
    await redis.stop();
  });

  it('delivers every swarm its events in order, gapless, once', async () => {
    const hashes = Array.from({ length: SWARMS }, () => randomBytes(20));
    const consumerRedis = await connectEvents(redis.target);
    const streams = partitionStreams(PARTITIONS);
    const last = new Map<string, { seq: number; stream: string; empty: boolean }>();
    let received = 0;
    const problems: string[] = [];
    const stop = new AbortController();
    const consumer = new GroupConsumer(consumerRedis, { streams, group: 'order-check', consumer: 'c1', claimIdleMs: 60_000, pollMs: 20 });
    await consumer.createGroups();
    const consuming = consumer.run(async ({ stream, event }) => {
      received++;
      const swarm = `${event.ih}/${event.swarm}`;
      const before = last.get(swarm);
      const expected = before === undefined ? 1 : before.seq + 1;
      // A swarm forgotten (its last event left it empty) starts again at 1; none is here (no stops).
      if (event.seq !== expected && !(event.seq === 1 && before?.empty === true)) problems.push(`${swarm}: seq ${event.seq} after ${before?.seq}`);
      if (before !== undefined && before.stream !== stream) problems.push(`${swarm}: in ${stream} and ${before.stream}`);
      last.set(swarm, { seq: event.seq, stream, empty: event.complete + event.incomplete === 0 });
    }, stop.signal);

    // Every peer announces ROUNDS times, alternately through each instance, all swarms at once.
    const announce = async (instance: Instance, infoHash: Buffer, peer: number, round: number): Promise<void> => {
      const peerId = Buffer.alloc(20, peer + 1);
      const query = `info_hash=${percentEncodeAll(infoHash)}&peer_id=${percentEncodeAll(peerId)}&port=${10_000 + peer}&uploaded=${round * 100}&downloaded=${round * 10}&left=${1000 - round}&key=k${peer}${round === 0 ? '&event=started' : ''}`;
      const response = await fetch(`${instance.httpUrl}?${query}`, { headers: { 'x-forwarded-for': `10.0.${peer}.1` } });
      const body = Buffer.from(await response.arrayBuffer()).toString('latin1');
      assert.ok(!body.includes('failure reason'), body);
    };
    // Each peer's announces in order (a client waits for its reply); the peers of a swarm all at once.
    await Promise.all(
      hashes.flatMap((infoHash) =>
        Array.from({ length: PEERS }, async (_, peer) => {
          for (let round = 0; round < ROUNDS; round++) await announce(instances[(peer + round) % 2]!, infoHash, peer, round);
        }),
      ),
    );
    const total = SWARMS * PEERS * ROUNDS;
    const deadline = Date.now() + 30_000;
    while (received < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    stop.abort();
    await consuming;
    consumerRedis.disconnect();
    assert.deepEqual(problems, []);
    assert.equal(received, total);
    assert.equal(last.size, SWARMS);
    for (const { seq } of last.values()) assert.equal(seq, PEERS * ROUNDS);

    // Metrics: every event counted once over the instances; the group's lag per partition from one of them.
    const sum = (text: string, name: string): number =>
      [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((total, match) => total + Number(match[1]), 0);
    const metrics = await Promise.all(instances.map((instance) => instance.metrics()));
    assert.equal(metrics.reduce((total, text) => total + sum(text, 'redswarm_events_appended_total'), 0), total);
    assert.equal(metrics.reduce((total, text) => total + sum(text, 'redswarm_events_append_failures_total'), 0), 0);
    const lagDeadline = Date.now() + 30_000;
    let lagLines: string[] = [];
    while (Date.now() < lagDeadline) {
      const texts = await Promise.all(instances.map((instance) => instance.metrics()));
      lagLines = texts.flatMap((text) => text.split('\n').filter((line) => line.startsWith('redswarm_events_consumer_lag{') && line.includes('group="order-check"')));
      // Sampled every 5 s: a sample taken while the consumer still read shows its lag then.
      if (lagLines.length === PARTITIONS && lagLines.every((line) => line.endsWith(' 0'))) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(lagLines.length, PARTITIONS, lagLines.join('\n'));
    for (const line of lagLines) assert.match(line, / 0$/);
  });
});
