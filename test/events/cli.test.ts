/**
 * `redswarm events`: `streams` names the partition streams, `tail` follows them (JSON or one line per event,
 * `all` from the oldest entry), `totals` prints the reference consumer's totals.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { partitionStreams } from '../../src/events/consumer.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { hash, v4 } from '../store/conformance.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARTITIONS = 4;

/** Runs `redswarm events ARGS…` until it has printed `lines` lines (or exits), then stops it; its stdout lines. */
async function events(args: string[], lines: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'events', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.split('\n').length > lines) child.kill('SIGTERM');
  });
  await exited;
  clearTimeout(deadline);
  return out.split('\n').filter((line) => line !== '');
}

describe('redswarm events', () => {
  let redis: TestRedis;
  let url: string;
  before(async () => {
    redis = await startRedis('single');
    url = (redis.target as { url: string }).url;
    const store = await RedisStore.connect({ peerTtlSeconds: 600, wsPeerTtlSeconds: 600, now: () => Math.floor(Date.now() / 1000), target: redis.target, timeoutMs: 5000, onError: () => {}, events: { partitions: PARTITIONS, maxlen: 1000 } });
    await store.announce({ infoHash: hash(1), peer: v4(1), event: 'started', seeder: false, numwant: 0, protocol: 'udp', key: 0xabcdef01, uploaded: 0, downloaded: 0, left: 10 });
    await store.announce({ infoHash: hash(1), peer: v4(1), event: 'completed', seeder: true, numwant: 0, protocol: 'udp', key: 0xabcdef01, uploaded: 5, downloaded: 10, left: 0 });
    await store.close();
  });
  after(() => redis.stop());

  it('names the partition streams', async () => {
    assert.deepEqual(await events(['streams', '--events-partitions', String(PARTITIONS)], PARTITIONS), [...partitionStreams(PARTITIONS)]);
  });

  it('tails the streams as JSON and as lines', async () => {
    const json = (await events(['tail', 'json', 'all', '--redis', url, '--events-partitions', String(PARTITIONS)], 2)).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(json.map((e) => [e.seq, e.event, e.key, e.downloaded, e.complete]), [[1, 'started', 'abcdef01', 0, 0], [2, 'completed', 'abcdef01', 10, 1]]);
    const lines = await events(['tail', 'all', '--redis', url, '--events-partitions', String(PARTITIONS)], 2);
    assert.match(lines[1]!, /^\S+Z [0-9a-f]{40} bt#2 completed udp 10\.0\.0\.1:6881 seeder key=abcdef01 up=5 down=10 left=0 \[1\/0\] \{ev4\.\d+\.\d+\}:events \d+-\d+$/);
  });

  it('prints the accounting totals', async () => {
    const [text] = [(await events(['totals', '--redis', url, '--events-partitions', String(PARTITIONS)], 1000)).join('\n')];
    assert.deepEqual(JSON.parse(text!), { keys: {}, torrents: {} });
  });
});
