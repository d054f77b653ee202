// Child-process helpers for the real-client test: every process writes its
// stdout+stderr to its own log file, is stopped by PID, and can be tailed.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | undefined;

  private constructor(
    readonly name: string,
    readonly logPath: string,
    child: ChildProcess,
  ) {
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.once('error', (err) => {
        this.exit = { code: -1, signal: null };
        appendNote(logPath, `spawn error: ${err.message}`);
        resolve(this.exit);
      });
    });
  }

  static start(
    name: string,
    cmd: string,
    args: string[],
    opts: { logPath: string; cwd?: string; env?: NodeJS.ProcessEnv },
  ): Proc {
    const fd = openSync(opts.logPath, 'a');
    try {
      const child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['ignore', fd, fd],
      });
      return new Proc(name, opts.logPath, child);
    } finally {
      closeSync(fd); // the child has its own copy
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 3000): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited, sleep(graceMs).then(() => undefined)]);
    if (done) return done;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  describeExit(): string {
    if (!this.exit) return 'running';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }
}

function appendNote(path: string, text: string): void {
  try {
    const fd = openSync(path, 'a');
    try {
      writeSync(fd, `\n[harness] ${text}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

// Log lines that never help and would push useful ones out of a tail.
const NOISE: RegExp[] = [
  /SocketCore\.cc:\d+\] (Checking configured addresses|Not considered:|IPv4 configured=)/, // aria2
  /Couldn't read ".*\.(resume|json|benc)"/, // transmission's first start
];

/** Last `lines` lines of a log file, with \r progress lines and ANSI escapes cleaned up. */
export function tailFile(path: string, lines = 40, maxLineLen = 400): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `(cannot read ${path}: ${(err as Error).message})`;
  }
  const cleaned = text
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r\n?/g, '\n')
    // Binary dumps (e.g. rtorrent's UDP tracker packets) would garble the output.
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]/g, '.')
    .split('\n')
    .filter((l) => l.trim() !== '' && !NOISE.some((re) => re.test(l)))
    .map((l) => (l.length > maxLineLen ? `${l.slice(0, maxLineLen)}…` : l));
  // Collapse runs of identical lines (progress spam) to keep the tail useful.
  const out: string[] = [];
  let repeat = 0;
  for (const l of cleaned) {
    if (out.length > 0 && out[out.length - 1] === l) {
      repeat++;
      continue;
    }
    if (repeat > 0) out.push(`  (previous line repeated ${repeat} more times)`);
    repeat = 0;
    out.push(l);
  }
  if (repeat > 0) out.push(`  (previous line repeated ${repeat} more times)`);
  return out.slice(-lines).join('\n');
}

/** Poll `fn` every `everyMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  everyMs = 250,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(everyMs, Math.max(0, deadline - Date.now())));
  }
}
