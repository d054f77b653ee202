/**
 * The primary of a multi-worker deployment: forks the workers (each serves HTTP, WebSocket and UDP in its own
 * event loop; TCP ports are shared with SO_REUSEPORT, set by uWebSockets.js, and UDP through the cluster
 * module's shared socket), restarts a crashed worker with backoff, serves the operator endpoints with the
 * workers' metrics summed, and on SIGINT/SIGTERM lets every worker drain before it exits.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type { TrackerConfig } from '../config/index.js';
import { createLogger } from '../log.js';
import { startOpsServer, type OpsServer } from '../ops/ops-server.js';
import { removeProcess } from '../scale-out/process-registry.js';
import { registryClient } from '../scale-out/scale-out.js';
import { certificateFiles, readCertificate } from '../server/tls.js';
import { createStore, redisTarget } from '../store/create-store.js';
import { reloadOnSignal, stopOnSignal } from './on-signal.js';

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 10_000;
/** A worker that lived this long before dying is restarted without delay: it was not a crash loop. */
const STABLE_AFTER_MS = 30_000;

export async function runPrimary(config: TrackerConfig): Promise<void> {
  const log = createLogger(config.logLevel, { bindings: { role: 'primary' }, maxWarningsPerSecond: config.logRateLimit });
  // A bad certificate stops the start here, rather than failing every worker over and over.
  if (config.tlsPort > 0) readCertificate(certificateFiles(config));
  // Every worker must accept the UDP connection IDs the others issued: one secret for all.
  const env = { REDSWARM_UDP_SECRET: config.udpSecret || randomBytes(32).toString('hex') };
  // The primary's own store connection: readiness probes, swarm totals and dead workers' peers, never requests.
  const store = await createStore(config, log);
  const target = redisTarget(config);
  const registry = target === null ? undefined : await registryClient({ target, timeoutMs: config.storeTimeout }, log);
  let stopping = false;
  const slots = new Map<Worker, { slot: number; startedAt: number; processId?: string; ready?: boolean }>();
  const backoff = new Array<number>(config.workers).fill(0);

  const fork = (slot: number): void => {
    const worker = cluster.fork(env);
    slots.set(worker, { slot, startedAt: Date.now() });
    worker.on('message', (message: { type?: string; processId?: string } | null) => {
      if (message?.type !== 'redswarm:ready') return;
      const entry = slots.get(worker);
      if (entry !== undefined) {
        entry.processId = message.processId;
        entry.ready = true;
      }
      log.info({ worker: worker.id, slot }, 'worker ready');
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const entry = slots.get(worker);
    slots.delete(worker);
    if (stopping || entry === undefined) return;
    const lived = Date.now() - entry.startedAt;
    const delay = lived > STABLE_AFTER_MS ? 0 : Math.min(Math.max(backoff[entry.slot]! * 2, FIRST_BACKOFF_MS), MAX_BACKOFF_MS);
    backoff[entry.slot] = delay;
    log.error({ worker: worker.id, slot: entry.slot, code, signal, restartInMs: delay }, 'worker died; restarting');
    // Its WebSocket peers' routes lead nowhere now: take them out of their swarms at once, rather than when its
    // heartbeat runs out and the coordinator finds it.
    if (entry.processId !== undefined && registry !== undefined) {
      removeProcess(registry, store, entry.processId).then(
        (removed) => log.info({ worker: worker.id, removed }, "removed the dead worker's WebSocket peers"),
        (error: unknown) => log.warn({ err: error }, "removing the dead worker's WebSocket peers failed"),
      );
    }
    setTimeout(() => {
      if (!stopping) fork(entry.slot);
    }, delay);
  });

  for (let slot = 0; slot < config.workers; slot++) fork(slot);
  log.info({ workers: config.workers, hosts: config.hosts, port: config.port }, 'primary started');

  const aggregator = new AggregatorRegistry();
  let ops: OpsServer | undefined;
  if (config.metricsPort > 0) {
    ops = await startOpsServer(
      config.metricsHost,
      config.metricsPort,
      {
        trackerMetrics: () => aggregator.clusterMetrics(),
        store,
        workers: config.workers,
        listening: () => [...slots.values()].filter((entry) => entry.ready).length,
      },
      log,
    );
  }

  // The primary checks the new configuration first, so that a broken file is reported once, not per worker.
  reloadOnSignal(log, config, () => {
    for (const worker of slots.keys()) worker.process.kill('SIGHUP');
  });
  stopOnSignal(log, async () => {
    stopping = true;
    const workers = [...slots.keys()];
    for (const worker of workers) worker.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const worker of slots.keys()) {
        log.warn({ worker: worker.id }, 'worker did not drain in time: killing it');
        worker.process.kill('SIGKILL');
      }
    }, (config.shutdownTimeout + 5) * 1000);
    await Promise.all(workers.map((worker) => (worker.isDead() ? undefined : new Promise((resolve) => worker.once('exit', resolve)))));
    clearTimeout(deadline);
    await Promise.all([ops?.close(), store.close(), registry?.quit().catch(() => registry.disconnect())]);
  });
}
