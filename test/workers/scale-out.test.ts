/**
 * Scale-out as operators run it: instances of `src/cli.ts`, each a primary with two workers, sharing one
 * 3-master Redis Cluster. Swarms are shared across instances, UDP load spreads over workers, a worker killed
 * with SIGKILL is replaced while the others keep answering, SIGTERM drains, and /metrics is valid Prometheus
 * exposition whose counters match what was sent.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startInstance, startTwoInstances, type Instance, type TwoInstances } from '../helpers/instance.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpConnectPacket } from '../helpers/wire.js';

const announceQuery = (infoHash: Buffer, port: number, left = 0) =>
  `info_hash=${percentEncodeAll(infoHash)}&peer_id=${`-SO0001-${port}`.padEnd(20, 'x')}&port=${port}&left=${left}`;

async function httpAnnounce(instance: Instance, infoHash: Buffer, port: number) {
  const response = await fetch(`${instance.httpUrl}?${announceQuery(infoHash, port)}`, { signal: AbortSignal.timeout(5000) });
  return decodeStrictDict(new Uint8Array(await response.arrayBuffer()));
}

function compactPeers(peers: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 6 <= peers.length; at += 6) out.push(`${peers.subarray(at, at + 4).join('.')}:${peers.readUInt16BE(at + 4)}`);
  return out;
}

/** Sends `count` UDP announces (connect + announce each) from `sockets` sockets; resolves with the replies' actions. */
async function udpAnnounces(instance: Instance, infoHash: Buffer, count: number, sockets = 8): Promise<number[]> {
  const actions: number[] = [];
  const perSocket = Math.ceil(count / sockets);
  await Promise.all(
    Array.from({ length: sockets }, (_, s) =>
      new Promise<void>((resolve, reject) => {
        const socket = dgram.createSocket('udp4');
        let sent = 0;
        let connectionId: Buffer | null = null;
        const timer = setTimeout(() => {
          socket.close();
          reject(new Error(`UDP socket ${s}: ${sent}/${perSocket} replies`));
        }, 10_000);
        const next = () => {
          if (sent === perSocket) {
            clearTimeout(timer);
            socket.close();
            resolve();
            return;
          }
          const packet = udpAnnouncePacket({
            connectionId: connectionId!,
            transactionId: s * 100_000 + sent,
            infoHash,
            peerId: Buffer.alloc(20, 0x61 + s),
            numwant: 10,
            port: 20_000 + s * 1000 + sent,
          });
          socket.send(packet, instance.port, '127.0.0.1');
        };
        socket.on('message', (reply) => {
          if (reply.readUInt32BE(0) === 0) {
            connectionId = reply.subarray(8, 16);
            next();
            return;
          }
          actions.push(reply.readUInt32BE(0));
          sent++;
          next();
        });
        socket.send(udpConnectPacket(s), instance.port, '127.0.0.1');
      }),
    ),
  );
  return actions;
}

