/**
 * The abuse limits over real sockets, on trackers with small limits and a clock the test moves: HTTP, UDP and
 * WebSocket announces over --announce-rate-limit get a failure that says when to come back; a UDP source sending
 * invalid connection IDs is banned (no reply at all, even to a valid connect) and released after the ban;
 * WebSocket connections beyond --ws-max-sockets-per-ip are refused. Other addresses (127.0.0.2) are unaffected,
 * and everything refused is counted in the metrics. Loopback is exempt by default: these trackers turn that off,
 * and the last test checks the exemption.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import type { TrackerConfig } from '../../src/config/index.js';
import { metricValue } from '../helpers/prometheus.js';
import { RawSocket, binaryId } from '../helpers/raw-socket.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { bytesOf, decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpConnectPacket } from '../helpers/wire.js';

const WAIT_MS = 5000;
const WINDOW = 30;
const OTHER_ADDRESS = '127.0.0.2';

const trackers: TestTracker[] = [];
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers) await close();
  for (const t of trackers) await t.stop();
});

/** A tracker with these options, limits on loopback too, and a clock (ms) that only the test moves. */
async function tracker(overrides: Partial<TrackerConfig>): Promise<{ t: TestTracker; clock: { now: number } }> {
  const clock = { now: 1_000_000 };
  const t = await startTestTracker({ exemptLoopback: false, ...overrides }, undefined, { clockMs: () => clock.now });
  trackers.push(t);
  return { t, clock };
}

/** One HTTP announce (a fresh connection each, from `localAddress`), its reply decoded. */
function httpAnnounce(t: TestTracker, infoHash: string, localAddress = '127.0.0.1', event = ''): Promise<Map<string, unknown>> {
  const query =
    `info_hash=${percentEncodeAll(bytesOf(infoHash))}&peer_id=${percentEncodeAll(bytesOf(binaryId('p', 1)))}` +
    `&port=6881&uploaded=0&downloaded=0&left=0&compact=1${event === '' ? '' : `&event=${event}`}`;
  return new Promise((resolve, reject) => {
    const request = http.get(`${t.httpUrl}?${query}`, { agent: false, localAddress, timeout: WAIT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const reply = decodeStrictDict(Buffer.concat(chunks));
        resolve(new Map(reply.keys.map((key) => [key, reply.entries.get(key) instanceof Buffer ? String(reply.entries.get(key)) : reply.entries.get(key)])));
      });
    });
    request.on('timeout', () => request.destroy(new Error('HTTP announce timed out')));
    request.on('error', reject);
  });
}

/** A UDP client socket on `localAddress`; datagrams are kept in the order they arrive. */
class UdpClient {
  private readonly inbox: Buffer[] = [];

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly port: number,
  ) {
    socket.on('message', (message) => this.inbox.push(message));
  }

  static async open(t: TestTracker, localAddress = '127.0.0.1'): Promise<UdpClient> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, localAddress, resolve));
    closers.push(() => new Promise((resolve) => socket.close(() => resolve())));
    return new UdpClient(socket, t.port);
  }

  send(packet: Buffer): void {
    this.socket.send(packet, this.port, '127.0.0.1');
  }

  /** The next datagram that arrives (bounded wait). */
  async next(): Promise<Buffer> {
    if (this.inbox.length === 0) await once(this.socket, 'message', { signal: AbortSignal.timeout(WAIT_MS) });
    return this.inbox.shift()!;
  }

  async request(packet: Buffer): Promise<Buffer> {
    this.send(packet);
    return this.next();
  }

  /** A valid connection ID (asserts the connect was answered). */
  async connect(transactionId: number): Promise<Buffer> {
    const reply = await this.request(udpConnectPacket(transactionId));
    assert.deepEqual([reply.readUInt32BE(0), reply.readUInt32BE(4)], [0, transactionId], 'a connect reply');
    return reply.subarray(8, 16);
  }
}

const announceOver = (connectionId: Uint8Array, transactionId: number, infoHash: string): Buffer =>
  udpAnnouncePacket({ connectionId, transactionId, infoHash: bytesOf(infoHash), peerId: bytesOf(binaryId('p', 1)), port: 6881 });

