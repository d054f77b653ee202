/**
 * What an info-hash access list costs: ns added per announce by the check (`AccessControl.announceRefusal`,
 * the one call the servers make) with no list, with a 1M-entry list loaded from a file (the InfoHashTable),
 * and, for comparison, a Set<string> of the same hashes; bytes per entry of each (the table's arrays; the Set's
 * heap growth); the time to load the list, and the longest stall of the event loop meanwhile (what requests feel).
 * Every lookup takes a fresh 20-character string cut from a packet buffer, as the UDP codec makes them
 * (its cost is in every variant, and is printed on its own). Variants alternate, 5 rounds, medians.
 *
 * Run: flock /tmp/redswarm-bench.lock node --expose-gc --import tsx bench/access-list.ts [entries]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { AccessControl } from '../src/access/access-control.js';
import type { InfoHashTable } from '../src/access/info-hash-table.js';
import { LIST_KINDS, parseList } from '../src/access/lists.js';
import { defaultConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';

const ENTRIES = Number(process.argv[2] ?? 1_000_000);
const LOOKUPS = 2_000_000;
const PEER_ID = '-qB4520-abcdefghijkl';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
function used(): number {
  gc!();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const listed = randomBytes(20 * ENTRIES);
/** Probes: every other one listed (a hit), the rest random (a miss), in one buffer like packets. */
function probes(hits: boolean): Buffer {
  const out = randomBytes(20 * LOOKUPS);
  if (hits) for (let i = 0; i < LOOKUPS; i++) listed.copy(out, 20 * i, 20 * ((i * 7919) % ENTRIES), 20 * ((i * 7919) % ENTRIES) + 20);
  return out;
}
const hitProbes = probes(true);
const missProbes = probes(false);

/** ns per lookup of `check` over the probes. */
function measure(check: (infoHash: string) => boolean, packets: Buffer): number {
  let refused = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) if (!check(packets.toString('latin1', 20 * i, 20 * i + 20))) refused++;
  const ns = Number(process.hrtime.bigint() - started) / LOOKUPS;
  if (refused === -1) console.log('never');
  return ns;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  // The Set first, while the heap holds nothing else that a collection could free meanwhile.
  const beforeSet = used();
  const set = new Set<string>();
  for (let i = 0; i < ENTRIES; i++) set.add(listed.toString('latin1', 20 * i, 20 * i + 20));
  const setBytes = used() - beforeSet;
  const log = createLogger('silent');
  const dir = await mkdtemp(join(tmpdir(), 'redswarm-access-bench-'));
  const file = join(dir, 'torrents.txt');
  let text = '';
  for (let i = 0; i < ENTRIES; i++) text += `${listed.toString('hex', 20 * i, 20 * i + 20)}\n`;
  await writeFile(file, text);
  const table = (await LIST_KINDS['info-hash'].build(await parseList(LIST_KINDS['info-hash'], text, file))) as InfoHashTable;
  // Off the heap, all in its typed arrays: their size is exact, where a heap delta would be noise.
  const tableBytes = table.bytes;
  text = '';

  const none = await AccessControl.start({ ...defaultConfig(), accessMode: 'off' }, log);
  // A reload works in slices between which requests are served: the longest stall is what they feel.
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const loadStarted = performance.now();
  const access = await AccessControl.start({ ...defaultConfig(), accessMode: 'deny', accessFile: file }, log);
  const loadMs = performance.now() - loadStarted;
  stalls.disable();

  const variants: [string, (infoHash: string) => boolean][] = [
    ['string only (no check)', (infoHash) => infoHash.length === 20],
    ['no list (mode off)', (infoHash) => none.announceRefusal(infoHash, PEER_ID, 'udp') === null],
    [`InfoHashTable, ${ENTRIES} entries (deny)`, (infoHash) => access.announceRefusal(infoHash, PEER_ID, 'udp') === null],
    [`Set<string>, ${ENTRIES} entries`, (infoHash) => !set.has(infoHash)],
  ];
  const results = new Map<string, { hit: number[]; miss: number[] }>(variants.map(([name]) => [name, { hit: [], miss: [] }]));
  for (let round = 0; round < 6; round++) {
    for (const [name, check] of variants) {
      const hit = measure(check, hitProbes);
      const miss = measure(check, missProbes);
      if (round === 0) continue; // warm-up
      results.get(name)!.hit.push(hit);
      results.get(name)!.miss.push(miss);
    }
  }
  console.log(`entries ${ENTRIES}, lookups ${LOOKUPS} per run, median of 5 runs (ns per announce, listed / not listed)`);
  const off = results.get('no list (mode off)')!;
  for (const [name] of variants) {
    const { hit, miss } = results.get(name)!;
    const added = name.startsWith('string') ? '' : `   added vs no list: ${(median(hit) - median(off.hit)).toFixed(0)} / ${(median(miss) - median(off.miss)).toFixed(0)} ns`;
    console.log(`${name.padEnd(40)} ${median(hit).toFixed(0).padStart(5)} / ${median(miss).toFixed(0).padStart(5)} ns${added}`);
  }
  console.log(`memory per entry: InfoHashTable ${(tableBytes / ENTRIES).toFixed(1)} B, Set<string> ${(setBytes / ENTRIES).toFixed(1)} B`);
  console.log(`loading the list from its file (read, parse, build): ${loadMs.toFixed(0)} ms; longest event-loop stall meanwhile ${(stalls.max / 1e6).toFixed(0)} ms`);
  access.close();
  none.close();
  await rm(dir, { recursive: true, force: true });
}

await main();
