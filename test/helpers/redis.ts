/**
 * Real Redis for tests: a single node or a 3-master + 3-replica cluster on loopback, started and stopped with
 * deploy/redis-cluster.sh in a temporary directory. Each start has ports of its own.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis/redis-store.js';
import type { StoreOptions } from '../../src/store/store.js';

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
  /**
   * Cluster only: starts one more node, empty and in no cluster yet (join it with CLUSTER MEET or
   * `redis-cli --cluster add-node`), with the arguments deploy/redis-cluster.sh gives its nodes, in this
   * cluster's directory so that stop() ends it too; resolves with its host:port once it answers. Not in
   * `nodes`, and not restarted by restart().
   */
  addNode(): Promise<string>;
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
    async addNode() {
      if (kind !== 'cluster') throw new Error('only a cluster takes more nodes');
      const port = await freeClusterPort();
      const nodeDir = join(dir, String(port));
      await mkdir(nodeDir, { recursive: true });
      await run('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--daemonize', 'yes',
        '--dir', nodeDir, '--pidfile', join(nodeDir, 'redis.pid'), '--logfile', join(nodeDir, 'redis.log'),
        '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', '3000', '--cluster-announce-ip', '127.0.0.1', '--cluster-require-full-coverage', 'no',
        ...extraArgs,
      ], { timeout: 10_000 });
      const address = `127.0.0.1:${port}`;
      const deadline = Date.now() + 10_000;
      while (!(await pingNode(address))) {
        if (Date.now() > deadline) throw new Error(`the added node ${address} does not answer`);
        await sleep(50);
      }
      return address;
    },
    async stop() {
      await run('bash', [SCRIPT, 'stop', dir], { timeout: 30_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A port below the ephemeral range whose cluster-bus twin (+10000) is free too, as deploy/redis-cluster.sh picks them. */
async function freeClusterPort(): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 7000 + Math.floor(Math.random() * 12000);
    if ((await free(port)) && (await free(port + 10000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
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



// ---------------------------------------------------------------------------------------------------------------
// A test's view of a cluster's topology, and its administration (failover and resharding tests)

export interface ClusterNodeView {
  readonly id: string;
  /** host:port */
  readonly address: string;
  /** A master by the flags of the node asked (a failed master stays a master until its replica takes over). */
  readonly master: boolean;
  /** Flagged `fail` (or `fail?`) by the node asked. */
  readonly failed: boolean;
  /** The master's id for a replica; `-` for a master. */
  readonly masterId: string;
  /** Slot ranges it serves (importing/migrating entries left out). */
  readonly slots: readonly (readonly [number, number])[];
}

/** ioredis clients to single nodes of a cluster (never following redirections), and the topology they report. */
export class ClusterAdmin {
  private readonly clients = new Map<string, Redis>();

  constructor(private readonly addresses: () => readonly string[]) {}

  /** A client of one node: no retries, commands fail at once while it is down. */
  client(address: string): Redis {
    let client = this.clients.get(address);
    if (client === undefined) {
      const [host, port] = address.split(':');
      client = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 0, retryStrategy: () => 200, connectTimeout: 1000, commandTimeout: 2000 });
      client.on('error', () => {});
      this.clients.set(address, client);
    }
    return client;
  }

  /** The cluster as `from` (or the first node that answers) sees it. */
  async topology(from?: readonly string[]): Promise<ClusterNodeView[]> {
    for (const address of from ?? this.addresses()) {
      let text: string;
      try {
        text = (await this.client(address).cluster('NODES')) as string;
      } catch {
        continue; // that node is down: ask the next
      }
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const [id, addr, flags, masterId, , , , , ...slots] = line.split(' ');
          return {
            id: id!,
            address: addr!.split('@')[0]!,
            master: flags!.split(',').includes('master'),
            failed: /(^|,)fail\??(,|$)/.test(flags!),
            masterId: masterId!,
            slots: slots.filter((s) => !s.startsWith('[')).map((s) => {
              const [a, b = a] = s.split('-').map(Number);
              return [a!, b!] as const;
            }),
          };
        });
    }
    throw new Error('no node of the cluster answers');
  }

  /** The master serving `slot` in `nodes` (a topology), if any. */
  static ownerOf(nodes: readonly ClusterNodeView[], slot: number): ClusterNodeView | undefined {
    return nodes.find((n) => n.master && n.slots.some(([a, b]) => a <= slot && slot <= b));
  }

  /** The PID of a node's process (INFO server). */
  async pid(address: string): Promise<number> {
    return Number(/^process_id:(\d+)/m.exec(await this.client(address).info('server'))![1]);
  }

  /** A counter of INFO errorstats (`MOVED`, `ASK`, `TRYAGAIN`, …) of one node. */
  async errorCount(address: string, kind: string): Promise<number> {
    return Number(new RegExp(`^errorstat_${kind}:count=(\\d+)`, 'm').exec(await this.client(address).info('errorstats'))?.[1] ?? 0);
  }

  /** How often a command ran on one node (INFO commandstats). */
  async commandCount(address: string, command: string): Promise<number> {
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await this.client(address).info('commandstats'))?.[1] ?? 0);
  }

  close(): void {
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
  }
}

/** Whether a node answers PING within `timeoutMs` (a fresh connection each time: no client state in the way). */
export function pingNode(address: string, timeoutMs = 500): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host: host!, port: Number(port) });
    let answer = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

/** A Redis store on a fresh single node, a plain client beside it to look at its keys, and the clean-up of both. */
export interface SingleNodeStore {
  readonly redis: TestRedis;
  readonly store: RedisStore;
  readonly admin: Redis;
  stop(): Promise<void>;
}

/**
 * A store on `redis` for a test: peers' TTL `ttl` for both kinds, the test's clock, 5 s a command, connection
 * errors ignored; `more` adds options or replaces these.
 */
export function connectTestStore(redis: TestRedis, ttl: number, now: () => number, more: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  return RedisStore.connect({ peerTtlSeconds: ttl, wsPeerTtlSeconds: ttl, now, target: redis.target, timeoutMs: 5000, onError: () => {}, ...more });
}

type SingleNodeStoreOptions = Pick<StoreOptions, 'peerTtlSeconds' | 'wsPeerTtlSeconds' | 'now'>;

/** A single-node store for the enclosing describe: started before its tests (handed to `started`), stopped after. */
export function useSingleNodeStore(options: SingleNodeStoreOptions, started: (node: SingleNodeStore) => void): void {
  let node: SingleNodeStore | undefined;
  before(async () => {
    node = await startSingleNodeStore(options);
    started(node);
  });
  after(() => node?.stop());
}

async function startSingleNodeStore(options: SingleNodeStoreOptions): Promise<SingleNodeStore> {
  const redis = await startRedis('single');
  const store = await RedisStore.connect({ ...options, target: redis.target, timeoutMs: 5000, onError: () => {} });
  const admin = new Redis((redis.target as { url: string }).url);
  return {
    redis,
    store,
    admin,
    async stop() {
      await store.close();
      admin.disconnect();
      await redis.stop();
    },
  };
}
