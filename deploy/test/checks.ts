/**
 * What deploy/test/run.sh asks of running containers, as a client would: announces over HTTP and UDP with the
 * `bittorrent-tracker` Client, WebTorrent signaling with raw WebSocket frames, BEP 15 packets by hand, the
 * operator endpoints, Prometheus' HTTP API and Redis' function list. Everything is on 127.0.0.1.
 *
 *   node --import tsx deploy/test/checks.ts single   PORT METRICS_PORT
 *   node --import tsx deploy/test/checks.ts cross    PORT_1 PORT_2 METRICS_1 METRICS_2
 *   node --import tsx deploy/test/checks.ts prometheus PROMETHEUS_PORT METRICS_1 METRICS_2
 *   node --import tsx deploy/test/checks.ts upgrade  OLD_PORT NEW_PORT REDIS_PORT LIBRARIES
 *   node --import tsx deploy/test/checks.ts ready    METRICS_PORT [SECONDS]
 *
 * Prints one `ok …` line per check; exits 1 with the reason at the first failure, 2 on bad usage.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { ClientRecorder } from '../../test/helpers/client-recorder.js';
import { RawSocket, offer, type Json } from '../../test/helpers/raw-socket.js';
import { percentEncodeAll, udpAnnouncePacket, udpConnectPacket } from '../../test/helpers/wire.js';
import Client from '../../test/server/load-tracker-client.js';

const HOST = '127.0.0.1';
const WAIT_MS = 10_000;

function ok(what: string): void {
  process.stdout.write(`ok ${what}\n`);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, waitMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + waitMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP and UDP: the bittorrent-tracker Client

type Recorder = ClientRecorder<string>;

function client(name: string, announce: string, infoHash: Buffer, port: number): Recorder {
  const peerId = Buffer.from(`-DT0001-${randomBytes(6).toString('hex')}`);
  const tracker = new Client({ infoHash, peerId, announce: [announce], port });
  const recorder = new ClientRecorder<string>(name, tracker, WAIT_MS);
  return recorder;
}

/** `first` announces to `urlA`, then `second` to `urlB` (both `started`): `second` must be given `first`. */
async function peerCrosses(label: string, urlA: string, urlB: string): Promise<void> {
  const infoHash = randomBytes(20);
  const portA = 20_000 + Math.floor(Math.random() * 20_000);
  const first = client(`first (${urlA})`, urlA, infoHash, portA);
  const second = client(`second (${urlB})`, urlB, infoHash, portA + 1);
  try {
    first.client.start();
    const update = await first.nextUpdate();
    assert.equal(update.incomplete + update.complete, 1, `${label}: the first peer is alone in its swarm`);
    second.client.start();
    await second.until(`${label}: the first peer in the second's reply`, () => second.peers.includes(`${HOST}:${portA}`));
    const seen = await second.scrape();
    assert.equal(seen.incomplete + seen.complete, 2, `${label}: a scrape counts both peers`);
    ok(`${label}: a peer announced to ${urlA} is returned by ${urlB}, and scrapes count both`);
  } finally {
    first.client.destroy();
    second.client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// UDP by hand: a connection ID from one address, used on another

function udpExchange(port: number, packet: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP reply from ${HOST}:${port}`));
    }, 3000);
    socket.once('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(message);
    });
    socket.bind(0, HOST, () => socket.send(packet, port, HOST));
  });
}

async function udpConnectionIdShared(portA: number, portB: number): Promise<void> {
  // A fresh socket per packet: the ID is bound to the address (and so to the source port).
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const replies: Buffer[] = [];
  socket.on('message', (message) => replies.push(message));
  const next = async (what: string): Promise<Buffer> => waitFor(what, async () => replies.shift(), 3000);
  try {
    socket.send(udpConnectPacket(0x1234), portA, HOST);
    const connect = await next(`a UDP connect reply from port ${portA}`);
    assert.equal(connect.readUInt32BE(0), 0, 'connect action');
    const connectionId = connect.subarray(8, 16);
    let accepted = 0;
    // Several announces: with several workers per instance, every worker of the other instance must accept it.
    for (let i = 0; i < 8; i++) {
      socket.send(
        udpAnnouncePacket({ connectionId, transactionId: 0x5000 + i, infoHash: randomBytes(20), peerId: randomBytes(20), port: 30_000 + i, numwant: 5 }),
        portB,
        HOST,
      );
      const reply = await next(`a UDP announce reply from port ${portB}`);
      assert.equal(reply.readUInt32BE(0), 1, `announce ${i} on port ${portB} with port ${portA}'s connection ID: ${reply.subarray(8).toString()}`);
      accepted++;
    }
    ok(`UDP: a connection ID from port ${portA} is accepted by port ${portB} (${accepted} announces): one shared secret`);
  } finally {
    socket.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// WebSocket: an offer from a socket on one port reaches a socket on the other, and its answer comes back

async function wsOfferCrosses(portFrom: number, portTo: number): Promise<void> {
  const infoHash = randomBytes(20).toString('latin1');
  const receiverId = randomBytes(20).toString('latin1');
  const senderId = randomBytes(20).toString('latin1');
  const announce = (peerId: string, extra: Json = {}): Json => ({ action: 'announce', info_hash: infoHash, peer_id: peerId, left: 100, numwant: 5, offers: [], ...extra });
  const receiver = await RawSocket.open(`ws://${HOST}:${portTo}/announce`);
  const sender = await RawSocket.open(`ws://${HOST}:${portFrom}/announce`);
  try {
    const first = await receiver.request(announce(receiverId));
    assert.equal(first.incomplete, 1, `the receiver is alone in its swarm: ${JSON.stringify(first)}`);
    const offerId = randomBytes(20).toString('latin1');
    const reply = await sender.request(announce(senderId, { offers: [offer(offerId, 'v=0 deploy-test offer')] }));
    assert.equal(reply.incomplete, 2, `both sockets are in the swarm: ${JSON.stringify(reply)}`);
    const relayed = await receiver.next('the offer from the other instance', (m) => m.offer_id === offerId);
    assert.equal(relayed.peer_id, senderId);
    assert.deepEqual(relayed.offer, { type: 'offer', sdp: 'v=0 deploy-test offer' });
    receiver.send({ action: 'announce', info_hash: infoHash, peer_id: receiverId, to_peer_id: senderId, offer_id: offerId, answer: { type: 'answer', sdp: 'v=0 deploy-test answer' } });
    const answer = await sender.next('the answer from the other instance', (m) => m.answer !== undefined);
    assert.equal(answer.peer_id, receiverId);
    assert.equal(answer.offer_id, offerId);
    ok(`WebSocket: an offer from a socket on port ${portFrom} reaches a socket on port ${portTo}, and its answer comes back`);
  } finally {
    await Promise.all([receiver.close(), sender.close()]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Operator endpoints

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, text: await response.text() };
}

async function ready(metricsPort: number, seconds = 60): Promise<void> {
  const url = `http://${HOST}:${metricsPort}/readyz`;
  const body = await waitFor(
    `${url} to answer 200 ready`,
    async () => {
      const { status, text } = await get(url);
      return status === 200 && text.startsWith('ready') ? text : undefined;
    },
    seconds * 1000,
  );
  ok(`${url}: ${body.trim()}`);
}

/** Requests counted by protocol in /metrics (summed over workers). */
async function requestsByProtocol(metricsPort: number): Promise<Record<string, number>> {
  const { text } = await get(`http://${HOST}:${metricsPort}/metrics`);
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^redswarm_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const protocol = /protocol="([^"]+)"/.exec(match[1]!)?.[1] ?? '?';
    counts[protocol] = (counts[protocol] ?? 0) + Number(match[2]);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

async function single(port: number, metricsPort: number): Promise<void> {
  await ready(metricsPort, 30);
  await peerCrosses('HTTP', `http://${HOST}:${port}/announce`, `http://${HOST}:${port}/announce`);
  await peerCrosses('UDP', `udp://${HOST}:${port}`, `udp://${HOST}:${port}`);
  await peerCrosses('HTTP then UDP', `http://${HOST}:${port}/announce`, `udp://${HOST}:${port}`);
  await wsOfferCrosses(port, port);
  const counts = await requestsByProtocol(metricsPort);
  for (const protocol of ['http', 'udp', 'ws']) assert.ok((counts[protocol] ?? 0) > 0, `/metrics counts ${protocol} requests: ${JSON.stringify(counts)}`);
  ok(`/metrics counts the requests: ${JSON.stringify(counts)}`);
  const stats = JSON.parse((await get(`http://${HOST}:${metricsPort}/stats.json`)).text) as Json;
  ok(`/stats.json answers: ${JSON.stringify(stats).slice(0, 160)}`);
}

/**
 * Announces over HTTP until one succeeds (at most 20 s). Not a check: the first requests after a start may fail
 * (reported as a note) while the store's connections settle; what follows must then succeed every time.
 */
async function firstAnswer(port: number): Promise<void> {
  const started = Date.now();
  const failures: string[] = [];
  const peerId = `-DT0001-${randomBytes(6).toString('hex')}`;
  await waitFor(`a first successful HTTP announce on port ${port}`, async () => {
    const query = `info_hash=${percentEncodeAll(randomBytes(20))}&peer_id=${peerId}&port=6881&left=0&numwant=0&event=stopped`;
    const body = Buffer.from(await (await fetch(`http://${HOST}:${port}/announce?${query}`, { signal: AbortSignal.timeout(5000) })).arrayBuffer());
    const failure = /14:failure reason(\d+):/.exec(body.toString('latin1'));
    if (failure === null) return true;
    failures.push(body.toString('latin1', failure.index + failure[0].length, failure.index + failure[0].length + Number(failure[1])));
    return undefined;
  }, 20_000);
  if (failures.length > 0) {
    process.stdout.write(`note port ${port}: ${failures.length} failed announce(s) before the first answer after ${Date.now() - started} ms: ${[...new Set(failures)].join('; ')}\n`);
  }
}

async function cross(port1: number, port2: number, metrics1: number, metrics2: number): Promise<void> {
  await ready(metrics1);
  await ready(metrics2);
  await firstAnswer(port1);
  await firstAnswer(port2);
  await peerCrosses('HTTP across instances', `http://${HOST}:${port1}/announce`, `http://${HOST}:${port2}/announce`);
  await peerCrosses('UDP across instances', `udp://${HOST}:${port1}`, `udp://${HOST}:${port2}`);
  await udpConnectionIdShared(port1, port2);
  await udpConnectionIdShared(port2, port1);
  await wsOfferCrosses(port1, port2);
  await wsOfferCrosses(port2, port1);
}

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
  lastError: string;
}

async function prometheus(prometheusPort: number, metrics: number[]): Promise<void> {
  const base = `http://${HOST}:${prometheusPort}`;
  const wanted = metrics.map((port) => `http://${HOST}:${port}/metrics`);
  const targets = await waitFor(
    `Prometheus to report ${wanted.join(' and ')} up`,
    async () => {
      const body = JSON.parse((await get(`${base}/api/v1/targets`)).text) as { data: { activeTargets: Target[] } };
      const active = body.data.activeTargets;
      return wanted.every((url) => active.some((t) => t.scrapeUrl === url && t.health === 'up')) ? active : undefined;
    },
    60_000,
  );
  ok(`Prometheus targets up: ${targets.map((t) => `${t.labels.instance_name ?? t.labels.instance}=${t.health}`).join(', ')}`);

  // Every query of the Grafana dashboard is valid PromQL and finds the series it charts (Grafana itself does not
  // run here: no image of it can be built from the registries this machine reaches).
  const dashboard = JSON.parse(readFileSync(new URL('../grafana-dashboard.json', import.meta.url), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr.replaceAll('$__rate_interval', '1m') })));
  const up = await waitFor('redswarm series in Prometheus', async () => {
    const body = JSON.parse((await get(`${base}/api/v1/query?query=${encodeURIComponent('count(redswarm_requests_total)')}`)).text) as { data: { result: unknown[] } };
    return body.data.result.length > 0 ? true : undefined;
  }, 60_000);
  assert.ok(up);
  for (const { title, expr } of queries) {
    const { status, text } = await get(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    assert.equal(status, 200, `dashboard panel "${title}": ${expr}: ${text}`);
  }
  ok(`the ${queries.length} queries of deploy/grafana-dashboard.json evaluate in Prometheus`);
}

