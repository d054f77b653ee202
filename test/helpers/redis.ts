/**
 * Real Redis for tests: a single node or a 3-master + 3-replica cluster on loopback, started and stopped with
 * deploy/redis-cluster.sh in a temporary directory. Each start has ports of its own.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
    async stop() {
      await run('bash', [SCRIPT, 'stop', dir], { timeout: 30_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}


