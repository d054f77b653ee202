/** Property tests (fast-check) over every codec: round trips, and "nothing but RequestError escapes the edge". */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bencode from 'bencode';
import fc from 'fast-check';
import { encodeCompactAnnounceReply, parseHttpAnnounceQuery } from '../../src/protocol/http-announce.js';
import { encodeHttpScrapeReply, parseHttpScrapeQuery } from '../../src/protocol/http-scrape.js';
import { RequestError } from '../../src/protocol/types.js';
import {
  UDP_ACTION_ANNOUNCE,
  UDP_ACTION_CONNECT,
  UDP_ACTION_SCRAPE,
  UdpRequestError,
  encodeUdpAnnounceReply,
  encodeUdpError,
  encodeUdpScrapeReply,
  parseUdpRequest,
} from '../../src/protocol/udp.js';
import {
  PROTOCOL_ID,
  binary,
  decodeStrictDict,
  percentEncodeMixed,
  udpAnnouncePacket,
  udpScrapePacket,
} from '../helpers/wire.js';

const RUNS = 1000;
const bytes20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const EVENTS = ['none', 'started', 'completed', 'stopped'] as const;

/** 20 bytes percent-encoded with per-byte choices of literal/escaped and hex case. */
const encoded20 = fc
  .tuple(bytes20, fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }))
  .map(([b, escape, lower]) => ({ bytes: b, text: percentEncodeMixed(b, (i) => escape[i]!, (i) => lower[i]!) }));

/** Pieces real and broken queries are made of. */
const queryToken = fc.oneof(
  fc.constantFrom(
    'info_hash=', 'peer_id=', 'port=', 'left=', 'event=', 'numwant=', 'compact=', 'key=', 'ip=', '&', '=', '%', '%2', '%25',
    '%00', '%ff', '%FF', '%zz', '+', 'started', 'stopped', 'completed', 'paused', 'constructor', '__proto__', '0', '1',
    '65535', '65536', '-1', '99999999999999999999999', '\u20ac', '\u00e9', '\ud83d\ude80', '\ud800',
  ),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  encoded20.map((e) => e.text),
);
const queryLike = fc.array(queryToken, { maxLength: 30 }).map((parts) => parts.join(''));
const anyQuery = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), queryLike);

