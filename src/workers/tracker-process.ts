/**
 * One tracker process: the store, the HTTP/WebSocket/UDP servers, and a drain on SIGINT/SIGTERM. Standalone it
 * also serves the operator endpoints; as a worker of a primary it leaves those to the primary.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, register } from 'prom-client';
import type { TrackerConfig } from '../config/index.js';
import { createLogger } from '../log.js';
import { InstrumentedStore } from '../metrics/instrumented-store.js';
import { startOpsServer, type OpsServer } from '../ops/ops-server.js';
import { AccessControl } from '../access/access-control.js';
import { startTracker } from '../server/tracker.js';
import { startScaleOut } from '../scale-out/scale-out.js';
import { createStore, redisTarget } from '../store/create-store.js';
import { RedisStore } from '../store/redis/redis-store.js';
import { expiryMargin } from '../events/setup.js';
import { reloadOnSignal, stopOnSignal } from './on-signal.js';

export async function runTrackerProcess(config: TrackerConfig): Promise<void> {
  const worker = cluster.isWorker ? cluster.worker!.id : undefined;
  const log = createLogger(config.logLevel, {
    bindings: worker === undefined ? {} : { worker },
    maxWarningsPerSecond: config.logRateLimit,
  });
  if (worker !== undefined) {
    // prom-client answers the primary's metric requests only once an AggregatorRegistry exists in the worker.
    new AggregatorRegistry();
    // Summed over workers, series stay apart per worker: how load spreads over them is visible.
    register.setDefaultLabels({ worker: String(worker) });
  }
  const target = redisTarget(config);
  // Store round trips are worth timing when they leave the process; the embedded store's are the request's.
  const created = await createStore(config, log);
  const store = target === null ? created : new InstrumentedStore(created);
  // Other processes share the swarms: this one registers, WebRTC signals for their sockets go through Redis, and
  // it stands by for the coordinator's work.
  const scaleOut =
    target === null
      ? undefined
      : await startScaleOut(
          {
            target,
            timeoutMs: config.storeTimeout,
            heartbeatMs: config.heartbeatTtl * 1000,
            leaseMs: config.coordinatorLeaseTtl * 1000,
            events:
              created instanceof RedisStore && config.events !== 'off'
                ? { partitions: config.eventsPartitions, sweepExpiring: () => created.sweepExpiring(expiryMargin(config)) }
                : undefined,
          },
          store,
          log,
        );
  // Lists are loaded before the servers listen: no request is served on a list not read yet.
  const access = await AccessControl.start(config, log, scaleOut?.redis);
  const tracker = await startTracker(config, store, log, { router: scaleOut?.router, access });
  let ops: OpsServer | undefined;
  if (worker === undefined && config.metricsPort > 0) {
    ops = await startOpsServer(config.metricsHost, config.metricsPort, { trackerMetrics: () => register.metrics(), store, workers: 1 }, log);
  }
  process.send?.({ type: 'redswarm:ready', processId: scaleOut?.processId });

  // A worker's primary forwards SIGHUP to it; a process on its own takes it directly.
  reloadOnSignal(log, config, () => {
    void tracker.tls?.reload('SIGHUP');
    void access.reload();
  });
  stopOnSignal(log, async () => {
    await tracker.close();
    access.close();
    // Deregistered after the sockets' closes have removed their peers (tracker.close waits for those).
    await scaleOut?.close();
    await Promise.all([store.close(), ops?.close()]);
  });
}
