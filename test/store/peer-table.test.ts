/** The memory store's packed peer table against a plain Map model: lookups, removals and the index. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { FLAG_SEEDER, PeerTable } from '../../src/store/memory/peer-table.js';
import { RecordSlabs } from '../../src/store/memory/record-slabs.js';
import { v4, v6 } from './conformance.js';

function check(table: PeerTable, model: Map<number, boolean>, make: (n: number) => Uint8Array): void {
  assert.equal(table.count, model.size);
  assert.equal(table.seeders, [...model.values()].filter(Boolean).length);
  for (const [n, seeder] of model) {
    const slot = table.find(make(n));
    assert.ok(slot >= 0, `peer ${n} is findable`);
    assert.equal((table.flags(slot) & FLAG_SEEDER) !== 0, seeder);
  }
}

for (const [family, make, words] of [['IPv4', v4, 1], ['IPv6', v6, 4]] as const) {
  it(`${family} table matches a model through growth, removals and shrinking`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ n: fc.integer({ min: 0, max: 400 }), remove: fc.boolean(), seeder: fc.boolean() }), {
          minLength: 200,
          maxLength: 3000,
        }),
        (ops) => {
          const slabs = new RecordSlabs(words + 2);
          const table = new PeerTable(slabs);
          const model = new Map<number, boolean>();
          for (const op of ops) {
            const slot = table.find(make(op.n, 1000 + (op.n % 7)));
            assert.equal(slot >= 0, model.has(op.n), `membership of ${op.n}`);
            if (op.remove) {
              if (slot >= 0) table.remove(slot);
              model.delete(op.n);
            } else {
              if (slot >= 0) table.update(slot, op.seeder ? FLAG_SEEDER : 0, 10);
              else table.insert(op.seeder ? FLAG_SEEDER : 0, 10);
              model.set(op.n, op.seeder);
            }
          }
          check(table, model, (n) => make(n, 1000 + (n % 7)));
        },
      ),
      { numRuns: 40 },
    );
  });
}

it('expires exactly the peers past their time, keeping the rest findable', () => {
  const table = new PeerTable(new RecordSlabs(3));
  const model = new Map<number, boolean>();
  for (let n = 0; n < 500; n++) {
    assert.equal(table.find(v4(n)), -1);
    table.insert(n % 3 === 0 ? FLAG_SEEDER : 0, n % 2 === 0 ? 100 : 200);
    if (n % 2 === 1) model.set(n, n % 3 === 0);
  }
  assert.equal(table.expire(150), 250);
  check(table, model, (n) => v4(n));
  assert.equal(table.expire(250), 250);
  assert.equal(table.count, 0);
  assert.equal(table.seeders, 0);
});

it('expires as a model does when expiries differ and move later: never a scan skipped while a peer is past its time', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ n: fc.integer({ min: 0, max: 60 }), op: fc.constantFrom('announce', 'announce', 'remove', 'expire'), ttl: fc.integer({ min: 1, max: 40 }), advance: fc.constantFrom(0, 0, 1, 5, 20) }), {
        minLength: 50,
        maxLength: 800,
      }),
      (ops) => {
        const table = new PeerTable(new RecordSlabs(3));
        const model = new Map<number, number>(); // peer → expiresAt
        let now = 1000;
        for (const { n, op, ttl, advance } of ops) {
          now += advance;
          const slot = table.find(v4(n));
          if (op === 'announce') {
            if (slot >= 0) table.update(slot, 0, now + ttl);
            else table.insert(0, now + ttl);
            model.set(n, now + ttl);
          } else if (op === 'remove') {
            if (slot >= 0) table.remove(slot);
            model.delete(n);
          } else {
            const expired = [...model].filter(([, at]) => at <= now).map(([peer]) => peer);
            if (expired.length > 0) assert.ok(table.due(now), `due at ${now}: ${expired.length} peers past their time`);
            assert.equal(table.expire(now), expired.length);
            for (const peer of expired) model.delete(peer);
            assert.equal(table.count, model.size);
            for (const peer of model.keys()) assert.ok(table.find(v4(peer)) >= 0, `peer ${peer} kept`);
          }
        }
      },
    ),
    { numRuns: 100 },
  );
});
