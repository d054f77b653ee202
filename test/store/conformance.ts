/**
 * The Store conformance suite: every Store implementation runs this same file (memory now, Redis next),
 * through a factory that builds a fresh, empty store on a clock the suite controls.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AnnounceEvent, AnnounceRequest, InfoHash } from '../../src/protocol/types.js';
import type { Store, StoreOptions } from '../../src/store/store.js';

export type StoreFactory = (options: StoreOptions) => Promise<Store>;

const TTL = 100;

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

export function runStoreConformance(name: string, factory: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    let clock = 1_700_000_000;
    const stores: Store[] = [];
    const open = async (): Promise<Store> => {
      const store = await factory({ peerTtlSeconds: TTL, now: () => clock });
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
      const swept = await store.sweep();
      assert.ok(swept.peersRemoved <= 2);
      assert.deepEqual(await store.stats(), { swarms: 1, seeders: 0, leechers: 2 });
      clock += TTL + 1;
      const all = await store.sweep();
      assert.equal(all.swarmsRemoved >= 1, true);
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
            assert.deepEqual(
              [result.complete, result.incomplete, result.downloaded],
              [seeders, swarm.size - seeders, swarm.size === 0 && o.kind === 'stop' ? result.downloaded : downloaded.get(o.swarm) ?? 0],
            );
          }
        }),
        { numRuns: 15 },
      );
    });
  });
}
