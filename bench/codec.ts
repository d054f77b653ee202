/**
 * Cost of the protocol hot paths, one at a time, in ns per call (single core, after warm-up).
 * Run: npx tsx bench/codec.ts
 */
import { encodeCompactAnnounceReply, parseHttpAnnounceQuery } from '../src/protocol/http-announce.js';
import { compactPeerFromBytes, compactPeerFromText } from '../src/protocol/ip-address.js';
import { ConnectionIds } from '../src/protocol/udp-connection-id.js';
import { encodeUdpAnnounceReply, parseUdpRequest } from '../src/protocol/udp.js';
import { RedisEventArgs } from '../src/events/store-events.js';
import type { AnnounceRequest } from '../src/protocol/types.js';
import { FUNCTIONS } from '../src/store/redis/function-contract.js';
import { FunctionCall, announceCommand } from '../src/store/redis/function-calls.js';
import { EventPartitions } from '../src/store/redis/swarm-keys.js';
import { parseWsMessage } from '../src/protocol/websocket.js';

function bench(name: string, iterations: number, fn: (i: number) => unknown): void {
  let sink: unknown;
  for (let i = 0; i < iterations / 10; i++) sink = fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink = fn(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${name.padEnd(52)} ${ns.toFixed(0).padStart(6)} ns${sink === Symbol.for('never') ? '' : ''}`);
}

const escape = (b: Buffer) => [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');
const query =
  `info_hash=${escape(Buffer.alloc(20, 0xab))}&peer_id=-qB4520-${'k'.repeat(12)}&port=51413` +
  `&uploaded=0&downloaded=0&left=1234567&corrupt=0&key=8A3F12C4&event=started&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0`;
const peers50 = Buffer.alloc(300, 7);
const result = { complete: 1234, incomplete: 5678, downloaded: 99, peers: peers50 };
const timing = { interval: 1873, minInterval: 900 };

const udpAnnounce = Buffer.alloc(98);
udpAnnounce.writeUInt32BE(1, 8);
udpAnnounce.writeUInt32BE(0xdeadbeef, 12);
udpAnnounce.fill(0xab, 16, 36);
udpAnnounce.writeUInt32BE(2, 80);
udpAnnounce.writeInt32BE(-1, 92);
udpAnnounce.writeUInt16BE(6881, 96);

const ids = new ConnectionIds({ masterSecret: Buffer.alloc(32, 1), lifetimeSeconds: 300, rotateSeconds: 3600, now: () => Math.floor(Date.now() / 1000) });
const ip = Uint8Array.of(127, 0, 0, 1);
ids.issue(ip, udpAnnounce, 0);
const remote16 = new Uint8Array(16);
remote16.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);

bench('HTTP announce query parse (15 params)', 1_000_000, () => parseHttpAnnounceQuery(query));
bench('HTTP compact reply encode (50 peers)', 1_000_000, () => encodeCompactAnnounceReply(result, timing, false));
bench('UDP announce parse', 2_000_000, () => parseUdpRequest(udpAnnounce, 74));
bench('UDP announce reply encode (50 peers)', 2_000_000, () => encodeUdpAnnounceReply(1, 1800, result));
bench('UDP connection ID verify (SipHash-2-4)', 2_000_000, () => ids.verify(udpAnnounce, 0, ip));
bench('source address text -> compact peer (IPv4)', 2_000_000, () => compactPeerFromText('192.168.100.200', 6881));
bench('source address text -> compact peer (IPv6)', 1_000_000, () => compactPeerFromText('2001:db8::8a2e:370:7334', 6881));
bench('uWS binary address -> compact peer (v4-mapped)', 2_000_000, () => compactPeerFromBytes(remote16, 6881));

// A WebTorrent announce frame as browsers send one: binary info_hash and offer_ids, 5 offers of 700-byte SDPs.
const binary = (seed: number): string => String.fromCharCode(...Array.from({ length: 20 }, (_, i) => (i * 37 + seed) & 0xff));
const sdp = `v=0\r\n${'a=candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host\r\n'.repeat(13)}`.slice(0, 700);
const wsAnnounce = Buffer.from(
  JSON.stringify({
    action: 'announce', info_hash: binary(130), peer_id: '-WW0208-abcdefghijkl', numwant: 5, uploaded: 0, downloaded: 0, left: 0,
    offers: Array.from({ length: 5 }, (_, i) => ({ offer: { type: 'offer', sdp }, offer_id: binary(i) })),
  }),
);
bench('WebSocket announce frame -> text (5 offers, UTF-8)', 500_000, () => wsAnnounce.toString());
bench('WebSocket announce frame parse (5 offers, with the text)', 300_000, () => parseWsMessage(wsAnnounce.toString(), 74));

// The Redis store's announce command, without and with swarm events (docs/events.md): what events add on the
// tracker side per announce is the facts written into the command (RedisEventArgs) and the longer command.
const eventsOptions = { partitions: 64, maxlen: 100_000 };
const plainCall = new FunctionCall('announce_x', FUNCTIONS.announce.keys);
const eventsCall = new FunctionCall('announce_x', FUNCTIONS.announce.keys, { partitions: new EventPartitions(eventsOptions.partitions), args: 2 });
const eventArgs = new RedisEventArgs(eventsOptions);
const announce: AnnounceRequest = {
  infoHash: Buffer.alloc(20, 0xab).toString('latin1'), peer: Uint8Array.of(10, 1, 2, 3, 0x1a, 0xe1), event: 'none', seeder: false, numwant: 50,
  protocol: 'udp', key: 0x8a3f12c4, uploaded: 123_456_789, downloaded: 987_654_321, left: 1_000_000,
};
bench('Redis announce command', 2_000_000, (i) => announceCommand(plainCall, announce.infoHash, announce.peer, 1_700_000_000, 3600, 50, i, 1000, 0, 0));
bench('Redis announce command with event arguments', 2_000_000, (i) =>
  announceCommand(eventsCall, announce.infoHash, announce.peer, 1_700_000_000, 3600, 50, i, 1000, 0, 0, eventArgs.announce(announce)),
);

