/**
 * Exclusive work across every tracker process on every machine, done by one at a time (the Replicante design:
 * stateless processes, one active, the others standing by). The holder of a lease — a Redis key with an owner
 * token and a TTL, taken with SET NX and renewed only by its owner — removes the processes whose heartbeat ran
 * out (process-registry.ts). When the holder dies its lease expires, and another process takes it within one
 * lease TTL.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { throttledLog, type Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { isAlive, removeProcess, silentProcesses } from './process-registry.js';

export const LEASE_KEY = 'redswarm:coordinator';

/** Renews the lease only while it is still this token's. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

const leaseHeld = new Gauge({ name: 'redswarm_coordinator_lease_held', help: '1 while this process holds the coordinator lease (one process across the deployment).' });
const deadProcesses = new Counter({ name: 'redswarm_coordinator_dead_processes_total', help: 'Tracker processes found dead (heartbeat expired) and cleaned up by this process as coordinator.' });
const slowRounds = new Counter({
  name: 'redswarm_coordinator_slow_answers_total',
  help: 'Coordinator rounds that Redis answered slower than a beat period (heartbeat TTL / 3): nobody is judged dead for a heartbeat TTL after one. Rising steadily: Redis or this process is overloaded, and dead processes are not removed.',
});
const peersRemoved = new Counter({ name: 'redswarm_coordinator_peers_removed_total', help: 'WebSocket peers of dead processes removed from their swarms by this process as coordinator.' });

export interface CoordinatorTimes {
  heartbeatMs: number;
  leaseMs: number;
}

export class Coordinator {
  private readonly token = randomBytes(12).toString('base64url');
  private holding = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /**
   * Since when this process's rounds have succeeded promptly, without a failure or a slow answer in between. A
   * live process that could not beat (its heartbeat's master failing over, Redis away) looks dead once Redis
   * answers again — and while the index's master fails over, every process looks silent — so nobody is judged
   * until Redis has answered this process for a whole heartbeat TTL, in which every live process beats again.
   */
  private answeringSince: number | undefined;
  private readonly slowAnswer: (fields: { tookMs: number }) => void;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly store: Store,
    private readonly processId: string,
    private readonly times: CoordinatorTimes,
    private readonly log: Logger,
  ) {
    this.slowAnswer = throttledLog(log, 'coordinator: Redis answered slowly, nobody is judged dead for a heartbeat TTL', times.heartbeatMs);
  }

  start(): void {
    // Renewed three times per TTL; dead processes looked for twice per heartbeat TTL.
    const every = Math.min(this.times.leaseMs / 3, this.times.heartbeatMs / 2);
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(
          () => {
            this.answeringSince ??= Date.now();
          },
          (error: unknown) => {
            this.answeringSince = undefined;
            this.log.warn({ err: error }, 'coordinator round failed');
          },
        )
        .finally(() => {
          this.running = undefined;
        });
    }, every);
    this.timer.unref();
  }

  get isHolder(): boolean {
    return this.holding;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.holding) {
      // Handing over at once, rather than after the TTL: only while the lease is still ours.
      await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, LEASE_KEY, this.token).catch(() => {});
      this.setHolding(false);
    }
  }

  private async tick(): Promise<void> {
    // Every answer is timed, whatever it says: a lease lost or taken after an outage must not skip the wait.
    let asked = Date.now();
    const held = this.holding;
    const ours = held
      ? (await this.redis.eval(RENEW, 1, LEASE_KEY, this.token, String(this.times.leaseMs))) === 1
      : (await this.redis.set(LEASE_KEY, this.token, 'PX', this.times.leaseMs, 'NX')) === 'OK';
    const prompt = this.answeredPromptly(asked);
    if (ours !== held) {
      this.setHolding(ours);
      if (ours) this.log.info({ process: this.processId }, 'coordinator lease taken');
      else this.log.warn({ process: this.processId }, 'coordinator lease lost');
    }
    if (!ours || !prompt) return;
    if (this.answeringSince === undefined || Date.now() - this.answeringSince < this.times.heartbeatMs) return;
    asked = Date.now();
    const silent = await silentProcesses(this.redis, this.times.heartbeatMs);
    if (!this.answeredPromptly(asked)) return;
    for (const processId of silent) {
      if (!this.holding) return;
      asked = Date.now();
      const alive = await isAlive(this.redis, processId);
      if (!this.answeredPromptly(asked)) return;
      if (alive) continue;
      const removed = await removeProcess(this.redis, this.store, processId);
      deadProcesses.inc();
      peersRemoved.inc(removed);
      this.log.info({ deadProcess: processId, removed }, "removed a dead process's WebSocket peers");
    }
  }

  /**
   * Whether Redis answered what was asked at `asked` within a beat's period. A slower answer (a command queued
   * through an outage, answered after it) says Redis was away: the other processes' beats were held up as long,
   * so nobody is judged until Redis has answered promptly for a whole heartbeat TTL again.
   */
  private answeredPromptly(asked: number): boolean {
    const tookMs = Date.now() - asked;
    if (tookMs <= this.times.heartbeatMs / 3) return true;
    this.answeringSince = Date.now();
    slowRounds.inc();
    this.slowAnswer({ tookMs });
    return false;
  }

  private setHolding(holding: boolean): void {
    this.holding = holding;
    leaseHeld.set(holding ? 1 : 0);
  }
}
