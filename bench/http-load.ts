/**
 * HTTP announce load with keep-alive: runs wrk (Debian package `wrk`) with
 * bench/http-announce.lua, bounded in time, and prints responses/s and errors.
 *
 *   node --import tsx bench/http-load.ts --port 6969 --duration 10 [--connections 64] [--cpu-pid PID] [--tls]
 *
 * The info hashes are the same as bench/udp-load.ts's (same --hashes/--seed, or
 * --hashes-file). wrk is the generator: one unmeasured run for --warmup, then the
 * measured run; the harness (bench/harness/) reads the options and the tracker's CPU
 * time, and prints the summary and its last line, `RESULT k=v ...`.
 *
 * Servers that close the connection after every reply without saying so (opentracker
 * does) make wrk count one socket read error per reply and reconnect; the replies
 * themselves are complete and counted. This is detected and reported as "connection
 * closes", separately from errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onInterrupt } from './harness/lifetime.js';
import { hashOptions, reportOptions, targetOptions, windowOptions, type OptionValues } from './harness/options.js';
import { waitedChildrenCpuSeconds } from './harness/proc-cpu.js';
import type { MeasureWindow, Stats } from './harness/report.js';
import { runTool } from './harness/run.js';
import { hashesLabel, hashesToHexLines, loadHashes } from './harness/workload.js';

const OPTIONS = {
  ...targetOptions('target TCP port'),
  ...windowOptions(0, true),
  connections: { type: 'int', arg: 'N', default: 64, min: 1, max: 10_000, help: 'keep-alive connections' },
  threads: { type: 'int', arg: 'N', default: 1, min: 1, max: 64, help: 'wrk threads' },
  ...hashOptions(100_000),
  numwant: { type: 'int', arg: 'N', default: 50, min: 0, max: 10_000, help: 'numwant in announces' },
  close: { type: 'flag', help: 'send "Connection: close" (measure without keep-alive)' },
  tls: { type: 'flag', help: "https:// (the tracker's --tls-port; wrk does not check the certificate)" },
  'no-check': { type: 'flag', help: "don't look at reply bodies (cheaper for the generator)" },
  pool: { type: 'int', arg: 'N', default: 65536, min: 1, max: 1 << 22, help: 'requests pre-built per wrk thread' },
  events: { type: 'string', arg: 'SPEC', default: 'none:85,started:8,completed:2,stopped:5', help: 'event weights' },
  ...reportOptions,
} as const;
type Options = OptionValues<typeof OPTIONS>;

/** The numbers of the `LUA k=v ...` line that http-announce.lua's done() prints. */
const LUA_FIELDS = [
  'requests',
  'duration_us',
  'err_connect',
  'err_read',
  'err_write',
  'err_status',
  'err_timeout',
  'ok',
  'failures',
  'bad',
  'non200',
  'p50_us',
  'p90_us',
  'p99_us',
  'max_us',
] as const;
type LuaField = (typeof LUA_FIELDS)[number];
type Counter = LuaField | 'errors' | 'closes' | 'serverCloses';

function parseLuaLine(out: string): { values: Record<LuaField, number>; firstFailure: string } | undefined {
  const line = out.split('\n').find((l) => l.startsWith('LUA '));
  if (!line) return undefined;
  const at = line.indexOf(' first_failure=');
  const kv: Record<string, string> = {};
  for (const part of line.slice(4, at < 0 ? undefined : at).split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) kv[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const values = Object.fromEntries(LUA_FIELDS.map((k) => [k, Number(kv[k] ?? 'NaN')])) as Record<LuaField, number>;
  return { values, firstFailure: at < 0 ? '' : line.slice(at + ' first_failure='.length) };
}

function runWrk(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    onInterrupt(() => child.kill('SIGKILL'));
    child.on('error', (e) => {
      clearTimeout(killer);
      reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('wrk not found: apt-get install -y wrk') : e);
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, err });
    });
  });
}

