/**
 * Every option of the tracker, defined once: its section of the config file, flag, environment variable,
 * type, range, default and whether a running process can take a new value on SIGHUP. `--help`,
 * `--print-config` and the README's option table are generated from this table (print.ts).
 */
import { availableParallelism } from 'node:os';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOCALITY_MODES = ['off', 'on'] as const;
export type LocalityMode = (typeof LOCALITY_MODES)[number];
export const ACCESS_MODES = ['off', 'allow', 'deny'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];
export const EVENT_SINKS = ['off', 'redis', 'jsonl'] as const;
export type EventSinkKind = (typeof EVENT_SINKS)[number];

export interface TrackerConfig {
  /** Addresses to listen on; each gets HTTP (TCP) and UDP on `port`. `::` is dual-stack. */
  hosts: string[];
  port: number;
  /** Serve plain HTTP and WebSocket on `port`; false leaves only UDP there (with `tlsPort`: HTTPS/WSS only). */
  plainHttp: boolean;
  /** Port of HTTPS and WSS (the same routes as plain HTTP); 0 = no TLS. */
  tlsPort: number;
  /** PEM certificate chain and private key files for `tlsPort`, re-read on SIGHUP and when they change. */
  tlsCert: string;
  tlsKey: string;
  /** Passphrase of an encrypted `tlsKey`; empty: the key is not encrypted. */
  tlsPassphrase: string;
  /**
   * Addresses of reverse proxies whose X-Forwarded-For is believed: the client is the right-most address in it
   * that is not itself a trusted proxy. Empty: the header is ignored.
   */
  trustedProxies: string[];
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
  /** Locality mode: replies prefer peers of the requester's IP, then its /24 or /48 (embedded store only). */
  locality: LocalityMode;
  /** Share of each reply kept random in locality mode, so that no group of nearby peers is cut off. */
  localityRandomShare: number;
  /** Most info hashes one scrape may ask for (HTTP and UDP). */
  scrapeMaxHashes: number;
  /** Most swarms a full scrape (no info_hash) lists; 0 turns full scrape off. */
  fullScrapeLimit: number;
  /**
   * Bytes of one HTTP reply held for a client that leaves its replies unread (beyond what the kernel's socket
   * buffer takes); a larger remainder closes the connection. At most one reply is ever held per connection.
   */
  httpMaxHeldReplyBytes: number;
  /**
   * Announces of one torrent accepted from one source (IPv4 address or IPv6 /64) within `announceRateWindow`;
   * more get a failure telling them to wait the window. 0 = no limit.
   */
  announceRateLimit: number;
  /** Seconds of the sliding window of `announceRateLimit`. */
  announceRateWindow: number;
  /** Slots (4 bytes each) of the fixed table that counts announces per (source, info hash). */
  announceRateSlots: number;
  /** Invalid UDP connection IDs from one source within `udpBanWindow` beyond which it is banned. 0 = no bans. */
  udpBanThreshold: number;
  udpBanWindow: number;
  /** Seconds a banned UDP source gets no reply at all. */
  udpBanDuration: number;
  /** Most UDP sources counted, and most banned, at once; beyond it new sources are neither counted nor banned. */
  udpBanMaxSources: number;
  /** Most WebSocket connections from one source (IPv4 address or IPv6 /64); further upgrades get 429. 0 = no limit. */
  wsMaxSocketsPerIp: number;
  /** Loopback sources (127.0.0.0/8, ::1) are exempt from the three limits above. */
  exemptLoopback: boolean;
  /** Info-hash access list: off, only the listed (allow), or all but the listed (deny). */
  accessMode: AccessMode;
  /** File of info hashes (40 hex digits a line); followed as it changes. */
  accessFile: string;
  /** Follow the shared lists (info hashes, peer_id prefixes, origins, passkeys) kept in Redis. */
  accessRedis: boolean;
  /** peer_id prefix list: off, allow or deny. */
  peerIdMode: AccessMode;
  /** File of peer_id prefixes, one a line. */
  peerIdFile: string;
  /** peer_id prefixes given in the configuration itself. */
  peerIdPrefixes: string[];
  /** WebSocket `Origin` list: off, allow or deny. */
  wsOriginsMode: AccessMode;
  /** Origins (`https://host[:port]`) of the list. */
  wsOrigins: string[];
  /** File of passkeys, one a line (with Redis, keys are also in its shared list). */
  passkeyFile: string;
  /** Private tracker: announces and scrapes need a known passkey in their URL (`/KEY/announce`). */
  privateMode: boolean;
  /** Seconds a UDP connection ID stays valid beyond the 2 minutes of BEP 15. */
  udpConnectionGrace: number;
  /** Hex secret for UDP connection IDs; processes sharing it accept each other's IDs. Random if empty. */
  udpSecret: string;
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
  /** Redis store: milliseconds a swarm's reply answers this process's HTTP/UDP announces (the announce cache); 0 = off. */
  redisAnnounceCache: number;
  /** Seconds a process on a shared Redis counts as alive after its last heartbeat. */
  heartbeatTtl: number;
  /** Seconds the coordinator lease lasts unless its holder renews it. */
  coordinatorLeaseTtl: number;
  /** Worker processes serving HTTP, WebSocket and UDP. */
  workers: number;
  /** Port of the operator endpoints (/metrics, /healthz, /readyz, /stats.json); 0 turns them off. */
  metricsPort: number;
  metricsHost: string;
  /** Seconds SIGINT/SIGTERM waits for requests in flight before exiting. */
  shutdownTimeout: number;
  logLevel: LogLevel;
  /** Most warn/error log lines per second; the rest are counted and summarized, so floods cannot fill disks. */
  logRateLimit: number;
  /** Swarm events (docs/events.md): off, to Redis Streams, or as JSON lines. */
  events: EventSinkKind;
  /** Event partitions (streams); changing it is an offline operation (docs/events.md). */
  eventsPartitions: number;
  /** Approximate MAXLEN of each partition's stream. */
  eventsMaxlen: number;
  /** Embedded store only: the Redis (`redis://host:port`, or cluster seeds `host:port,…`) that takes the events. */
  eventsRedis: string[];
  /** The JSON-lines file (`-`: standard output). */
  eventsFile: string;
}

