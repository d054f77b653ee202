/** Starts HTTP, WebSocket and UDP on every configured host, the expiry sweep, and stops them all in order. */
import { randomBytes } from 'node:crypto';
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { ConnectionIds } from '../protocol/udp-connection-id.js';
import { unixSeconds, type Store } from '../store/store.js';
import { sweeps, sweptPeers } from '../metrics/tracker-metrics.js';
import { AnnouncePolicy } from './announce-policy.js';
import { createHttpApp } from './http-server.js';
import { InFlight } from './in-flight.js';
import { LocalSignalRouter, type SignalRouter } from './signal-router.js';
import { UdpTracker } from './udp-server.js';
import { uWS, usingNativeUws, type TemplatedApp, type us_listen_socket } from './uws.js';
import { WebSocketTracker } from './websocket-server.js';

/** BEP 15: a connection ID is good for two minutes. */
const UDP_CONNECTION_LIFETIME = 120;

export interface RunningTracker {
  readonly udp: UdpTracker;
  readonly ws: WebSocketTracker;
  /** Stops accepting, waits (bounded) for requests in flight, stops the sweep. The store stays open. */
  close(): Promise<void>;
}

/** Closes every HTTP and WebSocket connection, idle keep-alive ones included (in this build, not in its type declarations). */
function closeConnections(app: TemplatedApp): void {
  (app as TemplatedApp & { close(): void }).close();
}

export interface TrackerOptions {
  /**
   * Carries WebRTC signals between sockets: this process's only by default; a RedisSignalRouter when other
   * processes or machines share the store.
   */
  router?: SignalRouter;
  /** Milliseconds on a monotonic clock, for offer timeouts; injectable so tests can move time. */
  clockMs?: () => number;
}

export async function startTracker(config: TrackerConfig, store: Store, log: Logger, options: TrackerOptions = {}): Promise<RunningTracker> {
  const { router = new LocalSignalRouter(), clockMs = () => performance.now() } = options;
  if (!usingNativeUws()) log.warn('uWebSockets.js native addon did not load: running on its slow JS fallback');
  const policy = new AnnouncePolicy(config);
  const inFlight = new InFlight();
  const connectionIds = new ConnectionIds({
    masterSecret: config.udpSecret === '' ? randomBytes(32) : Buffer.from(config.udpSecret, 'hex'),
    lifetimeSeconds: UDP_CONNECTION_LIFETIME + config.udpConnectionGrace,
    rotateSeconds: 3600,
    now: unixSeconds,
  });
  const app = createHttpApp({ config, store, policy, inFlight, log });
  const ws = new WebSocketTracker({ config, store, policy, inFlight, router, log, clockMs });
  ws.attach(app);
  const udp = new UdpTracker({ config, store, policy, connectionIds, inFlight, log });
  const listenSockets: us_listen_socket[] = [];
  try {
    for (const host of config.hosts) {
      const token = await new Promise<us_listen_socket | false>((resolve) => app.listen(host, config.port, resolve));
      if (token === false) throw new Error(`cannot listen on TCP ${host} port ${config.port}`);
      listenSockets.push(token);
      await udp.listen(host, config.port);
    }
  } catch (error) {
    for (const token of listenSockets) uWS.us_listen_socket_close(token);
    await udp.close();
    throw error;
  }
  log.info({ hosts: config.hosts, port: config.port }, 'listening');

  let sweeping = false;
  const sweepTimer = setInterval(() => {
    if (!store.periodicSweep) return;
    if (sweeping) return;
    sweeping = true;
    store
      .sweep()
      .then((result) => {
        sweeps.inc();
        sweptPeers.inc(result.peersRemoved);
        log.debug(result, 'sweep done');
      })
      .catch((error: unknown) => log.error({ err: error }, 'sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, config.sweepInterval * 1000);
  sweepTimer.unref();

  return {
    udp,
    ws,
    async close() {
      clearInterval(sweepTimer);
      for (const token of listenSockets) uWS.us_listen_socket_close(token);
      const drained = await inFlight.drain(config.shutdownTimeout * 1000);
      if (!drained) log.warn({ pending: inFlight.pending }, 'shutdown timeout: requests still in flight');
      closeConnections(app);
      // Closing the WebSockets removed their peers from the store: let those removals finish too.
      await inFlight.drain(config.shutdownTimeout * 1000);
      await udp.close();
    },
  };
}
