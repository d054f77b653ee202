/**
 * A tracker on `::` (dual-stack): IPv4 clients arrive as v4-mapped addresses and must be folded to IPv4 peers,
 * IPv6 clients get `peers6` (BEP 7); counts cover both families. Over HTTP and UDP.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpConnectPacket } from '../helpers/wire.js';

const LOOPBACK6 = Buffer.from('00000000000000000000000000000001', 'hex');

function peersOf(list: Buffer, size: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < list.length; at += size) {
    const port = list.readUInt16BE(at + size - 2);
    out.push(size === 6 ? `${[...list.subarray(at, at + 4)].join('.')}:${port}` : `[${list.subarray(at, at + 16).toString('hex')}]:${port}`);
  }
  return out.sort();
}

describe('dual-stack tracker on ::', () => {
  let t: TestTracker;
  const agent = new http.Agent({ keepAlive: false });

  before(async () => {
    t = await startTestTracker({ hosts: ['::'] });
  });

  after(async () => {
    agent.destroy();
    await t.stop();
  });

  function announce(host: string, hash: Uint8Array, port: number): Promise<ReturnType<typeof decodeStrictDict>> {
    const path = `/announce?info_hash=${percentEncodeAll(hash)}&peer_id=${'-XX0000-'.padEnd(20, 'x')}&port=${port}&left=1`;
    return new Promise((resolve, reject) => {
      http
        .get({ host, port: t.port, path, agent, family: host.includes(':') ? 6 : 4 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve(decodeStrictDict(Buffer.concat(chunks)));
            } catch (error) {
              reject(error);
            }
          });
        })
        .on('error', reject)
        .setTimeout(5000, function (this: http.ClientRequest) {
          this.destroy(new Error('timeout'));
        });
    });
  }

  it('HTTP: IPv4 peers in `peers`, IPv6 peers in `peers6`, counts over both', async () => {
    const hash = new Uint8Array(20).fill(0x61);
    let r = await announce('127.0.0.1', hash, 1001);
    assert.equal(r.int('incomplete'), 1);
    r = await announce('::1', hash, 1002);
    assert.equal(r.int('incomplete'), 2);
    assert.equal(r.bytes('peers').length, 0);
    assert.equal(r.bytes('peers6').length, 0, 'the only other peer is IPv4');
    r = await announce('127.0.0.1', hash, 1003);
    assert.equal(r.int('incomplete'), 3);
    assert.deepEqual(peersOf(r.bytes('peers'), 6), ['127.0.0.1:1001'], 'v4-mapped source folded to IPv4');
    assert.equal(r.has('peers6'), false);
    r = await announce('::1', hash, 1004);
    assert.equal(r.int('incomplete'), 4);
    assert.deepEqual(peersOf(r.bytes('peers6'), 18), [`[${LOOPBACK6.toString('hex')}]:1002`]);
  });

  it('UDP: IPv4 client over the dual-stack socket gets IPv4 peers, IPv6 client IPv6 peers', async () => {
    const hash = new Uint8Array(20).fill(0x62);
    const exchange = async (type: 'udp4' | 'udp6', port: number): Promise<Buffer> => {
      const socket = dgram.createSocket(type);
      const address = type === 'udp4' ? '127.0.0.1' : '::1';
      try {
        await new Promise<void>((resolve) => socket.bind(0, address, resolve));
        const request = (packet: Buffer): Promise<Buffer> =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no UDP reply over ${type}`)), 5000);
            socket.once('message', (msg) => {
              clearTimeout(timer);
              resolve(msg);
            });
            socket.send(packet, t.port, address);
          });
        const connect = await request(udpConnectPacket(7));
        assert.equal(connect.readUInt32BE(0), 0);
        return await request(
          udpAnnouncePacket({
            connectionId: connect.subarray(8, 16), transactionId: 8, infoHash: hash, peerId: new Uint8Array(20), left: 1n, event: 2, port,
          }),
        );
      } finally {
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      }
    };
    await exchange('udp4', 2001);
    await exchange('udp6', 2002);
    const v4 = await exchange('udp4', 2003);
    assert.equal(v4.readUInt32BE(0), 1);
    assert.equal(v4.readUInt32BE(12), 3, 'leechers over both families');
    assert.deepEqual(peersOf(v4.subarray(20), 6), ['127.0.0.1:2001']);
    const v6 = await exchange('udp6', 2004);
    assert.equal(v6.readUInt32BE(12), 4);
    assert.deepEqual(peersOf(v6.subarray(20), 18), [`[${LOOPBACK6.toString('hex')}]:2002`]);
  });
});
