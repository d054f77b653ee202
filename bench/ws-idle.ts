/**
 * What idle WebTorrent browsers cost a tracker: memory per connection and CPU while they are idle.
 *
 *   node --import tsx bench/ws-idle.ts --port N --cpu-pid PID [--connections N] [--swarms-per-connection 5]
 *
 * Warms the tracker up first (--warmup browsers open, announce in other swarms and leave: its code compiled, its
 * allocator's arenas grown, as a tracker in service has them), then reads its resident memory (its process
 * tree's VmRSS), opens --connections WebSockets (by default as
 * many as the open-file limits allow: the lower hard limit of this process and the tracker's, minus a margin;
 * the soft limit is raised to the hard one where prlimit can), spread over --sources loopback addresses
 * (127.0.0.1, .2, …, so that source ports never run short), each announcing `started` in
 * --swarms-per-connection of --hashes swarms without offers, as a browser with a few torrents open. After all
 * are answered (and collected, below) and --settle seconds, it measures the tracker's CPU over --idle seconds with every socket idle
 * (the tracker's pings and timers are all that runs), reads the memory again, and closes everything.
 *
 *   memory per connection = (RSS after - RSS before) / connections
 *
 * RSS counts garbage not yet collected, so that figure moves between runs of the same code. With
 * --inspect-port (the tracker started with `node --inspect=127.0.0.1:PORT`), both RSS readings follow full
 * collections the bench asks for through the inspector (HeapProfiler.collectGarbage): nothing in the tracker.
 * The idle window then starts --settle seconds after such collections too: the garbage of the burst of
 * `started` announces is collected before it, not by whichever collection V8 happens to run inside it, and what
 * follows a collection (its memory given back, the sweeping on V8's threads) is over. Either swung this figure
 * either way by more than the trackers' difference (docs/performance.md).
 *
 * Prints a summary and `RESULT connections=… rss_before=… rss_after=… bytes_per_conn=… idle_cpu_pct=…`.
 * Loopback only, bounded in time (a watchdog).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { sleep, startWatchdog } from './harness/lifetime.js';
import { assertLoopback, parseOptions, targetOptions } from './harness/options.js';
import { processTreeCpu, processTreeRss } from './harness/proc-cpu.js';
import { makeInfoHashes } from './harness/workload.js';

const OPTIONS = {
  ...targetOptions('target WebSocket port (on 127.0.0.1 or --host)'),
  connections: { type: 'int', arg: 'N', default: 0, min: 0, max: 1_000_000, help: 'connections (0: as many as the open-file limits allow)' },
  margin: { type: 'int', arg: 'N', default: 500, min: 0, max: 100_000, help: 'file descriptors left free under the limits when sizing' },
  sources: { type: 'int', arg: 'N', default: 0, min: 0, max: 250, help: 'source addresses 127.0.0.1.. (0: one per 10,000 connections)' },
  'swarms-per-connection': { type: 'int', arg: 'N', default: 5, min: 1, max: 400, help: 'torrents each connection announces' },
  hashes: { type: 'int', arg: 'N', default: 100, min: 1, max: 1_000_000, help: 'distinct info hashes' },
  seed: { type: 'int', arg: 'N', default: 1, min: 0, max: 2 ** 31, help: 'seed for the hashes' },
  warmup: { type: 'int', arg: 'N', default: 2000, min: 0, max: 100_000, help: 'browsers that open, announce in other swarms and leave before the first RSS reading (a warm tracker)' },
  settle: { type: 'number', arg: 'S', default: 15, min: 0, max: 600, help: 'seconds after the last reply (and the collections) before measuring' },
  idle: { type: 'number', arg: 'S', default: 20, min: 1, max: 600, help: 'seconds of idle CPU measured' },
  'cpu-pid': { type: 'int', arg: 'PID', default: 0, min: 0, max: 2 ** 31, required: true, help: "the tracker's pid (memory and CPU of its process tree)" },
  label: { type: 'string', arg: 'NAME', help: 'name printed with the result' },
  'inspect-port': { type: 'int', arg: 'N', default: 0, min: 0, max: 65_535, help: "the tracker's inspector port: collect garbage before each RSS reading" },
  timeline: { type: 'number', arg: 'S', default: 0, min: 0, max: 600, help: 'also print the idle CPU of each S-second slice of the window (0: no), to see when it is spent' },
  'heap-stats': { type: 'flag', help: "with --inspect-port: also print what grew per connection in each of V8's heap spaces (committed/used bytes)" },
} as const;

/** Sends Chrome DevTools protocol calls, one after the other, to the process behind an inspector port; their results. */
async function inspectorCalls(port: number, calls: { method: string; params?: object }[]): Promise<unknown[]> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', (error) => reject(new Error(`the tracker's inspector: ${error.message}`))));
  const results: unknown[] = [];
  for (const [i, call] of calls.entries()) {
    ws.send(JSON.stringify({ id: i + 1, ...call }));
    results.push(
      await new Promise((resolve) => {
        const done = (data: Buffer): void => {
          const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown };
          if (reply.id !== i + 1) return;
          ws.off('message', done);
          resolve(reply.result);
        };
        ws.on('message', done);
      }),
    );
  }
  ws.close();
  return results;
}

/** Full garbage collections in the process behind an inspector port, then a pause. */
async function collectGarbage(port: number): Promise<void> {
  await inspectorCalls(port, [{ method: 'HeapProfiler.collectGarbage' }, { method: 'HeapProfiler.collectGarbage' }]);
  await sleep(1000);
}

/** The tracker's RSS, after full collections when its inspector port is known. */
async function settledRss(pid: number, inspectPort: number): Promise<number> {
  if (inspectPort > 0) await collectGarbage(inspectPort);
  return processTreeRss(pid);
}

/** Bytes by part of a Node process's memory (V8's heap spaces, committed and used; external), through its inspector. */
async function heapStats(port: number): Promise<Record<string, [number, number]>> {
  const expression =
    "JSON.stringify((() => { const m = process.memoryUsage(), s = {}; for (const x of require('v8').getHeapSpaceStatistics()) s[x.space_name] = [x.space_size, x.space_used_size]; s.external = [m.external, m.arrayBuffers]; s.heap_total = [m.heapTotal, m.heapUsed]; return s; })())";
  const [result] = await inspectorCalls(port, [{ method: 'Runtime.evaluate', params: { expression, includeCommandLineAPI: true, returnByValue: true } }]);
  const value = (result as { result?: { value?: unknown } }).result?.value;
  if (typeof value !== 'string') throw new Error(`--heap-stats: the tracker's inspector did not evaluate: ${JSON.stringify(result)}`);
  return JSON.parse(value) as Record<string, [number, number]>;
}

