/**
 * The Redis store's own wire pieces, without Redis: the RESP reply parser fed in every possible split of its
 * input, and swarm keys (one slot per swarm, the slot Redis Cluster computes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReplyError, ReplyParser, encodeCommand, type Reply } from '../../src/store/redis/resp.js';
import { KEY_LENGTH, SLOTS, WIRE_KEYS, WS_KEYS, crc16, infoHashOfKey, statsKey, swarmKey, swarmSlot } from '../../src/store/redis/swarm-keys.js';

/** Every reply in `bytes`, parsed from chunks cut at `cuts`, as a socket would deliver them. */
function parseChunks(bytes: Buffer, cuts: number[]): Reply[] {
  const parser = new ReplyParser();
  const replies: Reply[] = [];
  let rest: Buffer | null = null;
  let from = 0;
  for (const to of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    let chunk = bytes.subarray(from, to);
    from = to;
    if (rest) chunk = Buffer.concat([rest, chunk]);
    rest = null;
    let at = 0;
    for (;;) {
      const next = parser.parse(chunk, at);
      if (next < 0) break;
      replies.push(parser.value);
      at = next;
    }
    if (at < chunk.length) rest = chunk.subarray(at);
  }
  assert.equal(rest, null, 'no bytes left over');
  return replies;
}

/** The same replies with Buffers as strings, for deepEqual. */
function plain(reply: Reply): unknown {
  if (Buffer.isBuffer(reply)) return { bulk: reply.toString('latin1') };
  if (reply instanceof ReplyError) return { error: reply.message };
  if (Array.isArray(reply)) return reply.map(plain);
  return reply;
}

describe('RESP reply parser', () => {
  const stream = Buffer.concat([
    Buffer.from('+OK\r\n-ERR Function not found\r\n:42\r\n:-7\r\n$-1\r\n*-1\r\n$0\r\n\r\n', 'latin1'),
    Buffer.from('$6\r\n\x00\r\n\xff\r\n\r\n', 'latin1'), // binary bulk holding CR LF
    Buffer.from('*2\r\n$44\r\n', 'latin1'),
    Buffer.alloc(44, 0x0d),
    Buffer.from('\r\n$12\r\n', 'latin1'),
    Buffer.alloc(12, 0x0a),
    Buffer.from('\r\n*3\r\n*1\r\n:1\r\n*0\r\n+x\r\n', 'latin1'),
  ]);
  const expected = [
    'OK',
    { error: 'ERR Function not found' },
    42,
    -7,
    null,
    null,
    { bulk: '' },
    { bulk: '\x00\r\n\xff\r\n' },
    [{ bulk: '\r'.repeat(44) }, { bulk: '\n'.repeat(12) }],
    [[1], [], 'x'],
  ];

  it('parses a stream of every reply type in one chunk', () => {
    assert.deepEqual(parseChunks(stream, []).map(plain), expected);
  });

  it('parses the same stream cut anywhere into chunks', () => {
    for (let cut = 1; cut < stream.length; cut++) assert.deepEqual(parseChunks(stream, [cut]).map(plain), expected);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        assert.deepEqual(parseChunks(stream, cuts).map(plain), expected);
      }),
    );
  });

  it('encodes commands as RESP arrays of bulk strings', () => {
    assert.equal(encodeCommand(['FUNCTION', 'LOAD', Buffer.from([0, 13, 10])]).toString('latin1'), '*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n$3\r\n\x00\r\n\r\n');
  });
});

describe('swarm keys', () => {
  it('computes CRC16/XMODEM as Redis Cluster does', () => {
    assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
  });

  it('puts every key of a swarm in the slot Redis Cluster computes for it, whatever the hash bytes', () => {
    /** Redis Cluster's key slot: CRC16 of the hash tag (first `{` to the next `}`), or of the whole key. */
    const keySlot = (key: Buffer): number => {
      const open = key.indexOf(0x7b);
      if (open >= 0) {
        const close = key.indexOf(0x7d, open + 1);
        if (close > open + 1) return crc16(key, open + 1, close) & 16383;
      }
      return crc16(key) & 16383;
    };
    const special = [0x7b, 0x7d, 0x00, 0x0d, 0x0a, 0xff];
    const hashes = fc.sample(fc.uint8Array({ minLength: 20, maxLength: 20 }), 300);
    for (const a of special) for (const b of special) hashes.push(Uint8Array.from([a, b, ...new Uint8Array(18).fill(0x7d)]));
    for (const bytes of hashes) {
      const infoHash = Buffer.from(bytes).toString('latin1');
      for (const kind of [...WIRE_KEYS, ...WS_KEYS]) {
        const key = swarmKey(kind, infoHash);
        assert.equal(key.length, KEY_LENGTH);
        assert.equal(keySlot(key), swarmSlot(infoHash), `${kind} key of ${Buffer.from(bytes).toString('hex')}`);
        assert.equal(infoHashOfKey(key), infoHash);
      }
    }
  });

  it("puts each slot's stats key in that slot", () => {
    const keySlot = (key: Buffer): number => {
      const open = key.indexOf(0x7b);
      const close = key.indexOf(0x7d, open + 1);
      assert.ok(open >= 0 && close > open + 1, 'a hash tag');
      return crc16(key, open + 1, close) & 16383;
    };
    const seen = new Set<string>();
    for (let slot = 0; slot < SLOTS; slot++) {
      const key = statsKey(slot);
      assert.equal(keySlot(key), slot);
      seen.add(key.toString('latin1'));
    }
    assert.equal(seen.size, SLOTS);
  });

  it('spreads swarms evenly over the slots', () => {
    const counts = new Uint32Array(16384);
    for (let tag = 0; tag < 65536; tag++) counts[swarmSlot(String.fromCharCode(tag >> 8, tag & 0xff) + '\0'.repeat(18))]!++;
    // Exactly 4 tags per slot, but around the 511 tags holding a `}` (mapped onto others' slots).
    let exact = 0;
    for (const count of counts) if (count === 4) exact++;
    assert.ok(exact >= 16384 - 2 * 511, `${exact} slots hold exactly 4 tags`);
    assert.ok(Math.max(...counts) <= 8);
  });
});
