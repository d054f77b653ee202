/**
 * The event arguments the Redis store writes straight into its function calls (store-events.ts
 * RedisEventArgs, schema.ts writeAnnounceFacts): RESP bulk strings whose facts decode to the announce's values,
 * for numbers around 2^31 and the 8-digit parts they are written in above it, UDP's numeric key, keys that are
 * not latin1, IPv6.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventOfValues, parseEntry } from '../../src/events/schema.js';
import { RedisEventArgs, wireAnnounceFacts } from '../../src/events/store-events.js';
import type { AnnounceRequest } from '../../src/protocol/types.js';
import { hash, v4, v6 } from '../store/conformance.js';

/** The RESP bulk strings of a tail, as text. */
function bulks(tail: Buffer): string[] {
  const values: string[] = [];
  for (let at = 0; at < tail.length; ) {
    assert.equal(tail[at], 0x24);
    const lineEnd = tail.indexOf('\r\n', at, 'latin1');
    const length = Number(tail.toString('latin1', at + 1, lineEnd));
    assert.match(tail.toString('latin1', at + 1, lineEnd), /^(0|[1-9]\d*)$/);
    values.push(tail.toString('latin1', lineEnd + 2, lineEnd + 2 + length));
    assert.equal(tail.toString('latin1', lineEnd + 2 + length, lineEnd + 4 + length), '\r\n');
    at = lineEnd + 4 + length;
  }
  return values;
}

const base = { infoHash: hash(3), peer: v4(9), event: 'none', seeder: false, numwant: 50 } as const satisfies AnnounceRequest;

describe('event arguments of the Redis functions', () => {
  const args = new RedisEventArgs({ partitions: 64, maxlen: 1234 });

  it('writes MAXLEN and the facts (the swarm first), which decode to the announce', () => {
    for (const uploaded of [0, 7, 99_999_999, 100_000_000, 100_000_001, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 1e15 + 7, 2 ** 53 - 2, 12.9]) {
      const request: AnnounceRequest = { ...base, protocol: 'udp', key: 0x00ab0001, uploaded, downloaded: 10_000_000_000, left: Number.MAX_SAFE_INTEGER };
      const [maxlen, facts] = bulks(args.announce(request));
      assert.equal(maxlen, '1234');
      const time = facts!.split(' ')[2]!;
      assert.equal(facts, wireAnnounceFacts(request).replace(/^(\S+ \S+ )\d+/, `$1${time}`));
      const event = eventOfValues(['3', '1 0 1', facts!]);
      assert.deepEqual(
        { ih: event.ih, swarm: event.swarm, uploaded: event.uploaded, downloaded: event.downloaded, left: event.left, key: event.key, peer: event.peer, proto: event.proto, event: event.event },
        { ih: Buffer.from(base.infoHash, 'latin1').toString('hex'), swarm: 'bt', uploaded: Math.floor(uploaded), downloaded: 10_000_000_000, left: null, key: '00ab0001', peer: '10.0.0.9:6881', proto: 'udp', event: 'update' },
      );
    }
  });

  it('leaves out what cannot be written: negative counts, a key that is not latin1; writes IPv6 as 8 groups', () => {
    const request: AnnounceRequest = { ...base, peer: v6(2), event: 'completed', seeder: true, protocol: 'http', key: 'k\u4e00y', uploaded: -1 };
    const [, facts] = bulks(args.announce(request));
    const event = eventOfValues(['3', '1 1 0', facts!]);
    assert.equal(event.key, null);
    assert.equal(event.uploaded, null);
    assert.equal(event.seeder, true);
    assert.equal(event.event, 'completed');
    assert.match(event.peer, /^\[([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\]:\d+$/);
  });

  it('writes a scrape’s swarm and sweep argument', () => {
    const hex = Buffer.from(base.infoHash, 'latin1').toString('hex');
    assert.deepEqual(bulks(args.scrape(base.infoHash, 'ws', true)), ['1234', `${hex} ws`, 'sweep']);
    assert.deepEqual(bulks(args.scrape(base.infoHash, 'bt', false)), ['1234', `${hex} bt`, '']);
  });
});

describe('stream entries of every schema version', () => {
  const expected = { ih: 'ab'.repeat(20), swarm: 'bt', seq: 4, time: 1764633600123, event: 'update', proto: 'udp', peer: '10.0.12.34:6881', key: 'a1 b2', uploaded: 1638400, downloaded: null, left: 0, seeder: true, complete: 3, incomplete: 7 };

  it('decodes versions 1, 2 and 3 alike', () => {
    const v1 = ['v', '1', 'ih', expected.ih, 'swarm', 'bt', 'seq', '4', 'time', '1764633600123', 'event', 'update', 'proto', 'udp', 'peer', '10.0.12.34:6881', 'key', 'a1 b2', 'uploaded', '1638400', 'downloaded', '', 'left', '0', 'seeder', '1', 'complete', '3', 'incomplete', '7'];
    const v2 = ['v', '2', 'ih', expected.ih, 'swarm', 'bt', 'n', '4 3 7', 'a', '1764633600123 update udp 10.0.12.34:6881 1638400  0 1 a1 b2'];
    const v3 = ['v', '3', 'n', '4 3 7', 'a', `${expected.ih} bt 1764633600123 update udp 10.0.12.34:6881 1638400  0 1 a1 b2`];
    assert.deepEqual(parseEntry(v1), { v: 1, ...expected });
    assert.deepEqual(parseEntry(v2), { v: 2, ...expected });
    assert.deepEqual(parseEntry(v3), { v: 3, ...expected });
    assert.throws(() => parseEntry(['v', '4', 'n', '4 3 7', 'a', '']), /not a version 1 to 3/);
  });
});
