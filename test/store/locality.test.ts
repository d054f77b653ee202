/** Locality mode's peer selection (src/store/memory/locality.ts) in the packed tables and the WebSocket swarms. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LocalitySelector, PROBE_BUDGET, SCAN_LIMIT, localQuota, probeBudget } from '../../src/store/memory/locality.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { PeerTable } from '../../src/store/memory/peer-table.js';
import { RecordSlabs } from '../../src/store/memory/record-slabs.js';
import { WsSwarms } from '../../src/store/memory/ws-swarms.js';
import type { AnnounceRequest } from '../../src/protocol/types.js';

const INFO_HASH = 'i'.repeat(20);

/** A compact IPv4 peer. */
function v4(a: number, b: number, c: number, d: number, port = 6881): Uint8Array {
  return Uint8Array.of(a, b, c, d, port >> 8, port & 0xff);
}

/** A compact IPv6 peer 2001:db8:<x>:<y>::<z>. */
function v6(x: number, y: number, z: number, port = 6881): Uint8Array {
  const out = new Uint8Array(18);
  out.set([0x20, 0x01, 0x0d, 0xb8, x >> 8, x & 0xff, y >> 8, y & 0xff], 0);
  out[14] = z >> 8;
  out[15] = z & 0xff;
  out[16] = port >> 8;
  out[17] = port & 0xff;
  return out;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The compact peers of a reply, as hex. */
function peersOf(reply: Uint8Array, length: number): string[] {
  const peers: string[] = [];
  for (let at = 0; at < reply.length; at += length) peers.push(hex(reply.subarray(at, at + length)));
  return peers;
}

function announce(peer: Uint8Array, numwant: number): AnnounceRequest {
  return { infoHash: INFO_HASH, peer, event: 'none', seeder: false, numwant } as AnnounceRequest;
}

function memoryStore(share: number | null): MemoryStore {
  return new MemoryStore({ peerTtlSeconds: 3600, wsPeerTtlSeconds: 3600, now: () => 1000, localityShare: () => share });
}

/** Tier of a peer relative to the requester: 0 same IP, 1 same /24 or /48, 2 neither. */
function tierOf(peer: string, requester: string): number {
  const ipLength = requester.length === 12 ? 8 : 32; // hex digits of the address
  const prefixLength = requester.length === 12 ? 6 : 12;
  if (peer.slice(0, ipLength) === requester.slice(0, ipLength)) return 0;
  return peer.slice(0, prefixLength) === requester.slice(0, prefixLength) ? 1 : 2;
}

describe('localQuota', () => {
  it('leaves at least ⌈want × share⌉ (and so one) peer of a reply to the random part', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: 0.1, max: 1, noNaN: true }), (want, share) => {
        const quota = localQuota(want, share);
        assert.ok(quota >= 0 && quota <= want);
        assert.ok(want - quota >= Math.ceil(want * share - 1e-9));
        if (want > 0) assert.ok(want - quota >= 1);
      }),
    );
  });
});