/** The action, transaction ID and (for errors) message of a UDP reply. */
const udpReply = (reply: Buffer): [number, number, string] => [reply.readUInt32BE(0), reply.readUInt32BE(4), reply.readUInt32BE(0) === 3 ? reply.subarray(8).toString() : ''];

const REFUSAL = `too many announces of this torrent from your address: retry in ${WINDOW} s`;

describe('--announce-rate-limit over real sockets', () => {
  it('HTTP: the announce over the limit gets `failure reason` and `min interval`; other torrents and addresses are served', async () => {
    const { t, clock } = await tracker({ announceRateLimit: 2, announceRateWindow: WINDOW });
    const ih = binaryId('h', 1);
    const limited = await metricValue('redswarm_announces_rate_limited_total', { protocol: 'http' });
    const rejected = await metricValue('redswarm_requests_total', { protocol: 'http', action: 'announce', outcome: 'rejected' });
    for (let i = 0; i < 2; i++) assert.ok((await httpAnnounce(t, ih)).has('interval'));
    assert.deepEqual(await httpAnnounce(t, ih), new Map<string, unknown>([['failure reason', REFUSAL], ['min interval', WINDOW]]));
    assert.ok((await httpAnnounce(t, binaryId('h', 2))).has('interval'), 'another torrent');
    assert.ok((await httpAnnounce(t, ih, OTHER_ADDRESS)).has('interval'), 'another address');
    assert.equal(await metricValue('redswarm_announces_rate_limited_total', { protocol: 'http' }), limited + 1);
    assert.equal(await metricValue('redswarm_requests_total', { protocol: 'http', action: 'announce', outcome: 'rejected' }), rejected + 1);
    // After `min interval` the count has dropped (here to a third of the earlier window): served again.
    clock.now += (WINDOW + 1) * 1000;
    assert.ok((await httpAnnounce(t, ih)).has('interval'));
  });

  it('UDP: the announce over the limit gets an error packet saying when to retry', async () => {
    const { t } = await tracker({ announceRateLimit: 2, announceRateWindow: WINDOW });
    const ih = binaryId('u', 1);
    const limited = await metricValue('redswarm_announces_rate_limited_total', { protocol: 'udp' });
    const client = await UdpClient.open(t);
    const id = await client.connect(1);
    for (let i = 0; i < 2; i++) assert.equal(udpReply(await client.request(announceOver(id, 10 + i, ih)))[0], 1);
    assert.deepEqual(udpReply(await client.request(announceOver(id, 12, ih))), [3, 12, REFUSAL]);
    assert.equal(udpReply(await client.request(announceOver(id, 13, binaryId('u', 2))))[0], 1, 'another torrent');
    assert.equal(await metricValue('redswarm_announces_rate_limited_total', { protocol: 'udp' }), limited + 1);
  });

  it('WebSocket: the announce over the limit gets a JSON failure with `min interval`', async () => {
    const { t } = await tracker({ announceRateLimit: 2, announceRateWindow: WINDOW });
    const ih = binaryId('w', 1);
    const limited = await metricValue('redswarm_announces_rate_limited_total', { protocol: 'ws' });
    const socket = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
    closers.push(async () => void (await socket.close()));
    const announce = { action: 'announce', info_hash: ih, peer_id: binaryId('p', 1), numwant: 0 };
    for (let i = 0; i < 2; i++) assert.equal((await socket.request(announce)).incomplete, 1);
    assert.deepEqual(await socket.request(announce), { action: 'announce', 'failure reason': REFUSAL, info_hash: ih, 'min interval': WINDOW });
    assert.equal(await metricValue('redswarm_announces_rate_limited_total', { protocol: 'ws' }), limited + 1);
  });
});

