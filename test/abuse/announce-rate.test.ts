/**
 * The announce table on its own, over a clock the test moves: the limit per (source, info hash) within a sliding
 * window, sources as IPv4 addresses and IPv6 /64s, and that neither a flood on one key nor many keys refuse
 * anybody else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AnnounceRate } from '../../src/abuse/announce-rate.js';

const SECRET = new Uint8Array(16).fill(7);
const WINDOW = 60_000;
const LIMIT = 3;

const v4 = (a: number, b = 0): Uint8Array => Uint8Array.of(198, 51, a, b, 0x1a, 0xe1);
const v6 = (host: number, net = 1): Uint8Array =>
  Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, net, 0, 0, 0, 0, 0, 0, 0, host, 0x1a, 0xe1);
const hash = (n: number): string => String.fromCharCode(...Array.from({ length: 20 }, (_, i) => (n * 31 + i) & 0xff));

/** How many of `n` announces at `now` are accepted. */
function accepted(rate: AnnounceRate, peer: Uint8Array, infoHash: string, n: number, now: number, limit = LIMIT): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (rate.take(peer, infoHash, limit, WINDOW, now)) ok++;
  return ok;
}

describe('AnnounceRate', () => {
  it('accepts `limit` announces of one torrent from one source per window, then refuses', () => {
    const rate = new AnnounceRate(1 << 16, SECRET);
    assert.equal(accepted(rate, v4(1), hash(1), 10, 1000), LIMIT);
    assert.equal(accepted(rate, v4(1), hash(1), 1, 30_000), 0);
  });

  it('counts each (source, torrent) apart: another torrent, another address are not refused', () => {
    const rate = new AnnounceRate(1 << 16, SECRET);
    assert.equal(accepted(rate, v4(1), hash(1), 10, 0), LIMIT);
    assert.equal(accepted(rate, v4(1), hash(2), 10, 0), LIMIT);
    assert.equal(accepted(rate, v4(2), hash(1), 10, 0), LIMIT);
  });

  it('an IPv6 /64 is one source: another address in it shares the count, another /64 does not', () => {
    const rate = new AnnounceRate(1 << 16, SECRET);
    assert.equal(accepted(rate, v6(1), hash(1), 2, 0), 2);
    assert.equal(accepted(rate, v6(2), hash(1), 10, 0), 1);
    assert.equal(accepted(rate, v6(1, 2), hash(1), 10, 0), LIMIT);
  });

  it('the window slides: the previous window counts in proportion to its part still inside', () => {
    const rate = new AnnounceRate(1 << 16, SECRET);
    const t0 = 5000;
    assert.equal(accepted(rate, v4(1), hash(1), LIMIT, t0), LIMIT);
    // A window later, all three still weigh fully.
    assert.equal(accepted(rate, v4(1), hash(1), 1, t0 + WINDOW), 0);
    // Nearly two thirds into it, a bit over a third of them (one) remains: two more fit.
    assert.equal(accepted(rate, v4(1), hash(1), 10, t0 + WINDOW + (2 * WINDOW) / 3 - 1000), 2);
    // After two quiet windows, nothing is remembered.
    assert.equal(accepted(rate, v4(1), hash(1), 10, t0 + 5 * WINDOW), LIMIT);
  });

  it('a client announcing far too often gets about `limit` per window in the long run', () => {
    const rate = new AnnounceRate(1 << 16, SECRET);
    let ok = 0;
    for (let now = 0; now < 10 * WINDOW; now += 1000) if (rate.take(v4(1), hash(1), 30, WINDOW, now)) ok++;
    assert.ok(ok >= 9 * 30 && ok <= 11 * 30, `accepted ${ok}`);
  });

  it('a limit changed between calls applies at once', () => {
    const rate = new AnnounceRate(1 << 16, SECRET);
    assert.equal(accepted(rate, v4(1), hash(1), 10, 0, 2), 2);
    assert.equal(accepted(rate, v4(1), hash(1), 10, 0, 5), 3);
  });

  it('a flood on one key leaves other keys alone, and many distinct keys in one window refuse none', () => {
    const rate = new AnnounceRate(1 << 20, SECRET);
    assert.equal(accepted(rate, v4(9), hash(9), 100_000, 0, 30), 30);
    let refused = 0;
    for (let i = 0; i < 200_000; i++) if (!rate.take(v4(i >> 8, i & 0xff), hash(i), 30, WINDOW, 10)) refused++;
    assert.equal(refused, 0);
  });

  it('a table far too small for its keys over-counts (the documented failure mode) but stays its size', () => {
    const rate = new AnnounceRate(16, SECRET);
    assert.equal(rate.bytes, 64);
    let refused = 0;
    for (let i = 0; i < 1000; i++) if (!rate.take(v4(i >> 8, i & 0xff), hash(i), LIMIT, WINDOW, 0)) refused++;
    assert.ok(refused > 900, `refused ${refused}`);
    assert.equal(rate.bytes, 64);
  });

  it('property: one key never gets more than 2 × limit within any window', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 8 }), (gaps, limit) => {
        const rate = new AnnounceRate(1 << 10, SECRET);
        const times: number[] = [];
        let now = 0;
        for (const gap of gaps) {
          now += gap;
          if (rate.take(v4(1), hash(1), limit, WINDOW, now)) times.push(now);
        }
        for (let i = 0; i < times.length; i++) {
          const inSliding = times.filter((t) => t >= times[i]! && t < times[i]! + WINDOW).length;
          assert.ok(inSliding <= 2 * limit, `${inSliding} within one window from ${times[i]}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
