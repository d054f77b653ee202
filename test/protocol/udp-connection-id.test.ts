import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConnectionIds } from '../../src/protocol/udp-connection-id.js';

const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const IP4 = Uint8Array.of(192, 0, 2, 1);
const IP4_OTHER = Uint8Array.of(192, 0, 2, 2);
const IP6 = Buffer.from('20010db8000000000000000000000001', 'hex');
const LIFETIME = 300;
const ROTATE = 3600;
const T0 = 1_700_000_000;

/** A ConnectionIds over a clock the test moves. */
function make(secret: Uint8Array = SECRET, lifetimeSeconds = LIFETIME, rotateSeconds = ROTATE) {
  const clock = { now: T0 };
  const ids = new ConnectionIds({ masterSecret: secret, lifetimeSeconds, rotateSeconds, now: () => clock.now });
  const issue = (ip: Uint8Array): Buffer => {
    const out = Buffer.alloc(12, 0xee);
    ids.issue(ip, out, 2);
    assert.equal(out[0], 0xee, 'wrote before `at`');
    assert.equal(out[10], 0xee, 'wrote past 8 bytes');
    return out.subarray(2, 10);
  };
  return { clock, ids, issue };
}

describe('ConnectionIds', () => {
  it('an issued id verifies for the same IP (IPv4 and IPv6), also at an offset', () => {
    const { ids, issue } = make();
    const id4 = issue(IP4);
    assert.equal(ids.verify(id4, 0, IP4), true);
    const packet = Buffer.concat([Buffer.alloc(5), id4]);
    assert.equal(ids.verify(packet, 5, IP4), true);
    const id6 = issue(IP6);
    assert.equal(ids.verify(id6, 0, IP6), true);
  });

  it('the first four bytes are the issue time, big-endian', () => {
    const { issue } = make();
    assert.equal(issue(IP4).readUInt32BE(0), T0);
  });

  it('fails for another IP, or another address family', () => {
    const { ids, issue } = make();
    const id = issue(IP4);
    assert.equal(ids.verify(id, 0, IP4_OTHER), false);
    const mapped = Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), IP4]);
    assert.equal(ids.verify(id, 0, mapped), false);
    assert.equal(ids.verify(issue(IP6), 0, IP4), false);
  });

  it('is accepted up to the lifetime and refused after it', () => {
    const { clock, ids, issue } = make();
    const id = issue(IP4);
    clock.now = T0 + LIFETIME;
    assert.equal(ids.verify(id, 0, IP4), true);
    clock.now = T0 + LIFETIME + 1;
    assert.equal(ids.verify(id, 0, IP4), false);
    clock.now = T0 + 10 * LIFETIME;
    assert.equal(ids.verify(id, 0, IP4), false);
  });

  it('refuses ids stamped in the far future (a little clock skew is tolerated)', () => {
    const { clock, ids, issue } = make();
    clock.now = T0 + 3;
    const nearFuture = issue(IP4);
    clock.now = T0 + 1000;
    const farFuture = issue(IP4);
    clock.now = T0;
    assert.equal(ids.verify(nearFuture, 0, IP4), true, '3 s of skew must pass');
    assert.equal(ids.verify(farFuture, 0, IP4), false);
  });

  it('stays valid across a key rotation boundary', () => {
    const { clock, ids, issue } = make();
    const boundary = Math.ceil(T0 / ROTATE) * ROTATE;
    clock.now = boundary - 1;
    const id = issue(IP4);
    clock.now = boundary + 10;
    assert.equal(ids.verify(id, 0, IP4), true);
    const fresh = issue(IP4);
    assert.equal(ids.verify(fresh, 0, IP4), true);
    // the old epoch is still known after the new one was used
    assert.equal(ids.verify(id, 0, IP4), true);
    clock.now = boundary - 1 + LIFETIME;
    assert.equal(ids.verify(id, 0, IP4), true);
    assert.equal(ids.verify(fresh, 0, IP4), true);
  });

  it('rotation with lifetime == rotate period, verified in any order of epochs', () => {
    const { clock, ids, issue } = make(SECRET, 100, 100);
    const stamps = [T0 - 250, T0 - 150, T0 - 99, T0 - 1, T0];
    const issued = stamps.map((t) => {
      clock.now = t;
      return issue(IP4);
    });
    clock.now = T0;
    // verify back and forth across epochs to exercise the two-key cache
    for (const order of [[4, 3, 2], [2, 4, 3], [3, 2, 4, 2]]) {
      for (const i of order) assert.equal(ids.verify(issued[i]!, 0, IP4), true, `stamp ${stamps[i]}`);
    }
    assert.equal(ids.verify(issued[0]!, 0, IP4), false);
    assert.equal(ids.verify(issued[1]!, 0, IP4), false);
  });

  it('a second instance with the same master secret accepts the ids (workers share it)', () => {
    const a = make();
    const b = make(Buffer.from(SECRET));
    const id = a.issue(IP6);
    assert.equal(b.ids.verify(id, 0, IP6), true);
    assert.deepEqual(b.issue(IP6), id, 'same second, same IP, same secret: same id');
  });

  it('an instance with a different secret rejects them', () => {
    const a = make();
    const other = Buffer.from(SECRET);
    other.writeUInt8(other.readUInt8(15) ^ 1, 15);
    const b = make(other);
    assert.equal(b.ids.verify(a.issue(IP4), 0, IP4), false);
  });

  it('only the first 16 bytes of the secret are the key', () => {
    const a = make();
    const longer = Buffer.concat([SECRET.subarray(0, 16), Buffer.alloc(16, 0x99)]);
    const b = make(longer);
    assert.equal(b.ids.verify(a.issue(IP4), 0, IP4), true);
  });

  it('refuses a secret shorter than 16 bytes', () => {
    assert.throws(() => make(new Uint8Array(15)), RangeError);
  });

  it('flipping any single bit of an id makes it fail', () => {
    const { clock, ids, issue } = make();
    clock.now = T0 + 10;
    for (const ip of [IP4, IP6]) {
      const id = issue(ip);
      for (let bit = 0; bit < 64; bit++) {
        const bad = Buffer.from(id);
        bad.writeUInt8(bad.readUInt8(bit >> 3) ^ (0x80 >> (bit & 7)), bit >> 3);
        assert.equal(ids.verify(bad, 0, ip), false, `bit ${bit}`);
      }
    }
  });

  it('property: issued ids verify within their lifetime for any IP and time', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
        fc.integer({ min: 1_000_000_000, max: 4_000_000_000 }),
        fc.integer({ min: 0, max: LIFETIME }),
        (ip, issuedAt, age) => {
          const { clock, ids, issue } = make();
          clock.now = issuedAt;
          const id = issue(ip);
          clock.now = issuedAt + age;
          return ids.verify(id, 0, ip);
        },
      ),
    );
  });

  it('property: random 8-byte ids do not verify', () => {
    const { ids } = make();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.integer({ min: -300, max: 300 }), (id, offset) => {
        // Put the stamp in the valid window so that only the MAC can refuse it.
        Buffer.from(id.buffer, id.byteOffset, 8).writeUInt32BE(T0 + Math.min(offset, 0), 0);
        return !ids.verify(id, 0, IP4);
      }),
      { numRuns: 2000 },
    );
  });
});