describe('--udp-ban-threshold over real sockets', () => {
  it('a source sending too many invalid connection IDs gets no reply at all, even to a valid connect, until the ban ends', async () => {
    const { t, clock } = await tracker({ udpBanThreshold: 3, udpBanWindow: 60, udpBanDuration: 10 });
    const bans = await metricValue('redswarm_udp_bans_total');
    const dropped = await metricValue('redswarm_udp_banned_datagrams_total');
    const client = await UdpClient.open(t);
    const forged = Buffer.alloc(8, 0xab);
    for (let i = 0; i < 3; i++) assert.deepEqual(udpReply(await client.request(announceOver(forged, 20 + i, binaryId('b', 1)))), [3, 20 + i, 'invalid connection id']);
    client.send(announceOver(forged, 23, binaryId('b', 1))); // the one over the threshold: banned, no reply
    client.send(udpConnectPacket(24)); // a valid request from a banned source: no reply either
    // Another address is served meanwhile.
    const other = await UdpClient.open(t, OTHER_ADDRESS);
    await other.connect(30);
    assert.equal(await metricValue('redswarm_udp_bans_total'), bans + 1);
    clock.now += 10_000;
    // Datagrams from one socket are handled in order: had 23 or 24 been answered, that reply would come first.
    assert.deepEqual(udpReply(await client.request(udpConnectPacket(25))).slice(0, 2), [0, 25]);
    assert.equal(await metricValue('redswarm_udp_banned_datagrams_total'), dropped + 1);
  });
});

describe('--ws-max-sockets-per-ip over real sockets', () => {
  it('an upgrade beyond the cap gets 429; another address is admitted, and a close makes room', async () => {
    const { t } = await tracker({ wsMaxSocketsPerIp: 2 });
    const url = `ws://127.0.0.1:${t.port}`;
    const refusals = await metricValue('redswarm_ws_source_limit_refusals_total');
    const open = async (localAddress = '127.0.0.1'): Promise<RawSocket> => {
      const socket = await RawSocket.open(url, { localAddress });
      closers.push(async () => void (await socket.close()));
      return socket;
    };
    const first = await open();
    await open();
    await assert.rejects(RawSocket.open(url), /HTTP 429/);
    assert.equal(await metricValue('redswarm_ws_source_limit_refusals_total'), refusals + 1);
    await open(OTHER_ADDRESS);
    await first.close();
    const again = await open();
    assert.equal((await again.request({ action: 'scrape', info_hash: binaryId('x', 1) })).action, 'scrape');
    assert.equal(t.tracker.ws.sockets, 3);
  });
});

describe('sources behind --trusted-proxies', () => {
  it('a WebSocket through a trusted proxy counts against the client address in X-Forwarded-For, not the proxy', async () => {
    const { t } = await tracker({ wsMaxSocketsPerIp: 1, trustedProxies: ['127.0.0.1'] });
    const url = `ws://127.0.0.1:${t.port}`;
    const viaProxy = async (client: string): Promise<RawSocket> => {
      const socket = await RawSocket.open(url, { headers: { 'x-forwarded-for': client } });
      closers.push(async () => void (await socket.close()));
      return socket;
    };
    await viaProxy('198.51.100.1');
    await viaProxy('198.51.100.2');
    await assert.rejects(viaProxy('198.51.100.1'), /HTTP 429/);
  });
});

describe('--exempt-loopback over real sockets (the default)', () => {
  it('loopback sources are never rate limited, banned or capped', async () => {
    const t = await startTestTracker({ announceRateLimit: 1, udpBanThreshold: 1, wsMaxSocketsPerIp: 1 });
    trackers.push(t);
    const ih = binaryId('e', 1);
    for (let i = 0; i < 3; i++) assert.ok((await httpAnnounce(t, ih)).has('interval'));
    const client = await UdpClient.open(t);
    for (let i = 0; i < 3; i++) assert.equal(udpReply(await client.request(announceOver(Buffer.alloc(8), 40 + i, ih)))[0], 3);
    const id = await client.connect(43);
    for (let i = 0; i < 3; i++) assert.equal(udpReply(await client.request(announceOver(id, 44 + i, ih)))[0], 1);
    for (let i = 0; i < 2; i++) {
      const socket = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
      closers.push(async () => void (await socket.close()));
    }
  });
});
