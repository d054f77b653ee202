import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bencode from 'bencode';
import {
  encodeCompactAnnounceReply,
  encodeDictAnnounceReply,
  parseHttpAnnounceQuery,
} from '../../src/protocol/http-announce.js';
import { RequestError, type AnnounceResult } from '../../src/protocol/types.js';
import { BDict, binary, decodeStrictDict, percentEncodeAll } from '../helpers/wire.js';

const HASH = Uint8Array.from({ length: 20 }, (_, i) => [0x00, 0xff, 0x80, 0x25, 0x26, 0x3d, 0x2b, 0x20][i % 8]! ^ i);
const PEER = Buffer.from('-RS0001-abcdefghijkl', 'latin1');

/** A query from pairs, values used as given (already encoded). */
function query(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function base(overrides: Record<string, string | null> = {}): string {
  const params: Record<string, string | null> = {
    info_hash: percentEncodeAll(HASH),
    peer_id: percentEncodeAll(PEER),
    port: '6881',
    uploaded: '0',
    downloaded: '0',
    left: '1000',
    ...overrides,
  };
  return query(Object.entries(params).filter((e): e is [string, string] => e[1] !== null));
}

function rejects(q: string, message: string | RegExp): void {
  assert.throws(
    () => parseHttpAnnounceQuery(q),
    (error: unknown) => {
      assert.ok(error instanceof RequestError, `expected RequestError, got ${String(error)}`);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

describe('parseHttpAnnounceQuery', () => {
  it('percent-decodes info_hash and peer_id byte for byte, including %00 and high bytes', () => {
    const parsed = parseHttpAnnounceQuery(base());
    assert.equal(parsed.infoHash, binary(HASH));
    assert.equal(parsed.infoHash.length, 20);
    assert.equal(parsed.infoHash.charCodeAt(0), 0x00);
    assert.equal(parsed.infoHash.charCodeAt(1), 0xfe);
    assert.equal(parsed.peerId, binary(PEER));
  });

  it('accepts lower-case hex escapes and literal unreserved characters mixed with escapes', () => {
    const bytes = Buffer.from('ABCxyz019-._~\x00\x01\xfe\xff\x7f\x80\x25', 'latin1');
    assert.equal(bytes.length, 20);
    const encoded = 'ABCxyz019-._~' + percentEncodeAll(bytes.subarray(13), true);
    const parsed = parseHttpAnnounceQuery(base({ info_hash: encoded }));
    assert.equal(parsed.infoHash, binary(bytes));
  });

  it('every single-byte value decodes from its escape', () => {
    for (let b = 0; b < 256; b++) {
      const bytes = new Uint8Array(20).fill(b);
      const parsed = parseHttpAnnounceQuery(base({ info_hash: percentEncodeAll(bytes) }));
      assert.equal(parsed.infoHash, binary(bytes), `byte ${b}`);
    }
  });

  it('keeps `+` literal (BitTorrent clients escape a real plus)', () => {
    const parsed = parseHttpAnnounceQuery(base({ peer_id: '+'.repeat(20) }));
    assert.equal(parsed.peerId, '+'.repeat(20));
  });

  it('returns the documented defaults for a minimal announce', () => {
    const parsed = parseHttpAnnounceQuery(
      query([
        ['info_hash', percentEncodeAll(HASH)],
        ['peer_id', percentEncodeAll(PEER)],
        ['port', '51413'],
      ]),
    );
    assert.deepEqual(parsed, {
      infoHash: binary(HASH),
      peerId: binary(PEER),
      port: 51413,
      event: 'none',
      left: Number.MAX_SAFE_INTEGER,
      numwant: -1,
      compact: true,
      uploaded: -1,
      downloaded: -1,
      key: '',
    });
  });

  it('does not depend on parameter order and ignores unknown parameters, ip, key, trackerid', () => {
    const q = query([
      ['key', 'abc'],
      ['port', '1234'],
      ['ip', '10.0.0.1'],
      ['peer_id', percentEncodeAll(PEER)],
      ['trackerid', 'zzz'],
      ['no_peer_id', '1'],
      ['supportcrypto', '1'],
      ['info_hash', percentEncodeAll(HASH)],
      ['left', '0'],
    ]);
    const parsed = parseHttpAnnounceQuery(q);
    assert.equal(parsed.port, 1234);
    assert.equal(parsed.infoHash, binary(HASH));
    assert.equal(parsed.left, 0);
  });

  it('requires exactly 20 bytes of info_hash', () => {
    rejects(base({ info_hash: null }), 'missing info_hash');
    rejects(base({ info_hash: percentEncodeAll(HASH.subarray(0, 19)) }), 'info_hash must be 20 bytes');
    rejects(base({ info_hash: percentEncodeAll(Buffer.concat([HASH, Buffer.from([0])])) }), 'info_hash must be 20 bytes');
    rejects(base({ info_hash: '' }), 'info_hash must be 20 bytes');
    // 20 characters of text, but 18 bytes once %41 counts as one
    rejects(base({ info_hash: 'A'.repeat(17) + '%41' }), 'info_hash must be 20 bytes');
    // 60 characters that are 20 bytes
    assert.equal(parseHttpAnnounceQuery(base({ info_hash: '%41'.repeat(20) })).infoHash, 'A'.repeat(20));
  });

  it('requires exactly 20 bytes of peer_id', () => {
    rejects(base({ peer_id: null }), 'missing peer_id');
    rejects(base({ peer_id: percentEncodeAll(PEER.subarray(0, 19)) }), 'peer_id must be 20 bytes');
    rejects(base({ peer_id: 'x'.repeat(21) }), 'peer_id must be 20 bytes');
  });

  it('rejects a repeated info_hash, even with the same value', () => {
    const hash = percentEncodeAll(HASH);
    rejects(`${base()}&info_hash=${hash}`, 'duplicate info_hash');
    rejects(`${base()}&info_hash=${percentEncodeAll(new Uint8Array(20))}`, 'duplicate info_hash');
  });

  it('rejects malformed percent-encoding', () => {
    rejects(base({ info_hash: percentEncodeAll(HASH.subarray(0, 19)) + '%4' }), 'malformed percent-encoding');
    rejects(base({ info_hash: percentEncodeAll(HASH.subarray(0, 19)) + '%' }), 'malformed percent-encoding');
    rejects(base({ info_hash: percentEncodeAll(HASH.subarray(0, 19)) + '%zz' }), 'malformed percent-encoding');
    rejects(base({ peer_id: '%G0' + 'a'.repeat(19) }), 'malformed percent-encoding');
  });

  it('accepts ports 1 and 65535; rejects 0, 65536, negative, garbage, empty and missing', () => {
    assert.equal(parseHttpAnnounceQuery(base({ port: '1' })).port, 1);
    assert.equal(parseHttpAnnounceQuery(base({ port: '65535' })).port, 65535);
    assert.equal(parseHttpAnnounceQuery(base({ port: '00080' })).port, 80);
    rejects(base({ port: '0' }), 'invalid port');
    rejects(base({ port: '65536' }), 'invalid port');
    rejects(base({ port: '-1' }), 'invalid port');
    rejects(base({ port: '80a' }), 'invalid port');
    rejects(base({ port: '' }), 'invalid port');
    rejects(base({ port: '99999999999999999999999' }), 'invalid port');
    rejects(base({ port: null }), 'missing port');
  });

  it('maps event values, `paused` (BEP 21) to a regular announce, and rejects unknown events', () => {
    const cases: [string | null, string][] = [
      [null, 'none'],
      ['', 'none'],
      ['started', 'started'],
      ['completed', 'completed'],
      ['stopped', 'stopped'],
      ['paused', 'none'],
      ['%73tarted', 'started'],
    ];
    for (const [value, expected] of cases) {
      assert.equal(parseHttpAnnounceQuery(base({ event: value })).event, expected, `event=${value}`);
    }
    rejects(base({ event: 'start' }), 'invalid event');
    rejects(base({ event: 'empty' }), 'invalid event');
    rejects(base({ event: 'stopped%20' }), 'invalid event');
    rejects(base({ event: 'STARTED' }), 'invalid event');
  });

  it('names of Object.prototype members are not events', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      rejects(base({ event: name }), 'invalid event');
    }
  });

  it('numwant: absent or garbage means the default (-1); 0 and numbers pass through', () => {
    assert.equal(parseHttpAnnounceQuery(base()).numwant, -1);
    assert.equal(parseHttpAnnounceQuery(base({ numwant: 'lots' })).numwant, -1);
    assert.equal(parseHttpAnnounceQuery(base({ numwant: '-5' })).numwant, -1);
    assert.equal(parseHttpAnnounceQuery(base({ numwant: '' })).numwant, -1);
    assert.equal(parseHttpAnnounceQuery(base({ numwant: '0' })).numwant, 0);
    assert.equal(parseHttpAnnounceQuery(base({ numwant: '80' })).numwant, 80);
  });

  it('compact=0 asks for the dictionary model; anything else (or absence) is compact', () => {
    assert.equal(parseHttpAnnounceQuery(base({ compact: '0' })).compact, false);
    assert.equal(parseHttpAnnounceQuery(base({ compact: '1' })).compact, true);
    assert.equal(parseHttpAnnounceQuery(base()).compact, true);
  });

  it('left: missing, negative or garbage means unknown (a leecher); 0 is a seeder', () => {
    assert.equal(parseHttpAnnounceQuery(base({ left: null })).left, Number.MAX_SAFE_INTEGER);
    assert.equal(parseHttpAnnounceQuery(base({ left: 'x' })).left, Number.MAX_SAFE_INTEGER);
    assert.equal(parseHttpAnnounceQuery(base({ left: '-1' })).left, Number.MAX_SAFE_INTEGER);
    assert.equal(parseHttpAnnounceQuery(base({ left: '' })).left, Number.MAX_SAFE_INTEGER);
    assert.equal(parseHttpAnnounceQuery(base({ left: '0' })).left, 0);
    assert.equal(parseHttpAnnounceQuery(base({ left: '123456789' })).left, 123456789);
    assert.notEqual(parseHttpAnnounceQuery(base({ left: '18446744073709551615' })).left, 0);
  });

  it('rejects an empty query and a query without values', () => {
    rejects('', 'missing info_hash');
    rejects('&&&', 'missing info_hash');
    rejects('info_hash', 'info_hash must be 20 bytes');
  });

  it('decoded info_hash and peer_id are binary strings (every char code <= 0xff)', () => {
    // A 20-character value that is not 20 bytes: raw non-Latin-1 text must not become an info hash.
    for (const value of ['\u20ac' + 'A'.repeat(19), '\u20ac%41' + 'A'.repeat(18)]) {
      let parsed;
      try {
        parsed = parseHttpAnnounceQuery(base({ info_hash: value }));
      } catch (error) {
        assert.ok(error instanceof RequestError);
        continue;
      }
      for (let i = 0; i < parsed.infoHash.length; i++) {
        assert.ok(parsed.infoHash.charCodeAt(i) <= 0xff, `info_hash ${JSON.stringify(value)} accepted with char ${i} > 0xff`);
      }
    }
  });
});

const TIMING = { interval: 1800, minInterval: 900 };

function v4(a: number, b: number, c: number, d: number, port: number): Uint8Array {
  return Uint8Array.of(a, b, c, d, port >> 8, port & 0xff);
}

function v6(hex: string, port: number): Uint8Array {
  const out = new Uint8Array(18);
  out.set(Buffer.from(hex, 'hex'), 0);
  out[16] = port >> 8;
  out[17] = port & 0xff;
  return out;
}

function result(peers: Uint8Array[], complete = 3, incomplete = 7, downloaded = 11): AnnounceResult {
  return { complete, incomplete, downloaded, peers: Buffer.concat(peers) };
}

describe('encodeCompactAnnounceReply', () => {
  it('IPv4: complete, incomplete, interval, min interval and 6-byte compact peers, canonical bencode', () => {
    const peers = [v4(10, 0, 0, 1, 6881), v4(192, 168, 1, 254, 65535), v4(1, 2, 3, 4, 1)];
    const body = encodeCompactAnnounceReply(result(peers), TIMING, false);
    const decoded = bencode.decode(body);
    assert.deepEqual(Object.keys(decoded), ['complete', 'incomplete', 'interval', 'min interval', 'peers']);
    assert.equal(decoded.complete, 3);
    assert.equal(decoded.incomplete, 7);
    assert.equal(decoded.interval, 1800);
    assert.equal(decoded['min interval'], 900);
    assert.deepEqual(Buffer.from(decoded.peers), Buffer.concat(peers));
    assert.equal(decoded.peers.length % 6, 0);
    assert.deepEqual(Buffer.from(bencode.encode(decoded)), Buffer.from(body), 'not canonical bencode');
    decodeStrictDict(body);
  });

  it('IPv6: empty peers plus peers6 of 18-byte entries', () => {
    const peers = [v6('20010db8000000000000000000000001', 6881), v6('fe800000000000000000000000000abc', 1)];
    const body = encodeCompactAnnounceReply(result(peers), TIMING, true);
    const decoded = bencode.decode(body);
    assert.deepEqual(Object.keys(decoded), ['complete', 'incomplete', 'interval', 'min interval', 'peers', 'peers6']);
    assert.equal(decoded.peers.length, 0);
    assert.equal(decoded.peers6.length, 36);
    assert.deepEqual(Buffer.from(decoded.peers6), Buffer.concat(peers));
    assert.deepEqual(Buffer.from(bencode.encode(decoded)), Buffer.from(body));
    decodeStrictDict(body);
  });

  it('no peers, zero counts, and large counts', () => {
    for (const [complete, incomplete] of [
      [0, 0],
      [9, 10],
      [1_234_567, 99_999_999_999],
    ] as const) {
      for (const isV6 of [false, true]) {
        const body = encodeCompactAnnounceReply(result([], complete, incomplete), { interval: 10, minInterval: 0 }, isV6);
        const d = decodeStrictDict(body);
        assert.equal(d.int('complete'), complete);
        assert.equal(d.int('incomplete'), incomplete);
        assert.equal(d.int('interval'), 10);
        assert.equal(d.int('min interval'), 0);
        assert.equal(d.bytes('peers').length, 0);
        assert.equal(d.has('peers6'), isV6);
      }
    }
  });
});

describe('encodeDictAnnounceReply (compact=0)', () => {
  it('IPv4: peers is a list of {ip, port} dictionaries, no peer id', () => {
    const peers = [v4(10, 0, 0, 1, 6881), v4(255, 255, 255, 255, 65535)];
    const body = encodeDictAnnounceReply(result(peers, 1, 2), TIMING, false);
    const decoded = bencode.decode(body);
    assert.deepEqual(Object.keys(decoded), ['complete', 'incomplete', 'interval', 'min interval', 'peers']);
    assert.equal(decoded.complete, 1);
    assert.equal(decoded.incomplete, 2);
    assert.ok(Array.isArray(decoded.peers));
    const list = (decoded.peers as { ip: Uint8Array; port: number }[]).map((p) => ({
      keys: Object.keys(p),
      ip: Buffer.from(p.ip).toString(),
      port: p.port,
    }));
    assert.deepEqual(list, [
      { keys: ['ip', 'port'], ip: '10.0.0.1', port: 6881 },
      { keys: ['ip', 'port'], ip: '255.255.255.255', port: 65535 },
    ]);
    decodeStrictDict(body);
  });

  it('IPv6: addresses in text form that parse back to the same bytes', () => {
    const peers = [v6('20010db8000000000000000000000001', 443), v6('00000000000000000000000000000001', 2)];
    const body = encodeDictAnnounceReply(result(peers), TIMING, true);
    const d = decodeStrictDict(body);
    const list = d.list('peers');
    assert.equal(list.length, 2);
    const texts = list.map((p) => {
      assert.ok(p instanceof BDict);
      assert.deepEqual(p.keys, ['ip', 'port']);
      return [p.bytes('ip').toString(), p.int('port')];
    });
    assert.deepEqual(texts, [
      ['2001:db8::1', 443],
      ['::1', 2],
    ]);
  });

  it('no peers gives an empty list', () => {
    const d = decodeStrictDict(encodeDictAnnounceReply(result([]), TIMING, false));
    assert.deepEqual(d.list('peers'), []);
  });
});
