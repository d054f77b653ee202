/**
 * The WebSocket tracker over real loopback sockets, frame by frame: announce replies, offers relayed to distinct
 * peers, answers relayed only for offers that were forwarded, scrape, separation from HTTP/UDP peers, and
 * peers leaving with their socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import bencode from 'bencode';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { RawSocket, binaryId, offer, type Json } from '../helpers/raw-socket.js';
import { metricValue } from '../helpers/prometheus.js';

const WS_INTERVAL = 120;
const JITTER = 0.1;

/** Every byte percent-encoded, for an HTTP query. */
function percent(binary: string): string {
  return Array.from(binary, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
}

describe('WebSocket tracker', () => {
  let t: TestTracker;
  let url: string;
  const sockets: RawSocket[] = [];

  const connect = async (path = '/announce'): Promise<RawSocket> => {
    const socket = await RawSocket.open(url + path);
    sockets.push(socket);
    return socket;
  };

  /** Announces `peerId` in `infoHash` and returns the reply. */
  const join = (socket: RawSocket, infoHash: string, peerId: string, extra: Json = {}): Promise<Json> =>
    socket.request({ action: 'announce', info_hash: infoHash, peer_id: peerId, event: 'started', left: 10, ...extra });

  const scrapeWs = async (infoHashes: string[]): Promise<Json> => {
    const socket = await connect();
    const reply = await socket.request({ action: 'scrape', info_hash: infoHashes });
    await socket.close();
    return reply.files as Json;
  };

  /** Offers received by a socket (messages carrying `offer`). */
  const offersOf = (socket: RawSocket): Json[] => socket.received.filter((m) => m.offer !== undefined);

  /** A scrape round trip: everything the tracker sent this socket before it has arrived. */
  const flush = (socket: RawSocket): Promise<Json> => socket.request({ action: 'scrape', info_hash: binaryId('z', 0) });

  before(async () => {
    t = await startTestTracker({ wsInterval: WS_INTERVAL, intervalJitter: JITTER });
    url = `ws://127.0.0.1:${t.port}`;
  });

  after(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    await t.stop();
  });

  it('replies to an announce with interval, info_hash and WebSocket-only counts; HTTP keeps working on the port', async () => {
    const ih = binaryId('\u00e1', 1);
    const httpAnnounce = `http://127.0.0.1:${t.port}/announce?info_hash=${percent(ih)}&peer_id=${'-qB4650-000000000000'}&port=6881&left=0`;
    const http = bencode.decode(Buffer.from(await (await fetch(httpAnnounce)).arrayBuffer())) as Record<string, unknown>;
    assert.equal(http.complete, 1, 'the HTTP announce went through');

    const a = await connect('/');
    const reply = await join(a, ih, binaryId('a', 1));
    assert.deepEqual(Object.keys(reply).sort(), ['action', 'complete', 'incomplete', 'info_hash', 'interval']);
    assert.equal(reply.action, 'announce');
    assert.equal(reply.info_hash, ih);
    assert.deepEqual([reply.complete, reply.incomplete], [0, 1], 'the HTTP seeder is not counted');
    const interval = reply.interval as number;
    assert.ok(Number.isInteger(interval) && interval >= WS_INTERVAL && interval <= WS_INTERVAL * (1 + JITTER), `${interval}`);

    const b = await connect('/announce');
    const second = await join(b, ih, binaryId('b', 1), { left: 0 });
    assert.deepEqual([second.complete, second.incomplete], [1, 1]);

    const httpScrape = await fetch(`http://127.0.0.1:${t.port}/scrape?info_hash=${percent(ih)}`);
    const { files } = bencode.decode(Buffer.from(await httpScrape.arrayBuffer())) as { files: Record<string, Record<string, number>> };
    const counts = Object.values(files)[0]!;
    assert.deepEqual([counts.complete, counts.incomplete], [1, 0], 'HTTP scrape counts HTTP/UDP peers only');
    assert.deepEqual(await scrapeWs([ih]), { [ih]: { complete: 1, incomplete: 1, downloaded: 0 } }, 'WebSocket scrape counts WebSocket peers only');
  });

  it('relays each offer to a different peer, never back to the sender, as the sender\'s announce', async () => {
    const ih = binaryId('\u0000', 2);
    const others = await Promise.all([1, 2, 3, 4].map(() => connect()));
    for (const [i, socket] of others.entries()) await join(socket, ih, binaryId('p', i));
    const sender = await connect();
    const senderId = binaryId('s', 0xff0a);
    const offerIds = [1, 2, 3].map((i) => binaryId('\u00ff', i));
    const reply = await join(sender, ih, senderId, { numwant: 5, offers: offerIds.map((id) => offer(id, `sdp ${id}`)) });
    assert.deepEqual([reply.complete, reply.incomplete], [0, 5]);

    await Promise.all(others.map(flush));
    const delivered = others.map(offersOf);
    assert.deepEqual(delivered.map((list) => list.length).sort(), [0, 1, 1, 1], 'three offers, each to a different peer');
    const got = delivered.flat();
    assert.deepEqual(got.map((m) => m.offer_id).sort(), [...offerIds].sort());
    for (const m of got) {
      assert.deepEqual(Object.keys(m).sort(), ['action', 'info_hash', 'offer', 'offer_id', 'peer_id']);
      assert.equal(m.action, 'announce');
      assert.equal(m.info_hash, ih);
      assert.equal(m.peer_id, senderId, 'the offer names its sender');
      assert.deepEqual(m.offer, { type: 'offer', sdp: `sdp ${m.offer_id as string}` });
    }
    await flush(sender);
    assert.deepEqual(offersOf(sender), [], 'the sender gets no offer, its own least of all');

    // More offers than peers: every other peer gets one; a numwant below the offers caps them.
    await join(sender, ih, senderId, { offers: [5, 6, 7, 8, 9, 10].map((i) => offer(binaryId('o', i))) });
    await Promise.all(others.map(flush));
    assert.deepEqual(others.map((s) => offersOf(s).length).sort(), [1, 2, 2, 2]);
    await join(sender, ih, senderId, { numwant: 1, offers: [11, 12, 13].map((i) => offer(binaryId('o', i))) });
    await Promise.all(others.map(flush));
    assert.equal(others.reduce((sum, s) => sum + offersOf(s).length, 0), 3 + 4 + 1);
  });

  it('relays an answer only to the peer whose offer was forwarded to that socket, and never replies to it', async () => {
    const ih = binaryId('\u0080', 3);
    const a = await connect();
    const aId = binaryId('a', 3);
    await join(a, ih, aId);
    const b = await connect();
    const bId = binaryId('b', 3);
    const offerId = binaryId('\u00fe', 3);
    await join(b, ih, bId, { offers: [offer(offerId)] });
    const relayed = await a.next('the offer', (m) => m.offer_id === offerId);
    assert.equal(relayed.peer_id, bId);
    const dropped = await metricValue('redswarm_ws_answers_dropped_total');

    // A socket that never got the offer cannot answer it, even naming the right peers.
    const c = await connect();
    await join(c, ih, binaryId('c', 3));
    const answer = (to: string, id: string, extra: Json = {}): Json => ({
      action: 'announce',
      info_hash: ih,
      peer_id: aId,
      to_peer_id: to,
      offer_id: id,
      answer: { type: 'answer', sdp: `answer to ${id}` },
      ...extra,
    });
    c.send(answer(bId, offerId));
    // Nor the right socket with a wrong offer_id, sender, info hash or answering peer.
    a.send(answer(bId, binaryId('\u00fe', 4)));
    a.send(answer(binaryId('b', 4), offerId));
    a.send(answer(bId, offerId, { info_hash: binaryId('\u0080', 4) }));
    a.send(answer(bId, offerId, { peer_id: binaryId('x', 3) }));
    await Promise.all([flush(a), flush(c)]);
    assert.equal(await metricValue('redswarm_ws_answers_dropped_total'), dropped + 5);

    const seen = a.received.length;
    a.send(answer(bId, offerId));
    const got = await b.next('the answer', (m) => m.answer !== undefined);
    assert.deepEqual(got, { action: 'announce', info_hash: ih, peer_id: aId, offer_id: offerId, answer: { type: 'answer', sdp: `answer to ${offerId}` } });
    const after = await flush(a);
    assert.equal(a.received.indexOf(after), seen, 'no reply to an answer');

    // An offer is answered once.
    a.send(answer(bId, offerId));
    await flush(a);
    await flush(b);
    assert.equal(b.received.filter((m) => m.answer !== undefined).length, 1);
    assert.equal(await metricValue('redswarm_ws_answers_dropped_total'), dropped + 6);
  });

  it('scrapes one hash or several, with zeros for unknown ones, and refuses a full scrape unless enabled', async () => {
    const [x, y, unknown] = [binaryId('x', 5), binaryId('y', 5), binaryId('u', 5)];
    const s = await connect();
    await join(s, x, binaryId('a', 5), { left: 0 });
    await join(s, y, binaryId('a', 5));
    await join(s, y, binaryId('b', 5), { event: 'completed', left: 0 });
    const one = await s.request({ action: 'scrape', info_hash: x });
    assert.deepEqual(one, { action: 'scrape', files: { [x]: { complete: 1, incomplete: 0, downloaded: 0 } } });
    const several = await s.request({ action: 'scrape', info_hash: [y, unknown, x] });
    assert.deepEqual(several.files, {
      [x]: { complete: 1, incomplete: 0, downloaded: 0 },
      [y]: { complete: 1, incomplete: 1, downloaded: 1 },
      [unknown]: { complete: 0, incomplete: 0, downloaded: 0 },
    });
    assert.deepEqual(await s.request({ action: 'scrape' }), { action: 'scrape', 'failure reason': 'full scrape is disabled: give info_hash' });
  });

  it('answers malformed messages with a failure naming the swarm, and keeps the socket', async () => {
    const ih = binaryId('m', 6);
    const s = await connect();
    const malformed = await metricValue('redswarm_requests_total', { protocol: 'ws', action: 'unknown', outcome: 'error' });
    assert.deepEqual(await s.request({ action: 'announce', info_hash: ih, peer_id: 'short' }), {
      action: 'announce',
      'failure reason': 'peer_id must be a 20-byte binary string',
      info_hash: ih,
    });
    assert.deepEqual(await s.request('not json'), { action: 'announce', 'failure reason': 'invalid JSON' });
    assert.deepEqual(await s.request({ action: 'scrape', info_hash: [7] }), { action: 'scrape', 'failure reason': 'info_hash must be a 20-byte binary string' });
    assert.equal(await metricValue('redswarm_requests_total', { protocol: 'ws', action: 'unknown', outcome: 'error' }), malformed + 3);
    assert.equal((await join(s, ih, binaryId('a', 6))).incomplete, 1, 'the socket still serves');
  });

  it('removes every peer of a socket from all its swarms when it closes', async () => {
    const hashes = [7, 8, 9].map((i) => binaryId('h', i));
    const leaving = await connect();
    // Two peer_ids on one socket, as two WebTorrent clients in one page share it.
    for (const ih of hashes) await join(leaving, ih, binaryId('l', 1));
    await join(leaving, hashes[0]!, binaryId('l', 2), { left: 0 });
    const staying = await connect();
    await join(staying, hashes[0]!, binaryId('s', 1));
    assert.deepEqual(await scrapeWs(hashes), {
      [hashes[0]!]: { complete: 1, incomplete: 2, downloaded: 0 },
      [hashes[1]!]: { complete: 0, incomplete: 1, downloaded: 0 },
      [hashes[2]!]: { complete: 0, incomplete: 1, downloaded: 0 },
    });
    await leaving.close();
    const zero = { complete: 0, incomplete: 0, downloaded: 0 };
    const files = await waitForScrape(hashes, (f) => (f[hashes[1]!] as Json).incomplete === 0);
    assert.deepEqual(files, { [hashes[0]!]: { complete: 0, incomplete: 1, downloaded: 0 }, [hashes[1]!]: zero, [hashes[2]!]: zero });
    assert.deepEqual(await t.store.listWsSwarms(1000).then((l) => l.filter((h) => hashes.includes(h))), [hashes[0]]);
    // The one left gets no offer for a peer that is gone: nobody is left to offer to.
    const reply = await join(staying, hashes[0]!, binaryId('s', 1), { offers: [offer(binaryId('o', 77))] });
    assert.deepEqual([reply.complete, reply.incomplete], [0, 1]);
  });

  it('keeps a socket\'s pairs under interleaved peer_ids apart: a stopped removes its pair only, the close the rest', async () => {
    const [h1, h2] = [21, 22].map((i) => binaryId('h', i));
    const [p1, p2] = [binaryId('m', 1), binaryId('m', 2)];
    const socket = await connect();
    // p1 in h1, then p2 in h1 and h2, then p1 in h2: each peer_id's pairs are not next to each other.
    await join(socket, h1!, p1);
    await join(socket, h1!, p2);
    await join(socket, h2!, p2);
    await join(socket, h2!, p1);
    const counts = async (): Promise<number[]> => Object.values(await scrapeWs([h1!, h2!])).map((c) => (c as Json).incomplete as number);
    assert.deepEqual(await counts(), [2, 2]);
    const stop = (ih: string, peerId: string): Promise<Json> => socket.request({ action: 'announce', info_hash: ih, peer_id: peerId, event: 'stopped' });
    assert.equal((await stop(h1!, p2)).incomplete, 1);
    assert.equal((await stop(h2!, p1)).incomplete, 1);
    assert.deepEqual(await counts(), [1, 1]);
    // Announced again after its stopped: one pair again, not two.
    await join(socket, h1!, p2);
    assert.equal((await stop(h1!, p2)).incomplete, 1);
    await socket.close();
    const files = await waitForScrape([h1!, h2!], (f) => Object.values(f).every((c) => (c as Json).incomplete === 0));
    assert.deepEqual(Object.values(files).map((c) => (c as Json).incomplete), [0, 0], 'the close removed p1 from h1 and p2 from h2');
  });

  /** Scrapes until `done` holds (a close is handled after the client sees it), bounded. */
  async function waitForScrape(hashes: string[], done: (files: Json) => boolean): Promise<Json> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const files = await scrapeWs(hashes);
      if (done(files) || Date.now() > deadline) return files;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('a stopped removes the peer; a stopped or a close from another socket cannot remove it', async () => {
    const ih = binaryId('k', 10);
    const owner = await connect();
    const ownerId = binaryId('o', 10);
    await join(owner, ih, ownerId);
    const intruder = await connect();
    const reply = await intruder.request({ action: 'announce', info_hash: ih, peer_id: ownerId, event: 'stopped' });
    assert.deepEqual(reply, { action: 'announce', 'failure reason': 'peer_id is in use by another connection', info_hash: ih }, 'another socket cannot stop the peer');
    await intruder.close();
    assert.deepEqual(await scrapeWs([ih]), { [ih]: { complete: 0, incomplete: 1, downloaded: 0 } });
    const stopped = await owner.request({ action: 'announce', info_hash: ih, peer_id: ownerId, event: 'stopped' });
    assert.deepEqual([stopped.complete, stopped.incomplete], [0, 0]);
    assert.deepEqual(await scrapeWs([ih]), { [ih]: { complete: 0, incomplete: 0, downloaded: 0 } });
  });

  it('closes a socket that sends a binary frame, and removes its peers', async () => {
    const ih = binaryId('q', 11);
    const s = await connect();
    await join(s, ih, binaryId('q', 1));
    const malformed = await metricValue('redswarm_requests_total', { protocol: 'ws', action: 'unknown', outcome: 'error' });
    s.send(Buffer.from(JSON.stringify({ action: 'scrape', info_hash: ih })));
    assert.equal(await s.closed(), 1003);
    assert.equal(await metricValue('redswarm_requests_total', { protocol: 'ws', action: 'unknown', outcome: 'error' }), malformed + 1);
    const files = await waitForScrape([ih], (f) => (f[ih] as Json).incomplete === 0);
    assert.deepEqual(files, { [ih]: { complete: 0, incomplete: 0, downloaded: 0 } });
  });
});

