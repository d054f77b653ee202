/**
 * A (swarm, peer_id) belongs to the socket that announced it first, over real loopback sockets: another socket
 * announcing it (peer_ids are in every relayed offer) is refused, cannot stop it, and never gets its offers;
 * the refusal leaves that socket's own bookkeeping clean; once the owner leaves or its entry expires, the
 * peer_id is free again.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { register } from 'prom-client';
import type { TrackerConfig } from '../../src/config/index.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { storeOptions } from '../../src/store/create-store.js';
import type { WsAnnounceRequest, WsAnnounceResult } from '../../src/store/store.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { RawSocket, binaryId, offer, type Json } from '../helpers/raw-socket.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { metricValue } from '../helpers/prometheus.js';

const IN_USE = 'peer_id is in use by another connection';
const WS_PEER_TTL = 60;

const trackers: TestTracker[] = [];
const sockets: RawSocket[] = [];

after(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  for (const t of trackers) await t.stop();
});

/** A tracker on a memory store whose clock the test moves. */
async function tracker(overrides: Partial<TrackerConfig> = {}) {
  const clock = { now: Math.floor(Date.now() / 1000) };
  const t = await startTestTracker(
    { wsPeerTtl: WS_PEER_TTL, ...overrides },
    (config) => new MemoryStore({ peerTtlSeconds: config.peerTtl, wsPeerTtlSeconds: config.wsPeerTtl, now: () => clock.now }),
  );
  trackers.push(t);
  const connect = async (): Promise<RawSocket> => {
    const socket = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
    sockets.push(socket);
    return socket;
  };
  const counts = async (infoHash: string): Promise<[number, number]> => {
    const [c] = await t.store.scrapeWs([infoHash]);
    return [c!.complete, c!.incomplete];
  };
  return { t, clock, connect, counts };
}

const announce = (infoHash: string, peerId: string, extra: Json = {}): Json => ({
  action: 'announce',
  info_hash: infoHash,
  peer_id: peerId,
  left: 10,
  numwant: 5,
  offers: [],
  ...extra,
});

const inUse = (infoHash: string): Json => ({ action: 'announce', 'failure reason': IN_USE, info_hash: infoHash });

/** A scrape round trip: everything the tracker sent this socket before it has arrived. */
const flush = (socket: RawSocket): Promise<Json> => socket.request({ action: 'scrape', info_hash: binaryId('z', 0) });

const offersOf = (socket: RawSocket): Json[] => socket.received.filter((m) => m.offer !== undefined);

async function rejectedAnnounces(): Promise<number> {
  return total(parseExposition(await register.metrics()), 'redswarm_requests_total', { protocol: 'ws', action: 'announce', outcome: 'rejected' });
}

