import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/protocol/types.js';
import {
  UDP_ACTION_ANNOUNCE,
  UDP_ACTION_CONNECT,
  UDP_ACTION_SCRAPE,
  UdpRequestError,
  encodeUdpAnnounceReply,
  encodeUdpConnectReply,
  encodeUdpError,
  encodeUdpScrapeReply,
  parseUdpRequest,
  udpPeersThatFit,
  type UdpAnnounceRequest,
  type UdpScrapeRequest,
} from '../../src/protocol/udp.js';
import {
  bep41,
  binary,
  udpAnnouncePacket,
  udpConnectPacket,
  udpScrapePacket,
  type UdpAnnounceFields,
} from '../helpers/wire.js';

const CID = Buffer.from('0123456789abcdef', 'hex');
const HASH = Uint8Array.from({ length: 20 }, (_, i) => 255 - i * 7);
const PEER_ID = Buffer.from('-qB4650-000000000000', 'latin1');

function fields(overrides: Partial<UdpAnnounceFields> = {}): UdpAnnounceFields {
  return {
    connectionId: CID,
    transactionId: 0xdeadbeef,
    infoHash: HASH,
    peerId: PEER_ID,
    downloaded: 0n,
    left: 1000n,
    uploaded: 0n,
    event: 2,
    ip: 0,
    key: 0x12345678,
    numwant: 50,
    port: 6881,
    ...overrides,
  };
}

function announce(overrides: Partial<UdpAnnounceFields> = {}, packet?: Buffer): UdpAnnounceRequest {
  const parsed = parseUdpRequest(packet ?? udpAnnouncePacket(fields(overrides)), 74);
  assert.ok(parsed !== null && parsed.action === UDP_ACTION_ANNOUNCE);
  return parsed;
}

