/**
 * What the load generators (bench/udp-load.ts, bench/http-load.ts, bench/ws-load.ts) share: the bench's info
 * hashes, the loopback-only rule, command-line checks, CPU time from /proc, and the pieces of their summaries.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

// ---------------------------------------------------------------------------------------
// Info hashes

/** The bench's info hashes: SHA-1 of a seeded label, so every tool derives the same set. */
export function makeInfoHashes(count: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(count * 20);
  for (let i = 0; i < count; i++) {
    createHash('sha1').update(`redswarm-bench:${seed}:${i}`).digest().copy(out, i * 20);
  }
  return out;
}

export function hashesToHexLines(hashes: Buffer): string {
  const lines: string[] = [];
  for (let off = 0; off < hashes.length; off += 20) lines.push(hashes.toString('hex', off, off + 20));
  return lines.join('\n') + '\n';
}

export function readHashesFile(path: string): Buffer {
  const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-fA-F]{40}$/.test(l));
  if (lines.length === 0) throw new Error(`${path}: no 40-hex-digit info hashes found`);
  return Buffer.from(lines.join(''), 'hex');
}

// ---------------------------------------------------------------------------------------
// Command line

/** Refuse anything but loopback: this is a load generator. */
export function assertLoopback(host: string): void {
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return;
  throw new Error(`refusing to load ${host}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed`);
}

/** parseArgs for a tool whose options include `help`: prints `usage` and exits 0 when --help is given. */
export function parseArgsOrHelp<T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>>['values'] {
  const { values } = parseArgs(config);
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

/** The value of option `--name` as a number in [min, max] (a whole one unless `int` is false), or an error. */
export function numberOption(name: string, v: string, min: number, max: number, int = true): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
    throw new Error(`--${name} must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// Randomness

/** mulberry32: small, fast, allocation-free PRNG returning [0, 1). */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------
// CPU time from /proc

let clkTck = 0;
function clockTicksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/**
 * The fields of /proc/PID/stat after the command name (index 0 is field 3, so field N is index N - 3), or
 * undefined if the process is gone.
 */
function procStatFields(pid: number | 'self'): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces; fields after it are space-separated.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds (utime+stime) used so far by a process and its descendants, from
 * /proc/PID/stat (which already sums all threads of a process). Returns NaN if the
 * process is gone.
 */
export function processTreeCpuSeconds(pid: number): number {
  const tck = clockTicksPerSecond();
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (p: number): boolean => {
    if (seen.has(p)) return true;
    seen.add(p);
    const fields = procStatFields(p);
    if (!fields) return false;
    ticks += Number(fields[11]) + Number(fields[12]); // fields 14 (utime) and 15 (stime)
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      /* gone */
    }
    for (const tid of tids) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ')) if (c) visit(Number(c));
    }
    return true;
  };
  if (!visit(pid)) return NaN;
  return ticks / tck;
}

/** [utime, stime] clock ticks of a process itself (all its threads, not its children); NaNs if it is gone. */
export function processUserSystemTicks(pid: number): [number, number] {
  const fields = procStatFields(pid);
  return fields ? [Number(fields[11]), Number(fields[12])] : [NaN, NaN]; // fields 14 (utime) and 15 (stime)
}

/** CPU seconds of this process's children that have been waited for (cutime+cstime). */
export function waitedChildrenCpuSeconds(): number {
  const tck = clockTicksPerSecond(); // first: the getconf it may run is a waited-for child too
  const fields = procStatFields('self')!;
  return (Number(fields[13]) + Number(fields[14])) / tck; // fields 16 (cutime) and 17 (cstime)
}

/** This process's own CPU seconds (user + system) since `start`, a process.cpuUsage() reading. */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(start);
  return (cpu.user + cpu.system) / 1e6;
}

// ---------------------------------------------------------------------------------------
// Output

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  return us >= 1000 ? `${(us / 1000).toFixed(us >= 10000 ? 0 : 1)} ms` : `${us.toFixed(0)} µs`;
}

/** `cpuSeconds` over `elapsed` seconds as a whole percentage of one core, e.g. "87". */
export function percentOfCore(cpuSeconds: number, elapsed: number): string {
  return ((100 * cpuSeconds) / elapsed).toFixed(0);
}

/** The tracker's CPU line of a summary (udp-load, http-load). */
export function trackerCpuLine(trackerCpu: number, elapsed: number, responses: number): string {
  return (
    `  tracker:    ${trackerCpu.toFixed(2)} CPU s (${percentOfCore(trackerCpu, elapsed)}% of one core), ` +
    `${((trackerCpu * 1e6) / Math.max(1, responses)).toFixed(2)} µs CPU/response`
  );
}

/** The tracker's CPU figures for the RESULT line (udp-load, http-load): 'NaN' when no --cpu-pid was given. */
export function trackerCpuResult(cpuPid: number, trackerCpu: number, responses: number): Record<string, string> {
  return {
    tracker_cpu_s: cpuPid ? trackerCpu.toFixed(3) : 'NaN',
    cpu_us_per_resp: cpuPid ? ((trackerCpu * 1e6) / Math.max(1, responses)).toFixed(3) : 'NaN',
  };
}

/** The last line of a run, `RESULT k=v ...`, which the compare scripts read. */
export function printResult(kv: Record<string, string | number>): void {
  console.log('RESULT ' + Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' '));
}

// ---------------------------------------------------------------------------------------
// Lifetime

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Ends the process with `exitCode` after `seconds`, whatever happens (an unref'd timer: it keeps nothing alive). */
export function startWatchdog(seconds: number, message: string, exitCode: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    console.error(message);
    process.exit(exitCode);
  }, seconds * 1000);
  timer.unref();
  return timer;
}