describe('WebSocket peer_id ownership', () => {
  it("refuses another socket's announce and stopped of a peer_id, and offers keep reaching the owner", async () => {
    const { t, connect, counts } = await tracker();
    const ih = binaryId('i', 1);
    const ownerId = binaryId('o', 1);
    const owner = await connect();
    assert.equal((await owner.request(announce(ih, ownerId))).incomplete, 1);
    const thief = await connect();
    const conflicts = await metricValue('redswarm_ws_announces_refused_total', { reason: 'peer_id in use' });
    const rejected = await rejectedAnnounces();

    // Its offers are relayed to nobody: the owner is the only other peer and gets none of them.
    assert.deepEqual(await thief.request(announce(ih, ownerId, { left: 0, offers: [offer(binaryId('\u00fc', 1))] })), inUse(ih));
    assert.deepEqual(await thief.request(announce(ih, ownerId, { event: 'completed', left: 0 })), inUse(ih));
    assert.deepEqual(await thief.request(announce(ih, ownerId, { event: 'stopped' })), inUse(ih));
    assert.equal(await metricValue('redswarm_ws_announces_refused_total', { reason: 'peer_id in use' }), conflicts + 3);
    assert.equal(await rejectedAnnounces(), rejected + 3, 'counted as rejected announces');
    assert.deepEqual(await counts(ih), [0, 1], 'the owner is still the one leecher');
    assert.equal((await t.store.scrapeWs([ih]))[0]!.downloaded, 0, 'the refused completed was not counted');

    // Offers for the peer_id still go to the owner's socket, never to the other one.
    const sender = await connect();
    const offerId = binaryId('\u00fd', 1);
    await sender.request(announce(ih, binaryId('s', 1), { offers: [offer(offerId)] }));
    const relayed = await owner.next('the offer', (m) => m.offer_id === offerId);
    assert.equal(relayed.peer_id, binaryId('s', 1));
    await flush(thief);
    assert.deepEqual(offersOf(thief), []);
    assert.deepEqual(offersOf(owner).map((m) => m.offer_id), [offerId], 'no offer of the refused announce');

    // The other socket's close does not take the owner's peer with it.
    await thief.close();
    await flush(owner);
    assert.deepEqual(await counts(ih), [0, 2]);
    const again = binaryId('\u00fd', 2);
    await sender.request(announce(ih, binaryId('s', 1), { numwant: 1, offers: [offer(again)] }));
    await owner.next('the next offer', (m) => m.offer_id === again);
  });

  it('a refused announce takes no place of its socket\'s swarm limit, and the peer_id is free once its owner leaves', async () => {
    const { connect, counts } = await tracker({ wsMaxSwarmsPerSocket: 2 });
    const hashes = [1, 2, 3].map((i) => binaryId('m', i));
    const ownerId = binaryId('o', 2);
    // The peer_id is held in three swarms, over two sockets (each at its limit of two).
    const owners = [await connect(), await connect()];
    for (const [i, ih] of hashes.entries()) assert.equal((await owners[i >> 1]!.request(announce(ih, ownerId))).incomplete, 1);
    const owner = owners[1]!;
    const other = await connect();
    // More refusals than the socket's swarm limit: each one's place was given back.
    for (const ih of hashes) assert.deepEqual(await other.request(announce(ih, ownerId)), inUse(ih));
    assert.equal((await other.request(announce(hashes[0]!, binaryId('x', 2)))).incomplete, 2);

    // Once the owner stopped, the other socket may announce the peer_id, and its close removes it.
    await owner.request(announce(hashes[2]!, ownerId, { event: 'stopped' }));
    assert.deepEqual(await counts(hashes[2]!), [0, 0]);
    const taken = await other.request(announce(hashes[2]!, ownerId, { left: 0 }));
    assert.deepEqual([taken.complete, taken.incomplete], [1, 0]);
    assert.deepEqual(await owner.request(announce(hashes[2]!, ownerId)), inUse(hashes[2]!), 'the first owner is now the other one');
    await other.close();
    await waitFor('the closed socket\'s peers to leave', async () => (await counts(hashes[2]!))[0] === 0);
    assert.deepEqual(await counts(hashes[0]!), [0, 1], 'only the closed socket\'s own peer left that swarm');
    assert.equal((await owner.request(announce(hashes[2]!, ownerId))).incomplete, 1, 'free again');
  });

  it('after its entry expired, a socket announces again; once another socket took the peer_id, not until it is free', async () => {
    const { clock, connect, counts } = await tracker();
    const ih = binaryId('e', 1);
    const peerId = binaryId('o', 3);
    const first = await connect();
    await first.request(announce(ih, peerId));
    clock.now += WS_PEER_TTL + 1; // the socket is open, but its entry expired (it stopped announcing)
    assert.equal((await first.request(announce(ih, peerId))).incomplete, 1, 'its own expired entry is no conflict');

    clock.now += WS_PEER_TTL + 1;
    const second = await connect();
    assert.equal((await second.request(announce(ih, peerId))).incomplete, 1, 'an expired entry is nobody\'s');
    assert.deepEqual(await first.request(announce(ih, peerId)), inUse(ih));
    const sender = await connect();
    const offerId = binaryId('\u00fb', 1);
    await sender.request(announce(ih, binaryId('s', 3), { offers: [offer(offerId)] }));
    await second.next('the offer, at the new holder', (m) => m.offer_id === offerId);
    await flush(first);
    assert.deepEqual(offersOf(first), []);

    // The holder leaves: the first socket announces the peer_id again, holds it, and its close removes it.
    await second.close();
    await waitFor('the holder to leave', async () => (await counts(ih))[1] === 1);
    assert.equal((await first.request(announce(ih, peerId))).incomplete, 2);
    await first.close();
    await waitFor('the first socket\'s peer to leave', async () => (await counts(ih))[1] === 1);
  });

  it('with a store that answers later, a refusal answered after the socket announced the peer_id again (accepted) leaves it the peer', async () => {
    // Each call answered 100 ms after the previous one, in order, as one Redis connection answers.
    class LaterStore extends MemoryStore {
      private tail: Promise<unknown> = Promise.resolve();
      override announceWsNow(): undefined {
        return undefined;
      }
      override announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult> {
        const next = this.tail.then(() => new Promise((resolve) => setTimeout(resolve, 100))).then(() => super.announceWs(request));
        this.tail = next.catch(() => {});
        return next;
      }
    }
    const t = await startTestTracker({}, (config) => new LaterStore(storeOptions(config)));
    trackers.push(t);
    const open = async () => {
      const socket = await RawSocket.open(`ws://127.0.0.1:${t.port}`);
      sockets.push(socket);
      return socket;
    };
    const ih = binaryId('h', 4);
    const peerId = binaryId('p', 4);
    const owner = await open();
    const other = await open();
    assert.equal((await owner.request(announce(ih, peerId))).incomplete, 1);
    other.send(announce(ih, peerId)); // refused: the owner holds it (answered ~100 ms later)
    await new Promise((resolve) => setTimeout(resolve, 20));
    await owner.close(); // its stopped goes after that refusal
    await new Promise((resolve) => setTimeout(resolve, 20));
    other.send(announce(ih, peerId)); // accepted: the owner left before it
    await other.until('both answers', () => other.received.length >= 2 && other.received);
    assert.deepEqual(other.received[0], inUse(ih));
    assert.equal(other.received[1]!.incomplete, 1, 'the other socket holds the peer now');
    await other.close();
    await waitFor('its peer to leave with it', async () => (await t.store.scrapeWs([ih]))[0]!.incomplete === 0);
  });
});

/** Polls `done` (a close is handled after the client sees it), bounded. */
async function waitFor(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await done())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