/** What grew between two heapStats readings, per connection: "space committed/used" in bytes. */
function heapGrowth(before: Record<string, [number, number]>, after: Record<string, [number, number]>, connections: number): string {
  return Object.keys(after)
    .map((space) => {
      const [c0, u0] = before[space] ?? [0, 0];
      const [c1, u1] = after[space]!;
      return `${space} ${((c1 - c0) / connections).toFixed(0)}/${((u1 - u0) / connections).toFixed(0)}`;
    })
    .join(', ');
}

/** Waits seconds; with slice > 0, the CPU ms of the tracker's process tree in each slice-second part of them. */
async function idleSlices(pid: number, seconds: number, slice: number): Promise<number[]> {
  if (slice <= 0) {
    await sleep(seconds * 1000);
    return [];
  }
  const cpu = (): number => {
    const t = processTreeCpu(pid);
    return t.user + t.system;
  };
  const start = Date.now();
  const slices: number[] = [];
  let last = cpu();
  for (let elapsed = 0; elapsed < seconds; elapsed += slice) {
    // Against the clock, so that the slices do not drift from the window by the time each reading takes.
    await sleep(Math.max(0, start + Math.min(seconds, elapsed + slice) * 1000 - Date.now()));
    const now = cpu();
    slices.push((now - last) * 1000);
    last = now;
  }
  return slices;
}

