/**
 * A redswarm instance as an operator runs it: `src/cli.ts` in a child process (a primary with workers when
 * --workers > 1), on free loopback ports, with its operator endpoints on a port of their own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Instance {
  readonly port: number;
  readonly metricsPort: number;
  readonly process: ChildProcess;
  readonly httpUrl: string;
  readonly udpUrl: string;
  readonly wsUrl: string;
  /** Everything the instance logged so far (JSON lines). */
  output(): string;
  /** PIDs of the primary's worker processes right now. */
  workerPids(): number[];
  metrics(): Promise<string>;
  /** Sends SIGTERM and waits for the exit (bounded); resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list !== '') children.push(...list.split(' ').map(Number));
    } catch {
      // the task ended meanwhile
    }
  }
  return children;
}

export async function startInstance(args: string[], options: { workers: number; readyTimeoutMs?: number }): Promise<Instance> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort), '--workers', String(options.workers), ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  // Ready: every worker (or the single process) listens.
  const want = options.workers > 1 ? options.workers : 1;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  while ((output.match(/"msg":"listening"/g) ?? []).length < want) {
    if (child.exitCode !== null) throw new Error(`instance exited early (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`instance not ready in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    metricsPort,
    process: child,
    httpUrl: `http://127.0.0.1:${port}/announce`,
    udpUrl: `udp://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    output: () => output,
    workerPids: () => childrenOf(child.pid!),
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