/** Sections of the config file, in the order operators meet them. */
export const SECTIONS = ['network', 'announce', 'limits', 'access', 'udp', 'websocket', 'store', 'events', 'operations', 'logging'] as const;
export type Section = (typeof SECTIONS)[number];

export type OptionKind = 'int' | 'number' | 'string' | 'list' | 'choice' | 'bool';

export interface OptionSpec {
  readonly key: keyof TrackerConfig;
  readonly section: Section;
  /** The flag without `--`, and the option's name in its section of the config file. */
  readonly flag: string;
  /** The environment variable without its `REDSWARM_` prefix. */
  readonly env: string;
  readonly kind: OptionKind;
  readonly min?: number;
  readonly max?: number;
  /** The values a `choice` option takes. */
  readonly choices?: readonly string[];
  /** The default; a function for one derived from the other options (applied when none of the sources gives it). */
  readonly default: TrackerConfig[keyof TrackerConfig] | ((config: TrackerConfig) => TrackerConfig[keyof TrackerConfig]);
  /** How a derived default is computed, for the docs. */
  readonly derivedFrom?: string;
  /** A value that asks for the derived default, as if the option were not given. */
  readonly auto?: number;
  /** A running process takes a new value on SIGHUP; other options need a restart. */
  readonly reload: boolean;
  /** One line, without the default. */
  readonly help: string;
}