async function upgrade(oldPort: number, newPort: number, redisPort: number, libraries: number): Promise<void> {
  const redis = new Redis({ host: HOST, port: redisPort, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const list = ((await redis.call('FUNCTION', 'LIST')) as unknown[][]).map((entry) => String(entry[1]));
    const ours = list.filter((name) => name.startsWith('redswarm'));
    assert.equal(ours.length, libraries, `redswarm function libraries on the master at ${redisPort}: ${JSON.stringify(list)}`);
    ok(`Redis master ${redisPort} holds ${ours.length} redswarm function ${ours.length === 1 ? 'library (same lua/ in both versions)' : 'libraries side by side'}: ${ours.join(', ')}`);
  } finally {
    redis.disconnect();
  }
  // Each version answers while the other runs.
  for (const port of [oldPort, newPort]) {
    await peerCrosses(`HTTP on ${port}`, `http://${HOST}:${port}/announce`, `http://${HOST}:${port}/announce`);
    await peerCrosses(`UDP on ${port}`, `udp://${HOST}:${port}`, `udp://${HOST}:${port}`);
    await wsOfferCrosses(port, port);
  }
  // Whether they also share swarms depends on the key layouts of the two versions (docs/scaling.md): reported.
  try {
    await peerCrosses(`HTTP, previous version then new`, `http://${HOST}:${oldPort}/announce`, `http://${HOST}:${newPort}/announce`);
  } catch (error) {
    process.stdout.write(`note the two versions do not share swarms (key layouts differ?): ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const n = rest.map(Number);
  const usage = (): never => {
    process.stderr.write(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(5, 10).join('\n') + '\n');
    process.exit(2);
  };
  if (n.some((value) => !Number.isInteger(value))) usage();
  if (command === 'single' && n.length === 2) await single(n[0]!, n[1]!);
  else if (command === 'cross' && n.length === 4) await cross(n[0]!, n[1]!, n[2]!, n[3]!);
  else if (command === 'prometheus' && n.length >= 2) await prometheus(n[0]!, n.slice(1));
  else if (command === 'upgrade' && n.length === 4) await upgrade(n[0]!, n[1]!, n[2]!, n[3]!);
  else if (command === 'ready' && (n.length === 1 || n.length === 2)) await ready(n[0]!, n[1] ?? 60);
  else usage();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
