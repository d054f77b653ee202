// The passkey's place in a path (HTTP routes, WebSocket upgrade paths, BEP 41 URL data), its format and its mask.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPasskey, maskPasskey, passkeyOfAnnouncePath, passkeyOfSegment, PASSKEY_MAX_LENGTH, PASSKEY_MIN_LENGTH } from '../../src/protocol/announce-path.js';
import { RequestError } from '../../src/protocol/types.js';
import { parseUdpRequest, UdpRequestError, type UdpAnnounceRequest } from '../../src/protocol/udp.js';
import { bep41, udpAnnouncePacket } from '../helpers/wire.js';

const invalid = (fn: () => unknown): void => assert.throws(fn, (e: unknown) => e instanceof RequestError && e.message === 'invalid passkey');

describe('passkey format', () => {
  it('is 8 to 128 of A-Z a-z 0-9 . _ ~ -', () => {
    for (const key of ['x'.repeat(PASSKEY_MIN_LENGTH), 'abc_DEF-123', 'a.b~c-d_e', '........', 'x'.repeat(PASSKEY_MAX_LENGTH)]) {
      assert.ok(isPasskey(key), key);
      assert.equal(passkeyOfSegment(key), key);
    }
    const bad = ['', 'x'.repeat(PASSKEY_MIN_LENGTH - 1), 'x'.repeat(PASSKEY_MAX_LENGTH + 1), 'abcd efgh', 'abcd%20efgh', 'abcd/efgh', 'abcdefgä', 'abcdefgh\n', 'key=1234', '..'];
    for (const key of bad) {
      assert.ok(!isPasskey(key), JSON.stringify(key));
      invalid(() => passkeyOfSegment(key));
    }
  });
});

describe('passkeyOfAnnouncePath', () => {
  it('reads the key of /KEY/announce, with or without a query', () => {
    assert.equal(passkeyOfAnnouncePath('/abcd1234/announce'), 'abcd1234');
    assert.equal(passkeyOfAnnouncePath('/abcd1234/announce?foo=bar&x=/y/announce'), 'abcd1234');
  });

  it('finds no key in the keyless paths a client may use', () => {
    for (const path of ['', '/', '/announce', '/announce?passkey=abcd1234', '?x', '/announce/', '/a/abcd1234/announce', '/abcd1234/announce/x', 'abcd1234/announce']) {
      assert.equal(passkeyOfAnnouncePath(path), undefined, path);
    }
  });

  it('refuses a malformed key where the key goes, rather than taking the path as keyless', () => {
    for (const path of ['//announce', '/abc/announce', '/abcd%20efgh/announce', '/abcd+efgh/announce?x', `/${'k'.repeat(129)}/announce`]) {
      invalid(() => passkeyOfAnnouncePath(path));
    }
  });
});

describe('maskPasskey', () => {
  it('shows the first 4 characters only', () => {
    assert.equal(maskPasskey('abcdefghijklmnop'), 'abcd…');
    assert.equal(maskPasskey('abcdefgh'), 'abcd…');
  });
});

describe('UDP: the passkey of BEP 41 URL data', () => {
  const packet = (...options: Buffer[]): Buffer =>
    udpAnnouncePacket({ connectionId: Buffer.alloc(8), transactionId: 7, infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 2), port: 6881, options: Buffer.concat(options) });
  const passkeyOf = (...options: Buffer[]): string | undefined => (parseUdpRequest(packet(...options), 74) as UdpAnnounceRequest).passkey;

  it('is read across URLData chunks, as qBittorrent (libtorrent) sends them', () => {
    assert.equal(passkeyOf(bep41.urlData('/abcdEFGH_1234-x/announce?foo=bar')), 'abcdEFGH_1234-x');
    assert.equal(passkeyOf(bep41.urlData('/abcd'), bep41.nop(), bep41.urlData('EFGH/announce'), bep41.end()), 'abcdEFGH');
  });

  it('is absent without URL data, or with a keyless path', () => {
    assert.equal(passkeyOf(), undefined);
    assert.equal(passkeyOf(Buffer.from([0, 0])), undefined); // aria2 appends two zero bytes
    assert.equal(passkeyOf(bep41.urlData('/announce')), undefined);
  });

  it('is refused with an error packet when malformed', () => {
    assert.throws(
      () => passkeyOf(bep41.urlData('/bad key!/announce')),
      (e: unknown) => e instanceof UdpRequestError && e.transactionId === 7 && e.message === 'invalid passkey',
    );
  });
});
