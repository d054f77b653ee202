/**
 * Operator endpoints on their own port: /metrics (Prometheus), /healthz (the process is alive), /readyz (the
 * store answers: docs/operations in the README) and /stats.json (the summary most operators want without
 * Prometheus). Served by the primary of a multi-worker deployment, summing the workers' metrics; by the tracker
 * process itself otherwise.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { throttledWarning, type Logger } from '../log.js';
import type { Store, StoreTotals } from '../store/store.js';
import { probeStore } from './readiness.js';

export interface OpsSources {
  /** Prometheus exposition of the tracker's metrics (all workers'). */
  trackerMetrics(): Promise<string>;
  /** A store to probe and count swarms with (the tracker's own, or a connection of the primary's). */
  store: Store;
  workers: number;
  /** Tracker processes listening now (a primary's ready workers); /readyz is 503 while none is. Default: workers. */
  listening?: () => number;
  /** Milliseconds store totals are reused after they were read (default 1 s); injectable for tests. */
  statsMaxAgeMs?: number;
}

/**
 * Store totals are kept by the store as swarms change and read in O(1) of the swarms (Redis: one read per
 * slot, docs/scaling.md); one read serves every request of the same second (a scrape of /metrics collects
 * three gauges).
 */
const STATS_MAX_AGE_MS = 1000;

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(host: string, port: number, sources: OpsSources, log: Logger): Promise<OpsServer> {
  const started = Date.now();
  const maxAge = sources.statsMaxAgeMs ?? STATS_MAX_AGE_MS;
  // Aged from when a read finished, and never two reads at once: a slow Redis must not stack them up.
  let computed: { at: number; totals: StoreTotals } | null = null;
  let computing: Promise<StoreTotals> | null = null;
  const storeTotals = (): Promise<StoreTotals> => {
    if (computed !== null && Date.now() - computed.at <= maxAge) return Promise.resolve(computed.totals);
    computing ??= sources.store
      .totals()
      .then((totals) => {
        computed = { at: Date.now(), totals };
        return totals;
      })
      .finally(() => {
        computing = null;
      });
    return computing;
  };
  const totalsFailed = throttledWarning(log, 'store totals unavailable');

  // Swarm totals are the store's, not a worker's: exported here once, never summed over workers. While the
  // store cannot give them (a failed master), their series are left out rather than reported stale or partial.
  const registry = new Registry();
  new Gauge({
    name: 'redswarm_swarms',
    help: "HTTP/UDP swarms with at least one peer (the store's totals, read at most once a second).",
    registers: [registry],
    async collect() {
      this.set((await storeTotals()).swarms);
    },
  });
  new Gauge({
    name: 'redswarm_ws_swarms',
    help: "WebSocket swarms with at least one peer (the store's totals, read at most once a second).",
    registers: [registry],
    async collect() {
      this.set((await storeTotals()).ws.swarms);
    },
  });
  new Gauge({
    name: 'redswarm_peers',
    help: "Peers by kind (seeder, leecher) and family (ipv4, ipv6: HTTP/UDP; websocket) (the store's totals, read at most once a second).",
    labelNames: ['kind', 'family'] as const,
    registers: [registry],
    async collect() {
      const totals = await storeTotals();
      for (const [family, counts] of [['ipv4', totals.ipv4], ['ipv6', totals.ipv6], ['websocket', totals.ws]] as const) {
        this.set({ kind: 'seeder', family }, counts.seeders);
        this.set({ kind: 'leecher', family }, counts.leechers);
      }
    },
  });

  const metrics = async (): Promise<string> => {
    const [tracker, store] = await Promise.all([
      sources.trackerMetrics(),
      registry.metrics().catch((error: unknown) => {
        totalsFailed(error);
        return '';
      }),
    ]);
    return `${tracker}\n${store}`;
  };

  const handlers: Record<string, (query: URLSearchParams) => Promise<{ status: number; type: string; body: string }>> = {
    '/metrics': async () => ({ status: 200, type: registry.contentType, body: await metrics() }),
    '/healthz': async () => ({ status: 200, type: 'text/plain', body: 'ok\n' }),
    // Ready while any part of the keyspace answers: a failed master is every instance's problem alike, and
    // taking them all out of rotation would fail the swarms the other masters still serve. `?strict` is 503
    // on any failed part, for operators who would rather drain.
    '/readyz': async (query) => {
      // A primary answers before its workers listen: nothing could serve a request yet.
      const listening = sources.listening?.() ?? sources.workers;
      if (listening === 0) return { status: 503, type: 'text/plain', body: `starting: 0 of ${sources.workers} workers listening\n` };
      const { answered, total, error } = await probeStore(sources.store);
      if (answered === total) return { status: 200, type: 'text/plain', body: 'ready\n' };
      const status = answered === 0 || query.has('strict') ? 503 : 200;
      const state = answered === 0 ? 'store unavailable' : `degraded: ${total - answered} of ${total} parts of the keyspace unavailable`;
      return { status, type: 'text/plain', body: `${state}: ${error}\n` };
    },
    '/stats.json': async () => {
      const [totals, text] = await Promise.all([storeTotals().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))), sources.trackerMetrics()]);
      if (totals instanceof Error) {
        totalsFailed(totals);
        return { status: 503, type: 'application/json', body: `${JSON.stringify({ error: `store totals unavailable: ${totals.message}` })}\n` };
      }
      const { ipv4, ipv6, ws } = totals;
      const body = {
        // HTTP/UDP swarms and peers (both families), then by family; WebSocket swarms apart.
        swarms: totals.swarms,
        peers: { seeders: ipv4.seeders + ipv6.seeders, leechers: ipv4.leechers + ipv6.leechers, ipv4, ipv6 },
        websocket: { swarms: ws.swarms, peers: { seeders: ws.seeders, leechers: ws.leechers } },
        requests: requestCounts(text),
        workers: sources.workers,
        uptimeSeconds: Math.floor((Date.now() - started) / 1000),
      };
      return { status: 200, type: 'application/json', body: `${JSON.stringify(body, null, 2)}\n` };
    },
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const handler = handlers[url.pathname];
    if (req.method !== 'GET' || handler === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: /metrics, /healthz, /readyz, /stats.json\n');
      return;
    }
    handler(url.searchParams).then(
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
