/**
 * Cost of the abuse limits: CPU time added per announce by the (source, info hash) rate check, the pause of a
 * window change, and the memory of each structure, bounded whatever the traffic. Single core, after warm-up;
 * each figure is the median of 5 rounds of the check and of its baseline (the same loop without the check)
 * run side by side. Times are this process's CPU time (user + system), steadier than wall time on a shared
 * machine. The key material is hot in cache, as in a server that just parsed the request; the table is not.
 * Run: flock /tmp/redswarm-bench.lock node --expose-gc --import tsx bench/abuse-limits.ts
 */
import { randomBytes } from 'node:crypto';
import { AbuseLimits } from '../src/abuse/abuse-limits.js';
import { AnnounceRate } from '../src/abuse/announce-rate.js';
import { SourceBans } from '../src/abuse/source-bans.js';
import { defaultConfig } from '../src/config/index.js';
import { siphash24, sipKeyFromBytes } from '../src/protocol/siphash.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

const OPS = 2_000_000;
const WINDOW_MS = 60_000;
const DEFAULT_SLOTS = defaultConfig().announceRateSlots;

/** 4096 info hashes; every call gets a new IPv4 source (i scrambled), so nearly every key is distinct. */
const hashes = Array.from({ length: 4096 }, () => randomBytes(20).toString('latin1'));
const peer = Uint8Array.of(0, 0, 0, 0, 0x1a, 0xe1);

/** CPU ns per call over OPS calls. */
function round(call: (peer: Uint8Array, infoHash: string, i: number) => boolean): number {
  let sink = 0;
  const start = process.cpuUsage();
  for (let i = 0; i < OPS; i++) {
    const x = Math.imul(i, 0x9e3779b1);
    peer[0] = x;
    peer[1] = x >>> 8;
    peer[2] = x >>> 16;
    peer[3] = x >>> 24;
    if (call(peer, hashes[i & 4095]!, i)) sink++;
  }
  const used = process.cpuUsage(start);
  if (sink === -1) console.log('never');
  return ((used.user + used.system) * 1000) / OPS;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The baseline reads the same key bytes the check reads, so that only the check's own work differs. */
const baseline = (p: Uint8Array, infoHash: string): boolean => p[0]! + infoHash.charCodeAt(19) === -1;

function sideBySide(name: string, call: (peer: Uint8Array, infoHash: string, i: number) => boolean): void {
  const base: number[] = [];
  const checked: number[] = [];
  round(baseline);
  round(call);
  for (let r = 0; r < 5; r++) {
    base.push(round(baseline));
    checked.push(round(call));
  }
  const added = median(checked) - median(base);
  console.log(`${name.padEnd(66)} ${median(checked).toFixed(0).padStart(4)} ns/call, baseline ${median(base).toFixed(0)} ns: +${added.toFixed(0)} ns`);
}

console.log(`${OPS} calls a round, distinct (IPv4 source, info hash) keys`);

// 1. The table alone, of the default size (larger than the caches) and of 64 KiB (within them).
for (const slots of [DEFAULT_SLOTS, 1 << 14]) {
  const rate = new AnnounceRate(slots, randomBytes(16));
  let now = 0;
  sideBySide(`AnnounceRate.take, table ${rate.bytes / 1024} KiB`, (p, infoHash, i) => {
    if (i % 100 === 0) now += 1;
    return rate.take(p, infoHash, 30, WINDOW_MS, now);
  });
}

// 2. What a server calls: the limit read from the running configuration, time from performance.now().
{
  const abuse = new AbuseLimits({ config: defaultConfig(), clockMs: () => performance.now(), secret: randomBytes(16) });
  sideBySide('AbuseLimits.announceAllowed (defaults, performance.now())', (p, infoHash) => abuse.announceAllowed(p, infoHash, 'udp'));
}

// 3. For comparison, the keyed hash this table would use with SipHash-2-4 instead (copy the 24 bytes, hash).
{
  const key = sipKeyFromBytes(randomBytes(16));
  const message = new Uint8Array(24);
  const digest = new Uint32Array(2);
  sideBySide('reference: SipHash-2-4 of the same 24 bytes (not used)', (p, infoHash) => {
    for (let i = 0; i < 4; i++) message[i] = p[i]!;
    for (let i = 0; i < 20; i++) message[4 + i] = infoHash.charCodeAt(i);
    siphash24(key, message, 24, digest);
    return digest[0] === 0;
  });
}

// 3. A window change: one pass over the table, on the announce that crosses it.
{
  const rate = new AnnounceRate(DEFAULT_SLOTS, randomBytes(16));
  const pauses: number[] = [];
  for (let w = 1; w <= 21; w++) {
    const start = process.cpuUsage();
    rate.take(peer, hashes[w]!, 30, WINDOW_MS, w * WINDOW_MS);
    const used = process.cpuUsage(start);
    pauses.push((used.user + used.system) / 1000);
  }
  console.log(`window change (one shift of each of ${DEFAULT_SLOTS} slots), median of 20: ${median(pauses.slice(1)).toFixed(2)} ms, once per window`);
}

// 4. Memory: the announce table is allocated once; the heap does not grow with the keys seen. And a window of
//    as many distinct keys as slots, each announcing once, refuses none of them.
{
  gc();
  const before = process.memoryUsage();
  const rate = new AnnounceRate(DEFAULT_SLOTS, randomBytes(16));
  let refused = 0;
  for (let i = 0; i < DEFAULT_SLOTS; i++) {
    peer[0] = i;
    peer[1] = i >>> 8;
    peer[2] = i >>> 16;
    if (!rate.take(peer, hashes[i & 4095]!, 30, WINDOW_MS, 0)) refused++;
  }
  gc();
  const after = process.memoryUsage();
  const grown = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  console.log(`announce table after ${DEFAULT_SLOTS} distinct keys in one window: ${(rate.bytes / 2 ** 20).toFixed(1)} MiB table, heap + buffers grew ${(grown / 2 ** 20).toFixed(1)} MiB, refused ${refused}`);
}

// 5. Memory of the UDP bans at their cap: counts (two generations) and bans, IPv4 and IPv6 /64 sources.
for (const family of ['IPv4', 'IPv6'] as const) {
  const max = 65536;
  gc();
  const before = process.memoryUsage().heapUsed;
  const bans = new SourceBans(max);
  // A full window of counts turned into the previous one, a full table of bans, and a full window of counts.
  const key = (i: number): number | string => (family === 'IPv4' ? i : String.fromCharCode(0x2001, 0xdb8, i >>> 16, i & 0xffff));
  for (let i = 0; i < max; i++) bans.strike(key(i), 1, WINDOW_MS, 600_000, 0);
  for (let i = max; i < 2 * max; i++) for (let n = 0; n < 2; n++) bans.strike(key(i), 1, WINDOW_MS, 600_000, WINDOW_MS);
  for (let i = 2 * max; i < 3 * max; i++) bans.strike(key(i), 1, WINDOW_MS, 600_000, WINDOW_MS);
  gc();
  const bytes = process.memoryUsage().heapUsed - before;
  console.log(`UDP bans, ${family} sources: ${max} counted, ${max} in the previous window, ${bans.size} banned: ${(bytes / 2 ** 20).toFixed(1)} MiB, ${(bytes / (3 * max)).toFixed(0)} B per entry`);
}
