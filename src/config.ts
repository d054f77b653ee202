/**
 * Tracker configuration: defaults, `REDSWARM_*` environment variables and command-line flags (flags win),
 * validated in one place with messages that say what is wrong.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { compactPeerFromText } from './protocol/ip-address.js';

export interface TrackerConfig {
  /** Addresses to listen on; each gets HTTP (TCP) and UDP on `port`. `::` is dual-stack. */
  hosts: string[];
  port: number;
  /** Seconds between announces that clients are told to wait (before jitter). */
  interval: number;
  /** Seconds clients must wait at least between announces. */
  minInterval: number;
  /** Share of the interval added at random to each reply, spreading re-announces out. */
  intervalJitter: number;
  /** Seconds a peer stays listed after its last announce. */
  peerTtl: number;
  /** Seconds between full expiry sweeps (swarms nobody touches are reclaimed by these). */
  sweepInterval: number;
  numwantDefault: number;
  numwantMax: number;
  /** Most info hashes one scrape may ask for (HTTP and UDP). */
  scrapeMaxHashes: number;
  /** Most swarms a full scrape (no info_hash) lists; 0 turns full scrape off. */
  fullScrapeLimit: number;
  /** Seconds a UDP connection ID stays valid beyond the 2 minutes of BEP 15. */
  udpConnectionGrace: number;
  /** Hex secret for UDP connection IDs; processes sharing it accept each other's IDs. Random if empty. */
  udpSecret: string;
  /**
   * Addresses of reverse proxies whose X-Forwarded-For is believed: the client is the right-most address in it
   * that is not itself a trusted proxy. Empty: the header is ignored.
   */
  trustedProxies: string[];
  /**
   * Bytes of one HTTP reply held for a client that leaves its replies unread (beyond what the kernel's socket
   * buffer takes); a larger remainder closes the connection. At most one reply is ever held per connection.
   */
  httpMaxHeldReplyBytes: number;
  /** Seconds between WebSocket announces that WebTorrent clients are told to wait. */
  wsInterval: number;
  /** Seconds a WebSocket peer stays after its last announce if its socket's close was never seen. */
  wsPeerTtl: number;
  /** Most offers of one announce that are relayed (each to a different peer). */
  wsMaxOffers: number;
  /** Largest WebSocket message accepted, in bytes; a larger one closes the socket. */
  wsMaxMessageBytes: number;
  /** Most swarms one WebSocket may be a peer of at once. */
  wsMaxSwarmsPerSocket: number;
  /** Most WebSocket connections a process holds; further upgrades are refused. */
  wsMaxSockets: number;
  /** Seconds without a message (pings included) before a WebSocket is closed. */
  wsIdleTimeout: number;
  /** Bytes buffered for a slow reader before its socket is dropped. */
  wsMaxBackpressure: number;
  /** Seconds an answer to a relayed offer is accepted. */
  wsOfferTimeout: number;
  /** A single Redis node for swarm state (`redis://host:port`); empty: see redisCluster. */
  redisUrl: string;
  /** Redis Cluster seed nodes (`host:port,host:port`); both empty: the embedded memory store. */
  redisCluster: string[];
  /** Milliseconds a store request may take before the client gets a failure reply. */
  storeTimeout: number;
  /** Worker processes serving HTTP, WebSocket and UDP; 0: one per CPU core with a Redis store, else 1. */
  workers: number;
  /** Port of the operator endpoints (/metrics, /healthz, /readyz, /stats.json); 0 turns them off. */
  metricsPort: number;
  metricsHost: string;
  /** Most warn/error log lines per second; the rest are counted and summarized, so floods cannot fill disks. */
  logRateLimit: number;
  /** Seconds SIGINT/SIGTERM waits for requests in flight before exiting. */
  shutdownTimeout: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