/** Open files allowed: [soft, hard] of a process, from /proc/PID/limits. */
function openFileLimits(pid: number | 'self'): [number, number] {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  const value = (v: string | undefined): number => (v === undefined || v === 'unlimited' ? Infinity : Number(v));
  return [value(line?.[1]), value(line?.[2])];
}

/** Raises this process's soft open-file limit to its hard one (Node has no setrlimit; util-linux prlimit does it). */
function raiseOpenFileLimit(): void {
  const [soft, hard] = openFileLimits('self');
  if (soft >= hard || !Number.isFinite(hard)) return;
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`], { stdio: 'ignore' });
  } catch {
    /* no prlimit: stay at the soft limit */
  }
}

const hashJson = (hashes: Buffer, i: number): string => JSON.stringify(hashes.toString('latin1', i * 20, i * 20 + 20));

/** Browsers whose connection was closed before its upgrade was answered, and that dialed again. */
let redials = 0;

/**
 * One browser: opens, announces in its swarms, and resolves once every announce is answered. A connection closed
 * before its upgrade is answered is dialed once more (counted): with two generators on one core (compare-wt.sh
 * --paired) about one run in four lost one of its ~20,000 handshakes so.
 */
function browser(url: string, localAddress: string, peerId: string, hashes: string[], onClose: () => void, redial = true): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    let replies = 0;
    let opened = false;
    ws.on('upgrade', () => {
      opened = true;
    });
    ws.on('open', () => {
      for (const hash of hashes) {
        ws.send(`{"action":"announce","info_hash":${hash},"peer_id":${JSON.stringify(peerId)},"numwant":0,"uploaded":0,"downloaded":0,"left":1000,"event":"started"}`);
      }
    });
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      if (typeof message['failure reason'] === 'string') reject(new Error(`failure reply: ${message['failure reason']}`));
      else if (++replies === hashes.length) resolve(ws);
    });
    ws.on('error', (error) => {
      if (opened || !redial) {
        reject(new Error(`browser ${peerId} from ${localAddress}: ${error.message}`));
        return;
      }
      redials++;
      resolve(browser(url, localAddress, peerId, hashes, onClose, false));
    });
    ws.on('close', () => {
      if (!opened) return; // its error says what happened
      reject(new Error('closed by the tracker before its replies'));
      onClose();
    });
  });
}

async function main(): Promise<void> {
  const usage = 'usage: node --import tsx bench/ws-idle.ts --port N --cpu-pid PID [options]';
  const opts = parseOptions(OPTIONS, process.argv.slice(2), usage);
  assertLoopback(opts.host);
  if (opts.heapStats && opts.inspectPort === 0) throw new Error('--heap-stats needs --inspect-port');
  raiseOpenFileLimit();
  const own = openFileLimits('self')[0];
  const tracker = openFileLimits(opts.cpuPid)[0];
  const connections = opts.connections || Math.min(own, tracker) - opts.margin;
  if (connections > own - 50) throw new Error(`${connections} connections do not fit this process's open-file limit (${own})`);
  const sources = opts.sources || Math.ceil(connections / 10_000);
  startWatchdog(opts.settle + opts.idle + connections / 100 + 120, 'ws-idle: watchdog: the run did not finish in time', 2);

  const url = `ws://${opts.host}:${opts.port}/`;
  const hashes = makeInfoHashes(opts.hashes, opts.seed);
  /** Opens `count` browsers 500 at a time, browser n announcing in swarms of `swarmHashes` as peer `tag` n. */
  const openBrowsers = async (count: number, swarmHashes: Buffer, tag: string, source: (n: number) => string, onClose: () => void): Promise<WebSocket[]> => {
    const opened: WebSocket[] = [];
    for (let i = 0; i < count; i += 500) {
      const batch = Array.from({ length: Math.min(500, count - i) }, (_, k) => {
        const n = i + k;
        const mine = Array.from({ length: opts.swarmsPerConnection }, (_, s) => hashJson(swarmHashes, (n + s * 7919) % opts.hashes));
        return browser(url, source(n), `-${tag}0001-${n.toString(36).padStart(12, '0')}`, [...new Set(mine)], onClose);
      });
      opened.push(...(await Promise.all(batch)));
    }
    return opened;
  };
  // A tracker in service is warm: its code compiled and its allocator's arenas grown. Without this, what the
  // first burst of announces costs once (JIT, arenas) would count as a cost per connection.
  if (opts.warmup > 0) {
    const warm = await openBrowsers(opts.warmup, makeInfoHashes(opts.hashes, opts.seed + 1), 'WW', () => '127.0.0.1', () => {});
    for (const ws of warm) ws.close();
    await sleep(2000);
  }
  const rssBefore = await settledRss(opts.cpuPid, opts.inspectPort);
  const heapBefore = opts.heapStats ? await heapStats(opts.inspectPort) : undefined;
  let closedByTracker = 0;
  let measuring = false;
  const opened = Date.now();
  const sockets = await openBrowsers(connections, hashes, 'WI', (n) => `127.0.0.${1 + (n % sources)}`, () => {
    if (measuring) closedByTracker++;
  });
  const openSeconds = (Date.now() - opened) / 1000;
  measuring = true;
  if (opts.inspectPort > 0) await collectGarbage(opts.inspectPort);
  await sleep(opts.settle * 1000);
  const cpuBefore = processTreeCpu(opts.cpuPid);
  const slices = await idleSlices(opts.cpuPid, opts.idle, opts.timeline);
  const cpuAfter = processTreeCpu(opts.cpuPid);
  const rssAfter = await settledRss(opts.cpuPid, opts.inspectPort);
  const heapAfter = heapBefore && (await heapStats(opts.inspectPort));
  measuring = false;
  for (const ws of sockets) ws.terminate();

  const idleCpu = Math.max(0, cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system);
  const perConnection = (rssAfter - rssBefore) / connections;
  const label = opts.label ? ` (${opts.label})` : '';
  console.log(`ws-idle ${opts.host}:${opts.port}${label}: ${connections} connections from ${sources} source address(es), ${opts.swarmsPerConnection} swarms each of ${opts.hashes}`);
  console.log(`  opened and announced in ${openSeconds.toFixed(1)} s (${redials} dialed twice); ${closedByTracker} closed by the tracker while idle`);
  const collected = opts.inspectPort > 0 ? ' (after full collections)' : '';
  console.log(`  memory:   RSS${collected} ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB = ${(perConnection / 1024).toFixed(2)} KiB per connection`);
  if (heapAfter) console.log(`  heap growth per connection (committed/used bytes): ${heapGrowth(heapBefore!, heapAfter, connections)}`);
  console.log(`  idle CPU: ${idleCpu.toFixed(2)} CPU s in ${opts.idle} s = ${((100 * idleCpu) / opts.idle).toFixed(2)}% of one core`);
  if (slices.length > 0) console.log(`  idle CPU ms by ${opts.timeline}-s slice: ${slices.map((s) => s.toFixed(0)).join(' ')}`);
  console.log(
    `RESULT connections=${connections} rss_before=${rssBefore} rss_after=${rssAfter} bytes_per_conn=${perConnection.toFixed(0)} ` +
      `idle_cpu_s=${idleCpu.toFixed(3)} idle_cpu_pct=${((100 * idleCpu) / opts.idle).toFixed(3)} closes=${closedByTracker} open_s=${openSeconds.toFixed(1)} redials=${redials}`,
  );
  setTimeout(() => process.exit(closedByTracker === 0 ? 0 : 1), 500).unref();
}

main().catch((e: unknown) => {
  console.error(`ws-idle: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
