import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bencode from 'bencode';
import { encodeHttpScrapeReply, parseHttpScrapeQuery } from '../../src/protocol/http-scrape.js';
import { RequestError } from '../../src/protocol/types.js';
import { BDict, binary, decodeStrictDict, percentEncodeAll } from '../helpers/wire.js';

const hash = (seed: number): Uint8Array => Uint8Array.from({ length: 20 }, (_, i) => (seed * 37 + i * 101) & 0xff);
const param = (h: Uint8Array): string => `info_hash=${percentEncodeAll(h)}`;

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RequestError, `expected RequestError, got ${String(error)}`);
    assert.equal(error.message, message);
    return true;
  });
}

describe('parseHttpScrapeQuery', () => {
  it('returns the hashes in first-seen order, decoded to binary strings', () => {
    const hashes = [hash(1), hash(2), hash(3)];
    assert.deepEqual(parseHttpScrapeQuery(hashes.map(param).join('&'), 74), hashes.map(binary));
  });

  it('an empty query, or one without info_hash, is a full-scrape request (empty list)', () => {
    assert.deepEqual(parseHttpScrapeQuery('', 74), []);
    assert.deepEqual(parseHttpScrapeQuery('foo=bar&peer_id=x', 74), []);
  });

  it('drops repeated hashes', () => {
    const q = [hash(1), hash(2), hash(1), hash(1), hash(2)].map(param).join('&');
    assert.deepEqual(parseHttpScrapeQuery(q, 74), [binary(hash(1)), binary(hash(2))]);
  });

  it('caps distinct hashes at maxHashes; repeats do not count towards the cap', () => {
    const three = [hash(1), hash(2), hash(3)].map(param).join('&');
    rejects(() => parseHttpScrapeQuery(three, 2), 'too many info_hash values (at most 2)');
    assert.equal(parseHttpScrapeQuery(three, 3).length, 3);
    const repeats = [hash(1), hash(2), hash(1), hash(2), hash(2)].map(param).join('&');
    assert.equal(parseHttpScrapeQuery(repeats, 2).length, 2);
    const many = Array.from({ length: 74 }, (_, i) => param(hash(i))).join('&');
    assert.equal(parseHttpScrapeQuery(many, 74).length, 74);
    rejects(() => parseHttpScrapeQuery(`${many}&${param(hash(1000))}`, 74), 'too many info_hash values (at most 74)');
  });

  it('requires every info_hash to be 20 bytes', () => {
    rejects(() => parseHttpScrapeQuery(`info_hash=${percentEncodeAll(hash(1).subarray(0, 19))}`, 74), 'info_hash must be 20 bytes');
    rejects(() => parseHttpScrapeQuery(`${param(hash(1))}&info_hash=`, 74), 'info_hash must be 20 bytes');
    rejects(() => parseHttpScrapeQuery(`${param(hash(1))}&info_hash`, 74), 'info_hash must be 20 bytes');
    rejects(() => parseHttpScrapeQuery(`info_hash=${'a'.repeat(21)}`, 74), 'info_hash must be 20 bytes');
  });

  it('rejects malformed escapes', () => {
    rejects(() => parseHttpScrapeQuery(`info_hash=${percentEncodeAll(hash(1)).slice(0, -1)}`, 74), 'malformed percent-encoding');
  });
});

describe('encodeHttpScrapeReply', () => {
  it('lists each hash under files with complete, downloaded, incomplete; keys sorted as raw bytes', () => {
    // Binary keys whose order differs between raw bytes and request order.
    const hashes = [
      binary(new Uint8Array(20).fill(0xff)),
      binary(new Uint8Array(20).fill(0x00)),
      binary(Uint8Array.from({ length: 20 }, (_, i) => 0x80 + i)),
      'A'.repeat(20),
      'a'.repeat(20),
    ];
    const counts = [
      { complete: 1, incomplete: 2, downloaded: 3 },
      { complete: 0, incomplete: 0, downloaded: 0 },
      { complete: 10, incomplete: 200, downloaded: 3000 },
      { complete: 123456789, incomplete: 9, downloaded: 99_999_999_999 },
      { complete: 5, incomplete: 6, downloaded: 7 },
    ];
    const body = encodeHttpScrapeReply(hashes, counts);
    const top = decodeStrictDict(body); // throws unless keys are sorted and unique
    assert.deepEqual(top.keys, ['files']);
    const files = top.dict('files');
    assert.deepEqual(files.keys, [...hashes].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'))));
    hashes.forEach((h, i) => {
      const entry = files.dict(h);
      assert.deepEqual(entry.keys, ['complete', 'downloaded', 'incomplete']);
      assert.equal(entry.int('complete'), counts[i]!.complete);
      assert.equal(entry.int('downloaded'), counts[i]!.downloaded);
      assert.equal(entry.int('incomplete'), counts[i]!.incomplete);
    });
  });

  it('decodes with the bencode package', () => {
    const body = encodeHttpScrapeReply(['a'.repeat(20), 'b'.repeat(20)], [
      { complete: 1, incomplete: 2, downloaded: 3 },
      { complete: 4, incomplete: 5, downloaded: 6 },
    ]);
    const decoded = bencode.decode(body);
    assert.deepEqual(Object.keys(decoded), ['files']);
    assert.deepEqual(decoded.files['a'.repeat(20)], { complete: 1, downloaded: 3, incomplete: 2 });
    assert.deepEqual(decoded.files['b'.repeat(20)], { complete: 4, downloaded: 6, incomplete: 5 });
    assert.deepEqual(Buffer.from(bencode.encode(decoded)), Buffer.from(body));
  });

  it('no hashes gives an empty files dictionary', () => {
    const body = encodeHttpScrapeReply([], []);
    assert.equal(Buffer.from(body).toString('latin1'), 'd5:filesdee');
    assert.ok(decodeStrictDict(body).dict('files') instanceof BDict);
  });
});
