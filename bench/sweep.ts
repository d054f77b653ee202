/**
 * What the embedded store's expiry costs the tracker's sweep (--sweep-interval): a MemoryStore holding the idle
 * phase of bench/compare-wt.sh (--connections browsers, each a WebSocket peer in --swarms-per-connection of
 * --hashes swarms) and as many HTTP/UDP peers, swept with nothing due, then once every peer has expired.
 *
 *   node --import tsx bench/sweep.ts [--connections 19500] [--swarms-per-connection 5] [--hashes 100] [--rounds 5]
 *
 * Prints the CPU milliseconds of each kind of sweep (the median over --rounds stores). No sockets.
 */
import type { InfoHash } from '../src/protocol/types.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { parseOptions } from './harness/options.js';

const OPTIONS = {
  connections: { type: 'int', arg: 'N', default: 19_500, min: 1, max: 1_000_000, help: 'browsers (and as many HTTP/UDP peers)' },
  'swarms-per-connection': { type: 'int', arg: 'N', default: 5, min: 1, max: 100, help: 'swarms each browser is in' },
  hashes: { type: 'int', arg: 'N', default: 100, min: 1, max: 1_000_000, help: 'distinct info hashes' },
  rounds: { type: 'int', arg: 'N', default: 5, min: 1, max: 100, help: 'stores built and swept; the median is printed' },
} as const;
const opts = parseOptions(OPTIONS, process.argv.slice(2), 'usage: node --import tsx bench/sweep.ts [options]');
const TTL = 240;

const hashes: InfoHash[] = Array.from({ length: opts.hashes }, (_, i) => Buffer.alloc(20, 0).fill(i & 0xff, 0, 1).fill(i >> 8, 1, 2).toString('latin1'));

/** CPU milliseconds of one sweep of `store`, and what it removed. */
async function sweepMs(store: MemoryStore): Promise<[number, number]> {
  const before = process.cpuUsage();
  const { peersRemoved } = await store.sweep();
  const used = process.cpuUsage(before);
  return [(used.user + used.system) / 1000, peersRemoved];
}

const figures: Record<string, number[]> = { 'nothing due': [], 'every peer expired': [], empty: [] };
let peers = 0;
for (let round = 0; round < opts.rounds; round++) {
  let clock = 1_000_000;
  const store = new MemoryStore({ peerTtlSeconds: TTL, wsPeerTtlSeconds: TTL, now: () => clock });
  for (let c = 0; c < opts.connections; c++) {
    const peer = new Uint8Array([10, c >> 16, (c >> 8) & 0xff, c & 0xff, 0x1a, 0xe1]);
    for (let k = 0; k < opts.swarmsPerConnection; k++) {
      const infoHash = hashes[(c * 7 + k * 13) % opts.hashes]!;
      store.announceWsNow({ infoHash, peerId: `-WW0001-${String(c).padStart(12, '0')}`, route: `r${c}`, event: 'started', seeder: false, numwant: 0 });
      store.announceNow({ infoHash, peer, event: 'started', seeder: false, numwant: 0 });
    }
  }
  const totals = await store.totals();
  peers = totals.ws.leechers + totals.ipv4.leechers;
  // The first sweep compiles the sweep's code: it is not counted.
  for (const [kind, advance] of [['warm-up', 60], ['nothing due', 60], ['every peer expired', TTL], ['empty', 60]] as const) {
    clock += advance;
    const [ms, removed] = await sweepMs(store);
    figures[kind]?.push(ms);
    if (kind === 'every peer expired' && removed !== peers) throw new Error(`sweep removed ${removed} of ${peers} peers`);
  }
  await store.close();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`sweep: ${peers} peers (${opts.connections} browsers and as many HTTP/UDP peers, ${opts.swarmsPerConnection} swarms each of ${opts.hashes}), median of ${opts.rounds}`);
for (const [kind, xs] of Object.entries(figures)) console.log(`  ${kind.padEnd(20)} ${median(xs).toFixed(2)} ms CPU`);