function isBinary(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

describe('HTTP announce properties', () => {
  it('round trip: any 20-byte info_hash/peer_id and fields, in any order, with unknown extras', () => {
    fc.assert(
      fc.property(
        encoded20,
        encoded20,
        fc.integer({ min: 1, max: 65535 }),
        fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
        fc.option(fc.constantFrom('', 'started', 'completed', 'stopped', 'paused'), { nil: undefined }),
        fc.option(fc.nat({ max: 100000 }), { nil: undefined }),
        fc.option(fc.constantFrom('0', '1'), { nil: undefined }),
        fc.array(fc.tuple(fc.constantFrom('uploaded', 'downloaded', 'key', 'ip', 'trackerid', 'x', 'supportcrypto'), fc.string({ unit: fc.constantFrom(...'abc019-._~'.split('')), maxLength: 10 })), { maxLength: 5 }),
        fc.nat(),
        (ih, pid, port, left, event, numwant, compact, extras, seed) => {
          const pairs: [string, string][] = [['info_hash', ih.text], ['peer_id', pid.text], ['port', String(port)], ...extras];
          if (left !== undefined) pairs.push(['left', String(left)]);
          if (event !== undefined) pairs.push(['event', event]);
          if (numwant !== undefined) pairs.push(['numwant', String(numwant)]);
          if (compact !== undefined) pairs.push(['compact', compact]);
          // deterministic shuffle from the seed
          let s = seed;
          for (let i = pairs.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) >>> 0;
            const j = s % (i + 1);
            [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
          }
          const parsed = parseHttpAnnounceQuery(pairs.map(([k, v]) => `${k}=${v}`).join('&'));
          assert.equal(parsed.infoHash, binary(ih.bytes));
          assert.equal(parsed.peerId, binary(pid.bytes));
          assert.equal(parsed.port, port);
          assert.equal(parsed.left, left ?? Number.MAX_SAFE_INTEGER);
          assert.equal(parsed.event, event === undefined || event === '' || event === 'paused' ? 'none' : event);
          assert.equal(parsed.numwant, numwant ?? -1);
          assert.equal(parsed.compact, compact !== '0');
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('arbitrary strings either parse or throw RequestError, nothing else', () => {
    fc.assert(
      fc.property(anyQuery, (q) => {
        try {
          parseHttpAnnounceQuery(q);
        } catch (error) {
          if (!(error instanceof RequestError)) throw error;
        }
      }),
      { numRuns: 5 * RUNS },
    );
  });

  it('whatever parses is well-formed: binary 20-byte ids, port 1..65535, known event, left >= 0, numwant >= -1', () => {
    const withIds = fc
      .tuple(queryLike, fc.constantFrom('\u20ac', '\u00e9', 'A', '%41', '\ud83d\ude80'), fc.nat(19))
      .map(([rest, odd, at]) => {
        const chars = Array.from({ length: 20 }, (_, i) => (i === at ? odd : 'B'));
        return `info_hash=${chars.join('')}&peer_id=${'P'.repeat(20)}&port=1&${rest}`;
      });
    fc.assert(
      fc.property(fc.oneof(anyQuery, withIds), (q) => {
        let parsed;
        try {
          parsed = parseHttpAnnounceQuery(q);
        } catch (error) {
          if (error instanceof RequestError) return;
          throw error;
        }
        assert.equal(parsed.infoHash.length, 20);
        assert.ok(isBinary(parsed.infoHash), `info_hash not binary for ${JSON.stringify(q)}`);
        assert.equal(parsed.peerId.length, 20);
        assert.ok(isBinary(parsed.peerId), `peer_id not binary for ${JSON.stringify(q)}`);
        assert.ok(Number.isInteger(parsed.port) && parsed.port >= 1 && parsed.port <= 65535);
        assert.ok((EVENTS as readonly unknown[]).includes(parsed.event), `event ${String(parsed.event)} for ${JSON.stringify(q)}`);
        assert.ok(parsed.left >= 0);
        assert.ok(parsed.numwant >= -1);
      }),
      { numRuns: 5 * RUNS },
    );
  });

  it('compact reply encode -> bencode decode gives back counts, timing and peers', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.integer({ min: 1, max: 86400 }),
        fc.nat({ max: 86400 }),
        fc.boolean(),
        fc.nat({ max: 60 }),
        fc.nat(),
        (complete, incomplete, interval, minInterval, isV6, count, seed) => {
          const size = isV6 ? 18 : 6;
          const peers = Buffer.alloc(count * size);
          for (let i = 0; i < peers.length; i++) peers[i] = (seed + i * 131) & 0xff;
          const body = encodeCompactAnnounceReply({ complete, incomplete, downloaded: 0, peers }, { interval, minInterval }, isV6);
          const d = bencode.decode(body);
          assert.equal(d.complete, complete);
          assert.equal(d.incomplete, incomplete);
          assert.equal(d.interval, interval);
          assert.equal(d['min interval'], minInterval);
          assert.deepEqual(Buffer.from(isV6 ? d.peers6 : d.peers), peers);
          if (isV6) assert.equal(d.peers.length, 0);
          decodeStrictDict(body);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('HTTP scrape properties', () => {
  it('round trip: hashes (with repeats) come back distinct, in first-seen order', () => {
    fc.assert(
      fc.property(fc.array(encoded20, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (hashes, repeats) => {
        const sequence = [...hashes];
        for (const r of repeats) sequence.splice(r % (sequence.length + 1), 0, hashes[r % hashes.length]!);
        const q = sequence.map((h) => `info_hash=${h.text}`).join('&');
        const expected: string[] = [];
        for (const h of sequence) if (!expected.includes(binary(h.bytes))) expected.push(binary(h.bytes));
        assert.deepEqual(parseHttpScrapeQuery(q, 74), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary strings either parse to at most max distinct 20-byte hashes or throw RequestError', () => {
    fc.assert(
      fc.property(anyQuery, fc.integer({ min: 1, max: 74 }), (q, max) => {
        let hashes;
        try {
          hashes = parseHttpScrapeQuery(q, max);
        } catch (error) {
          if (error instanceof RequestError) return;
          throw error;
        }
        assert.ok(hashes.length <= max);
        assert.equal(new Set(hashes).size, hashes.length);
        for (const h of hashes) assert.equal(h.length, 20);
      }),
      { numRuns: 5 * RUNS },
    );
  });

  it('reply encode -> bencode decode gives the counts under each hash, keys sorted', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(bytes20, { maxLength: 30, selector: (b) => binary(b) }),
        fc.array(fc.record({ complete: fc.nat(), incomplete: fc.nat(), downloaded: fc.nat() }), { minLength: 30, maxLength: 30 }),
        (hashBytes, allCounts) => {
          const hashes = hashBytes.map(binary);
          const counts = allCounts.slice(0, hashes.length);
          const body = encodeHttpScrapeReply(hashes, counts);
          const files = decodeStrictDict(body).dict('files');
          assert.equal(files.keys.length, hashes.length);
          // the bencode package: keys are UTF-8 text, or hex when not valid UTF-8
          const decoded = bencode.decode(body).files as Record<string, { complete: number; incomplete: number; downloaded: number }>;
          hashBytes.forEach((b, i) => {
            const text = Buffer.from(b).toString('utf8');
            const key = text.includes('\ufffd') ? Buffer.from(b).toString('hex') : text;
            assert.deepEqual(decoded[key], { complete: counts[i]!.complete, downloaded: counts[i]!.downloaded, incomplete: counts[i]!.incomplete });
            const strict = files.dict(hashes[i]!);
            assert.equal(strict.int('complete'), counts[i]!.complete);
          });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

const udpAnnounceFields = fc.record({
  connectionId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  transactionId: fc.nat({ max: 0xffffffff }),
  infoHash: bytes20,
  peerId: bytes20,
  downloaded: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  left: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  uploaded: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  event: fc.integer({ min: 0, max: 3 }),
  ip: fc.nat({ max: 0xffffffff }),
  key: fc.nat({ max: 0xffffffff }),
  numwant: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  port: fc.integer({ min: 1, max: 65535 }),
  chunks: fc.array(fc.uint8Array({ maxLength: 255 }).map(binary), { maxLength: 4 }),
});

/** A 64-bit count as the codec gives it to swarm events: a number, -1 for a negative int64. */
const count64 = (value: bigint): number => (value >= 2n ** 63n ? -1 : Number(value));

describe('UDP properties', () => {
  it('announce round trip: fields and URLData chunks come back', () => {
    fc.assert(
      fc.property(udpAnnounceFields, (f) => {
        const options = Buffer.concat([
          ...f.chunks.map((c) => Buffer.concat([Buffer.from([1, 2, c.length]), Buffer.from(c, 'latin1')])), // NOP, URLData
          Buffer.from([0, 2, 3, 65, 65, 65]), // EndOfOptions, then a chunk that must be ignored
        ]);
        const parsed = parseUdpRequest(udpAnnouncePacket({ ...f, options }), 74);
        assert.deepEqual(parsed, {
          action: UDP_ACTION_ANNOUNCE,
          transactionId: f.transactionId,
          infoHash: binary(f.infoHash),
          peerId: binary(f.peerId),
          event: ['none', 'completed', 'started', 'stopped'][f.event],
          seeder: f.left === 0n,
          numwant: f.numwant,
          port: f.port,
          urlData: f.chunks.join(''),
          passkey: undefined, // random URL data does not spell `/KEY/announce`
          downloaded: count64(f.downloaded),
          left: count64(f.left),
          uploaded: count64(f.uploaded),
          key: f.key,
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('scrape round trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.nat({ max: 0xffffffff }), fc.array(bytes20, { minLength: 1, maxLength: 74 }), (cid, tid, hashes) => {
        const parsed = parseUdpRequest(udpScrapePacket(cid, tid, hashes), 74);
        assert.deepEqual(parsed, { action: UDP_ACTION_SCRAPE, transactionId: tid, infoHashes: hashes.map(binary) });
      }),
      { numRuns: RUNS },
    );
  });

  it('announce and scrape replies carry what was encoded', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.array(fc.record({ complete: fc.nat(), incomplete: fc.nat(), downloaded: fc.nat() }), { maxLength: 74 }),
        (tid, counts) => {
          const reply = encodeUdpScrapeReply(tid, counts);
          assert.equal(reply.length, 8 + 12 * counts.length);
          assert.equal(reply.readUInt32BE(4), tid);
          counts.forEach((c, i) => {
            assert.equal(reply.readUInt32BE(8 + 12 * i), c.complete);
            assert.equal(reply.readUInt32BE(12 + 12 * i), c.downloaded);
            assert.equal(reply.readUInt32BE(16 + 12 * i), c.incomplete);
          });
          const first = counts[0] ?? { complete: 0, incomplete: 0, downloaded: 0 };
          const announce = encodeUdpAnnounceReply(tid, 1800, { ...first, peers: new Uint8Array(12) });
          assert.equal(announce.length, 32);
          assert.equal(announce.readUInt32BE(12), first.incomplete);
          assert.equal(announce.readUInt32BE(16), first.complete);
        },
      ),
      { numRuns: RUNS },
    );
  });

  const headerBiased = fc
    .tuple(
      fc.oneof(fc.constant(PROTOCOL_ID), fc.uint8Array({ minLength: 8, maxLength: 8 })),
      fc.oneof(fc.integer({ min: 0, max: 4 }), fc.nat({ max: 0xffffffff })),
      fc.nat({ max: 0xffffffff }),
      fc.uint8Array({ maxLength: 1600 }),
    )
    .map(([head, action, tid, tail]) => {
      const out = Buffer.alloc(16 + tail.length);
      Buffer.from(head).copy(out, 0);
      out.writeUInt32BE(action, 8);
      out.writeUInt32BE(tid, 12);
      out.set(tail, 16);
      return out;
    });

  it('arbitrary datagrams: null (only when shorter than 16), a request, or UdpRequestError with the transaction id', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)), headerBiased), (packet) => {
        let parsed;
        try {
          parsed = parseUdpRequest(packet, 74);
        } catch (error) {
          if (!(error instanceof UdpRequestError)) throw error;
          assert.ok(packet.length >= 16);
          assert.equal(error.transactionId, packet.readUInt32BE(12));
          return;
        }
        if (parsed === null) {
          assert.ok(packet.length < 16);
          return;
        }
        assert.ok(packet.length >= 16);
        assert.equal(parsed.transactionId, packet.readUInt32BE(12));
        assert.equal(parsed.action, packet.readUInt32BE(8));
        if (parsed.action === UDP_ACTION_CONNECT) assert.deepEqual(packet.subarray(0, 8), PROTOCOL_ID);
        if (parsed.action === UDP_ACTION_ANNOUNCE) {
          assert.ok(packet.length >= 98);
          assert.equal(parsed.infoHash.length, 20);
          assert.ok(parsed.port > 0);
        }
        if (parsed.action === UDP_ACTION_SCRAPE) {
          assert.ok(parsed.infoHashes.length >= 1 && parsed.infoHashes.length <= 74);
          assert.equal(packet.length, 16 + 20 * parsed.infoHashes.length);
        }
      }),
      { numRuns: 5 * RUNS },
    );
  });

  it('error replies never exceed maxLength', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.string({ maxLength: 200 }), fc.nat({ max: 300 }), (tid, message, max) => {
        const reply = encodeUdpError(tid, message, max);
        if (max < 8) return reply === null;
        assert.ok(reply !== null);
        assert.ok(reply.length <= max);
        assert.equal(reply.length, Math.min(max, 8 + Buffer.byteLength(message)));
        assert.equal(reply.readUInt32BE(0), 3);
        assert.equal(reply.readUInt32BE(4), tid);
        return true;
      }),
      { numRuns: RUNS },
    );
  });
});
