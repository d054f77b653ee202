/**
 * Prometheus metrics of one tracker process, in prom-client's global registry: in a multi-worker deployment the
 * primary sums them over the workers (prom-client's AggregatorRegistry), so each worker only counts its own.
 * What the request path updates is a FastCounter/FastHistogram child made once: a field increment per request.
 */
import { Counter, Gauge } from 'prom-client';
import { FastCounter, FastHistogram, type CounterChild, type HistogramChild } from './fast-metrics.js';

export type Protocol = 'http' | 'udp' | 'ws';
export type Outcome = 'ok' | 'error' | 'rejected';

const requests = new FastCounter(
  'redswarm_requests_total',
  'Tracker requests by protocol, action and outcome (error: malformed or failed; rejected: refused by a limit or an invalid UDP connection ID).',
);

const requestDuration = new FastHistogram(
  'redswarm_request_duration_seconds',
  'Time from a parsed request to its reply, by protocol and action.',
  [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
);

export const wsConnections = new Gauge({
  name: 'redswarm_ws_connections',
  help: 'Open WebSocket connections.',
});

export const offersRelayed = new FastCounter(
  'redswarm_ws_offers_relayed_total',
  'WebRTC offers and answers relayed, by where the receiving socket was: this process (local) or another one (remote).',
);

export const announceCacheAnswers = new FastCounter(
  'redswarm_announce_cache_answers_total',
  'Redis store with --redis-announce-cache: announces answered from the cache (cache) or by a call to Redis (redis), of HTTP/UDP swarms (swarm="wire") and WebSocket ones (swarm="ws").',
);

export const announceCacheRefreshes = new FastCounter(
  'redswarm_announce_cache_refreshes_total',
  'Redis store with --redis-announce-cache: peers\' changes collected from announces answered from the cache that Redis took (sent), or lost with a call that failed (failed; the peer\'s next announce applies it again).',
);

export const answersDropped = new Counter({
  name: 'redswarm_ws_answers_dropped_total',
  help: 'WebRTC answers dropped because no matching offer had been relayed to the answering peer in time.',
});

export const httpSlowReaders = new FastCounter(
  'redswarm_http_slow_readers_total',
  'HTTP replies the kernel could not take at once because the client left earlier ones unread (held: the rest waits for the socket to drain), and such connections closed before it drained (closed: over --http-max-held-reply-bytes, another request meanwhile, or the idle timeout).',
);

export const wsUpgradesRefused = new Counter({
  name: 'redswarm_ws_upgrades_refused_total',
  help: 'WebSocket upgrades refused with 503 because the process held --ws-max-sockets connections.',
});

export const wsSlowReaders = new Counter({
  name: 'redswarm_ws_slow_readers_total',
  help: 'WebSockets closed because more than --ws-max-backpressure bytes waited for their reader.',
});

export const wsAnnouncesRefused = new Counter({
  name: 'redswarm_ws_announces_refused_total',
  help: 'WebSocket announces refused, by reason: the socket is in --ws-max-swarms-per-socket swarms already, or another socket holds the peer_id.',
  labelNames: ['reason'] as const,
});

export const passkeysRefused = new Counter({
  name: 'redswarm_passkeys_refused_total',
  help: 'Announces and scrapes refused for their passkey, by protocol and reason: missing (with --private) or unknown (never added, or revoked).',
  labelNames: ['protocol', 'reason'] as const,
});

export const udpInvalidConnectionIds = new Counter({
  name: 'redswarm_udp_invalid_connection_ids_total',
  help: 'UDP requests refused for an invalid or expired connection ID.',
});

export const announcesRateLimited = new FastCounter(
  'redswarm_announces_rate_limited_total',
  'Announces refused because their source (IPv4 address or IPv6 /64) made --announce-rate-limit announces of the torrent within --announce-rate-window, by protocol.',
);

export const udpBans = new Counter({
  name: 'redswarm_udp_bans_total',
  help: 'UDP sources banned for --udp-ban-duration after more than --udp-ban-threshold invalid connection IDs within --udp-ban-window.',
});

export const udpBannedDatagrams = new FastCounter(
  'redswarm_udp_banned_datagrams_total',
  'Datagrams from banned UDP sources, dropped unanswered.',
);

export const udpBanTableFull = new Counter({
  name: 'redswarm_udp_ban_table_full_total',
  help: 'Invalid connection IDs neither counted nor causing a ban because --udp-ban-max-sources sources were tracked already.',
});

export const wsSourceLimitRefusals = new Counter({
  name: 'redswarm_ws_source_limit_refusals_total',
  help: 'WebSocket upgrades refused with 429 because their source (IPv4 address or IPv6 /64) held --ws-max-sockets-per-ip connections.',
});

export const storeDuration = new FastHistogram(
  'redswarm_store_operation_duration_seconds',
  'Redis store operations (round trips), by operation.',
  [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
);

export const storeErrors = new FastCounter(
  'redswarm_store_errors_total',
  'Failed Redis store operations (Redis unreachable, timeouts), by operation.',
);

export const sweeps = new Counter({
  name: 'redswarm_sweeps_total',
  help: 'Expiry sweeps run by this process.',
});

export const sweptPeers = new Counter({
  name: 'redswarm_swept_peers_total',
  help: 'Expired peers removed by sweeps.',
});

/** Counts one request and, when it reached the store, how long it took. */
export class RequestMeter {
  private readonly outcomes: Record<Outcome, CounterChild>;
  private readonly duration: HistogramChild;

  constructor(protocol: Protocol, action: string) {
    this.outcomes = {
      ok: requests.child({ protocol, action, outcome: 'ok' }),
      error: requests.child({ protocol, action, outcome: 'error' }),
      rejected: requests.child({ protocol, action, outcome: 'rejected' }),
    };
    this.duration = requestDuration.child({ protocol, action });
  }

  /** A request answered without waiting (parse errors, limits, UDP connect). */
  count(outcome: Outcome): void {
    this.outcomes[outcome].inc();
  }

  /** A request answered after the store; `started` is performance.now() when it was parsed. */
  done(outcome: Outcome, started: number): void {
    this.outcomes[outcome].inc();
    this.duration.observe((performance.now() - started) / 1000);
  }
}

export const signalResubscribes = new Counter({
  name: 'redswarm_signal_resubscribes_total',
  help: "Times this process re-created its signaling subscription because its self-check found its own channel no longer reached it.",
});

export const signalsUndeliverable = new Counter({
  name: 'redswarm_ws_signals_undeliverable_total',
  help: "WebRTC offers and answers that reached no socket, by kind and where the socket was: this process's (closed meanwhile, or dropped as a slow reader) or another process's whose channel had no subscriber (gone, or restoring its subscription).",
  labelNames: ['kind', 'route'] as const,
});

export const accessRefused = new FastCounter(
  'redswarm_access_refused_total',
  'Requests refused by an access list (docs/access-control.md), by list (info-hash, peer-id, origin) and protocol; a scraped info hash answered as unknown counts under info-hash.',
);

export const accessListEntries = new Gauge({
  name: 'redswarm_access_list_entries',
  help: 'Entries of each access list in force, by list and source (config, file, redis).',
  labelNames: ['list', 'source'] as const,
});

export const tlsCertificateExpiry = new Gauge({
  name: 'redswarm_tls_certificate_expiry_timestamp_seconds',
  help: 'When the TLS certificate that new handshakes get stops being valid (Unix time): alert well before it.',
  // Every worker serves the same files; a worker still on an older certificate shows the earliest expiry.
  aggregator: 'min',
});

export const accessListReloadFailures = new Counter({
  name: 'redswarm_access_list_reload_failures_total',
  help: 'Access list reloads that failed (a malformed line, an unreadable file, Redis not answering); the list in force stays.',
  labelNames: ['list', 'source'] as const,
});
