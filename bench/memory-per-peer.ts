/**
 * Memory per peer of the embedded store, and the cost of its announce core (peer insert and peer selection).
 * Run: node --expose-gc --import tsx bench/memory-per-peer.ts [--peers 1000000] [--swarms 100000] [--exponent 1]
 *        [--locality SHARE]: the re-announces also with locality mode on (random share SHARE), off and on in turn
 */
import { parseArgs } from 'node:util';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { AnnounceRequest } from '../src/protocol/types.js';
import { Zipf } from './zipf.js';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '1000000' },
    swarms: { type: 'string', default: '100000' },
    exponent: { type: 'string', default: '1' },
    v6: { type: 'boolean', default: false },
    locality: { type: 'string' },
  },
});
const peers = Number(values.peers);
const swarms = Number(values.swarms);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heap(): { heap: number; rss: number; external: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss, external: m.external }; // external includes arrayBuffers
}

// Info hashes stay Buffers until an announce turns them into the string keys the store keeps, so those keys
// are part of what is measured.
const hashes = Array.from({ length: swarms }, (_, i) => {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(i, 0);
  b.writeUInt32BE((0x9e3779b9 ^ i) >>> 0, 16);
  return b;
});
const zipf = new Zipf(swarms, Number(values.exponent));
const peerLength = values.v6 ? 18 : 6;
function peerBytes(n: number): Uint8Array {
  const p = new Uint8Array(peerLength);
  if (values.v6) {
    p[0] = 0x20;
    p[1] = 0x01;
  }
  const ipAt = peerLength - 6;
  p[ipAt] = 10 + ((n >>> 24) & 0x3f);
  p[ipAt + 1] = n >>> 16;
  p[ipAt + 2] = n >>> 8;
  p[ipAt + 3] = n;
  p[peerLength - 2] = 0x1a;
  p[peerLength - 1] = 0xe1;
  return p;
}
// Requests are built before measuring, so their own memory is not counted.
// Every swarm gets one peer first, so that all of them exist; the rest follow the Zipf popularity.
const swarmOf = Int32Array.from({ length: peers }, (_, n) => (n < swarms ? n : zipf.next()));
const peerOf = Array.from({ length: peers }, (_, n) => peerBytes(n));
function request(n: number, numwant: number): AnnounceRequest {
  return {
    infoHash: hashes[swarmOf[n]!]!.toString('latin1'),
    peer: peerOf[n]!,
    event: 'started',
    seeder: n % 3 === 0,
    numwant,
  };
}

const now = Math.floor(Date.now() / 1000);
let localityShare: number | null = null;
const store = new MemoryStore({ peerTtlSeconds: 3600, wsPeerTtlSeconds: 3600, now: () => now, localityShare: () => localityShare });
const before = heap();
let t = process.hrtime.bigint();
for (let n = 0; n < peers; n++) store.announceNow(request(n, 0));
const insertNs = Number(process.hrtime.bigint() - t) / peers;
const after = heap();
const stats = await store.stats();
const total = stats.seeders + stats.leechers;
const perPeer = (a: number, b: number) => ((a - b) / total).toFixed(1);

// Peer selection: re-announces of existing peers asking for 50 peers.
const sample = 200_000;
let bytes = 0;
function reannounceNs(count = sample): number {
  bytes = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) bytes += store.announceNow(request((i * 7919) % peers, 50)).peers.length;
  return Number(process.hrtime.bigint() - started) / count;
}
const announceNs = reannounceNs();

console.log(`memory store, ${values.v6 ? 'IPv6' : 'IPv4'} peers: ${total} peers in ${stats.swarms} swarms (Zipf exponent ${values.exponent})`);
console.log(`  JS heap per peer:          ${perPeer(after.heap, before.heap)} B`);
console.log(`  heap + off-heap per peer:  ${perPeer(after.heap + after.external, before.heap + before.external)} B`);
console.log(`  RSS per peer:              ${perPeer(after.rss, before.rss)} B`);
console.log(`  insert (announce, numwant 0):      ${insertNs.toFixed(0)} ns`);
console.log(`  re-announce with numwant 50:       ${announceNs.toFixed(0)} ns (${(bytes / sample / peerLength).toFixed(1)} peers returned on average)`);
if (values.locality !== undefined) {
  // Off and on in turn, in 20 short slices each, so that the load of a shared machine falls on both alike.
  const share = Number(values.locality);
  let offNs = 0;
  let onNs = 0;
  for (let slice = 0; slice < 20; slice++) {
    localityShare = null;
    offNs += reannounceNs(sample / 10) / 20;
    localityShare = share;
    onNs += reannounceNs(sample / 10) / 20;
  }
  console.log(`  re-announce, locality off / on (share ${share}): ${offNs.toFixed(0)} / ${onNs.toFixed(0)} ns (×${(onNs / offNs).toFixed(2)}; ${(bytes / (sample / 10) / peerLength).toFixed(1)} peers returned on average when on)`);
}
