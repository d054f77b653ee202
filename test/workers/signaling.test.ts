/**
 * WebRTC signaling across instances: two redswarm instances (separate processes, two workers each) share one
 * 3-master Redis Cluster; a `bittorrent-tracker` WebSocket client on instance A and one on instance B exchange
 * an offer and its answer through Redis and open a data channel. A peer_id held by a socket of one instance is
 * refused to a socket of the other. A worker killed with SIGKILL loses its WebSocket peers from their swarms.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTwoInstances, type Instance, type TwoInstances } from '../helpers/instance.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { RawSocket, binaryId, offer, type Json } from '../helpers/raw-socket.js';
import { startSeederThenLeecher } from '../helpers/client-recorder.js';
import { type Recorder, WAIT_MS, WebRtcClients } from '../helpers/webrtc-recorder.js';

describe('signaling between instances on one Redis Cluster', () => {
  let instances: TwoInstances | undefined;
  let a: Instance;
  let b: Instance;
  const webrtc = new WebRtcClients();

  function peer(name: string, instance: Instance, infoHash: string, path: string, left: number, numwant?: number): Recorder {
    return webrtc.peer(name, `${instance.wsUrl}${path}`, infoHash, { left, numwant });
  }

  before(async () => {
    instances = await startTwoInstances();
    ({ a, b } = instances);
  });
  after(async () => {
    try {
      await webrtc.destroyAll();
    } finally {
      await instances?.stop();
    }
  });

  it('a client on instance A and a client on instance B exchange offer and answer and connect', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const seeder = peer('seeder on A', a, infoHash, '/announce', 0);
    const leecher = peer('leecher on B', b, infoHash, '/announce', 1000);
    await startSeederThenLeecher(seeder, leecher);

    await seeder.until("a peer from the leecher's offer", () => seeder.peers.length > 0);
    await leecher.until("a peer from the seeder's answer", () => leecher.peers.length > 0);
    await seeder.until("the leecher's greeting", () => seeder.received.includes('hello from leecher on B'));
    await leecher.until("the seeder's greeting", () => leecher.received.includes('hello from seeder on A'));

    // The offer went from B to A and the answer from A to B: both crossed instances through Redis.
    const relayed = async (instance: Instance, kind: string) =>
      total(parseExposition(await instance.metrics()), 'redswarm_ws_offers_relayed_total', { kind, route: 'remote' });
    assert.ok((await relayed(b, 'offer')) >= 1, 'B relayed an offer to a remote route');
    assert.ok((await relayed(a, 'answer')) >= 1, 'A relayed an answer to a remote route');
  });

  it('a peer_id held by a socket on instance A is refused to a socket on instance B, and offers keep reaching A', async () => {
    const infoHash = randomBytes(20).toString('latin1');
    const peerId = binaryId('h', 1);
    const announce = (id: string, extra: Json = {}): Json => ({ action: 'announce', info_hash: infoHash, peer_id: id, left: 10, numwant: 5, offers: [], ...extra });
    const inUse = { action: 'announce', 'failure reason': 'peer_id is in use by another connection', info_hash: infoHash };
    const owner = await RawSocket.open(a.wsUrl);
    assert.equal((await owner.request(announce(peerId))).incomplete, 1);
    const intruder = await RawSocket.open(b.wsUrl);
    assert.deepEqual(await intruder.request(announce(peerId, { left: 0, offers: [offer(binaryId('\u00fc', 1))] })), inUse);
    assert.deepEqual(await intruder.request(announce(peerId, { event: 'stopped' })), inUse);
    await intruder.close();

    const sender = await RawSocket.open(b.wsUrl);
    const offerId = binaryId('\u00fd', 1);
    const reply = await sender.request(announce(binaryId('s', 1), { numwant: 1, offers: [offer(offerId)] }));
    assert.deepEqual([reply.complete, reply.incomplete], [0, 2], 'the owner is still a leecher; the refused seeder never was');
    const relayed = await owner.next("the offer from B's socket", (m) => m.offer_id === offerId);
    assert.equal(relayed.peer_id, binaryId('s', 1));
    assert.ok(!owner.received.some((m) => m.offer_id === binaryId('\u00fc', 1)), 'no offer of the refused announce');
    await Promise.all([owner.close(), sender.close()]);
  });

  it("a worker killed with SIGKILL: its WebSocket peers leave their swarms", async () => {
    // Twelve sockets spread over A's two workers (each connection lands on one); each is the seeder of a swarm.
    const hashes = Array.from({ length: 12 }, (_, i) => Buffer.alloc(20, 0x60 + i).toString('latin1'));
    const sockets = await Promise.all(hashes.map(() => RawSocket.open(a.wsUrl)));
    for (const [i, socket] of sockets.entries()) {
      const reply = await socket.request({
        action: 'announce',
        info_hash: hashes[i],
        peer_id: Buffer.alloc(20, 0x30 + i).toString('latin1'),
        left: 0,
        numwant: 0,
        offers: [],
      });
      assert.equal(reply.complete, 1);
    }
    const observer = await RawSocket.open(b.wsUrl);
    const seeders = async (): Promise<number[]> => {
      const reply = await observer.request({ action: 'scrape', info_hash: hashes });
      const files = reply.files as Record<string, { complete: number }>;
      return hashes.map((h) => files[h]?.complete ?? 0);
    };
    assert.deepEqual(await seeders(), hashes.map(() => 1));

    const [victim] = a.workerPids();
    process.kill(victim!, 'SIGKILL');
    const deadline = Date.now() + WAIT_MS;
    while (!/removed the dead worker's WebSocket peers/.test(a.output())) {
      assert.ok(Date.now() < deadline, "the primary removes the dead worker's peers");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The sockets the dead worker held were closed; exactly their swarms lost their seeder. Each socket either
    // answers a scrape (its worker lives) or is closed: known for every socket before the counts are compared.
    await Promise.all(
      sockets.map((s, i) => {
        const seen = s.received.length;
        if (s.closeCode === undefined) s.send({ action: 'scrape', info_hash: hashes[i]! });
        return s.until('a scrape reply or the close', () => s.closeCode !== undefined || s.received.length > seen);
      }),
    );
    const dropped = sockets.map((s) => (s.closeCode === undefined ? 1 : 0));
    assert.ok(dropped.includes(0) && dropped.includes(1), `both workers held sockets (${dropped.join('')})`);
    assert.deepEqual(await seeders(), dropped);
    for (const socket of [...sockets, observer]) if (socket.closeCode === undefined) await socket.close();
  });
});
