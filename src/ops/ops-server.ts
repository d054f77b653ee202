/**
 * Operator endpoints on their own port: /metrics (Prometheus), /healthz (the process is alive), /readyz (the
 * store answers) and /stats.json (the summary most operators want without Prometheus). Served by the primary
 * of a multi-worker deployment, summing the workers' metrics; by the tracker process itself otherwise.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { Store, StoreStats } from '../store/store.js';

export interface OpsSources {
  /** Prometheus exposition of the tracker's metrics (all workers'). */
  trackerMetrics(): Promise<string>;
  /** A store to probe and count swarms with (the tracker's own, or a connection of the primary's). */
  store: Store;
  workers: number;
}

/** Store totals are a SCAN for Redis: computed at most this often, whoever asks. */
const STATS_MAX_AGE_MS = 10_000;
/** A scrape of this (never announced) hash is the readiness probe: the same path as a client's request. */
const PROBE_HASH = '\0'.repeat(20);

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(host: string, port: number, sources: OpsSources, log: Logger): Promise<OpsServer> {
  const started = Date.now();
  let cached: { at: number; stats: Promise<StoreStats> } | null = null;
  const storeStats = (): Promise<StoreStats> => {
    if (cached === null || Date.now() - cached.at > STATS_MAX_AGE_MS) {
      cached = { at: Date.now(), stats: sources.store.stats() };
      cached.stats.catch(() => {
        cached = null;
      });
    }
    return cached.stats;
  };

  // Swarm totals are the store's, not a worker's: exported here once, never summed over workers.
  const registry = new Registry();
  new Gauge({
    name: 'redswarm_swarms',
    help: 'HTTP/UDP swarms with at least one live peer (refreshed at most every 10 s).',
    registers: [registry],
    async collect() {
      this.set((await storeStats()).swarms);
    },
  });
  new Gauge({
    name: 'redswarm_peers',
    help: 'Live HTTP/UDP peers by kind (refreshed at most every 10 s).',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      const stats = await storeStats();
      this.set({ kind: 'seeder' }, stats.seeders);
      this.set({ kind: 'leecher' }, stats.leechers);
    },
  });

  const metrics = async (): Promise<string> => `${await sources.trackerMetrics()}\n${await registry.metrics()}`;

  const handlers: Record<string, () => Promise<{ status: number; type: string; body: string }>> = {
    '/metrics': async () => ({ status: 200, type: registry.contentType, body: await metrics() }),
    '/healthz': async () => ({ status: 200, type: 'text/plain', body: 'ok\n' }),
    '/readyz': async () => {
      try {
        await sources.store.scrape([PROBE_HASH]);
        return { status: 200, type: 'text/plain', body: 'ready\n' };
      } catch (error) {
        return { status: 503, type: 'text/plain', body: `store unavailable: ${(error as Error).message}\n` };
      }
    },
    '/stats.json': async () => {
      const [stats, text] = await Promise.all([storeStats(), sources.trackerMetrics()]);
      const body = {
        swarms: stats.swarms,
        peers: { seeders: stats.seeders, leechers: stats.leechers },
        requests: requestCounts(text),
        workers: sources.workers,
        uptimeSeconds: Math.floor((Date.now() - started) / 1000),
      };
      return { status: 200, type: 'application/json', body: `${JSON.stringify(body, null, 2)}\n` };
    },
  };

  const server = http.createServer((req, res) => {
    const handler = handlers[new URL(req.url ?? '/', 'http://x').pathname];
    if (req.method !== 'GET' || handler === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: /metrics, /healthz, /readyz, /stats.json\n');
      return;
    }
    handler().then(
      ({ status, type, body }) => res.writeHead(status, { 'Content-Type': type }).end(body),
      (error: unknown) => {
        log.error({ err: error }, 'ops endpoint failed');
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal error\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  log.info({ host, port: (server.address() as AddressInfo).port }, 'operator endpoints listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `{ http: { announce: { ok: n, … } }, … }` from the redswarm_requests_total lines of an exposition, over all workers. */
export function requestCounts(exposition: string): Record<string, Record<string, Record<string, number>>> {
  const counts: Record<string, Record<string, Record<string, number>>> = {};
  const line = /^redswarm_requests_total\{([^}]*)\} (\S+)$/gm;
  for (const match of exposition.matchAll(line)) {
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const byAction = (counts[labels.protocol ?? '?'] ??= {});
    const byOutcome = (byAction[labels.action ?? '?'] ??= {});
    const outcome = labels.outcome ?? '?';
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + Number(match[2]); // summed over workers
  }
  return counts;
}