interface OptionSpec {
  key: keyof TrackerConfig;
  flag: string;
  env: string;
  help: string;
  kind: 'int' | 'number' | 'string' | 'list' | 'level';
  min?: number;
  max?: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const OPTIONS: readonly OptionSpec[] = [
  { key: 'hosts', flag: 'host', env: 'HOST', kind: 'list', help: 'addresses to listen on, comma-separated (default ::, all interfaces, IPv4 and IPv6)' },
  { key: 'port', flag: 'port', env: 'PORT', kind: 'int', min: 1, max: 65535, help: 'port for HTTP and UDP (default 6969)' },
  { key: 'interval', flag: 'interval', env: 'INTERVAL', kind: 'int', min: 10, max: 86400, help: 'announce interval in seconds (default 1800)' },
  { key: 'minInterval', flag: 'min-interval', env: 'MIN_INTERVAL', kind: 'int', min: 0, max: 86400, help: 'minimum announce interval in seconds (default interval/2)' },
  { key: 'intervalJitter', flag: 'interval-jitter', env: 'INTERVAL_JITTER', kind: 'number', min: 0, max: 1, help: 'random share of the interval added per reply (default 0.1)' },
  { key: 'peerTtl', flag: 'peer-ttl', env: 'PEER_TTL', kind: 'int', min: 10, max: 7 * 86400, help: 'seconds a peer is kept after its last announce (default 1.5 × interval)' },
  { key: 'sweepInterval', flag: 'sweep-interval', env: 'SWEEP_INTERVAL', kind: 'int', min: 1, max: 86400, help: 'seconds between expiry sweeps (default 60)' },
  { key: 'numwantDefault', flag: 'numwant-default', env: 'NUMWANT_DEFAULT', kind: 'int', min: 0, max: 10000, help: 'peers returned when numwant is absent (default 50)' },
  { key: 'numwantMax', flag: 'numwant-max', env: 'NUMWANT_MAX', kind: 'int', min: 0, max: 10000, help: 'most peers returned (default 200; UDP also caps to fit 1232 bytes)' },
  { key: 'scrapeMaxHashes', flag: 'scrape-max-hashes', env: 'SCRAPE_MAX_HASHES', kind: 'int', min: 1, max: 74, help: 'most info hashes per scrape (default 74, the most a UDP scrape reply fits)' },
  { key: 'fullScrapeLimit', flag: 'full-scrape-limit', env: 'FULL_SCRAPE_LIMIT', kind: 'int', min: 0, max: 1_000_000, help: 'most swarms listed by a full scrape; 0 disables it (default 0)' },
  { key: 'udpConnectionGrace', flag: 'udp-connection-grace', env: 'UDP_CONNECTION_GRACE', kind: 'int', min: 0, max: 3600, help: 'seconds a UDP connection ID is accepted beyond 2 minutes (default 180)' },
  { key: 'udpSecret', flag: 'udp-secret', env: 'UDP_SECRET', kind: 'string', help: 'hex secret (32+ hex digits) for UDP connection IDs (default: random per start)' },
  { key: 'trustedProxies', flag: 'trusted-proxies', env: 'TRUSTED_PROXIES', kind: 'list', help: 'reverse-proxy addresses whose X-Forwarded-For is used, comma-separated (default none)' },
  { key: 'httpMaxHeldReplyBytes', flag: 'http-max-held-reply-bytes', env: 'HTTP_MAX_HELD_REPLY_BYTES', kind: 'int', min: 0, max: 16 * 1024 * 1024, help: 'bytes of an HTTP reply held for a client that is not reading; more closes the connection (default 65536)' },
  { key: 'wsInterval', flag: 'ws-interval', env: 'WS_INTERVAL', kind: 'int', min: 10, max: 86400, help: 'WebSocket announce interval in seconds (default 120)' },
  { key: 'wsPeerTtl', flag: 'ws-peer-ttl', env: 'WS_PEER_TTL', kind: 'int', min: 10, max: 86400, help: 'seconds a WebSocket peer whose close was never seen is kept (default 2 × ws-interval)' },
  { key: 'wsMaxOffers', flag: 'ws-max-offers', env: 'WS_MAX_OFFERS', kind: 'int', min: 0, max: 100, help: 'most offers relayed per WebSocket announce (default 10)' },
  { key: 'wsMaxMessageBytes', flag: 'ws-max-message-bytes', env: 'WS_MAX_MESSAGE_BYTES', kind: 'int', min: 1024, max: 16 * 1024 * 1024, help: 'largest WebSocket message in bytes (default 65536)' },
  { key: 'wsMaxSwarmsPerSocket', flag: 'ws-max-swarms-per-socket', env: 'WS_MAX_SWARMS_PER_SOCKET', kind: 'int', min: 1, max: 100_000, help: 'most swarms one WebSocket may join (default 500)' },
  { key: 'wsMaxSockets', flag: 'ws-max-sockets', env: 'WS_MAX_SOCKETS', kind: 'int', min: 1, max: 10_000_000, help: 'most WebSocket connections per process (default 100000)' },
  { key: 'wsIdleTimeout', flag: 'ws-idle-timeout', env: 'WS_IDLE_TIMEOUT', kind: 'int', min: 8, max: 960, help: 'seconds of silence before a WebSocket is closed; pings are sent automatically (default 180)' },
  { key: 'wsMaxBackpressure', flag: 'ws-max-backpressure', env: 'WS_MAX_BACKPRESSURE', kind: 'int', min: 1024, max: 256 * 1024 * 1024, help: 'bytes buffered for a slow WebSocket reader before it is dropped (default 1048576)' },
  { key: 'wsOfferTimeout', flag: 'ws-offer-timeout', env: 'WS_OFFER_TIMEOUT', kind: 'int', min: 1, max: 3600, help: 'seconds an answer to a relayed offer is accepted (default 120)' },
  { key: 'redisUrl', flag: 'redis', env: 'REDIS', kind: 'string', help: 'keep swarms in one Redis node, e.g. redis://127.0.0.1:6379 (default: in memory)' },
  { key: 'redisCluster', flag: 'redis-cluster', env: 'REDIS_CLUSTER', kind: 'list', help: 'keep swarms in a Redis Cluster: seed nodes host:port,host:port' },
  { key: 'storeTimeout', flag: 'store-timeout', env: 'STORE_TIMEOUT', kind: 'int', min: 10, max: 60_000, help: 'milliseconds before a store request fails (default 2000)' },
  { key: 'workers', flag: 'workers', env: 'WORKERS', kind: 'int', min: 0, max: 256, help: 'worker processes; 0 = one per CPU core with a Redis store, 1 with the memory store (default 0)' },
  { key: 'metricsPort', flag: 'metrics-port', env: 'METRICS_PORT', kind: 'int', min: 0, max: 65535, help: 'port for /metrics, /healthz, /readyz, /stats.json; 0 = off (default 9469)' },
  { key: 'metricsHost', flag: 'metrics-host', env: 'METRICS_HOST', kind: 'string', help: 'address for the metrics port (default 127.0.0.1)' },
  { key: 'logRateLimit', flag: 'log-rate-limit', env: 'LOG_RATE_LIMIT', kind: 'int', min: 1, max: 100_000, help: 'most warn/error log lines per second per process (default 50)' },
  { key: 'shutdownTimeout', flag: 'shutdown-timeout', env: 'SHUTDOWN_TIMEOUT', kind: 'int', min: 0, max: 600, help: 'seconds to finish requests in flight on SIGTERM (default 10)' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', kind: 'level', help: `log level: ${LOG_LEVELS.join(', ')} (default info)` },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function defaultConfig(): TrackerConfig {
  return {
    hosts: ['::'],
    port: 6969,
    interval: 1800,
    minInterval: 900,
    intervalJitter: 0.1,
    peerTtl: 2700,
    sweepInterval: 60,
    numwantDefault: 50,
    numwantMax: 200,
    scrapeMaxHashes: 74,
    fullScrapeLimit: 0,
    udpConnectionGrace: 180,
    udpSecret: '',
    trustedProxies: [],
    httpMaxHeldReplyBytes: 65536,
    wsInterval: 120,
    wsPeerTtl: 240,
    wsMaxOffers: 10,
    wsMaxMessageBytes: 65536,
    wsMaxSwarmsPerSocket: 500,
    wsMaxSockets: 100_000,
    wsIdleTimeout: 180,
    wsMaxBackpressure: 1024 * 1024,
    wsOfferTimeout: 120,
    redisUrl: '',
    redisCluster: [],
    storeTimeout: 2000,
    workers: 0,
    metricsPort: 9469,
    metricsHost: '127.0.0.1',
    logRateLimit: 50,
    shutdownTimeout: 10,
    logLevel: 'info',
  };
}

export function helpText(): string {
  const lines = OPTIONS.map((o) => `  --${o.flag.padEnd(22)} ${o.help}\n  ${''.padEnd(24)} env REDSWARM_${o.env}`);
  return `Usage: redswarm [options]\n\nA BitTorrent tracker: HTTP and UDP announce/scrape on one port.\n\nOptions:\n${lines.join('\n')}\n  --help                   show this help\n`;
}

function parseValue(spec: OptionSpec, raw: string, source: string): TrackerConfig[keyof TrackerConfig] {
  const where = `${source}: `;
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const value = Number(raw);
      const pattern = spec.kind === 'int' ? /^-?\d+$/ : /^-?\d+(\.\d+)?$/;
      if (!pattern.test(raw) || !Number.isFinite(value)) {
        throw new ConfigError(`${where}expected ${spec.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      }
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        throw new ConfigError(`${where}must be between ${spec.min} and ${spec.max}, got ${value}`);
      }
      return value;
    }
    case 'list': {
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (items.length === 0) throw new ConfigError(`${where}expected at least one value`);
      return items;
    }
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
        throw new ConfigError(`${where}expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
      }
      return raw as TrackerConfig['logLevel'];
    case 'string':
      return raw;
  }
}

/** Builds the configuration from argv (without node and script) and an environment. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): TrackerConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries([
        ...OPTIONS.map((o) => [o.flag, { type: 'string' as const }]),
        ['help', { type: 'boolean' as const }],
      ]),
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (values.help === true) return 'help';
  const config = defaultConfig();
  const given = new Set<keyof TrackerConfig>();
  const target = config as unknown as Record<keyof TrackerConfig, unknown>;
  for (const spec of OPTIONS) {
    const fromFlag = values[spec.flag];
    const fromEnv = env[`REDSWARM_${spec.env}`] || undefined; // set but empty counts as unset
    if (typeof fromFlag === 'string') target[spec.key] = parseValue(spec, fromFlag, `--${spec.flag}`);
    else if (fromEnv !== undefined) target[spec.key] = parseValue(spec, fromEnv, `REDSWARM_${spec.env}`);
    else continue;
    given.add(spec.key);
  }
  if (!given.has('minInterval')) config.minInterval = Math.floor(config.interval / 2);
  if (!given.has('peerTtl')) config.peerTtl = Math.ceil(config.interval * 1.5);
  if (!given.has('wsPeerTtl')) config.wsPeerTtl = config.wsInterval * 2;
  validate(config);
  return config;
}

function validate(config: TrackerConfig): void {
  if (config.minInterval > config.interval) throw new ConfigError('--min-interval cannot exceed --interval');
  if (config.peerTtl < config.interval) {
    throw new ConfigError('--peer-ttl must be at least --interval, or peers expire before they re-announce');
  }
  if (config.wsPeerTtl < config.wsInterval) {
    throw new ConfigError('--ws-peer-ttl must be at least --ws-interval');
  }
  if (config.numwantDefault > config.numwantMax) throw new ConfigError('--numwant-default cannot exceed --numwant-max');
  for (const proxy of config.trustedProxies) {
    if (compactPeerFromText(proxy, 0) === null) throw new ConfigError(`--trusted-proxies: "${proxy}" is not an IP address`);
  }
  if (config.redisUrl !== '' && config.redisCluster.length > 0) {
    throw new ConfigError('give either --redis or --redis-cluster, not both');
  }
  if (config.redisUrl !== '' && !/^rediss?:\/\//.test(config.redisUrl)) {
    throw new ConfigError('--redis must be a redis:// or rediss:// URL');
  }
  for (const node of config.redisCluster) {
    if (!/^[^:]+:\d{1,5}$/.test(node) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(node)) {
      throw new ConfigError(`--redis-cluster: "${node}" is not host:port`);
    }
  }
  const redis = config.redisUrl !== '' || config.redisCluster.length > 0;
  if (config.workers === 0) config.workers = redis ? availableParallelism() : 1;
  if (config.workers > 1 && !redis) {
    throw new ConfigError(
      `--workers ${config.workers} needs a shared store: the embedded memory store lives in one process (use --redis or --redis-cluster, or --workers 1)`,
    );
  }
  if (config.udpSecret !== '' && !/^(?:[0-9a-fA-F]{2}){16,}$/.test(config.udpSecret)) {
    throw new ConfigError('--udp-secret must be at least 32 hex digits');
  }
}
