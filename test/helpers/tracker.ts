/** Starts a real redswarm tracker in this process on a free loopback port, with a controllable clock. */
import { defaultConfig, type TrackerConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { startTracker, type RunningTracker, type TrackerOptions } from '../../src/server/tracker.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/store.js';
import { freePort } from './ports.js';

export interface TestTracker {
  readonly port: number;
  readonly host: string;
  readonly httpUrl: string;
  readonly udpUrl: string;
  readonly store: Store;
  readonly tracker: RunningTracker;
  stop(): Promise<void>;
}

export async function startTestTracker(
  overrides: Partial<TrackerConfig> = {},
  makeStore?: (config: TrackerConfig) => Store,
  options: TrackerOptions = {},
): Promise<TestTracker> {
  const host = overrides.hosts?.[0] ?? '127.0.0.1';
  const port = overrides.port ?? (await freePort(host));
  const config: TrackerConfig = { ...defaultConfig(), hosts: [host], port, logLevel: 'silent', ...overrides };
  const log = createLogger(config.logLevel);
  const store = makeStore?.(config) ?? (await createStore(config, log));
  const tracker = await startTracker(config, store, log, options);
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return {
    port,
    host,
    httpUrl: `http://${authority}/announce`,
    udpUrl: `udp://${authority}`,
    store,
    tracker,
    async stop() {
      await tracker.close();
      await store.close();
    },
  };
}
