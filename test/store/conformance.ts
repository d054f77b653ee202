/**
 * The Store conformance suite: every Store implementation runs this same file (memory now, Redis next),
 * through a factory that builds a fresh, empty store on a clock the suite controls.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AnnounceEvent, AnnounceRequest, InfoHash, ScrapeCounts } from '../../src/protocol/types.js';
import type { Store, StoreOptions, StoreTotals, WsAnnounceRequest, WsPeer } from '../../src/store/store.js';

export type StoreFactory = (options: StoreOptions) => Promise<Store>;

const TTL = 80;
/** Different from TTL, so a store that mixes the two up fails. */
const WS_TTL = 40;
/**
 * A swarm nobody touched for this long after its last announce is gone from every store's totals: its keys'
 * TTL (2 × its peer TTL) and one bucket of the Redis store's totals, or a sweep of the embedded store.
 */
const RECLAIMED_AFTER = (ttl: number) => 2 * ttl + 60;

export function hash(n: number): InfoHash {
  return Buffer.alloc(20, 0).fill(n & 0xff, 0, 1).fill((n >> 8) & 0xff, 1, 2).fill(0x7d, 19).toString('latin1');
}

export function v4(n: number, port = 6881): Uint8Array {
  return Uint8Array.of(10, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, port >> 8, port & 0xff);
}

export function v6(n: number, port = 6881): Uint8Array {
  const out = new Uint8Array(18);
  out.set([0x20, 0x01, 0x0d, 0xb8], 0);
  out[14] = (n >> 8) & 0xff;
  out[15] = n & 0xff;
  out[16] = port >> 8;
  out[17] = port & 0xff;
  return out;
}

function key(peer: Uint8Array): string {
  return Buffer.from(peer).toString('hex');
}

/** The compact peers of a reply, as hex strings. */
export function peersOf(peers: Uint8Array, stride: number): string[] {
  assert.equal(peers.length % stride, 0, 'peer bytes are whole compact peers');
  const out: string[] = [];
  for (let at = 0; at < peers.length; at += stride) out.push(Buffer.from(peers.subarray(at, at + stride)).toString('hex'));
  return out;
}

function request(
  infoHash: InfoHash,
  peer: Uint8Array,
  options: { event?: AnnounceEvent; seeder?: boolean; numwant?: number } = {},
): AnnounceRequest {
  return { infoHash, peer, event: options.event ?? 'none', seeder: options.seeder ?? false, numwant: options.numwant ?? 50 };
}

/** A 20-character binary peer_id, control characters and high latin1 included as browsers send them. */
export function wsPeerId(n: number): string {
  return String.fromCharCode(0, 0xff, 0x0a, n & 0xff, (n >> 8) & 0xff) + '-RS0001-wsconform';
}

function wsRequest(
  infoHash: InfoHash,
  n: number,
  options: { route?: string; event?: AnnounceEvent; seeder?: boolean; numwant?: number } = {},
): WsAnnounceRequest {
  return {
    infoHash,
    peerId: wsPeerId(n),
    route: options.route ?? `node-a/${n}`,
    event: options.event ?? 'none',
    seeder: options.seeder ?? false,
    numwant: options.numwant ?? 10,
  };
}

function wsKeys(peers: readonly WsPeer[]): string[] {
  return peers.map((p) => `${Buffer.from(p.peerId, 'latin1').toString('hex')}@${p.route}`).sort();
}

function wsKey(n: number, route = `node-a/${n}`): string {
  return `${Buffer.from(wsPeerId(n), 'latin1').toString('hex')}@${route}`;
}