const usesRedis = (config: TrackerConfig): boolean => config.redisUrl !== '' || config.redisCluster.length > 0;

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'hosts', section: 'network', flag: 'host', env: 'HOST', kind: 'list', default: ['::'], reload: false, help: 'addresses to listen on, comma-separated; each gets HTTP, WebSocket and UDP; `::` is dual-stack' },
  { key: 'port', section: 'network', flag: 'port', env: 'PORT', kind: 'int', min: 1, max: 65535, default: 6969, reload: false, help: 'port for HTTP, WebSocket and UDP' },
  { key: 'plainHttp', section: 'network', flag: 'plain-http', env: 'PLAIN_HTTP', kind: 'bool', default: true, reload: false, help: 'serve plain HTTP and WebSocket on `port` (true or false); false leaves only UDP there, e.g. with `tls-port` for HTTPS/WSS only' },
  { key: 'tlsPort', section: 'network', flag: 'tls-port', env: 'TLS_PORT', kind: 'int', min: 0, max: 65535, default: 0, reload: false, help: 'port for HTTPS and WSS (same routes as plain HTTP); 0 = off' },
  { key: 'tlsCert', section: 'network', flag: 'tls-cert', env: 'TLS_CERT', kind: 'string', default: '', reload: false, help: 'PEM certificate (chain) file for `tls-port`; its content is re-read on SIGHUP and when the file changes, open connections stay' },
  { key: 'tlsKey', section: 'network', flag: 'tls-key', env: 'TLS_KEY', kind: 'string', default: '', reload: false, help: 'PEM private key file of `tls-cert`; re-read with it' },
  { key: 'tlsPassphrase', section: 'network', flag: 'tls-passphrase', env: 'TLS_PASSPHRASE', kind: 'string', default: '', reload: false, help: 'passphrase of an encrypted `tls-key` (prefer the variable or the file to the flag, which `ps` shows); empty = not encrypted' },
  { key: 'trustedProxies', section: 'network', flag: 'trusted-proxies', env: 'TRUSTED_PROXIES', kind: 'list', default: [], reload: false, help: 'reverse proxies whose `X-Forwarded-For` is believed (right-most untrusted hop), comma-separated' },
  { key: 'interval', section: 'announce', flag: 'interval', env: 'INTERVAL', kind: 'int', min: 10, max: 86400, default: 1800, reload: true, help: 'announce interval (s), before jitter' },
  { key: 'minInterval', section: 'announce', flag: 'min-interval', env: 'MIN_INTERVAL', kind: 'int', min: 0, max: 86400, default: (c) => Math.floor(c.interval / 2), derivedFrom: 'interval / 2', reload: true, help: '`min interval` (s) sent with every reply' },
  { key: 'intervalJitter', section: 'announce', flag: 'interval-jitter', env: 'INTERVAL_JITTER', kind: 'number', min: 0, max: 1, default: 0.1, reload: true, help: 'random share of the interval added per reply' },
  { key: 'peerTtl', section: 'announce', flag: 'peer-ttl', env: 'PEER_TTL', kind: 'int', min: 10, max: 7 * 86400, default: (c) => Math.ceil(c.interval * 1.5), derivedFrom: '1.5 × interval', reload: false, help: 'seconds a peer stays listed after its last announce' },
  { key: 'sweepInterval', section: 'announce', flag: 'sweep-interval', env: 'SWEEP_INTERVAL', kind: 'int', min: 1, max: 86400, default: 60, reload: false, help: 'seconds between full expiry sweeps of the embedded store, and of the WebSocket offers nobody answered in time' },
  { key: 'numwantDefault', section: 'announce', flag: 'numwant-default', env: 'NUMWANT_DEFAULT', kind: 'int', min: 0, max: 10000, default: 50, reload: true, help: 'peers returned when `numwant` is absent or negative' },
  { key: 'numwantMax', section: 'announce', flag: 'numwant-max', env: 'NUMWANT_MAX', kind: 'int', min: 0, max: 10000, default: 200, reload: true, help: 'most peers returned; UDP replies are also capped to 1232 bytes (200 IPv4 / 67 IPv6 peers)' },
  { key: 'locality', section: 'announce', flag: 'locality', env: 'LOCALITY', kind: 'choice', choices: LOCALITY_MODES, default: 'off', reload: true, help: 'locality mode (off or on): peer lists and WebSocket offers prefer peers of the same IP, then the same /24 (IPv4) or /48 (IPv6); embedded store only (docs/protocol-behaviour.md)' },
  { key: 'localityRandomShare', section: 'announce', flag: 'locality-random-share', env: 'LOCALITY_RANDOM_SHARE', kind: 'number', min: 0.1, max: 1, default: 0.5, reload: true, help: 'share of each locality reply kept random (rounded up, at least one peer), so nearby groups still meet the rest of the swarm' },
  { key: 'scrapeMaxHashes', section: 'limits', flag: 'scrape-max-hashes', env: 'SCRAPE_MAX_HASHES', kind: 'int', min: 1, max: 74, default: 74, reload: true, help: 'most info hashes in one scrape (HTTP, UDP and WebSocket); 74 is the most a UDP reply fits' },
  { key: 'fullScrapeLimit', section: 'limits', flag: 'full-scrape-limit', env: 'FULL_SCRAPE_LIMIT', kind: 'int', min: 0, max: 1_000_000, default: 0, reload: true, help: 'swarms listed by a scrape without `info_hash`; 0 = full scrape off' },
  { key: 'httpMaxHeldReplyBytes', section: 'limits', flag: 'http-max-held-reply-bytes', env: 'HTTP_MAX_HELD_REPLY_BYTES', kind: 'int', min: 0, max: 16 * 1024 * 1024, default: 65536, reload: true, help: 'bytes of one reply held for an HTTP client that does not read its replies; more closes the connection (at most one reply is held per connection)' },
  { key: 'announceRateLimit', section: 'limits', flag: 'announce-rate-limit', env: 'ANNOUNCE_RATE_LIMIT', kind: 'int', min: 0, max: 65535, default: 30, reload: true, help: 'announces of one torrent accepted from one IPv4 address or IPv6 /64 within `announce-rate-window`; more get a failure with `min interval` = the window; per process (docs/access-control.md); 0 = off' },
  { key: 'announceRateWindow', section: 'limits', flag: 'announce-rate-window', env: 'ANNOUNCE_RATE_WINDOW', kind: 'int', min: 1, max: 86400, default: 60, reload: true, help: 'seconds of the sliding window of `announce-rate-limit`' },
  { key: 'announceRateSlots', section: 'limits', flag: 'announce-rate-slots', env: 'ANNOUNCE_RATE_SLOTS', kind: 'int', min: 16, max: 1 << 26, default: 1 << 20, reload: false, help: 'size of the fixed table counting announces per (address, torrent), 4 bytes a slot, rounded up to a power of 2; keep it above the distinct (address, torrent) pairs of one window' },
  { key: 'udpBanThreshold', section: 'limits', flag: 'udp-ban-threshold', env: 'UDP_BAN_THRESHOLD', kind: 'int', min: 0, max: 1_000_000, default: 500, reload: true, help: 'invalid UDP connection IDs from one IPv4 address or IPv6 /64 within `udp-ban-window` beyond which it gets no reply at all for `udp-ban-duration`; 0 = no bans' },
  { key: 'udpBanWindow', section: 'limits', flag: 'udp-ban-window', env: 'UDP_BAN_WINDOW', kind: 'int', min: 1, max: 86400, default: 60, reload: true, help: 'seconds of the sliding window of `udp-ban-threshold`' },
  { key: 'udpBanDuration', section: 'limits', flag: 'udp-ban-duration', env: 'UDP_BAN_DURATION', kind: 'int', min: 1, max: 7 * 86400, default: 300, reload: true, help: 'seconds a banned UDP source gets no reply' },
  { key: 'udpBanMaxSources', section: 'limits', flag: 'udp-ban-max-sources', env: 'UDP_BAN_MAX_SOURCES', kind: 'int', min: 1, max: 10_000_000, default: 65536, reload: false, help: 'most UDP sources counted, and most banned, at once (about 100 bytes each); beyond it new sources are neither counted nor banned' },
  { key: 'wsMaxSocketsPerIp', section: 'limits', flag: 'ws-max-sockets-per-ip', env: 'WS_MAX_SOCKETS_PER_IP', kind: 'int', min: 0, max: 10_000_000, default: 1024, reload: true, help: 'WebSocket connections from one IPv4 address or IPv6 /64; further upgrades get 429; 0 = off' },
  { key: 'exemptLoopback', section: 'limits', flag: 'exempt-loopback', env: 'EXEMPT_LOOPBACK', kind: 'bool', default: true, reload: true, help: 'exempt loopback sources (127.0.0.0/8, ::1) from `announce-rate-limit`, UDP bans and `ws-max-sockets-per-ip` (true or false): a local proxy without `trusted-proxies` would make every client one source; monitors and load tests' },
  { key: 'accessMode', section: 'access', flag: 'access-mode', env: 'ACCESS_MODE', kind: 'choice', choices: ACCESS_MODES, default: 'off', reload: true, help: 'info-hash list: `allow` serves only listed torrents, `deny` all but them (docs/access-control.md)' },
  { key: 'accessFile', section: 'access', flag: 'access-file', env: 'ACCESS_FILE', kind: 'string', default: '', reload: true, help: 'file of info hashes, 40 hex digits a line, `#` comments; re-read when it changes' },
  { key: 'accessRedis', section: 'access', flag: 'access-redis', env: 'ACCESS_REDIS', kind: 'bool', default: usesRedis, derivedFrom: 'true with a Redis store', reload: false, help: 'also follow the shared lists in Redis (`redswarm access`, `redswarm keys`), within a second of a change' },
  { key: 'peerIdMode', section: 'access', flag: 'peer-id-mode', env: 'PEER_ID_MODE', kind: 'choice', choices: ACCESS_MODES, default: 'off', reload: true, help: 'peer_id prefix list (client versions): `allow` or `deny` the listed prefixes' },
  { key: 'peerIdFile', section: 'access', flag: 'peer-id-file', env: 'PEER_ID_FILE', kind: 'string', default: '', reload: true, help: 'file of peer_id prefixes, one a line (`%XX` for any byte)' },
  { key: 'peerIdPrefixes', section: 'access', flag: 'peer-id-prefixes', env: 'PEER_ID_PREFIXES', kind: 'list', default: [], reload: true, help: 'peer_id prefixes of the list, comma-separated, e.g. `-XL0012-`' },
  { key: 'wsOriginsMode', section: 'access', flag: 'ws-origins-mode', env: 'WS_ORIGINS_MODE', kind: 'choice', choices: ACCESS_MODES, default: 'off', reload: true, help: 'WebSocket `Origin` list: a refused origin gets 403 on the upgrade; no Origin (not a browser) passes' },
  { key: 'wsOrigins', section: 'access', flag: 'ws-origins', env: 'WS_ORIGINS', kind: 'list', default: [], reload: true, help: 'origins of the list, `https://host[:port]`, comma-separated' },
  { key: 'passkeyFile', section: 'access', flag: 'passkey-file', env: 'PASSKEY_FILE', kind: 'string', default: '', reload: true, help: 'file of passkeys, one a line (`redswarm keys` edits it when there is no Redis)' },
  { key: 'privateMode', section: 'access', flag: 'private', env: 'PRIVATE', kind: 'bool', default: false, reload: true, help: 'private tracker (true or false): announces and scrapes need a known passkey, `/KEY/announce`; without it a passkey is optional, but an unknown one is refused' },
  { key: 'udpConnectionGrace', section: 'udp', flag: 'udp-connection-grace', env: 'UDP_CONNECTION_GRACE', kind: 'int', min: 0, max: 3600, default: 180, reload: false, help: "seconds a UDP connection ID stays valid beyond BEP 15's 2 minutes" },
  { key: 'udpSecret', section: 'udp', flag: 'udp-secret', env: 'UDP_SECRET', kind: 'string', default: '', reload: false, help: 'hex secret (32+ hex digits) for UDP connection IDs; processes sharing it accept each other\'s IDs; empty = random per start' },
  { key: 'wsInterval', section: 'websocket', flag: 'ws-interval', env: 'WS_INTERVAL', kind: 'int', min: 10, max: 86400, default: 120, reload: true, help: 'WebSocket announce interval (s), before jitter' },
  { key: 'wsPeerTtl', section: 'websocket', flag: 'ws-peer-ttl', env: 'WS_PEER_TTL', kind: 'int', min: 10, max: 86400, default: (c) => c.wsInterval * 2, derivedFrom: '2 × ws-interval', reload: false, help: "seconds a WebSocket peer stays if its socket's close was never seen" },
  { key: 'wsMaxOffers', section: 'websocket', flag: 'ws-max-offers', env: 'WS_MAX_OFFERS', kind: 'int', min: 0, max: 100, default: 10, reload: true, help: 'most offers of one announce relayed, each to a different peer' },
  { key: 'wsMaxMessageBytes', section: 'websocket', flag: 'ws-max-message-bytes', env: 'WS_MAX_MESSAGE_BYTES', kind: 'int', min: 1024, max: 16 * 1024 * 1024, default: 65536, reload: false, help: 'largest WebSocket message; a larger one closes the socket' },
  { key: 'wsMaxSwarmsPerSocket', section: 'websocket', flag: 'ws-max-swarms-per-socket', env: 'WS_MAX_SWARMS_PER_SOCKET', kind: 'int', min: 1, max: 100_000, default: 500, reload: true, help: 'most (swarm, peer_id) pairs one socket may announce' },
  { key: 'wsMaxSockets', section: 'websocket', flag: 'ws-max-sockets', env: 'WS_MAX_SOCKETS', kind: 'int', min: 1, max: 10_000_000, default: 100_000, reload: true, help: 'most WebSocket connections per process; further upgrades get 503' },
  { key: 'wsIdleTimeout', section: 'websocket', flag: 'ws-idle-timeout', env: 'WS_IDLE_TIMEOUT', kind: 'int', min: 8, max: 960, default: (c) => Math.min(960, c.wsInterval * 2), derivedFrom: '2 × ws-interval, at most 960', reload: false, help: 'seconds of silence before a socket is closed; pings are sent before' },
  { key: 'wsMaxBackpressure', section: 'websocket', flag: 'ws-max-backpressure', env: 'WS_MAX_BACKPRESSURE', kind: 'int', min: 1024, max: 256 * 1024 * 1024, default: 1024 * 1024, reload: false, help: 'bytes queued for a slow reader before its socket is dropped' },
  { key: 'wsOfferTimeout', section: 'websocket', flag: 'ws-offer-timeout', env: 'WS_OFFER_TIMEOUT', kind: 'int', min: 1, max: 3600, default: 120, reload: true, help: 'seconds an answer to a relayed offer is relayed back (a reload applies to sockets opened after it)' },
  { key: 'redisUrl', section: 'store', flag: 'redis', env: 'REDIS', kind: 'string', default: '', reload: false, help: 'keep swarms in one Redis node, `redis://host:port`; empty (and no cluster) = the embedded store' },
  { key: 'redisCluster', section: 'store', flag: 'redis-cluster', env: 'REDIS_CLUSTER', kind: 'list', default: [], reload: false, help: 'keep swarms in a Redis Cluster: seed nodes `host:port,…`' },
  { key: 'storeTimeout', section: 'store', flag: 'store-timeout', env: 'STORE_TIMEOUT', kind: 'int', min: 10, max: 60_000, default: 2000, reload: false, help: 'milliseconds before a store request fails (the client gets a failure reply)' },
  { key: 'redisAnnounceCache', section: 'store', flag: 'redis-announce-cache', env: 'REDIS_ANNOUNCE_CACHE', kind: 'int', min: 0, max: 10_000, default: 0, reload: false, help: 'Redis store: milliseconds a swarm\'s counts and peers, as Redis last returned them, answer this process\'s announces of it (HTTP/UDP; WebSocket re-announces of its own peers), whose changes go to Redis in one call per swarm within that time; replies and changes are then up to that old (docs/scaling.md); 0 = off, every announce one exact call; not with events' },
  { key: 'heartbeatTtl', section: 'store', flag: 'heartbeat-ttl', env: 'HEARTBEAT_TTL', kind: 'number', min: 1, max: 300, default: 5, reload: false, help: 'seconds a process on Redis counts as alive after its last heartbeat (beats every third of it); its WebSocket peers are removed once it has not beaten for this long' },
  { key: 'coordinatorLeaseTtl', section: 'store', flag: 'coordinator-lease-ttl', env: 'COORDINATOR_LEASE_TTL', kind: 'number', min: 1, max: 600, default: 10, reload: false, help: 'seconds the coordinator lease (one process removes dead processes) lasts unless renewed; another process takes over within it' },
  { key: 'workers', section: 'operations', flag: 'workers', env: 'WORKERS', kind: 'int', min: 0, max: 256, auto: 0, default: (c) => (usesRedis(c) ? availableParallelism() : 1), derivedFrom: 'one per core with Redis, 1 with the embedded store (which refuses more)', reload: false, help: 'worker processes; 0 = the default' },
  { key: 'metricsPort', section: 'operations', flag: 'metrics-port', env: 'METRICS_PORT', kind: 'int', min: 0, max: 65535, default: 9469, reload: false, help: 'port of /metrics, /healthz, /readyz, /stats.json; 0 = off' },
  { key: 'metricsHost', section: 'operations', flag: 'metrics-host', env: 'METRICS_HOST', kind: 'string', default: '127.0.0.1', reload: false, help: 'address of the metrics port' },
  { key: 'shutdownTimeout', section: 'operations', flag: 'shutdown-timeout', env: 'SHUTDOWN_TIMEOUT', kind: 'int', min: 0, max: 600, default: 10, reload: true, help: 'seconds to finish requests in flight on SIGTERM' },
  { key: 'events', section: 'events', flag: 'events', env: 'EVENTS', kind: 'choice', choices: EVENT_SINKS, default: 'off', reload: false, help: 'swarm events (docs/events.md): `redis` appends them to Redis Streams (the store\'s Redis, or `events-redis` with the embedded store), `jsonl` writes JSON lines to `events-file`' },
  { key: 'eventsPartitions', section: 'events', flag: 'events-partitions', env: 'EVENTS_PARTITIONS', kind: 'int', min: 1, max: 1024, default: 64, reload: false, help: 'event partitions (Redis streams, swarms by info hash); with the Redis store also where swarm keys live; changing it is offline (docs/events.md)' },
  { key: 'eventsMaxlen', section: 'events', flag: 'events-maxlen', env: 'EVENTS_MAXLEN', kind: 'int', min: 100, max: 1_000_000_000, default: 100_000, reload: false, help: 'approximate length each partition\'s stream is trimmed to' },
  { key: 'eventsRedis', section: 'events', flag: 'events-redis', env: 'EVENTS_REDIS', kind: 'list', default: [], reload: false, help: 'embedded store with `events = redis`: `redis://host:port`, or Redis Cluster seed nodes `host:port,…`' },
  { key: 'eventsFile', section: 'events', flag: 'events-file', env: 'EVENTS_FILE', kind: 'string', default: '-', reload: false, help: 'file the `jsonl` events are appended to; `-` = standard output' },
  { key: 'logLevel', section: 'logging', flag: 'log-level', env: 'LOG_LEVEL', kind: 'choice', choices: LOG_LEVELS, default: 'info', reload: true, help: `${LOG_LEVELS.join(', ')}` },
  { key: 'logRateLimit', section: 'logging', flag: 'log-rate-limit', env: 'LOG_RATE_LIMIT', kind: 'int', min: 1, max: 100_000, default: 50, reload: false, help: 'most warn/error log lines per second per process; the rest are counted' },
];

/** The config file: a flag and an environment variable of their own, outside the table (a file cannot name itself). */
export const CONFIG_FLAG = 'config';
export const CONFIG_ENV = 'REDSWARM_CONFIG';
