/**
 * HTTP announce load with keep-alive: runs wrk (Debian package `wrk`) with
 * bench/http-announce.lua, bounded in time, and prints responses/s and errors.
 *
 *   node --import tsx bench/http-load.ts --port 6969 --duration 10 [--connections 64] [--cpu-pid PID]
 *
 * The info hashes are the same as bench/udp-load.ts's (same --hashes/--seed, or
 * --hashes-file). Only loopback targets are accepted.
 *
 * Servers that close the connection after every reply without saying so (opentracker
 * does) make wrk count one socket read error per reply and reconnect; the replies
 * themselves are complete and counted. This is detected and reported as "connection
 * closes", separately from errors.
 *
 * The last line of output is `RESULT k=v ...` for scripts (bench/compare-opentracker.sh).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assertLoopback,
  fmtUs,
  hashesToHexLines,
  makeInfoHashes,
  numberOption as int,
  parseArgsOrHelp,
  percentOfCore,
  printResult,
  processTreeCpuSeconds,
  trackerCpuLine,
  trackerCpuResult,
  waitedChildrenCpuSeconds,
} from './load-common.js';

const USAGE = `usage: node --import tsx bench/http-load.ts --port N [options]
  --host H            target (loopback only)                    [127.0.0.1]
  --port N            target TCP port                           (required)
  --duration S        measured seconds (whole seconds)          [10]
  --warmup S          unmeasured wrk run before, seconds        [0]
  --connections N     keep-alive connections                    [64]
  --threads N         wrk threads                               [1]
  --hashes N          distinct info hashes                      [100000]
  --hashes-file F     hex info hashes, one a line, instead
  --seed N            seed (hashes and randomness)              [1]
  --zipf S            popularity exponent                       [1]
  --numwant N         numwant in announces                      [50]
  --close             send "Connection: close" (measure without keep-alive)
  --no-check          don't look at reply bodies (cheaper for the generator)
  --pool N            requests pre-built per wrk thread         [65536]
  --cpu-pid PID       report this process tree's CPU time during the measured run
  --label TEXT        name printed in the output`;

interface LuaResult {
  requests: number;
  duration_us: number;
  err_connect: number;
  err_read: number;
  err_write: number;
  err_status: number;
  err_timeout: number;
  ok: number;
  failures: number;
  bad: number;
  non200: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  first_failure: string;
}

function parseLuaLine(out: string): LuaResult | undefined {
  const line = out.split('\n').find((l) => l.startsWith('LUA '));
  if (!line) return undefined;
  const kv: Record<string, string> = {};
  for (const part of line.slice(4).split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) kv[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const n = (k: string): number => Number(kv[k] ?? 'NaN');
  return {
    requests: n('requests'),
    duration_us: n('duration_us'),
    err_connect: n('err_connect'),
    err_read: n('err_read'),
    err_write: n('err_write'),
    err_status: n('err_status'),
    err_timeout: n('err_timeout'),
    ok: n('ok'),
    failures: n('failures'),
    bad: n('bad'),
    non200: n('non200'),
    p50_us: n('p50_us'),
    p90_us: n('p90_us'),
    p99_us: n('p99_us'),
    max_us: n('max_us'),
    first_failure: kv.first_failure ?? '',
  };
}

function runWrk(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(killer);
      reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('wrk not found: apt-get install -y wrk') : e);
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, err });
    });
    const stop = (): void => {
      child.kill('SIGKILL');
      process.exit(130);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function main(): Promise<void> {
  const values = parseArgsOrHelp(USAGE, {
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '0' },
      connections: { type: 'string', default: '64' },
      threads: { type: 'string', default: '1' },
      hashes: { type: 'string', default: '100000' },
      'hashes-file': { type: 'string', default: '' },
      seed: { type: 'string', default: '1' },
      zipf: { type: 'string', default: '1' },
      numwant: { type: 'string', default: '50' },
      close: { type: 'boolean', default: false },
      'no-check': { type: 'boolean', default: false },
      pool: { type: 'string', default: '65536' },
      'cpu-pid': { type: 'string', default: '0' },
      label: { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.port === undefined) {
    console.log(USAGE);
    process.exit(2);
  }
  const host = values.host!;
  assertLoopback(host);
  const port = int('port', values.port, 1, 65535);
  const duration = int('duration', values.duration!, 1, 3600);
  const warmup = int('warmup', values.warmup!, 0, 600);
  const connections = int('connections', values.connections!, 1, 10_000);
  const threads = int('threads', values.threads!, 1, 64);
  if (connections < threads) throw new Error('--connections must be >= --threads');
  const seed = int('seed', values.seed!, 0, 2 ** 31);
  const cpuPid = int('cpu-pid', values['cpu-pid']!, 0, 2 ** 31);
  const zipf = Number(values.zipf);
  if (!(zipf >= 0 && zipf <= 10)) throw new Error('--zipf must be in [0, 10]');
  const numwant = int('numwant', values.numwant!, 0, 10_000);
  const pool = int('pool', values.pool!, 1, 1 << 22);
  const check = !values['no-check'];

  let tmp: string | undefined;
  let hashesFile = values['hashes-file']!;
  if (!hashesFile) {
    tmp = mkdtempSync(join(tmpdir(), 'redswarm-http-load-'));
    hashesFile = join(tmp, 'hashes.txt');
    writeFileSync(hashesFile, hashesToHexLines(makeInfoHashes(int('hashes', values.hashes!, 1, 10_000_000), seed)));
  }
  try {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'http-announce.lua');
    const luaArgs = [
      `hashes=${hashesFile}`,
      `zipf=${zipf}`,
      `seed=${seed}`,
      `numwant=${numwant}`,
      `close=${values.close ? 1 : 0}`,
      `check=${check ? 1 : 0}`,
      `pool=${pool}`,
    ];
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    const wrkArgs = (secs: number): string[] => [
      `-t${threads}`,
      `-c${connections}`,
      `-d${secs}s`,
      '--timeout',
      '2s',
      '-s',
      script,
      url,
      '--',
      ...luaArgs,
    ];
    if (warmup > 0) await runWrk(wrkArgs(warmup), (warmup + 30) * 1000);

    const cpu0 = cpuPid ? processTreeCpuSeconds(cpuPid) : NaN;
    const gen0 = waitedChildrenCpuSeconds();
    const { code, out, err } = await runWrk(wrkArgs(duration), (duration + 30) * 1000);
    const cpu1 = cpuPid ? processTreeCpuSeconds(cpuPid) : NaN;
    const genCpu = waitedChildrenCpuSeconds() - gen0; // wrk's own CPU time
    const r = parseLuaLine(out);
    if (code !== 0 || !r) throw new Error(`wrk failed (exit ${code}):\n${out}${err}`);

    const elapsed = r.duration_us / 1e6;
    const responses = r.requests;
    const rps = responses / elapsed;
    // A server that drops every connection after replying shows up as ~one read error per reply.
    const serverCloses = r.err_read >= 0.5 * responses && responses > 0;
    const closes = serverCloses ? r.err_read : 0;
    const errors = r.err_connect + r.err_write + r.err_timeout + r.err_status + (serverCloses ? 0 : r.err_read) + (check ? r.failures + r.bad + r.non200 - r.err_status : 0);
    const trackerCpu = cpu1 - cpu0;
    const label = values.label ? `${values.label} ` : '';
    const lines = [
      `http-load ${label}${host}:${port}: wrk -t${threads} -c${connections} ${values.close ? 'Connection: close' : 'keep-alive'}, ` +
        `hashes=${values['hashes-file'] ? `file:${hashesFile}` : values.hashes} zipf=${zipf} numwant=${numwant} check=${check}`,
      `  responses:  ${responses} in ${elapsed.toFixed(2)} s = ${rps.toFixed(0)} responses/s`,
      `  errors:     ${errors} (connect ${r.err_connect}, read ${serverCloses ? '-' : r.err_read}, write ${r.err_write}, timeout ${r.err_timeout}, status>399 ${r.err_status}` +
        (check ? `; bodies: ${r.ok} ok, ${r.failures} failure replies, ${r.bad} malformed, ${r.non200} non-200)` : ')'),
      `  latency:    p50 ${fmtUs(r.p50_us)}, p90 ${fmtUs(r.p90_us)}, p99 ${fmtUs(r.p99_us)}, max ${fmtUs(r.max_us)}`,
      `  generator:  wrk ${genCpu.toFixed(2)} CPU s (${percentOfCore(genCpu, elapsed)}% of one core)`,
    ];
    if (serverCloses && !values.close) {
      lines.push(
        `  note:       the server closed the connection after ${closes} of ${responses} replies without announcing it ` +
          `(no "Connection: close" header): keep-alive is impossible with it, wrk reconnected each time and counted ` +
          `each close as a socket read error. The replies were complete and are counted as responses.`,
      );
    } else if (serverCloses) {
      lines.push(
        `  note:       the server closed the connection after each reply, as asked, but its replies lacked ` +
          `"Connection: close", so wrk counted ${closes} closes as socket read errors (not counted as errors here).`,
      );
    }
    if (cpuPid) lines.push(trackerCpuLine(trackerCpu, elapsed, responses));
    if (r.first_failure) lines.push(`  failure:    ${r.first_failure}`);
    console.log(lines.join('\n'));
    const kv: Record<string, string | number> = {
      proto: 'http',
      responses,
      elapsed: elapsed.toFixed(3),
      rps: rps.toFixed(0),
      errors,
      closes,
      server_closes: serverCloses ? 1 : 0,
      failures: r.failures,
      p50_us: r.p50_us,
      p99_us: r.p99_us,
      gen_cpu_s: genCpu.toFixed(3),
      ...trackerCpuResult(cpuPid, trackerCpu, responses),
    };
    printResult(kv);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`http-load: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
