/**
 * Tracker processes that share a Redis, as Redis sees them. Each process keeps, under a hash tag of its own id:
 *
 *   hb:{id}    its heartbeat: a key that expires `heartbeatMs` after the last beat (every third of that)
 *   wsp:{id}   a SET of its WebSocket peers (`infoHashHex peerIdHex route`), expiring with a margin after the
 *              heartbeat, so that whoever finds the process dead can still read what to remove
 *
 * and one index for all, `redswarm:processes` (a ZSET: id → when it last beat, ms), so that dead processes can be
 * found without a SCAN. The judge of death is the heartbeat key's TTL, which Redis keeps: the index only says
 * where to look, so clocks that disagree between machines delay a clean-up and never cause one.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { InfoHash } from '../protocol/types.js';
import type { Store } from '../store/store.js';

export const PROCESS_INDEX = 'redswarm:processes';

export const heartbeatKey = (processId: string): string => `hb:{${processId}}`;
export const peersKey = (processId: string): string => `wsp:{${processId}}`;

/** The process of a route (`processId/socket`, see LocalSignalRouter). */
export function processOf(route: string): string {
  return route.slice(0, route.indexOf('/'));
}

function peerEntry(infoHash: InfoHash, peerId: string, route: string): string {
  return `${Buffer.from(infoHash, 'latin1').toString('hex')} ${Buffer.from(peerId, 'latin1').toString('hex')} ${route}`;
}

export interface RegistryTimes {
  /** Milliseconds a process counts as alive after its last heartbeat. */
  heartbeatMs: number;
  /** Milliseconds a process's peer list outlives its heartbeat: long enough for a coordinator to take over. */
  peersGraceMs: number;
}

/** This process's entry: heartbeats while it runs, and the list of its WebSocket peers. */
export class ProcessRegistration {
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeat: string;
  private readonly peers: string;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly processId: string,
    private readonly times: RegistryTimes,
    private readonly log: Logger,
  ) {
    this.heartbeat = heartbeatKey(processId);
    this.peers = peersKey(processId);
  }

  /** Registers the process (the first beat is awaited, so a process is never serving unregistered). */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((error: unknown) => this.log.warn({ err: error }, 'heartbeat failed'));
    }, this.times.heartbeatMs / 3);
    this.timer.unref();
  }

  /** A peer of one of this process's sockets, listed so that the process's death can remove it. */
  joined(route: string, infoHash: InfoHash, peerId: string): void {
    this.redis.sadd(this.peers, peerEntry(infoHash, peerId, route)).catch(() => {});
  }

  left(route: string, infoHash: InfoHash, peerId: string): void {
    this.redis.srem(this.peers, peerEntry(infoHash, peerId, route)).catch(() => {});
  }

  /** Deregisters after a clean stop (the sockets' closes removed their peers already). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.redis.del(this.heartbeat, this.peers), this.redis.zrem(PROCESS_INDEX, this.processId)]).catch(() => {});
  }

  private async beat(): Promise<void> {
    const { heartbeatMs, peersGraceMs } = this.times;
    await Promise.all([
      this.redis.set(this.heartbeat, String(process.pid), 'PX', heartbeatMs),
      this.redis.pexpire(this.peers, heartbeatMs + peersGraceMs),
      this.redis.zadd(PROCESS_INDEX, Date.now(), this.processId),
    ]);
  }
}

/** Ids in the index that have not beaten for `heartbeatMs` by this machine's clock: candidates, not verdicts. */
export async function silentProcesses(redis: Redis | Cluster, heartbeatMs: number): Promise<string[]> {
  return redis.zrangebyscore(PROCESS_INDEX, '-inf', Date.now() - heartbeatMs);
}

export async function isAlive(redis: Redis | Cluster, processId: string): Promise<boolean> {
  return (await redis.exists(heartbeatKey(processId))) === 1;
}

/**
 * Removes a dead process: each WebSocket peer it listed leaves its swarm (a stop from the peer's own route,
 * which changes nothing if the peer moved on), then its keys and its index entry go. Returns the peers removed.
 */
export async function removeProcess(redis: Redis | Cluster, store: Store, processId: string): Promise<number> {
  const entries = await redis.smembers(peersKey(processId));
  await Promise.all(
    entries.map((entry) => {
      const [infoHashHex, peerIdHex, route] = entry.split(' ') as [string, string, string];
      return store.announceWs({
        infoHash: Buffer.from(infoHashHex, 'hex').toString('latin1'),
        peerId: Buffer.from(peerIdHex, 'hex').toString('latin1'),
        route,
        event: 'stopped',
        seeder: false,
        numwant: 0,
        removed: true,
      });
    }),
  );
  await Promise.all([redis.del(peersKey(processId), heartbeatKey(processId)), redis.zrem(PROCESS_INDEX, processId)]);
  return entries.length;
}