/** An unmeasured wrk run for --warmup, then the measured one. */
async function run(o: Options, window: MeasureWindow): Promise<Stats<Counter>> {
  if (o.connections < o.threads) throw new Error('--connections must be >= --threads');
  let tmp: string | undefined;
  let hashesFile = o.hashesFile;
  if (!hashesFile) {
    tmp = mkdtempSync(join(tmpdir(), 'redswarm-http-load-'));
    hashesFile = join(tmp, 'hashes.txt');
    writeFileSync(hashesFile, hashesToHexLines(loadHashes(o)));
  }
  try {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'http-announce.lua');
    const lua = Object.entries({
      hashes: hashesFile,
      zipf: o.zipf,
      seed: o.seed,
      numwant: o.numwant,
      close: o.close ? 1 : 0,
      check: o.noCheck ? 0 : 1,
      pool: o.pool,
      events: o.events,
    }).map(([k, v]) => `${k}=${v}`);
    const url = `${o.tls ? 'https' : 'http'}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}/`;
    const wrk = (secs: number): Promise<{ code: number | null; out: string; err: string }> =>
      runWrk([`-t${o.threads}`, `-c${o.connections}`, `-d${secs}s`, '--timeout', '2s', '-s', script, url, '--', ...lua], (secs + 30) * 1000);
    if (o.warmup > 0) await wrk(o.warmup);

    window.begin();
    const gen0 = waitedChildrenCpuSeconds();
    const { code, out, err } = await wrk(o.duration);
    window.end();
    const genCpu = waitedChildrenCpuSeconds() - gen0; // wrk's own CPU time
    const parsed = parseLuaLine(out);
    if (code !== 0 || !parsed) throw new Error(`wrk failed (exit ${code}):\n${out}${err}`);
    const r = parsed.values;
    const responses = r.requests;
    // A server that drops every connection after replying shows up as ~one read error per reply.
    const serverCloses = r.err_read >= 0.5 * responses && responses > 0;
    const socketErrors = r.err_connect + r.err_write + r.err_timeout + r.err_status + (serverCloses ? 0 : r.err_read);
    const errors = socketErrors + (o.noCheck ? 0 : r.failures + r.bad + r.non200 - r.err_status);
    return {
      elapsed: r.duration_us / 1e6,
      responses,
      genCpu,
      latency: { p50: r.p50_us, p90: r.p90_us, p99: r.p99_us, max: r.max_us },
      counters: { ...r, errors, closes: serverCloses ? r.err_read : 0, serverCloses: serverCloses ? 1 : 0 },
      messages: parsed.firstFailure ? [`first failure reply: ${parsed.firstFailure}`] : [],
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

runTool({
  name: 'http-load',
  proto: 'http',
  entry: import.meta.url,
  options: OPTIONS,
  run,
  summary: (o, s) => {
    const r = s.counters;
    const serverCloses = r.serverCloses === 1;
    const notes: [string, string][] = [];
    if (serverCloses && !o.close) {
      notes.push([
        'note',
        `the server closed the connection after ${r.closes} of ${s.responses} replies without announcing it ` +
          `(no "Connection: close" header): keep-alive is impossible with it, wrk reconnected each time and counted ` +
          `each close as a socket read error. The replies were complete and are counted as responses.`,
      ]);
    } else if (serverCloses) {
      notes.push([
        'note',
        `the server closed the connection after each reply, as asked, but its replies lacked ` +
          `"Connection: close", so wrk counted ${r.closes} closes as socket read errors (not counted as errors here).`,
      ]);
    }
    return {
      title:
        `wrk -t${o.threads} -c${o.connections} ${o.tls ? 'HTTPS ' : ''}${o.close ? 'Connection: close' : 'keep-alive'}, ` +
        `${hashesLabel(o)} numwant=${o.numwant} check=${!o.noCheck}`,
      errors:
        `${r.errors} (connect ${r.err_connect}, read ${serverCloses ? '-' : r.err_read}, write ${r.err_write}, ` +
        `timeout ${r.err_timeout}, status>399 ${r.err_status}` +
        (o.noCheck ? ')' : `; bodies: ${r.ok} ok, ${r.failures} failure replies, ${r.bad} malformed, ${r.non200} non-200)`),
      generator: 'wrk ',
      notes,
      result: { errors: r.errors, closes: r.closes, server_closes: r.serverCloses, failures: r.failures },
    };
  },
});