export function runStoreConformance(name: string, factory: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    let clock = 1_700_000_000;
    const stores: Store[] = [];
    const open = async (): Promise<Store> => {
      const store = await factory({ peerTtlSeconds: TTL, wsPeerTtlSeconds: WS_TTL, now: () => clock });
      stores.push(store);
      return store;
    };
    after(async () => {
      for (const store of stores) await store.close();
    });

    it('registers a first peer and returns no peers to it', async () => {
      const store = await open();
      const result = await store.announce(request(hash(1), v4(1), { event: 'started' }));
      assert.deepEqual([result.complete, result.incomplete, result.downloaded], [0, 1, 0]);
      assert.equal(result.peers.length, 0);
    });

    it('lets two peers learn each other, never themselves', async () => {
      const store = await open();
      const ih = hash(2);
      await store.announce(request(ih, v4(1), { seeder: true }));
      const second = await store.announce(request(ih, v4(2)));
      assert.deepEqual(peersOf(second.peers, 6), [key(v4(1))]);
      assert.deepEqual([second.complete, second.incomplete], [1, 1]);
      const first = await store.announce(request(ih, v4(1), { seeder: true }));
      assert.deepEqual(peersOf(first.peers, 6), [key(v4(2))]);
    });

    it('identifies peers by address and port', async () => {
      const store = await open();
      const ih = hash(3);
      await store.announce(request(ih, v4(1, 1000)));
      const result = await store.announce(request(ih, v4(1, 1001)));
      assert.equal(result.incomplete, 2);
      assert.deepEqual(peersOf(result.peers, 6), [key(v4(1, 1000))]);
      const again = await store.announce(request(ih, v4(1, 1001)));
      assert.equal(again.incomplete, 2, 'a re-announce does not add a peer');
    });

    it('moves a peer between leechers and seeders', async () => {
      const store = await open();
      const ih = hash(4);
      await store.announce(request(ih, v4(1)));
      await store.announce(request(ih, v4(2)));
      let result = await store.announce(request(ih, v4(1), { seeder: true }));
      assert.deepEqual([result.complete, result.incomplete], [1, 1]);
      result = await store.announce(request(ih, v4(1), { seeder: false }));
      assert.deepEqual([result.complete, result.incomplete], [0, 2]);
    });

    it('counts completed once per peer', async () => {
      const store = await open();
      const ih = hash(5);
      await store.announce(request(ih, v4(1), { event: 'started' }));
      let result = await store.announce(request(ih, v4(1), { event: 'completed', seeder: true }));
      assert.equal(result.downloaded, 1);
      result = await store.announce(request(ih, v4(1), { event: 'completed', seeder: true }));
      assert.equal(result.downloaded, 1, 'a repeated completed is not counted again');
      result = await store.announce(request(ih, v4(2), { event: 'completed', seeder: true }));
      assert.deepEqual([result.complete, result.incomplete, result.downloaded], [2, 0, 2]);
      const [scrape] = await store.scrape([ih]);
      assert.deepEqual(scrape, { complete: 2, incomplete: 0, downloaded: 2 });
    });

    it('removes a peer on stopped, and the swarm with its last peer', async () => {
      const store = await open();
      const ih = hash(6);
      await store.announce(request(ih, v4(1), { seeder: true }));
      await store.announce(request(ih, v4(2)));
      const stopped = await store.announce(request(ih, v4(2), { event: 'stopped' }));
      assert.deepEqual([stopped.complete, stopped.incomplete], [1, 0]);
      assert.equal(stopped.peers.length, 0);
      assert.deepEqual(await store.scrape([ih]), [{ complete: 1, incomplete: 0, downloaded: 0 }]);
      await store.announce(request(ih, v4(1), { event: 'stopped' }));
      assert.deepEqual(await store.stats(), { swarms: 0, seeders: 0, leechers: 0 });
      await store.announce(request(hash(7), v4(9), { event: 'stopped' }));
      assert.deepEqual(await store.stats(), { swarms: 0, seeders: 0, leechers: 0 }, 'a stop never creates a swarm');
    });

    it('gives IPv4 peers to IPv4 requesters and IPv6 peers to IPv6 requesters', async () => {
      const store = await open();
      const ih = hash(8);
      await store.announce(request(ih, v4(1)));
      await store.announce(request(ih, v6(1)));
      const a = await store.announce(request(ih, v4(2)));
      assert.deepEqual(peersOf(a.peers, 6), [key(v4(1))]);
      const b = await store.announce(request(ih, v6(2)));
      assert.deepEqual(peersOf(b.peers, 18), [key(v6(1))]);
      assert.equal(b.incomplete, 4, 'counts cover both families');
    });

    it('returns at most numwant distinct peers, and none for numwant 0 while still registering', async () => {
      const store = await open();
      const ih = hash(9);
      for (let i = 0; i < 100; i++) await store.announce(request(ih, v4(i), { numwant: 0 }));
      const result = await store.announce(request(ih, v4(50), { numwant: 10 }));
      const peers = peersOf(result.peers, 6);
      assert.equal(peers.length, 10);
      assert.equal(new Set(peers).size, 10);
      assert.ok(!peers.includes(key(v4(50))));
      const none = await store.announce(request(ih, v4(500), { numwant: 0 }));
      assert.equal(none.peers.length, 0);
      assert.equal(none.incomplete, 101);
    });

    it('samples peers at random across the swarm', async () => {
      const store = await open();
      const ih = hash(10);
      for (let i = 0; i < 200; i++) await store.announce(request(ih, v4(i), { numwant: 0 }));
      const seen = new Set<string>();
      for (let i = 0; i < 60; i++) {
        for (const p of peersOf((await store.announce(request(ih, v4(1000 + i), { numwant: 20 }))).peers, 6)) seen.add(p);
      }
      assert.ok(seen.size > 150, `60 samples of 20 covered only ${seen.size} of 200+ peers`);
    });

    it('never returns or counts an expired peer, and sweeps expired peers and empty swarms', async () => {
      const store = await open();
      const ih = hash(11);
      const other = hash(12);
      await store.announce(request(ih, v4(1), { seeder: true }));
      await store.announce(request(other, v4(1)));
      clock += TTL / 2;
      await store.announce(request(ih, v4(2)));
      clock += TTL / 2 + 1; // v4(1) is now past its TTL in both swarms; v4(2) is not
      const result = await store.announce(request(ih, v4(3)));
      assert.deepEqual(peersOf(result.peers, 6), [key(v4(2))]);
      assert.deepEqual([result.complete, result.incomplete], [0, 2]);
      assert.deepEqual(await store.scrape([other]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
      // The announce and the scrape already dropped v4(1) from the swarms they touched: nothing is left to sweep.
      assert.deepEqual(await store.sweep(), { peersRemoved: 0, swarmsRemoved: 0 });
      assert.deepEqual(await store.stats(), { swarms: 1, seeders: 0, leechers: 2 });
      clock += TTL + 1;
      assert.deepEqual(await store.sweep(), { peersRemoved: 2, swarmsRemoved: 1 });
      assert.deepEqual(await store.stats(), { swarms: 0, seeders: 0, leechers: 0 });
      assert.deepEqual(await store.scrape([ih]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
    });

    it('scrapes several hashes in order, with zeros for unknown ones', async () => {
      const store = await open();
      await store.announce(request(hash(13), v4(1), { seeder: true }));
      await store.announce(request(hash(14), v4(1)));
      await store.announce(request(hash(14), v4(2)));
      assert.deepEqual(await store.scrape([hash(14), hash(99), hash(13)]), [
        { complete: 0, incomplete: 2, downloaded: 0 },
        { complete: 0, incomplete: 0, downloaded: 0 },
        { complete: 1, incomplete: 0, downloaded: 0 },
      ]);
    });

    it('lists swarms for a full scrape, bounded by the limit', async () => {
      const store = await open();
      for (let i = 0; i < 5; i++) await store.announce(request(hash(200 + i), v4(1)));
      const all = await store.listSwarms(100);
      assert.deepEqual(new Set(all), new Set([0, 1, 2, 3, 4].map((i) => hash(200 + i))));
      assert.equal((await store.listSwarms(3)).length, 3);
    });

    it('keeps totals equal to a full count through stops, completes, seeder changes, expiry and swarms reclaimed by TTL', async () => {
      const store = await open();
      // Swarms three to a slot of a Redis Cluster (same first two bytes), HTTP/UDP and WebSocket ones in the
      // same slots, so that a slot's counts change for one swarm while others are counted there.
      const ih = (n: number) => {
        const bytes = Buffer.from(hash(700 + Math.floor((n % 100) / 3)), 'latin1');
        bytes[2] = 1 + (n % 3) + 10 * Math.floor(n / 100);
        return bytes.toString('latin1');
      };
      // The model: what every store holds, swarm by swarm. A touch drops the swarm's expired peers (as every
      // store does on an announce); a swarm nobody touches keeps them until it is reclaimed.
      type Held = Map<string, { peer: Uint8Array | number; seeder: boolean; expires: number }>;
      const wire = new Map<number, Held>();
      const ws = new Map<number, Held>();
      const touch = (model: Map<number, Held>, n: number): Held => {
        const held = model.get(n) ?? new Map();
        model.set(n, held);
        for (const [k, p] of held) if (p.expires <= clock) held.delete(k);
        return held;
      };
      const announce = async (n: number, peer: Uint8Array, event: AnnounceEvent = 'none', seeder = false) => {
        const held = touch(wire, n);
        await store.announce(request(ih(n), peer, { event, seeder, numwant: 5 }));
        if (event === 'stopped') held.delete(key(peer));
        else held.set(key(peer), { peer, seeder, expires: clock + TTL });
      };
      const announceWs = async (n: number, peer: number, event: AnnounceEvent = 'none', seeder = false) => {
        const held = touch(ws, n);
        assert.equal((await store.announceWs(wsRequest(ih(n), peer, { event, seeder, numwant: 3 }))).conflict, false);
        if (event === 'stopped') held.delete(String(peer));
        else held.set(String(peer), { peer, seeder, expires: clock + WS_TTL });
      };
      const expected = (): StoreTotals => {
        const count = (helds: Iterable<Held>, which: (k: string) => boolean) => {
          let seeders = 0;
          let leechers = 0;
          for (const held of helds) for (const [k, p] of held) if (which(k)) p.seeder ? seeders++ : leechers++;
          return { seeders, leechers };
        };
        const swarms = (model: Map<number, Held>) => [...model.values()].filter((held) => held.size > 0).length;
        return {
          swarms: swarms(wire),
          ipv4: count(wire.values(), (k) => k.length === 12),
          ipv6: count(wire.values(), (k) => k.length === 36),
          ws: { swarms: swarms(ws), ...count(ws.values(), () => true) },
        };
      };
      /** Totals from a scrape of every hash the workload used (a scrape expires what it finds, like a touch). */
      const fullCount = async () => {
        const sum = (counts: ScrapeCounts[]) => ({
          swarms: counts.filter((c) => c.complete + c.incomplete > 0).length,
          seeders: counts.reduce((n, c) => n + c.complete, 0),
          leechers: counts.reduce((n, c) => n + c.incomplete, 0),
        });
        const scraped = { wire: sum(await store.scrape([...wire.keys()].map(ih))), ws: sum(await store.scrapeWs([...ws.keys()].map(ih))) };
        for (const n of wire.keys()) touch(wire, n);
        for (const n of ws.keys()) touch(ws, n);
        return scraped;
      };
      const check = async (when: string) => {
        const totals = await store.totals();
        assert.deepEqual(totals, expected(), `totals ${when}`);
        const { ipv4, ipv6 } = totals;
        assert.deepEqual(await store.stats(), { swarms: totals.swarms, seeders: ipv4.seeders + ipv6.seeders, leechers: ipv4.leechers + ipv6.leechers });
      };

      const T0 = clock;
      // HTTP/UDP swarms 700…723 with 1-5 peers of either family or both; those with i % 4 === 3 are never touched
      // after T0 (reclaimed by their keys' TTL). WebSocket swarms 800…811, all touched; 820…823, created at
      // T0 + 90 and never touched again. A peer 0 of a swarm with others stops announcing (expires).
      const untouched = (i: number) => i % 4 === 3;
      const wirePeer = (i: number, j: number) => ((i + j) % 3 === 2 ? v6(100 * i + j) : v4(100 * i + j));
      for (let i = 0; i < 24; i++) for (let j = 0; j < 1 + (i % 5); j++) await announce(700 + i, wirePeer(i, j), 'started', j % 3 === 0);
      for (let i = 0; i < 12; i++) for (let j = 0; j < 1 + (i % 4); j++) await announceWs(800 + i, 10 * i + j, 'started', j % 2 === 1);
      await announce(701, wirePeer(1, 1), 'completed', true); // a leecher completes
      await announce(702, wirePeer(2, 0), 'none', false); // a seeder goes back to leeching
      await announce(703, wirePeer(3, 2), 'stopped');
      await announce(704, wirePeer(4, 1), 'completed', true);
      for (let j = 0; j < 5; j++) await announce(704, wirePeer(4, j), 'stopped'); // the swarm leaves (its download stays)
      await announce(705, v4(99_999), 'stopped'); // not a peer of it: nothing
      await announceWs(801, 11, 'completed', true);
      await announceWs(803, 32, 'stopped');
      await check('after the first announces, stops, completes and seeder changes');

      for (let step = 1; step <= 8; step++) {
        clock = T0 + 30 * step;
        for (const [n, held] of [...wire]) {
          if (untouched(n - 700)) continue;
          touch(wire, n);
          for (const { peer, seeder } of [...held.values()]) {
            if (peer instanceof Uint8Array && !(key(peer) === key(wirePeer(n - 700, 0)) && (n - 700) % 5 > 0)) await announce(n, peer, 'none', seeder);
          }
        }
        for (const [n, held] of [...ws]) {
          if (n >= 820) continue;
          touch(ws, n);
          for (const { peer, seeder } of [...held.values()]) if (typeof peer === 'number' && !(peer % 10 === 0 && (n - 800) % 4 > 0)) await announceWs(n, peer, 'none', seeder);
        }
        if (step === 2) {
          await announce(705, wirePeer(5, 2), 'completed', true);
          await announceWs(805, 51, 'none', false);
          await announce(724, v6(2400), 'started', true); // a new swarm
          await check('at T0 + 60 (the WebSocket swarms moved to a later bucket)');
        }
        if (step === 3) {
          for (let i = 0; i < 4; i++) for (let j = 0; j < 2 + i; j++) await announceWs(820 + i, 10 * i + j, 'started', j === 1);
          await announceWs(821, 11, 'completed', true);
          await announceWs(822, 20, 'stopped');
        }
        if (step === 4) {
          await announce(706, wirePeer(6, 0), 'none', false);
          await announce(709, wirePeer(9, 1), 'stopped');
          await announceWs(806, 61, 'stopped');
        }
        if (step === 5) {
          for (let j = 0; j < 1 + (10 % 5); j++) await announce(710, wirePeer(10, j), 'stopped');
          await check('at T0 + 150 (every swarm moved to a later bucket; untouched ones hold expired peers)');
        }
      }
      // T0 + 240: every untouched swarm is past its keys' TTL and one bucket.
      assert.ok(clock >= T0 + RECLAIMED_AFTER(TTL) && clock >= T0 + 90 + RECLAIMED_AFTER(WS_TTL));
      if (store.periodicSweep) await store.sweep();
      for (const n of wire.keys()) if (untouched(n - 700)) wire.delete(n);
      for (const n of ws.keys()) if (n >= 820) ws.delete(n);
      await check('once the untouched swarms were reclaimed');

      for (let i = 0; i < 24; i++) if (untouched(i)) wire.set(700 + i, new Map());
      for (let i = 0; i < 4; i++) ws.set(820 + i, new Map());
      const scraped = await fullCount();
      const totals = await store.totals();
      assert.deepEqual(scraped, {
        wire: { swarms: totals.swarms, seeders: totals.ipv4.seeders + totals.ipv6.seeders, leechers: totals.ipv4.leechers + totals.ipv6.leechers },
        ws: totals.ws,
      }, 'a full scrape counts what the totals say');
      await check('after the full scrape (which found the reclaimed swarms empty)');

      await announce(703, v4(1), 'started');
      await announceWs(823, 1, 'started', true);
      await check('after announces to swarms that had been reclaimed');

      clock += RECLAIMED_AFTER(TTL) + 1;
      if (store.periodicSweep) await store.sweep();
      wire.clear();
      ws.clear();
      await check('once every swarm was reclaimed');
    });

    describe('WebSocket swarms', () => {
      it('registers a first peer, then lets two peers learn each other (peer_id and route), never themselves', async () => {
        const store = await open();
        const ih = hash(400);
        const first = await store.announceWs(wsRequest(ih, 1, { event: 'started', seeder: true }));
        assert.deepEqual([first.complete, first.incomplete, first.downloaded], [1, 0, 0]);
        assert.deepEqual(first.peers, []);
        const second = await store.announceWs(wsRequest(ih, 2, { event: 'started' }));
        assert.deepEqual(wsKeys(second.peers), [wsKey(1)]);
        assert.deepEqual([second.complete, second.incomplete], [1, 1]);
        const again = await store.announceWs(wsRequest(ih, 1, { seeder: true }));
        assert.deepEqual(wsKeys(again.peers), [wsKey(2)]);
        assert.deepEqual([again.complete, again.incomplete], [1, 1], 'a re-announce does not add a peer');
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 1, incomplete: 1, downloaded: 0 }]);
      });

      it('keeps WebSocket peers apart from HTTP/UDP peers of the same info hash', async () => {
        const store = await open();
        const ih = hash(401);
        await store.announce(request(ih, v4(1), { seeder: true }));
        await store.announce(request(ih, v4(2)));
        const ws = await store.announceWs(wsRequest(ih, 1));
        assert.deepEqual([ws.complete, ws.incomplete], [0, 1], 'WebSocket counts cover WebSocket peers only');
        assert.deepEqual(ws.peers, []);
        const tcp = await store.announce(request(ih, v4(3)));
        assert.deepEqual([tcp.complete, tcp.incomplete], [1, 2], 'HTTP/UDP counts cover HTTP/UDP peers only');
        assert.equal(peersOf(tcp.peers, 6).length, 2);
        assert.deepEqual(await store.scrape([ih]), [{ complete: 1, incomplete: 2, downloaded: 0 }]);
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
        await store.announceWs(wsRequest(ih, 1, { event: 'stopped' }));
        assert.deepEqual(await store.scrape([ih]), [{ complete: 1, incomplete: 2, downloaded: 0 }]);
        assert.deepEqual(await store.stats(), { swarms: 1, seeders: 1, leechers: 2 }, 'stats count HTTP/UDP peers');
      });

      it('moves a peer between leechers and seeders and counts completed once', async () => {
        const store = await open();
        const ih = hash(402);
        await store.announceWs(wsRequest(ih, 1, { event: 'started' }));
        await store.announceWs(wsRequest(ih, 2));
        let result = await store.announceWs(wsRequest(ih, 1, { event: 'completed', seeder: true }));
        assert.deepEqual([result.complete, result.incomplete, result.downloaded], [1, 1, 1]);
        result = await store.announceWs(wsRequest(ih, 1, { event: 'completed', seeder: true }));
        assert.equal(result.downloaded, 1, 'a repeated completed is not counted again');
        result = await store.announceWs(wsRequest(ih, 1, { seeder: false }));
        assert.deepEqual([result.complete, result.incomplete], [0, 2]);
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 2, downloaded: 1 }]);
      });

      it('removes a peer on stopped from its route, and the swarm with its last peer; a stop never creates one', async () => {
        const store = await open();
        const ih = hash(403);
        await store.announceWs(wsRequest(ih, 1, { seeder: true }));
        await store.announceWs(wsRequest(ih, 2));
        const stopped = await store.announceWs(wsRequest(ih, 2, { event: 'stopped' }));
        assert.deepEqual([stopped.complete, stopped.incomplete], [1, 0]);
        assert.deepEqual(stopped.peers, []);
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 1, incomplete: 0, downloaded: 0 }]);
        await store.announceWs(wsRequest(ih, 1, { event: 'stopped' }));
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
        assert.deepEqual(await store.listWsSwarms(100), []);
        await store.announceWs(wsRequest(hash(404), 9, { event: 'stopped' }));
        assert.deepEqual(await store.listWsSwarms(100), [], 'a stop never creates a swarm');
      });

      it('refuses a peer held by another route, whatever the event, and changes nothing', async () => {
        const store = await open();
        const ih = hash(405);
        const first = await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1' }));
        assert.equal(first.conflict, false);
        await store.announceWs(wsRequest(ih, 2, { route: 'node-a/2' }));
        for (const event of ['started', 'none', 'completed', 'stopped'] as const) {
          for (const seeder of [false, true]) {
            const refused = await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7', event, seeder }));
            assert.equal(refused.conflict, true, `${event}, seeder ${seeder}: a conflict`);
            assert.deepEqual(refused.peers, [], 'a refused announce gets no peers');
            assert.deepEqual([refused.complete, refused.incomplete, refused.downloaded], [0, 2, 0], 'counts unchanged');
          }
        }
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 2, downloaded: 0 }]);
        const other = await store.announceWs(wsRequest(ih, 2, { route: 'node-a/2' }));
        assert.deepEqual(wsKeys(other.peers), [wsKey(1, 'node-a/1')], 'the peer is still reached at its first route');
        const own = await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1', event: 'completed' }));
        assert.equal(own.conflict, false);
        assert.equal(own.downloaded, 1, 'the refused completed was not counted for the peer');
      });

      it('lets another route take a peer_id once its holder stopped it, and no longer the old one', async () => {
        const store = await open();
        const ih = hash(413);
        await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1' }));
        const refused = await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7', event: 'stopped' }));
        assert.equal(refused.conflict, true);
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 1, downloaded: 0 }], 'a stop from another route removes nothing');
        const stopped = await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1', event: 'stopped' }));
        assert.equal(stopped.conflict, false);
        const taken = await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7', seeder: true }));
        assert.deepEqual([taken.conflict, taken.complete, taken.incomplete], [false, 1, 0]);
        const other = await store.announceWs(wsRequest(ih, 2));
        assert.deepEqual(wsKeys(other.peers), [wsKey(1, 'node-b/7')], 'the peer is reached at its new route');
        assert.equal((await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1' }))).conflict, true, 'the old route is now the other one');
        assert.equal((await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1', event: 'stopped' }))).conflict, true);
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 1, incomplete: 1, downloaded: 0 }]);
        await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7', event: 'stopped' }));
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
      });

      it('lets another route take a peer_id once its entry expired; a route whose entry expired announces again', async () => {
        const store = await open();
        const ih = hash(414);
        await store.announceWs(wsRequest(ih, 9, { route: 'node-a/9' }));
        clock += WS_TTL / 2;
        await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1' }));
        await store.announceWs(wsRequest(ih, 2, { route: 'node-a/2' }));
        clock += WS_TTL / 2 + 1; // peer 9 has expired, peer 1 has not
        const refused = await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7' }));
        assert.equal(refused.conflict, true, 'refused while its holder lives, expired peers around or not');
        assert.deepEqual([refused.complete, refused.incomplete], [0, 2]);
        await store.announceWs(wsRequest(ih, 2, { route: 'node-a/2' }));
        clock += WS_TTL / 2; // peer 1 has expired, peer 2 has not
        const taken = await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7', event: 'completed' }));
        assert.deepEqual([taken.conflict, taken.incomplete, taken.downloaded], [false, 2, 1]);
        const other = await store.announceWs(wsRequest(ih, 2, { route: 'node-a/2' }));
        assert.deepEqual(wsKeys(other.peers), [wsKey(1, 'node-b/7')]);
        assert.equal((await store.announceWs(wsRequest(ih, 1, { route: 'node-a/1' }))).conflict, true, 'the expired holder lost it');
        clock += WS_TTL + 1; // every peer has expired; nobody took peer 1 from node-b/7
        const again = await store.announceWs(wsRequest(ih, 1, { route: 'node-b/7' }));
        assert.deepEqual([again.conflict, again.incomplete], [false, 1]);
      });

      it('returns at most numwant distinct peers, and none for numwant 0 while still registering', async () => {
        const store = await open();
        const ih = hash(406);
        for (let i = 0; i < 60; i++) await store.announceWs(wsRequest(ih, i, { numwant: 0 }));
        const result = await store.announceWs(wsRequest(ih, 30, { numwant: 10 }));
        const peers = wsKeys(result.peers);
        assert.equal(peers.length, 10);
        assert.equal(new Set(peers).size, 10);
        assert.ok(!peers.includes(wsKey(30)));
        const all = await store.announceWs(wsRequest(ih, 31, { numwant: 1000 }));
        assert.equal(all.peers.length, 59, 'every other peer when numwant exceeds the swarm');
        assert.ok(!wsKeys(all.peers).includes(wsKey(31)));
        const none = await store.announceWs(wsRequest(ih, 500, { numwant: 0 }));
        assert.deepEqual(none.peers, []);
        assert.equal(none.incomplete, 61);
      });

      it('samples peers at random across the swarm', async () => {
        const store = await open();
        const ih = hash(407);
        for (let i = 0; i < 100; i++) await store.announceWs(wsRequest(ih, i, { numwant: 0 }));
        const seen = new Set<string>();
        for (let i = 0; i < 40; i++) {
          for (const p of wsKeys((await store.announceWs(wsRequest(ih, 1000 + i, { numwant: 10 }))).peers)) seen.add(p);
        }
        assert.ok(seen.size > 75, `40 samples of 10 covered only ${seen.size} of 100+ peers`);
      });

      it('expires WebSocket peers after the WebSocket TTL, and sweeps them with their swarms', async () => {
        const store = await open();
        const ih = hash(408);
        const other = hash(409);
        await store.announceWs(wsRequest(ih, 1, { seeder: true }));
        await store.announceWs(wsRequest(other, 1));
        clock += WS_TTL / 2;
        await store.announceWs(wsRequest(ih, 2));
        clock += WS_TTL / 2 + 1; // peer 1 is past the WebSocket TTL in both swarms (though not the HTTP/UDP one)
        const result = await store.announceWs(wsRequest(ih, 3));
        assert.deepEqual(wsKeys(result.peers), [wsKey(2)]);
        assert.deepEqual([result.complete, result.incomplete], [0, 2]);
        assert.deepEqual(await store.scrapeWs([other]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
        assert.deepEqual(await store.sweep(), { peersRemoved: 0, swarmsRemoved: 0 });
        assert.deepEqual(new Set(await store.listWsSwarms(100)), new Set([ih]));
        clock += WS_TTL + 1;
        assert.deepEqual(await store.sweep(), { peersRemoved: 2, swarmsRemoved: 1 });
        assert.deepEqual(await store.listWsSwarms(100), []);
        assert.deepEqual(await store.scrapeWs([ih]), [{ complete: 0, incomplete: 0, downloaded: 0 }]);
      });

      it('scrapes several hashes in order with zeros for unknown ones, and lists swarms within the limit', async () => {
        const store = await open();
        await store.announceWs(wsRequest(hash(410), 1, { seeder: true }));
        await store.announceWs(wsRequest(hash(411), 1));
        await store.announceWs(wsRequest(hash(411), 2));
        await store.announce(request(hash(412), v4(1)));
        assert.deepEqual(await store.scrapeWs([hash(411), hash(412), hash(410)]), [
          { complete: 0, incomplete: 2, downloaded: 0 },
          { complete: 0, incomplete: 0, downloaded: 0 },
          { complete: 1, incomplete: 0, downloaded: 0 },
        ]);
        assert.deepEqual(new Set(await store.listWsSwarms(100)), new Set([hash(410), hash(411)]));
        assert.equal((await store.listWsSwarms(1)).length, 1);
        assert.deepEqual(await store.listSwarms(100), [hash(412)], 'HTTP/UDP listing leaves WebSocket swarms out');
      });

      it('matches a model under random announces and stops from any route (refused from all but the holder\'s), and expiry', async () => {
        const op = fc.record({
          peer: fc.integer({ min: 0, max: 40 }),
          route: fc.integer({ min: 0, max: 2 }),
          kind: fc.constantFrom('announce', 'announce', 'announce', 'stop', 'complete', 'tick'),
          seeder: fc.boolean(),
          numwant: fc.integer({ min: 0, max: 12 }),
          swarm: fc.integer({ min: 0, max: 1 }),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(op, { minLength: 30, maxLength: 300 }), async (ops) => {
            const store = await open();
            const model = new Map<number, Map<number, { route: string; seeder: boolean; expires: number; counted: boolean }>>();
            const downloaded = new Map<number, number>();
            // Whether a store keeps `downloaded` of a swarm that emptied is not part of the contract.
            const forgotten = new Set<number>();
            for (const o of ops) {
              if (o.kind === 'tick') {
                clock += 9;
                continue;
              }
              const ih = hash(420 + o.swarm);
              const route = `node-${o.route}/${o.peer}`;
              const swarm = model.get(o.swarm) ?? new Map();
              model.set(o.swarm, swarm);
              for (const [p, entry] of swarm) if (entry.expires <= clock) swarm.delete(p);
              if (swarm.size === 0 && downloaded.has(o.swarm)) forgotten.add(o.swarm);
              const event = o.kind === 'stop' ? 'stopped' : o.kind === 'complete' ? 'completed' : 'none';
              const result = await store.announceWs(wsRequest(ih, o.peer, { route, event, seeder: o.seeder, numwant: o.numwant }));
              const own = swarm.get(o.peer);
              assert.equal(result.conflict, own !== undefined && own.route !== route, 'a conflict exactly when another route holds the peer');
              if (result.conflict) {
                assert.deepEqual(result.peers, []);
              } else if (o.kind === 'stop') {
                if (own !== undefined) swarm.delete(o.peer);
                assert.deepEqual(result.peers, []);
              } else {
                const entry = { route, seeder: o.seeder, expires: clock + WS_TTL, counted: own?.counted ?? false };
                if (o.kind === 'complete' && !entry.counted) {
                  entry.counted = true;
                  downloaded.set(o.swarm, (downloaded.get(o.swarm) ?? 0) + 1);
                }
                swarm.set(o.peer, entry);
                const expected = new Set([...swarm].filter(([p]) => p !== o.peer).map(([p, e]) => wsKey(p, e.route)));
                const returned = wsKeys(result.peers);
                assert.equal(returned.length, Math.min(o.numwant, expected.size));
                assert.equal(new Set(returned).size, returned.length, 'no duplicates');
                for (const r of returned) assert.ok(expected.has(r), `only live peers of the swarm at their routes, never self: ${r}`);
              }
              const seeders = [...swarm.values()].filter((e) => e.seeder).length;
              assert.deepEqual([result.complete, result.incomplete], [seeders, swarm.size - seeders]);
              if (swarm.size === 0 && downloaded.has(o.swarm)) forgotten.add(o.swarm);
              if (!forgotten.has(o.swarm)) assert.equal(result.downloaded, downloaded.get(o.swarm) ?? 0);
            }
          }),
          { numRuns: 15 },
        );
      });
    });

    it('matches a model under random announces, stops and expiry (large swarms included)', async () => {
      const op = fc.record({
        peer: fc.integer({ min: 0, max: 299 }),
        v6: fc.boolean(),
        kind: fc.constantFrom('announce', 'announce', 'announce', 'stop', 'complete', 'tick'),
        seeder: fc.boolean(),
        swarm: fc.integer({ min: 0, max: 2 }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 50, maxLength: 600 }), async (ops) => {
          const store = await open();
          // model: swarm -> peer key -> { seeder, expires, counted }
          const model = new Map<number, Map<string, { seeder: boolean; expires: number }>>();
          const downloaded = new Map<number, number>();
          const counted = new Map<number, Set<string>>();
          // Swarms that emptied after a download: a store may forget their downloads (the memory store does).
          const forgotten = new Set<number>();
          for (const o of ops) {
            if (o.kind === 'tick') {
              clock += 7;
              continue;
            }
            const peer = o.v6 ? v6(o.peer, 1000 + (o.peer % 3)) : v4(o.peer, 1000 + (o.peer % 3));
            const k = key(peer);
            const ih = hash(300 + o.swarm);
            const swarm = model.get(o.swarm) ?? new Map();
            model.set(o.swarm, swarm);
            for (const [pk, p] of swarm) if (p.expires <= clock) { swarm.delete(pk); counted.get(o.swarm)?.delete(pk); }
            const result = await store.announce(
              request(ih, peer, {
                event: o.kind === 'stop' ? 'stopped' : o.kind === 'complete' ? 'completed' : 'none',
                seeder: o.seeder,
                numwant: 30,
              }),
            );
            if (o.kind === 'stop') {
              swarm.delete(k);
              counted.get(o.swarm)?.delete(k);
            } else {
              swarm.set(k, { seeder: o.seeder, expires: clock + TTL });
              if (o.kind === 'complete') {
                const set = counted.get(o.swarm) ?? new Set();
                counted.set(o.swarm, set);
                if (!set.has(k)) {
                  set.add(k);
                  downloaded.set(o.swarm, (downloaded.get(o.swarm) ?? 0) + 1);
                }
              }
              const stride = o.v6 ? 18 : 6;
              const returned = peersOf(result.peers, stride);
              const sameFamily = [...swarm.keys()].filter((pk) => pk.length === stride * 2 && pk !== k);
              assert.equal(returned.length, Math.min(30, sameFamily.length));
              assert.equal(new Set(returned).size, returned.length, 'no duplicates');
              for (const r of returned) assert.ok(swarm.has(r) && r !== k, 'only live peers of the swarm, never self');
            }
            const seeders = [...swarm.values()].filter((p) => p.seeder).length;
            assert.deepEqual([result.complete, result.incomplete], [seeders, swarm.size - seeders]);
            if (!forgotten.has(o.swarm)) assert.equal(result.downloaded, downloaded.get(o.swarm) ?? 0);
            if (swarm.size === 0 && downloaded.has(o.swarm)) forgotten.add(o.swarm);
          }
        }),
        { numRuns: 15 },
      );
    });
  });
}