function udpRejects(packet: Buffer, transactionId: number, message: string | RegExp, max = 74): void {
  assert.throws(
    () => parseUdpRequest(packet, max),
    (error: unknown) => {
      assert.ok(error instanceof UdpRequestError, `expected UdpRequestError, got ${String(error)}`);
      assert.ok(error instanceof RequestError);
      assert.equal(error.transactionId, transactionId);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

describe('parseUdpRequest: framing', () => {
  it('returns null for anything shorter than the 16-byte header', () => {
    for (let n = 0; n < 16; n++) assert.equal(parseUdpRequest(Buffer.alloc(n), 74), null, `length ${n}`);
    assert.equal(parseUdpRequest(udpConnectPacket(1).subarray(0, 15), 74), null);
  });

  it('rejects unknown actions, answerable with the transaction id', () => {
    for (const action of [4, 5, 255, 0x80000000, 0xffffffff]) {
      const packet = udpConnectPacket(0x01020304);
      packet.writeUInt32BE(action, 8);
      udpRejects(packet, 0x01020304, 'unknown action');
    }
  });
});

describe('parseUdpRequest: connect', () => {
  it('accepts the magic protocol id and returns the transaction id', () => {
    assert.deepEqual(parseUdpRequest(udpConnectPacket(0xfedcba98), 74), { action: UDP_ACTION_CONNECT, transactionId: 0xfedcba98 });
    // trailing bytes are tolerated
    assert.deepEqual(parseUdpRequest(udpConnectPacket(7, 100), 74), { action: UDP_ACTION_CONNECT, transactionId: 7 });
  });

  it('rejects a wrong protocol id, in either half', () => {
    for (const byte of [0, 3, 4, 7]) {
      const packet = udpConnectPacket(42);
      packet.writeUInt8(packet.readUInt8(byte) ^ 0x01, byte);
      udpRejects(packet, 42, 'bad protocol id');
    }
    udpRejects(Buffer.alloc(16), 0, 'bad protocol id');
  });
});

describe('parseUdpRequest: announce', () => {
  it('reads every field at its BEP 15 offset', () => {
    const parsed = announce({ transactionId: 0x0badf00d, port: 51413, numwant: 200, event: 2, left: 123n });
    assert.deepEqual(parsed, {
      action: UDP_ACTION_ANNOUNCE,
      transactionId: 0x0badf00d,
      infoHash: binary(HASH),
      peerId: binary(PEER_ID),
      event: 'started',
      seeder: false,
      numwant: 200,
      port: 51413,
      urlData: '',
      passkey: undefined,
      downloaded: 0,
      left: 123,
      uploaded: 0,
      key: 0x12345678,
    });
  });

  it('needs at least 98 bytes', () => {
    const packet = udpAnnouncePacket(fields());
    for (const length of [16, 20, 36, 97]) udpRejects(packet.subarray(0, length), 0xdeadbeef, 'announce too short');
    assert.equal(announce({}, packet.subarray(0, 98)).port, 6881);
  });

  it('maps event ids 0-3 and rejects the others', () => {
    const expected = ['none', 'completed', 'started', 'stopped'];
    for (let id = 0; id < 4; id++) assert.equal(announce({ event: id }).event, expected[id]);
    for (const id of [4, 5, 100, 0x7fffffff, 0xffffffff]) {
      udpRejects(udpAnnouncePacket(fields({ event: id })), 0xdeadbeef, 'invalid event');
    }
  });

  it('rejects port 0; accepts 1 and 65535', () => {
    udpRejects(udpAnnouncePacket(fields({ port: 0 })), 0xdeadbeef, 'invalid port');
    assert.equal(announce({ port: 1 }).port, 1);
    assert.equal(announce({ port: 65535 }).port, 65535);
  });

  it('is a seeder exactly when the 64-bit left is zero', () => {
    assert.equal(announce({ left: 0n }).seeder, true);
    for (const left of [1n, 0x1_0000_0000n, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn, 0xffff_ffffn]) {
      assert.equal(announce({ left }).seeder, false, `left ${left}`);
    }
  });

  it('num_want is signed: -1 (0xffffffff) means default', () => {
    assert.equal(announce({ numwant: -1 }).numwant, -1);
    assert.equal(announce({ numwant: 0 }).numwant, 0);
    assert.equal(announce({ numwant: 0x7fffffff }).numwant, 0x7fffffff);
    assert.ok(announce({ numwant: -2147483648 }).numwant < 0);
  });

  it('ignores the ip field, and carries downloaded, uploaded and key for swarm events only', () => {
    const a = announce({ downloaded: 99n, uploaded: 77n, ip: 0x01020304, key: 1 });
    const b = announce();
    assert.deepEqual({ ...a, downloaded: b.downloaded, uploaded: b.uploaded, key: b.key }, b);
    assert.deepEqual([a.downloaded, a.uploaded, a.key], [99, 77, 1]);
  });
});

describe('parseUdpRequest: BEP 41 options', () => {
  const withOptions = (...parts: Buffer[]): UdpAnnounceRequest => announce({ options: Buffer.concat(parts) });

  it('concatenates URLData chunks', () => {
    assert.equal(withOptions(bep41.urlData('/announce')).urlData, '/announce');
    assert.equal(withOptions(bep41.urlData('/ann'), bep41.urlData('ounce?pass'), bep41.urlData('key=abc')).urlData, '/announce?passkey=abc');
    const chunk = 'x'.repeat(255);
    assert.equal(withOptions(bep41.urlData(chunk), bep41.urlData(chunk)).urlData, chunk + chunk);
    assert.equal(withOptions(bep41.urlData('')).urlData, '');
  });

  it('EndOfOptions stops reading; NOP is one byte', () => {
    assert.equal(withOptions(bep41.urlData('/a'), bep41.end(), bep41.urlData('/b')).urlData, '/a');
    assert.equal(withOptions(bep41.nop(), bep41.nop(), bep41.urlData('/a'), bep41.nop(), bep41.urlData('/b')).urlData, '/a/b');
    assert.equal(withOptions(bep41.end()).urlData, '');
  });

  it('skips unknown option types by their length byte', () => {
    assert.equal(withOptions(bep41.other(7, Buffer.from([2, 3, 2, 3])), bep41.urlData('/x')).urlData, '/x');
    assert.equal(withOptions(bep41.other(200, Buffer.alloc(0)), bep41.urlData('/y')).urlData, '/y');
  });

  it('tolerates truncated options: the announce still parses with what came before', () => {
    const good = bep41.urlData('/announce');
    // URLData whose length runs past the end
    assert.equal(withOptions(good, Buffer.from([2, 50, 65, 65])).urlData, '/announce');
    // a type byte without a length byte
    assert.equal(withOptions(good, Buffer.from([2])).urlData, '/announce');
    assert.equal(withOptions(good, Buffer.from([9])).urlData, '/announce');
    // unknown option running past the end
    assert.equal(withOptions(good, Buffer.from([7, 200, 1])).urlData, '/announce');
    const parsed = withOptions(Buffer.from([2, 255]));
    assert.equal(parsed.urlData, '');
    assert.equal(parsed.port, 6881);
  });
});

describe('parseUdpRequest: scrape', () => {
  const hashes = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => new Uint8Array(20).fill(i));

  it('reads whole 20-byte info hashes in order', () => {
    const parsed = parseUdpRequest(udpScrapePacket(CID, 99, hashes(3)), 74) as UdpScrapeRequest;
    assert.equal(parsed.action, UDP_ACTION_SCRAPE);
    assert.equal(parsed.transactionId, 99);
    assert.deepEqual(parsed.infoHashes, hashes(3).map(binary));
  });

  it('rejects an empty list and a length that is not a multiple of 20', () => {
    udpRejects(udpScrapePacket(CID, 5, []), 5, 'scrape needs whole info hashes');
    const packet = udpScrapePacket(CID, 5, hashes(2));
    for (const cut of [1, 19, 21]) udpRejects(packet.subarray(0, packet.length - cut), 5, 'scrape needs whole info hashes');
  });

  it('caps the count at maxScrapeHashes (74 by default)', () => {
    assert.equal((parseUdpRequest(udpScrapePacket(CID, 1, hashes(74)), 74) as UdpScrapeRequest).infoHashes.length, 74);
    udpRejects(udpScrapePacket(CID, 1, hashes(75)), 1, 'too many info hashes (at most 74)');
    udpRejects(udpScrapePacket(CID, 1, hashes(3)), 1, 'too many info hashes (at most 2)', 2);
  });

  it('keeps repeated hashes (the reply is positional)', () => {
    const h = hashes(1)[0]!;
    const parsed = parseUdpRequest(udpScrapePacket(CID, 1, [h, h]), 74) as UdpScrapeRequest;
    assert.equal(parsed.infoHashes.length, 2);
  });
});

describe('UDP reply encoders', () => {
  it('connect reply: action 0, transaction id, 8-byte connection id', () => {
    const reply = encodeUdpConnectReply(0xa1b2c3d4, (out, at) => CID.copy(out, at));
    assert.equal(reply.length, 16);
    assert.equal(reply.readUInt32BE(0), 0);
    assert.equal(reply.readUInt32BE(4), 0xa1b2c3d4);
    assert.deepEqual(reply.subarray(8), CID);
  });

  it('announce reply: interval, then leechers before seeders, then peers', () => {
    const peers = Buffer.from('0a000001 1ae1 7f000001 0050'.replaceAll(' ', ''), 'hex');
    const reply = encodeUdpAnnounceReply(77, 1800, { complete: 3, incomplete: 9, downloaded: 5, peers });
    assert.equal(reply.length, 20 + 12);
    assert.equal(reply.readUInt32BE(0), 1);
    assert.equal(reply.readUInt32BE(4), 77);
    assert.equal(reply.readUInt32BE(8), 1800);
    assert.equal(reply.readUInt32BE(12), 9, 'leechers at offset 12');
    assert.equal(reply.readUInt32BE(16), 3, 'seeders at offset 16');
    assert.deepEqual(reply.subarray(20), peers);
  });

  it('announce reply clamps counts to 32 bits', () => {
    const reply = encodeUdpAnnounceReply(1, 60, { complete: 2 ** 40, incomplete: 2 ** 33, downloaded: 0, peers: new Uint8Array(0) });
    assert.equal(reply.readUInt32BE(12), 0xffffffff);
    assert.equal(reply.readUInt32BE(16), 0xffffffff);
  });

  it('scrape reply: per hash in request order, seeders, completed, leechers', () => {
    const reply = encodeUdpScrapeReply(12, [
      { complete: 1, downloaded: 2, incomplete: 3 },
      { complete: 40, downloaded: 50, incomplete: 60 },
    ]);
    assert.equal(reply.length, 8 + 24);
    assert.equal(reply.readUInt32BE(0), 2);
    assert.equal(reply.readUInt32BE(4), 12);
    assert.deepEqual([8, 12, 16, 20, 24, 28].map((at) => reply.readUInt32BE(at)), [1, 2, 3, 40, 50, 60]);
  });

  it('error reply: action 3, transaction id, message', () => {
    const reply = encodeUdpError(0x11223344, 'invalid connection id', Infinity);
    assert.ok(reply !== null);
    assert.equal(reply.readUInt32BE(0), 3);
    assert.equal(reply.readUInt32BE(4), 0x11223344);
    assert.equal(reply.subarray(8).toString(), 'invalid connection id');
  });

  it('error reply is never longer than maxLength: message cut, null below the header', () => {
    const message = 'tracker storage unavailable, retry later';
    for (let max = 0; max <= 60; max++) {
      const reply = encodeUdpError(5, message, max);
      if (max < 8) {
        assert.equal(reply, null, `max ${max}`);
        continue;
      }
      assert.ok(reply !== null);
      assert.equal(reply.length, Math.min(max, 8 + message.length), `max ${max}`);
      assert.equal(reply.readUInt32BE(0), 3);
      assert.equal(reply.readUInt32BE(4), 5);
      assert.equal(reply.subarray(8).toString('latin1'), message.slice(0, reply.length - 8));
    }
  });

  it('udpPeersThatFit keeps replies within the byte budget', () => {
    assert.equal(udpPeersThatFit(1232, 6), 202);
    assert.equal(udpPeersThatFit(1232, 18), 67);
    for (const size of [6, 18]) {
      const n = udpPeersThatFit(1232, size);
      assert.ok(20 + n * size <= 1232 && 20 + (n + 1) * size > 1232);
    }
  });
});