describe('HTTP/UDP replies of the embedded store in locality mode', () => {
  for (const [family, make] of [
    ['IPv4', (ip: number, prefix: number, port: number) => v4(10, 0, prefix, ip, port)],
    ['IPv6', (ip: number, prefix: number, port: number) => v6(prefix, 7, ip, port)],
  ] as const) {
    it(`${family}: same address first, then same prefix, then random; distinct, never the requester (model check)`, () => {
      fc.assert(
        fc.property(
          // Few addresses and prefixes, so that the tiers are crowded; sizes on both sides of the scan limit.
          fc.array(fc.record({ ip: fc.integer({ min: 1, max: 6 }), prefix: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: SCAN_LIMIT + 200 }),
          fc.integer({ min: 1, max: 200 }),
          fc.constantFrom(0.1, 0.25, 0.5, 1),
          (population, numwant, share) => {
            const store = memoryStore(share);
            const known = new Set<string>();
            population.forEach(({ ip, prefix }, i) => {
              const peer = make(ip, prefix, 1000 + i);
              store.announceNow(announce(peer, 0));
              known.add(hex(peer));
            });
            const requester = make(1, 0, 999);
            const reply = peersOf(store.announceNow(announce(requester, numwant)).peers, requester.length);
            const self = hex(requester);
            assert.equal(reply.length, Math.min(numwant, known.size));
            assert.equal(new Set(reply).size, reply.length, 'distinct');
            assert.ok(reply.every((peer) => known.has(peer)), 'only peers of the swarm, never the requester');
            const quota = localQuota(Math.min(numwant, known.size), share);
            const tiers = reply.map((peer) => tierOf(peer, self));
            const local = [...known].map((peer) => tierOf(peer, self)).filter((tier) => tier < 2);
            const sameIp = local.filter((tier) => tier === 0).length;
            const expectedLocal = Math.min(quota, local.length);
            // Exact when the announce looks at every peer: a scan, or a swarm within the probe budget.
            if (known.size <= SCAN_LIMIT || known.size < probeBudget(quota)) {
              assert.deepEqual(tiers.slice(0, expectedLocal), [
                ...Array<number>(Math.min(sameIp, expectedLocal)).fill(0),
                ...Array<number>(expectedLocal - Math.min(sameIp, expectedLocal)).fill(1),
              ]);
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('keeps a random share that reaches the whole swarm, and changes nothing when off', () => {
    const requester = v4(127, 0, 0, 5, 999);
    const build = (share: number | null): MemoryStore => {
      const store = memoryStore(share);
      for (let i = 0; i < 5; i++) store.announceNow(announce(v4(127, 0, 0, 10 + i), 0)); // same /24
      for (let i = 0; i < 94; i++) store.announceNow(announce(v4(10, 1, i, 1), 0)); // elsewhere
      return store;
    };
    const on = build(0.5);
    const off = build(null);
    const reached = new Set<string>();
    let localWhenOff = 0;
    for (let round = 0; round < 100; round++) {
      const tiers = peersOf(on.announceNow(announce(requester, 10)).peers, 6).map((peer, i) => {
        if (i >= 5) reached.add(peer);
        return tierOf(peer, hex(requester));
      });
      assert.deepEqual(tiers, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
      localWhenOff += peersOf(off.announceNow(announce(requester, 10)).peers, 6).filter((peer) => tierOf(peer, hex(requester)) < 2).length;
    }
    // 5 random of 94 per reply: 100 replies reach about 93.6 of them; the chance of fewer than 80 is below 1e-20.
    assert.ok(reached.size >= 80, `random share reached ${reached.size} of 94`);
    // Off: the 5 nearby peers are 5 of 99, about half a peer per reply of 10; 5 per reply would be locality.
    assert.ok(localWhenOff / 100 < 2, `off: ${localWhenOff / 100} nearby peers per reply`);
  });

  it('a reload applies on the next announce', () => {
    let share: number | null = null;
    const store = new MemoryStore({ peerTtlSeconds: 3600, wsPeerTtlSeconds: 3600, now: () => 1000, localityShare: () => share });
    for (let i = 0; i < 40; i++) store.announceNow(announce(v4(10, 1, i, 1), 0));
    store.announceNow(announce(v4(10, 9, 9, 2), 0));
    const requester = v4(10, 9, 9, 1, 999);
    share = 0.5;
    const first = peersOf(store.announceNow(announce(requester, 4)).peers, 6)[0]!;
    assert.equal(first, hex(v4(10, 9, 9, 2)));
  });
});

describe('the prefix index of big swarms', () => {
  function bigTable(): PeerTable {
    const table = new PeerTable(new RecordSlabs(3));
    for (let i = 0; i < 4 * SCAN_LIMIT; i++) {
      table.find(v4(10, (i >> 8) & 0xff, i & 0xff, 1));
      table.insert(0, 5000);
    }
    return table;
  }

  function add(table: PeerTable, peer: Uint8Array): number {
    assert.equal(table.find(peer), -1);
    return table.insert(0, 5000);
  }

  it('finds the requester’s /24 and address among thousands, then new peers of the same second, never others', () => {
    const table = bigTable();
    const selector = new LocalitySelector();
    const self = add(table, v4(192, 0, 2, 7, 1));
    const sameAddress = add(table, v4(192, 0, 2, 7, 2));
    const samePrefix = [add(table, v4(192, 0, 2, 8)), add(table, v4(192, 0, 2, 9))];
    assert.deepEqual(selector.localSlots(table, table, self, 10, 100), [sameAddress, ...samePrefix]);
    // Built at second 100: a peer appended since is read from the tail.
    const late = add(table, v4(192, 0, 2, 10));
    const withLate = selector.localSlots(table, table, self, 10, 100);
    assert.equal(withLate[0], sameAddress);
    assert.deepEqual(new Set(withLate.slice(1)), new Set([...samePrefix, late]));
    // A removal moves the last record into the hole: the stale index may miss a peer, never yield a wrong one.
    table.remove(samePrefix[0]!);
    const stale = selector.localSlots(table, table, self, 10, 100);
    for (const slot of stale) assert.ok(slot === sameAddress || [samePrefix[1], late].includes(slot) || slot === samePrefix[0]);
    assert.equal(new Set(stale).size, stale.length);
    // The next second rebuilds the index: exact again (`late` now sits in the removed peer's slot).
    assert.deepEqual(new Set(selector.localSlots(table, table, self, 10, 101)), new Set([sameAddress, samePrefix[1], samePrefix[0]]));
  });

  it('IPv6: the same /48 counts as nearby, the next /48 does not', () => {
    const table = new PeerTable(new RecordSlabs(6));
    for (let i = 0; i < 2 * SCAN_LIMIT; i++) add(table, v6(i, 0, 1));
    const self = add(table, v6(5000, 1, 1));
    const samePrefix = add(table, v6(5000, 0xffff, 2));
    add(table, v6(5001, 1, 1));
    assert.deepEqual(new LocalitySelector().localSlots(table, table, self, 10, 100), [samePrefix]);
  });

  it('looks at no more than its budget in a crowded prefix, and samples it', () => {
    const table = new PeerTable(new RecordSlabs(3));
    for (let i = 0; i < 4 * PROBE_BUDGET; i++) add(table, v4(10, 0, 0, 1, 1000 + i)); // one address, many ports
    const self = add(table, v4(10, 0, 0, 1, 1));
    const selector = new LocalitySelector();
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) for (const slot of selector.localSlots(table, table, self, 50, 100)) seen.add(slot);
    assert.ok(seen.size > 200, `${seen.size} distinct peers over 20 replies of 50`);
  });
});

describe('WebSocket offers in locality mode', () => {
  const ip = (...bytes: number[]): string => Buffer.from(bytes).toString('latin1');

  it('go to peers of the same IP, then the same /24, and a random share to the rest', () => {
    const swarms = new WsSwarms(3600, () => 0.5);
    const join = (peerId: string, address: string): void => {
      swarms.announce({ infoHash: INFO_HASH, peerId, route: `r-${peerId}`, event: 'started', seeder: false, numwant: 0, ip: address }, 100);
    };
    for (let i = 0; i < 50; i++) join(`far-${i}`.padEnd(20, '.'), ip(10, 0, i, 1));
    join('same-ip'.padEnd(20, '.'), ip(127, 0, 0, 2));
    join('same-24'.padEnd(20, '.'), ip(127, 0, 0, 3));
    const reached = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const { peers } = swarms.announce(
        { infoHash: INFO_HASH, peerId: 'me'.padEnd(20, '.'), route: 'r-me', event: 'none', seeder: false, numwant: 6, ip: ip(127, 0, 0, 2) },
        100,
      );
      assert.deepEqual(
        peers.slice(0, 2).map((peer) => peer.peerId.replace(/\.+$/, '')),
        ['same-ip', 'same-24'],
      );
      assert.equal(peers.length, 6);
      assert.equal(new Set(peers.map((peer) => peer.peerId)).size, 6);
      for (const peer of peers.slice(3)) reached.add(peer.peerId);
    }
    assert.ok(reached.size > 20, `the random share reached ${reached.size} of 50 distant peers`);
  });
});
