/**
 * A redswarm instance as an operator runs it: `src/cli.ts` in a child process (a primary with workers when
 * --workers > 1), on free loopback ports, with its operator endpoints on a port of their own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { startRedis, type TestRedis } from './redis.js';

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

export interface TwoInstances {
  readonly redis: TestRedis;
  readonly a: Instance;
  readonly b: Instance;
  /** Stops both instances, then Redis. */
  stop(): Promise<void>;
}

/** Scale-out: two instances with two workers each (`--log-level info`) sharing one fresh 3-master Redis Cluster. */
export async function startTwoInstances(): Promise<TwoInstances> {
  const redis = await startRedis('cluster');
  const nodes = (redis.target as { cluster: string[] }).cluster.join(',');
  const args = ['--redis-cluster', nodes, '--log-level', 'info'];
  const started = await Promise.allSettled([startInstance(args, { workers: 2 }), startInstance(args, { workers: 2 })]);
  const instances = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  // Redis stops even when an instance fails to: a test run must not leave a cluster behind.
  const stop = async (): Promise<void> => {
    const stopped = await Promise.allSettled(instances.map((instance) => instance.stop()));
    await redis.stop();
    const failed = stopped.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [a, b] = instances as [Instance, Instance];
  return { redis, a, b, stop };
}

/**
 * PIDs of the instance's tracker workers: the primary's children that run src/cli.ts. (workerPids() lists every
 * child, which includes helpers such as the esbuild service tsx may start, and a dead worker not reaped yet.)
 */
export function trackerWorkerPids(instance: Instance): number[] {
  return instance.workerPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('src/cli.ts');
    } catch {
      return false; // ended meanwhile
    }
  });
}
