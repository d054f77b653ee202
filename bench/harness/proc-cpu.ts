/**
 * CPU time and resident memory from /proc: the tracker's (a process tree: every thread and child process), the generator's own,
 * and wrk's (a waited-for child).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

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

/** CPU seconds in user and in kernel mode. */
export interface CpuTime {
  user: number;
  system: number;
}

/** A process and its descendants (every thread's children), or [] if the process is gone. */
export function processTree(pid: number): number[] {
  const seen = new Set<number>();
  const visit = (p: number): void => {
    if (seen.has(p)) return;
    seen.add(p);
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
  };
  if (!procStatFields(pid)) return [];
  visit(pid);
  return [...seen];
}

/**
 * CPU seconds used so far by a process and its descendants, from /proc/PID/stat (which already sums all
 * threads of a process); NaNs if the process is gone.
 */
export function processTreeCpu(pid: number): CpuTime {
  const tck = clockTicksPerSecond();
  let user = 0;
  let system = 0;
  const tree = processTree(pid);
  if (tree.length === 0) return { user: NaN, system: NaN };
  for (const p of tree) {
    const fields = procStatFields(p);
    if (!fields) continue;
    user += Number(fields[11]); // field 14, utime
    system += Number(fields[12]); // field 15, stime
  }
  return { user: user / tck, system: system / tck };
}

/** Resident memory of a process and its descendants, in bytes (VmRSS of each); NaN if the process is gone. */
export function processTreeRss(pid: number): number {
  const tree = processTree(pid);
  if (tree.length === 0) return NaN;
  let kib = 0;
  for (const p of tree) {
    try {
      kib += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone meanwhile */
    }
  }
  return kib * 1024;
}

/** The tracker's CPU time over a window: `start()` at its beginning, `stop()` at its end. */
export class TrackerCpu {
  private begin: CpuTime = { user: NaN, system: NaN };
  /** CPU seconds in the window, NaN without a pid. */
  seconds = NaN;
  /** The part of them spent in the kernel, 0..1. */
  kernelShare = NaN;

  constructor(readonly pid: number) {}

  start(): void {
    if (this.pid) this.begin = processTreeCpu(this.pid);
  }

  stop(): void {
    if (!this.pid) return;
    const end = processTreeCpu(this.pid);
    const user = end.user - this.begin.user;
    const system = end.system - this.begin.system;
    this.seconds = user + system;
    this.kernelShare = system / this.seconds;
  }
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
