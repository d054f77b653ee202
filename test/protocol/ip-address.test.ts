import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compactPeerAddressText,
  compactPeerFromBytes,
  compactPeerFromText,
  compactPeerPort,
  isV4Mapped,
} from '../../src/protocol/ip-address.js';

/** Expected 18-byte compact IPv6 peer. */
function v6Peer(hex: string, port: number): Buffer {
  const out = Buffer.alloc(18);
  Buffer.from(hex.replaceAll(' ', ''), 'hex').copy(out);
  out.writeUInt16BE(port, 16);
  return out;
}

function v4Peer(a: number, b: number, c: number, d: number, port: number): Buffer {
  return Buffer.from([a, b, c, d, port >> 8, port & 0xff]);
}

function parsed(text: string, port = 6881): Buffer | null {
  const peer = compactPeerFromText(text, port);
  return peer === null ? null : Buffer.from(peer);
}

describe('compactPeerFromText: IPv4', () => {
  it('parses dotted quads with the port in network order', () => {
    assert.deepEqual(parsed('127.0.0.1', 6881), v4Peer(127, 0, 0, 1, 6881));
    assert.deepEqual(parsed('255.255.255.255', 65535), v4Peer(255, 255, 255, 255, 65535));
    assert.deepEqual(parsed('0.0.0.0', 1), v4Peer(0, 0, 0, 0, 1));
  });

  it('rejects what is not a dotted quad', () => {
    for (const text of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..2.3', '.1.2.3', '1.2.3.', 'a.b.c.d', '1.2.3.4 ', ' 1.2.3.4', 'localhost', '1.2.3.-4']) {
      assert.equal(parsed(text), null, JSON.stringify(text));
    }
  });
});

