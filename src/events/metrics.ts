/**
 * Metrics of swarm events: appended and failed appends (the embedded store's sinks count each event; the Redis
 * store counts the announces whose function call, and so their events, succeeded or failed while events are on),
 * and consumer-group lag per partition stream (sampled by the coordinator: maintenance.ts).
 */
import { Gauge } from 'prom-client';
import { FastCounter } from '../metrics/fast-metrics.js';
import type { Reply } from '../store/redis/resp.js';

const appended = new FastCounter('redswarm_events_appended_total', 'Swarm events appended (embedded store: to its sink; Redis store: calls that changed a swarm with events on).');
const failures = new FastCounter('redswarm_events_append_failures_total', 'Swarm events that could not be appended: their announce got a failure reply.');
export const eventsAppended = appended.child({});
export const eventAppendFailures = failures.child({});

export const consumerLag = new Gauge({
  name: 'redswarm_events_consumer_lag',
  help: 'Entries of a partition stream not yet delivered to a consumer group (XINFO GROUPS lag), sampled by the coordinator.',
  labelNames: ['stream', 'group'],
});

/**
 * The Redis store's count: a call with events on appends its events exactly when it succeeds (one atomic call).
 * Its decoder, wrapped here, counts the success; countAppendFailure, given to the call as its failure hook
 * (script-client.ts), the failure: no promise more per announce.
 */
export function countingEvents<T>(decode: (reply: Reply) => T): (reply: Reply) => T {
  return (reply) => {
    const result = decode(reply);
    eventsAppended.inc();
    return result;
  };
}

export function countAppendFailure(): void {
  eventAppendFailures.inc();
}
