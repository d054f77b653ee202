/**
 * Real Redis for tests: a single node or a 3-master + 3-replica cluster on loopback, started and stopped with
 * deploy/redis-cluster.sh in a temporary directory. Each start has ports of its own.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../deploy/redis-cluster.sh', import.meta.url));

export interface TestRedis {
  /** `{ url }` for a single node, `{ cluster }` seed nodes for a cluster: RedisStoreOptions['target']. */
  readonly target: { url: string } | { cluster: string[] };
  /** host:port of every node (masters and replicas). */
  readonly nodes: string[];
  /** Empties every master. */
  flush(): Promise<void>;
  /** Stops the processes but keeps the ports and directory, for start() to bring them back (empty). */
  kill(): Promise<void>;
  /** Starts the nodes again on the same ports after kill() (single node only). */
  start(): Promise<void>;
  /**
   * Ends every node at once with `signal` (default SIGKILL), waits `downMs`, and starts them again on the same
   * ports and directories; a cluster keeps its nodes.conf, so it comes back as the same cluster (its data only
   * if persistence was asked for in extraArgs). Resolves once every node answers and, for a cluster, reports
   * cluster_state:ok.
   */
  restart(options?: { signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(kind: 'single' | 'cluster', extraArgs: string[] = []): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), `redswarm-redis-${kind}-`));
  const args = ['start', dir, ...(kind === 'single' ? ['--single'] : []), ...(extraArgs.length ? ['--', ...extraArgs] : [])];
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [SCRIPT, ...args], { timeout: 60_000 }));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const nodes = stdout.trim().split('\n').pop()!.split(',');
  const target = kind === 'single' ? { url: `redis://${nodes[0]}` } : { cluster: nodes };
  return {
    target,
    nodes,
    async flush() {
      const clients = nodes.map((node) => {
        const [host, port] = node.split(':');
        return new Redis({ host: host!, port: Number(port), lazyConnect: true });
      });
      try {
        for (const client of clients) {
          await client.connect();
          const role = (await client.role()) as [string, ...unknown[]];
          if (role[0] === 'master') await client.flushall();
        }
      } finally {
        for (const client of clients) client.disconnect();
      }
    },
    async kill() {
      await run('bash', [SCRIPT, 'stop', dir], { timeout: 30_000 });
    },
    async start() {
      if (kind !== 'single') throw new Error('only a single node restarts in place');
      const port = nodes[0]!.split(':')[1]!;
      await run('bash', [SCRIPT, 'start', dir, '--single', '--base-port', port, ...(extraArgs.length ? ['--', ...extraArgs] : [])], {
        timeout: 60_000,
      });
    },
    async restart({ signal = 'SIGKILL', downMs = 0 } = {}) {
      const ports = nodes.map((node) => node.split(':')[1]!);
      const pids = await Promise.all(ports.map(async (port) => Number(await readFile(join(dir, port, 'redis.pid'), 'utf8'))));
      for (const pid of pids) signalIfAlive(pid, signal);
      const deadline = Date.now() + 10_000;
      while (pids.some(isAlive)) {
        if (Date.now() > deadline + 5000) throw new Error('Redis nodes did not end');
        if (Date.now() > deadline) for (const pid of pids) signalIfAlive(pid, 'SIGKILL');
        await sleep(20);
      }
      await sleep(downMs);
      // The same arguments deploy/redis-cluster.sh starts a node with; nodes.conf in the node's directory is reused.
      for (const port of ports) {
        const nodeDir = join(dir, port);
        const cluster = kind === 'single' ? [] : ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000', '--cluster-announce-ip', '127.0.0.1'];
        await run('redis-server', [
          '--port', port, '--bind', '127.0.0.1', '--protected-mode', 'no', '--daemonize', 'yes',
          '--dir', nodeDir, '--pidfile', join(nodeDir, 'redis.pid'), '--logfile', join(nodeDir, 'redis.log'),
          '--save', '', '--appendonly', 'no', ...cluster, ...extraArgs,
        ], { timeout: 10_000 });
      }
      const ready = Date.now() + 30_000;
      for (const port of ports) {
        for (;;) {
          const answer = await run('redis-cli', ['-p', port, ...(kind === 'single' ? ['ping'] : ['cluster', 'info'])], { timeout: 5000 }).then(
            ({ stdout }) => stdout,
            () => '',
          );
          if (kind === 'single' ? answer.includes('PONG') : answer.includes('cluster_state:ok')) break;
          if (Date.now() > ready) throw new Error(`Redis node ${port} not back after a restart: ${answer}`);
          await sleep(50);
        }
      }
    },
    async stop() {
      await run('bash', [SCRIPT, 'stop', dir], { timeout: 30_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a process still runs; a zombie does not (a container's init may be slow to reap it). */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}