describe('compactPeerFromText: IPv6', () => {
  it('::, ::1, 1::, full form and compressed forms', () => {
    assert.deepEqual(parsed('::', 80), v6Peer('00000000000000000000000000000000', 80));
    assert.deepEqual(parsed('::1', 80), v6Peer('00000000000000000000000000000001', 80));
    assert.deepEqual(parsed('1::', 80), v6Peer('00010000000000000000000000000000', 80));
    assert.deepEqual(parsed('2001:0db8:0000:0000:0000:ff00:0042:8329', 80), v6Peer('20010db8000000000000ff0000428329', 80));
    assert.deepEqual(parsed('2001:db8::ff00:42:8329', 80), v6Peer('20010db8000000000000ff0000428329', 80));
    assert.deepEqual(parsed('1:2:3:4:5:6:7:8', 80), v6Peer('00010002000300040005000600070008', 80));
    assert.deepEqual(parsed('1:2:3:4:5:6:7::', 80), v6Peer('00010002000300040005000600070000', 80));
    assert.deepEqual(parsed('::2:3:4:5:6:7:8', 80), v6Peer('00000002000300040005000600070008', 80));
    assert.deepEqual(parsed('fe80::abcd:EF01', 80), v6Peer('fe8000000000000000000000abcdef01', 80));
  });

  it('embedded IPv4 tail', () => {
    assert.deepEqual(parsed('64:ff9b::192.0.2.33', 1), v6Peer('0064ff9b0000000000000000c0000221', 1));
    assert.deepEqual(parsed('::1.2.3.4', 1), v6Peer('00000000000000000000000001020304', 1));
    assert.deepEqual(parsed('1:2:3:4:5:6:1.2.3.4', 1), v6Peer('00010002000300040005000601020304', 1));
  });

  it('folds IPv4-mapped addresses to 6-byte IPv4 peers', () => {
    assert.deepEqual(parsed('::ffff:127.0.0.1', 6969), v4Peer(127, 0, 0, 1, 6969));
    assert.deepEqual(parsed('::FFFF:10.1.2.3', 1), v4Peer(10, 1, 2, 3, 1));
    assert.deepEqual(parsed('::ffff:7f00:1', 2), v4Peer(127, 0, 0, 1, 2));
    assert.deepEqual(parsed('0:0:0:0:0:ffff:1.2.3.4', 3), v4Peer(1, 2, 3, 4, 3));
  });

  it('ignores a zone id', () => {
    assert.deepEqual(parsed('fe80::1%eth0', 9), v6Peer('fe800000000000000000000000000001', 9));
    assert.deepEqual(parsed('fe80::1%1', 9), v6Peer('fe800000000000000000000000000001', 9));
    assert.deepEqual(parsed('::%lo', 9), v6Peer('00000000000000000000000000000000', 9));
  });

  it('rejects invalid forms', () => {
    const invalid = [
      ':',
      ':::',
      ':1',
      '1:',
      '1::2::3',
      '1:::2',
      '12345::',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7:8:',
      'g::1',
      '::ffff:1.2.3',
      '::ffff:1.2.3.256',
      '::1.2.3.4:5',
      '1:2:3:4:5:6:7:1.2.3.4',
      '::ffff:a.2.3.4',
      '%eth0',
      '[::1]',
      ' ::1',
      '::1 ',
    ];
    for (const text of invalid) assert.equal(parsed(text), null, JSON.stringify(text));
  });

  it('rejects `::` that stands for no group at all', () => {
    // `::` means one or more zero groups; with 8 groups already there it is invalid (inet_pton and WHATWG agree).
    for (const text of ['1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '1:2:3:4::5:6:7:8']) {
      assert.equal(net.isIPv6(text), false, `oracle: ${text}`);
      assert.equal(parsed(text), null, JSON.stringify(text));
    }
  });
});

describe('compactPeerFromBytes', () => {
  it('4 bytes give a 6-byte peer; 16 bytes a 18-byte peer unless v4-mapped', () => {
    assert.deepEqual(Buffer.from(compactPeerFromBytes(Uint8Array.of(10, 0, 0, 7), 0x1234)), v4Peer(10, 0, 0, 7, 0x1234));
    const mapped = Buffer.from('00000000000000000000ffff0a000007', 'hex');
    assert.deepEqual(Buffer.from(compactPeerFromBytes(mapped, 1)), v4Peer(10, 0, 0, 7, 1));
    const v6 = Buffer.from('20010db8000000000000000000000001', 'hex');
    assert.deepEqual(Buffer.from(compactPeerFromBytes(v6, 2)), v6Peer('20010db8000000000000000000000001', 2));
    // ::1.2.3.4 (IPv4-compatible, deprecated) is not mapped: stays IPv6
    assert.equal(compactPeerFromBytes(Buffer.from('00000000000000000000000001020304', 'hex'), 2).length, 18);
  });

  it('isV4Mapped', () => {
    assert.equal(isV4Mapped(Buffer.from('00000000000000000000ffff01020304', 'hex')), true);
    assert.equal(isV4Mapped(Buffer.from('00000000000000000000fffe01020304', 'hex')), false);
    assert.equal(isV4Mapped(Buffer.from('00000000000000000001ffff01020304', 'hex')), false);
  });
});

describe('compactPeerAddressText and compactPeerPort', () => {
  it('IPv4 text and port', () => {
    const peer = v4Peer(192, 168, 0, 254, 51413);
    assert.equal(compactPeerAddressText(peer), '192.168.0.254');
    assert.equal(compactPeerPort(peer), 51413);
  });

  it('IPv6 text, compressed, at an offset in a list', () => {
    const list = Buffer.concat([v6Peer('20010db8000000000000000000000001', 1), v6Peer('00000000000000000000000000000000', 65535)]);
    assert.equal(compactPeerAddressText(list, 0, 18), '2001:db8::1');
    assert.equal(compactPeerAddressText(list, 18, 18), '::');
    assert.equal(compactPeerPort(list, 18, 18), 65535);
    assert.equal(compactPeerPort(list, 0, 18), 1);
  });

  it('property: the text of any 16-byte address is valid IPv6 that parses back to the same bytes', () => {
    fc.assert(
      fc.property(
        // bias towards zero groups so that `::` compression gets exercised
        fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 1, max: 65535 }),
        (groups, port) => {
          const peer = Buffer.alloc(18);
          groups.forEach((g, i) => peer.writeUInt16BE(g, 2 * i));
          peer.writeUInt16BE(port, 16);
          const text = compactPeerAddressText(peer);
          assert.ok(net.isIPv6(text), text);
          assert.deepEqual(Buffer.from(compactPeerFromBytes(peer.subarray(0, 16), port)), parsed(text, port));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