describe('two instances with two workers each on one Redis Cluster', () => {
  let instances: TwoInstances | undefined;
  let a: Instance;
  let b: Instance;
  before(async () => {
    instances = await startTwoInstances();
    ({ a, b } = instances);
  });
  after(() => instances?.stop());

  it('an HTTP peer announced to instance A is returned by instance B', async () => {
    const infoHash = Buffer.alloc(20, 0x11);
    await httpAnnounce(a, infoHash, 7001);
    const reply = await httpAnnounce(b, infoHash, 7002);
    assert.deepEqual(compactPeers(reply.bytes('peers')), ['127.0.0.1:7001']);
    assert.equal(reply.int('complete'), 2);
  });

  it('UDP announces spread over the workers, and /metrics counts them per worker', async () => {
    const before = parseExposition(await a.metrics());
    const actions = await udpAnnounces(a, Buffer.alloc(20, 0x22), 400);
    assert.ok(actions.every((action) => action === 1), 'every reply is an announce reply');
    const samples = parseExposition(await a.metrics());
    const announced = (worker: string) =>
      total(samples, 'redswarm_requests_total', { protocol: 'udp', action: 'announce', outcome: 'ok', worker }) -
      total(before, 'redswarm_requests_total', { protocol: 'udp', action: 'announce', outcome: 'ok', worker });
    assert.equal(announced('1') + announced('2'), 400, 'the counters match what was sent');
    assert.ok(announced('1') > 0 && announced('2') > 0, `both workers answered (${announced('1')} / ${announced('2')})`);
  });

  it('serves valid Prometheus exposition whose HTTP counters match the requests sent', async () => {
    const infoHash = Buffer.alloc(20, 0x33);
    const before = total(parseExposition(await b.metrics()), 'redswarm_requests_total', { protocol: 'http', action: 'announce', outcome: 'ok' });
    for (let i = 0; i < 25; i++) await httpAnnounce(b, infoHash, 8000 + i);
    await fetch(`${b.httpUrl}?info_hash=short`).then((r) => r.arrayBuffer());
    const samples = parseExposition(await b.metrics());
    assert.equal(total(samples, 'redswarm_requests_total', { protocol: 'http', action: 'announce', outcome: 'ok' }) - before, 25);
    assert.ok(total(samples, 'redswarm_requests_total', { protocol: 'http', action: 'announce', outcome: 'error' }) >= 1);
    assert.ok(total(samples, 'redswarm_request_duration_seconds_count', { protocol: 'http', action: 'announce' }) >= 25);
    assert.ok(total(samples, 'redswarm_store_operation_duration_seconds_count', { operation: 'announce' }) >= 25);
    assert.ok(total(samples, 'redswarm_swarms') >= 1);
    const stats = (await (await fetch(`http://127.0.0.1:${b.metricsPort}/stats.json`)).json()) as {
      workers: number;
      requests: { http: { announce: { ok: number } } };
    };
    assert.equal(stats.workers, 2);
    assert.ok(stats.requests.http.announce.ok >= 25);
    assert.equal((await fetch(`http://127.0.0.1:${b.metricsPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${b.metricsPort}/readyz`)).status, 200);
  });

  it('a worker killed with SIGKILL under load is replaced, and the other worker keeps answering', async () => {
    const infoHash = Buffer.alloc(20, 0x44);
    const [victim, survivor] = a.workerPids();
    assert.ok(victim && survivor, 'two workers');
    let stop = false;
    let failures = 0;
    let answered = 0;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const reply = await httpAnnounce(a, infoHash, 9000 + (i % 500));
          if (reply.has('complete')) answered++;
        } catch {
          failures++; // a connection that lived on the killed worker
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(victim, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (!(a.workerPids().length === 2 && !a.workerPids().includes(victim))) {
      assert.ok(Date.now() < deadline, 'a new worker replaces the killed one');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const answeredAtRestart = answered;
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await load;
    assert.ok(answered > answeredAtRestart, 'requests are answered after the restart');
    assert.ok(failures <= 5, `only requests on the killed worker's connection failed (${failures})`);
    assert.match(a.output(), /"msg":"worker died; restarting"/);
  });
});

describe('SIGTERM', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis('single', ['--enable-debug-command', 'local']);
  });
  after(() => redis.stop());

  it('drains: requests already accepted are answered, and the instance exits 0 within the bound', async () => {
    const url = (redis.target as { url: string }).url;
    const instance = await startInstance(['--redis', url, '--shutdown-timeout', '5', '--store-timeout', '5000'], { workers: 2 });
    const infoHash = Buffer.alloc(20, 0x55);
    await httpAnnounce(instance, infoHash, 10_000); // warm: connections and scripts
    // Redis stalls, so the requests below are accepted and wait in the workers when SIGTERM arrives.
    const sleeper = new Redis(url);
    const stalled = sleeper.call('DEBUG', 'SLEEP', '1.5');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const inFlight = Array.from({ length: 50 }, (_, i) => httpAnnounce(instance, infoHash, 10_001 + i));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const exited = instance.stop(20_000);
    const replies = await Promise.all(inFlight);
    for (const reply of replies) assert.ok(reply.has('complete'), 'answered, not reset');
    assert.equal(await exited, 0);
    await stalled;
    sleeper.disconnect();
  });
});
