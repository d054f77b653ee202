/**
 * Every WebSocket limit of the configuration, each on a tracker of its own with a small value: offers relayed
 * per announce, message size, swarms per socket, sockets per process, idle timeout (pings unanswered) and
 * backpressure (a reader that does not read is dropped). Whenever a limit closes a socket, its peers leave.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { TrackerConfig } from '../../src/config/index.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { RawSocket, binaryId, offer, type Json } from '../helpers/raw-socket.js';
import { metricValue } from '../helpers/prometheus.js';

const trackers: TestTracker[] = [];
const sockets: RawSocket[] = [];

after(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  for (const t of trackers) await t.stop();
});

async function tracker(overrides: Partial<TrackerConfig>): Promise<{ t: TestTracker; connect: () => Promise<RawSocket> }> {
  const t = await startTestTracker(overrides);
  trackers.push(t);
  const connect = async (): Promise<RawSocket> => {
    const socket = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
    sockets.push(socket);
    return socket;
  };
  return { t, connect };
}

const announce = (infoHash: string, peerId: string, extra: Json = {}): Json => ({
  action: 'announce',
  info_hash: infoHash,
  peer_id: peerId,
  ...extra,
});

/** WebSocket counts of a swarm once `done` holds (a close is handled after the client sees it), bounded. */
async function countsWhen(t: TestTracker, infoHash: string, done: (incomplete: number) => boolean): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const [counts] = await t.store.scrapeWs([infoHash]);
    if (done(counts!.incomplete) || Date.now() > deadline) return counts!.incomplete;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('WebSocket limits', () => {
  it('--ws-max-offers: relays at most that many offers of one announce', async () => {
    const { t, connect } = await tracker({ wsMaxOffers: 2 });
    const ih = binaryId('o', 1);
    const others = await Promise.all([1, 2, 3, 4].map(() => connect()));
    for (const [i, s] of others.entries()) await s.request(announce(ih, binaryId('p', i)));
    const sender = await connect();
    const relayed = await metricValue('redswarm_ws_offers_relayed_total', { kind: 'offer' });
    await sender.request(announce(ih, binaryId('s', 1), { offers: [1, 2, 3, 4, 5].map((i) => offer(binaryId('\u00f0', i))) }));
    for (const s of others) await s.request({ action: 'scrape', info_hash: ih });
    const offers = others.map((s) => s.received.filter((m) => m.offer !== undefined).length);
    assert.deepEqual([...offers].sort(), [0, 0, 1, 1]);
    assert.equal(await metricValue('redswarm_ws_offers_relayed_total', { kind: 'offer' }), relayed + 2);
  });

  it('--ws-max-message-bytes: a larger message closes the socket and its peers leave', async () => {
    const { t, connect } = await tracker({ wsMaxMessageBytes: 1024 });
    const ih = binaryId('m', 1);
    const s = await connect();
    const fits = announce(ih, binaryId('p', 1), { offers: [offer(binaryId('\u00f1', 1), 'x'.repeat(800))] });
    assert.ok(JSON.stringify(fits).length <= 1024);
    assert.equal((await s.request(fits)).incomplete, 1);
    s.send(announce(ih, binaryId('p', 1), { offers: [offer(binaryId('\u00f1', 2), 'x'.repeat(1100))] }));
    await s.closed(); // uWebSockets.js drops the connection (the client sees 1006)
    assert.equal(await countsWhen(t, ih, (n) => n === 0), 0);
  });

  it('--ws-max-swarms-per-socket: a further swarm is refused, naming it; leaving one makes room', async () => {
    const { t, connect } = await tracker({ wsMaxSwarmsPerSocket: 3 });
    const s = await connect();
    const hashes = [1, 2, 3, 4].map((i) => binaryId('w', i));
    for (const ih of hashes.slice(0, 3)) assert.equal((await s.request(announce(ih, binaryId('p', 1)))).incomplete, 1);
    assert.deepEqual(await s.request(announce(hashes[3]!, binaryId('p', 1))), {
      action: 'announce',
      'failure reason': 'too many swarms on one connection (at most 3)',
      info_hash: hashes[3],
    });
    assert.deepEqual(await t.store.scrapeWs([hashes[3]!]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
    assert.equal(await metricValue('redswarm_ws_announces_refused_total', { reason: 'swarm limit' }), 1);
    // A second peer_id in a swarm counts as a membership too; a re-announce does not.
    assert.equal((await s.request(announce(hashes[0]!, binaryId('p', 2)))).action, 'announce');
    assert.ok('failure reason' in (await s.request(announce(hashes[0]!, binaryId('p', 2)))));
    assert.equal((await s.request(announce(hashes[0]!, binaryId('p', 1)))).incomplete, 1);
    await s.request(announce(hashes[2]!, binaryId('p', 1), { event: 'stopped' }));
    assert.equal((await s.request(announce(hashes[3]!, binaryId('p', 1)))).incomplete, 1);
  });

  it('--ws-max-sockets: a further upgrade gets 503; closing one makes room', async () => {
    const { t, connect } = await tracker({ wsMaxSockets: 2 });
    const first = await connect();
    await connect();
    await assert.rejects(RawSocket.open(`ws://127.0.0.1:${t.port}`), /HTTP 503/);
    assert.equal(await metricValue('redswarm_ws_upgrades_refused_total'), 1);
    await first.close();
    const third = await connect();
    assert.equal((await third.request({ action: 'scrape', info_hash: binaryId('x', 1) })).action, 'scrape');
    assert.equal(t.tracker.ws.sockets, 2);
  });

  it('--ws-idle-timeout: a socket that answers no ping is closed and its peers leave; one that answers stays', async () => {
    const { t, connect } = await tracker({ wsIdleTimeout: 8 });
    const ih = binaryId('i', 1);
    const silent = await RawSocket.open(`ws://127.0.0.1:${t.port}`, { autoPong: false });
    sockets.push(silent);
    let pinged = false;
    silent.ws.on('ping', () => (pinged = true));
    const alive = await connect();
    await silent.request(announce(ih, binaryId('s', 1)));
    await alive.request(announce(ih, binaryId('a', 1)));
    // uWebSockets.js times out in steps of 4 s: the silent socket goes between 8 and about 16 s later.
    await silent.closed(30_000);
    assert.ok(pinged, 'the tracker pinged before giving up');
    assert.equal(await countsWhen(t, ih, (n) => n === 1), 1);
    assert.equal(alive.closeCode, undefined, 'the socket that answered pings is still open');
    assert.equal((await alive.request({ action: 'scrape', info_hash: ih })).action, 'scrape');
  });

  it('--ws-max-backpressure: a socket that does not read is dropped, not buffered for, and its peers leave', async () => {
    // Up to 2000 announces of one torrent from one address: no per-address rate limit here.
    const { t, connect } = await tracker({ wsMaxBackpressure: 64 * 1024, announceRateLimit: 0 });
    const ih = binaryId('b', 1);
    const slow = await rawUpgrade(t.port);
    slow.write(maskedTextFrame(JSON.stringify(announce(ih, binaryId('r', 1)))));
    slow.pause(); // reads nothing more: the kernel buffers fill, then uWebSockets.js's
    const sender = await connect();
    assert.equal(await countsWhen(t, ih, (n) => n === 1), 1);
    const sdp = 'x'.repeat(60_000);
    // Offers of 60 kB to the only other peer until it is dropped (kernel buffers take a few MB first); bounded.
    for (let i = 0; i < 2000 && (await metricValue('redswarm_ws_slow_readers_total')) === 0; i++) {
      await sender.request(announce(ih, binaryId('s', 1), { offers: [offer(binaryId('\u00f2', i), sdp)] }));
    }
    assert.equal(await metricValue('redswarm_ws_slow_readers_total'), 1);
    assert.equal(await countsWhen(t, ih, (n) => n === 1), 1, 'only the sender is left');
    const reply = await sender.request(announce(ih, binaryId('s', 1), { offers: [offer(binaryId('\u00f3', 1))] }));
    assert.deepEqual([reply.complete, reply.incomplete], [0, 1]);
    slow.destroy();
  });
});

/** A WebSocket handshake over a plain TCP socket, whose reading the test then controls. */
async function rawUpgrade(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    'GET /announce HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const head = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 /);
  return socket;
}

/** One client-to-server text frame (clients must mask). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 65536);
  const head = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = payload.map((byte, i) => byte ^ mask[i % 4]!);
  return Buffer.concat([head, mask, masked]);
}
