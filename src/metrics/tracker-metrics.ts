/**
 * Prometheus metrics of one tracker process, in prom-client's global registry: in a multi-worker deployment the
 * primary sums them over the workers (prom-client's AggregatorRegistry), so each worker only counts its own.
 * Hot paths hold pre-labelled children, so counting a request is a field increment, not a label lookup.
 */
import { Counter, Gauge, Histogram, type LabelValues } from 'prom-client';

export type Protocol = 'http' | 'udp' | 'ws';
export type Outcome = 'ok' | 'error' | 'rejected';

const requests = new Counter({
  name: 'redswarm_requests_total',
  help: 'Tracker requests by protocol, action and outcome (error: malformed or failed; rejected: refused by a limit or an invalid UDP connection ID).',
  labelNames: ['protocol', 'action', 'outcome'] as const,
});

const requestDuration = new Histogram({
  name: 'redswarm_request_duration_seconds',
  help: 'Time from a parsed request to its reply, by protocol and action.',
  labelNames: ['protocol', 'action'] as const,
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
});

export const wsConnections = new Gauge({
  name: 'redswarm_ws_connections',
  help: 'Open WebSocket connections.',
});

export const offersRelayed = new Counter({
  name: 'redswarm_ws_offers_relayed_total',
  help: 'WebRTC offers and answers relayed, by where the receiving socket was: this process (local) or another one (remote).',
  labelNames: ['kind', 'route'] as const,
});

export const answersDropped = new Counter({
  name: 'redswarm_ws_answers_dropped_total',
  help: 'WebRTC answers dropped because no matching offer had been relayed to the answering peer in time.',
});

export const udpInvalidConnectionIds = new Counter({
  name: 'redswarm_udp_invalid_connection_ids_total',
  help: 'UDP requests refused for an invalid or expired connection ID.',
});

export const storeDuration = new Histogram({
  name: 'redswarm_store_operation_duration_seconds',
  help: 'Swarm store operations (Redis round trips for the Redis store), by operation.',
  labelNames: ['operation'] as const,
  buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
});

export const storeErrors = new Counter({
  name: 'redswarm_store_errors_total',
  help: 'Failed swarm store operations (Redis unreachable, timeouts), by operation.',
  labelNames: ['operation'] as const,
});

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
  private readonly outcomes: Record<Outcome, Counter.Internal>;
  private readonly duration: Histogram.Internal<'protocol' | 'action'>;

  constructor(protocol: Protocol, action: string) {
    const labels = (outcome: Outcome): LabelValues<'protocol' | 'action' | 'outcome'> => ({ protocol, action, outcome });
    this.outcomes = {
      ok: requests.labels(labels('ok')),
      error: requests.labels(labels('error')),
      rejected: requests.labels(labels('rejected')),
    };
    this.duration = requestDuration.labels({ protocol, action });
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