describe('WebSocket tracker with full scrape and a short offer timeout', () => {
  let t: TestTracker;
  /** The tracker's offer-timeout clock, moved by the test. */
  let clockMs = 0;

  before(async () => {
    t = await startTestTracker({ fullScrapeLimit: 2, wsOfferTimeout: 1 }, undefined, { clockMs: () => clockMs });
  });

  after(async () => {
    await t.stop();
  });

  it('lists at most --full-scrape-limit WebSocket swarms', async () => {
    const s = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
    await fetch(`http://127.0.0.1:${t.port}/announce?info_hash=${'%01'.repeat(20)}&peer_id=${'-qB4650-000000000000'}&port=6881`);
    for (const i of [1, 2, 3]) await s.request({ action: 'announce', info_hash: binaryId('f', i), peer_id: binaryId('p', 1) });
    const full = await s.request({ action: 'scrape' });
    const listed = Object.keys(full.files as Json);
    assert.equal(listed.length, 2);
    for (const ih of listed) assert.match(ih, /^f{18}/, 'WebSocket swarms only');
    await s.close();
  });

  it('drops an answer that comes after the offer timeout', async () => {
    const ih = binaryId('t', 1);
    const a = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
    const b = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
    await a.request({ action: 'announce', info_hash: ih, peer_id: binaryId('a', 1) });
    const offerId = binaryId('\u00fd', 1);
    await b.request({ action: 'announce', info_hash: ih, peer_id: binaryId('b', 1), offers: [offer(offerId)] });
    await a.next('the offer', (m) => m.offer_id === offerId);
    const dropped = await metricValue('redswarm_ws_answers_dropped_total');
    clockMs += 1001; // past the 1 s offer timeout
    a.send({ action: 'announce', info_hash: ih, peer_id: binaryId('a', 1), to_peer_id: binaryId('b', 1), offer_id: offerId, answer: { type: 'answer', sdp: 'late' } });
    await a.request({ action: 'scrape', info_hash: ih });
    await b.request({ action: 'scrape', info_hash: ih });
    assert.equal(await metricValue('redswarm_ws_answers_dropped_total'), dropped + 1);
    assert.equal(b.received.filter((m) => m.answer !== undefined).length, 0);
    await Promise.all([a.close(), b.close()]);
  });

  it('forgets a socket\'s offers once answered or timed out, not only when its next offer comes', async () => {
    const ih = binaryId('t', 2);
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => RawSocket.open(`ws://127.0.0.1:${t.port}`)));
    await a!.request({ action: 'announce', info_hash: ih, peer_id: binaryId('a', 2) });
    await c!.request({ action: 'announce', info_hash: ih, peer_id: binaryId('c', 2) });
    const offerIds = [binaryId('\u00fc', 1), binaryId('\u00fc', 2)];
    await b!.request({ action: 'announce', info_hash: ih, peer_id: binaryId('b', 2), offers: offerIds.map((id) => offer(id)) });
    const toA = await a!.next('an offer', (m) => m.offer_id !== undefined);
    await c!.next('an offer', (m) => m.offer_id !== undefined);
    const { ws } = t.tracker;
    assert.equal(ws.forgetExpiredOffers(), 2, 'a and c hold one offer each');
    a!.send({ action: 'announce', info_hash: ih, peer_id: binaryId('a', 2), to_peer_id: binaryId('b', 2), offer_id: toA.offer_id, answer: { type: 'answer', sdp: 'in time' } });
    await b!.next('the answer', (m) => m.answer !== undefined);
    assert.equal(ws.forgetExpiredOffers(), 1, 'answered: a holds none');
    clockMs += 1001; // past the 1 s offer timeout
    assert.equal(ws.forgetExpiredOffers(), 0, 'timed out: c holds none');
    await Promise.all([a!.close(), b!.close(), c!.close()]);
  });
});
