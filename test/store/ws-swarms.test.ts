/**
 * The embedded store's WebSocket swarms against a plain model (a Map per swarm), over random announces, stops,
 * conflicts and expiry in swarms that grow past the peer_id index threshold and shrink back under it: the
 * compact slot arrays and their index must answer exactly what the model does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { AnnounceEvent } from '../../src/protocol/types.js';
import { WsSwarms } from '../../src/store/memory/ws-swarms.js';

const TTL = 30;

interface ModelPeer {
  route: string;
  seeder: boolean;
  counted: boolean;
  expiresAt: number;
}

const peerIdOf = (n: number): string => `-MO0001-${String(n).padStart(12, '0')}`;
const hashOf = (n: number): string => `swarm-hash-${String(n).padStart(9, '0')}`;

const operation = fc.record({
  swarm: fc.integer({ min: 0, max: 2 }),
  peer: fc.integer({ min: 0, max: 79 }),
  /** Route variant: 0 is the peer's own socket, 1 another one (a conflict while the peer lives). */
  route: fc.constantFrom(0, 0, 0, 1),
  event: fc.constantFrom<AnnounceEvent>('started', 'none', 'completed', 'stopped', 'started', 'none'),
  seeder: fc.boolean(),
  numwant: fc.integer({ min: 0, max: 12 }),
  advance: fc.constantFrom(0, 0, 0, 0, 1, 7, TTL + 1),
});

test('WsSwarms answers as a model does: counts, conflicts, expiry, distinct live peers (index on and off)', () => {
  fc.assert(
    fc.property(fc.array(operation, { minLength: 50, maxLength: 600 }), (operations) => {
      let now = 1_000_000;
      const store = new WsSwarms(TTL);
      const model = new Map<string, { peers: Map<string, ModelPeer>; downloaded: number }>();
      const live = (peers: Map<string, ModelPeer>): void => {
        for (const [id, peer] of peers) if (peer.expiresAt <= now) peers.delete(id);
      };
      for (const op of operations) {
        now += op.advance;
        const infoHash = hashOf(op.swarm);
        const peerId = peerIdOf(op.peer);
        const route = `p/${op.peer}/${op.route}`;
        let swarm = model.get(infoHash);
        if (swarm !== undefined) live(swarm.peers);
        const held = swarm?.peers.get(peerId);
        const result = store.announce({ infoHash, peerId, route, event: op.event, seeder: op.seeder, numwant: op.numwant, ip: '\x7f\0\0\x01' }, now);

        const conflict = held !== undefined && held.route !== route;
        assert.equal(result.conflict, conflict);
        if (!conflict && op.event !== 'stopped') {
          if (swarm === undefined) model.set(infoHash, (swarm = { peers: new Map(), downloaded: 0 }));
          const peer = held ?? { route, seeder: false, counted: false, expiresAt: 0 };
          peer.seeder = op.seeder;
          peer.expiresAt = now + TTL;
          if (op.event === 'completed' && !peer.counted) {
            peer.counted = true;
            swarm.downloaded++;
          }
          swarm.peers.set(peerId, peer);
        } else if (!conflict && held !== undefined) {
          swarm!.peers.delete(peerId);
        }

        const peers = swarm?.peers ?? new Map<string, ModelPeer>();
        const seeders = [...peers.values()].filter((p) => p.seeder).length;
        assert.equal(result.complete, seeders);
        assert.equal(result.incomplete, peers.size - seeders);
        assert.equal(result.downloaded, swarm?.downloaded ?? 0);
        if (!conflict && op.event !== 'stopped') {
          assert.equal(result.peers.length, Math.min(op.numwant, peers.size - 1));
          const ids = new Set(result.peers.map((p) => p.peerId));
          assert.equal(ids.size, result.peers.length, 'distinct peers');
          assert.ok(!ids.has(peerId), 'never the requester');
          for (const p of result.peers) assert.equal(peers.get(p.peerId)?.route, p.route, 'a live peer with its own route');
        } else {
          assert.equal(result.peers.length, 0);
        }
        if (swarm !== undefined && swarm.peers.size === 0) model.delete(infoHash);
      }
      const totals = store.totals();
      let seeders = 0;
      let all = 0;
      for (const swarm of model.values()) {
        all += swarm.peers.size;
        for (const peer of swarm.peers.values()) seeders += Number(peer.seeder);
      }
      assert.equal(totals.seeders + totals.leechers, all);
      assert.equal(totals.seeders, seeders);
    }),
    { numRuns: 300 },
  );
});

test('WsSwarms: a big swarm finds every peer through its index after removals and expiry', async () => {
  const store = new WsSwarms(TTL);
  const infoHash = hashOf(1);
  const announce = (n: number, now: number, event: AnnounceEvent = 'none', route = `r/${n}`) =>
    store.announce({ infoHash, peerId: peerIdOf(n), route, event, seeder: n % 3 === 0, numwant: 0 }, now);
  for (let n = 0; n < 500; n++) announce(n, 100 + (n % 2) * 20);
  for (let n = 0; n < 500; n += 5) announce(n, 110, 'stopped');
  // Every remaining peer is found (another route's stop is a conflict), every stopped one is not (and stays out).
  for (let n = 0; n < 500; n++) assert.equal(announce(n, 110, 'stopped', 'other').conflict, n % 5 !== 0, `peer ${n}`);
  // The even peers (expiring at 130) go in one sweep; the odd ones (140) stay and are all still found.
  assert.deepEqual(await store.sweep(135), { peersRemoved: 200, swarmsRemoved: 0 });
  for (let n = 1; n < 500; n += 2) assert.equal(announce(n, 135, 'stopped', 'other').conflict, n % 5 !== 0, `peer ${n}`);
  assert.equal(store.totals().seeders + store.totals().leechers, 200);
});
