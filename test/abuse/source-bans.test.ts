/** UDP source bans on their own, over a clock the test moves: threshold within a sliding window, ban end, caps. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceBans, type Strike } from '../../src/abuse/source-bans.js';
import { SourceConnections } from '../../src/abuse/source-connections.js';
import { sourceKey } from '../../src/abuse/source.js';

const WINDOW = 60_000;
const BAN = 300_000;
const THRESHOLD = 3;

function strikes(bans: SourceBans, source: number, n: number, now: number): Strike[] {
  return Array.from({ length: n }, () => bans.strike(source, THRESHOLD, WINDOW, BAN, now));
}

describe('SourceBans', () => {
  it('more than `threshold` strikes in a window ban the source until the ban ends, and only that source', () => {
    const bans = new SourceBans(100);
    assert.equal(bans.size, 0);
    assert.deepEqual(strikes(bans, 1, 4, 1000), ['counted', 'counted', 'counted', 'banned']);
    assert.equal(bans.banned(1, 1000), true);
    assert.equal(bans.banned(2, 1000), false);
    assert.equal(bans.banned(1, 1000 + BAN - 1), true);
    assert.equal(bans.banned(1, 1000 + BAN), false);
    assert.equal(bans.size, 0, 'an ended ban seen is dropped');
  });

  it('a ban starts the count afresh: after it, `threshold` more strikes are counted again', () => {
    const bans = new SourceBans(100);
    strikes(bans, 1, 4, 0);
    assert.deepEqual(strikes(bans, 1, 4, BAN + 10), ['counted', 'counted', 'counted', 'banned']);
  });

  it('strikes spread out over the windows never ban', () => {
    const bans = new SourceBans(100);
    for (let now = 0; now < 20 * WINDOW; now += WINDOW / 2) assert.deepEqual(strikes(bans, 1, 1, now), ['counted']);
  });

  it('the window slides: strikes late in one window still count early in the next', () => {
    const bans = new SourceBans(100);
    strikes(bans, 1, 3, WINDOW - 1); // the first strike starts the window at WINDOW - 1
    assert.deepEqual(strikes(bans, 1, 1, 2 * WINDOW - 1000), ['banned']);
  });

  it('a full table counts and bans no new source, and bans that ended make room again', () => {
    const bans = new SourceBans(2);
    assert.deepEqual([1, 2, 3].map((source) => bans.strike(source, THRESHOLD, WINDOW, BAN, 0)), ['counted', 'counted', 'untracked']);
    // A ban frees its source's count: both sources can be banned, then a third is counted but not banned.
    assert.deepEqual(strikes(bans, 1, 3, 0), ['counted', 'counted', 'banned']);
    assert.deepEqual(strikes(bans, 2, 3, 0), ['counted', 'counted', 'banned']);
    assert.deepEqual(strikes(bans, 3, 4, 0), ['counted', 'counted', 'counted', 'untracked']);
    assert.equal(bans.banned(3, 0), false);
    assert.deepEqual(strikes(bans, 3, 4, BAN + 1), ['counted', 'counted', 'counted', 'banned']);
    assert.equal(bans.banned(3, BAN + 1), true);
  });
});

describe('SourceConnections', () => {
  it('admits up to the limit per source, makes room on close, and 0 is no limit', () => {
    const open = new SourceConnections();
    for (let i = 0; i < 2; i++) {
      assert.equal(open.admits(1, 2), true);
      open.opened(1);
    }
    assert.equal(open.admits(1, 2), false);
    assert.equal(open.admits(2, 2), true);
    assert.equal(open.admits(1, 0), true);
    open.closed(1);
    assert.equal(open.admits(1, 2), true);
    open.closed(1);
    assert.equal(open.sources, 0);
  });
});

describe('sourceKey', () => {
  const v6 = (hex: string): Uint8Array => Uint8Array.from([...Buffer.from(hex, 'hex'), 0, 80]);
  it('an IPv4 address is its own source; an IPv6 address stands for its /64', () => {
    assert.equal(sourceKey(Uint8Array.of(10, 0, 0, 1, 0, 80)), sourceKey(Uint8Array.of(10, 0, 0, 1, 1, 1)));
    assert.notEqual(sourceKey(Uint8Array.of(10, 0, 0, 1, 0, 80)), sourceKey(Uint8Array.of(10, 0, 0, 2, 0, 80)));
    assert.equal(sourceKey(v6('20010db8000000010000000000000001')), sourceKey(v6('20010db800000001ffffffffffffffff')));
    assert.notEqual(sourceKey(v6('20010db8000000010000000000000001')), sourceKey(v6('20010db8000000020000000000000001')));
    assert.notEqual(sourceKey(v6('00000000000000000000000000000000')), sourceKey(Uint8Array.of(0, 0, 0, 0, 0, 0)));
  });
});
