/** Starts HTTP, WebSocket, HTTPS/WSS and UDP on every configured host, the expiry sweep, and stops them all in order. */
import { randomBytes } from 'node:crypto';
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { ConnectionIds } from '../protocol/udp-connection-id.js';
import { unixSeconds, type Store } from '../store/store.js';
import { sweeps, sweptPeers } from '../metrics/tracker-metrics.js';
import { AbuseLimits } from '../abuse/abuse-limits.js';
import { AccessControl } from '../access/access-control.js';
import { AnnouncePolicy } from './announce-policy.js';
import { serveHttp } from './http-server.js';
import { InFlight } from './in-flight.js';
import { LocalSignalRouter, type SignalRouter } from './signal-router.js';
import { UdpTracker } from './udp-server.js';
import { TlsServer, certificateFiles } from './tls.js';
import { closeConnections, listenOnHosts, uWS, usingNativeUws, type TemplatedApp, type us_listen_socket } from './uws.js';
import { WebSocketTracker } from './websocket-server.js';

/** BEP 15: a connection ID is good for two minutes. */
const UDP_CONNECTION_LIFETIME = 120;

export interface RunningTracker {
  readonly udp: UdpTracker;
  readonly ws: WebSocketTracker;
  /** HTTPS and WSS, when a TLS port is configured. */
  readonly tls: TlsServer | null;
  /** Stops accepting, waits (bounded) for requests in flight, stops the sweep. The store stays open. */
  close(): Promise<void>;
}

export interface TrackerOptions {
  /**
   * Carries WebRTC signals between sockets: this process's only by default; a RedisSignalRouter when other
   * processes or machines share the store.
   */
  router?: SignalRouter;
  /** Milliseconds on a monotonic clock, for offer timeouts and abuse limits; injectable so tests can move time. */
  clockMs?: () => number;
  /** Access lists and passkeys (started, and followed, by the caller); by default the config's modes with empty lists. */
  access?: AccessControl;
}

export async function startTracker(config: TrackerConfig, store: Store, log: Logger, options: TrackerOptions = {}): Promise<RunningTracker> {
  const { router = new LocalSignalRouter(), clockMs = () => performance.now(), access = new AccessControl(config, log) } = options;
  if (!usingNativeUws()) log.warn('uWebSockets.js native addon did not load: running on its slow JS fallback');
  const policy = new AnnouncePolicy(config);
  const inFlight = new InFlight();
  const connectionIds = new ConnectionIds({
    masterSecret: config.udpSecret === '' ? randomBytes(32) : Buffer.from(config.udpSecret, 'hex'),
    lifetimeSeconds: UDP_CONNECTION_LIFETIME + config.udpConnectionGrace,
    rotateSeconds: 3600,
    now: unixSeconds,
  });
  const abuse = new AbuseLimits({ config, clockMs, secret: randomBytes(16) });
  const ws = new WebSocketTracker({ config, store, policy, inFlight, router, log, clockMs, abuse, access });
  // The same routes on the plain app and on every TLS app.
  const serve = (app: TemplatedApp): void => {
    serveHttp(app, { config, store, policy, inFlight, log, abuse, access });
    ws.attach(app);
  };
  const app = uWS.App();
  serve(app);
  const udp = new UdpTracker({ config, store, policy, connectionIds, inFlight, log, abuse, access });
  let listenSockets: us_listen_socket[] = [];
  let tls: TlsServer | null = null;
  try {
    if (config.plainHttp) listenSockets = await listenOnHosts(app, config.hosts, config.port);
    for (const host of config.hosts) await udp.listen(host, config.port);
    if (config.tlsPort > 0) {
      tls = await TlsServer.start({ files: certificateFiles(config), hosts: config.hosts, port: config.tlsPort, serve, log });
    }
  } catch (error) {
    for (const token of listenSockets) uWS.us_listen_socket_close(token);
    await udp.close();
    throw error;
  }
  log.info({ hosts: config.hosts, port: config.port, plainHttp: config.plainHttp, tlsPort: config.tlsPort }, 'listening');

  let sweeping = false;
  const sweepTimer = setInterval(() => {
    ws.forgetExpiredOffers();
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
    tls,
    async close() {
      clearInterval(sweepTimer);
      for (const token of listenSockets) uWS.us_listen_socket_close(token);
      tls?.stopListening();
      const drained = await inFlight.drain(config.shutdownTimeout * 1000);
      if (!drained) log.warn({ pending: inFlight.pending }, 'shutdown timeout: requests still in flight');
      closeConnections(app);
      tls?.closeConnections();
      // Closing the WebSockets removed their peers from the store: let those removals finish too.
      await inFlight.drain(config.shutdownTimeout * 1000);
      await udp.close();
    },
  };
}
