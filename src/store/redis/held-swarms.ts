/**
 * What the Redis store's two announce caches share (announce-cache.ts for HTTP/UDP, ws-announce-cache.ts for
 * WebSocket; docs/scaling.md): the swarms a process holds, and each swarm's collected changes, sent to Redis as
 * one refresh call MS after the first of them. Swarms fall due at different times, so Redis gets the calls
 * spread out, not in a burst. A call for a swarm first sends what is collected for it (`beforeCall`), on the
 * same connection, so Redis applies a peer's announces in the order they came.
 */
import type { AnnounceEvent, InfoHash, ScrapeCounts } from '../../protocol/types.js';

/**
 * How many peers a call asks for: the sample, to hold for later announces; 0 for a stop (given no peers) or an
 * announce wanting more than the sample (it asks for its own numwant, nothing held).
 */
export function askedFor(request: { readonly event: AnnounceEvent; readonly numwant: number }, sample: number): number {
  return request.event !== 'stopped' && request.numwant <= sample ? sample : 0;
}

/** A held swarm: the counts Redis last returned, and its changes waiting to be sent. */
export interface HeldSwarm<Key> {
  readonly infoHash: InfoHash;
  complete: number;
  incomplete: number;
  downloaded: number;
  /** Changes waiting to be sent: the peer → its REFRESH_TAGS bits; undefined once sent. */
  refreshes: Map<Key, number> | undefined;
}

/**
 * A swarm's changes waiting in the queue, and when they are due (ms): MS after the first of them, less a tick.
 * A call for the swarm may have sent them earlier (the swarm's `refreshes` is then another map, or none).
 */
interface Due<Key, Swarm extends HeldSwarm<Key>> {
  readonly swarm: Swarm;
  readonly refreshes: Map<Key, number>;
  readonly due: number;
}

/** What both caches take as they are. */
export interface HeldSwarmsTiming {
  /** How long a swarm's reply answers, and how late at most its collected refreshes go out (ms). */
  readonly ms: number;
  /** Peers one refresh call carries at most; a swarm with more gets several calls. */
  readonly refreshesPerCall: number;
  /** A refresh that failed (its peers are not retried: their next announce is). */
  readonly onRefreshError: (error: Error, peers: number) => void;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
}

export interface HeldSwarmsOptions<Key, Swarm extends HeldSwarm<Key>> extends HeldSwarmsTiming {
  /** Sends changes of a swarm (peer → REFRESH_TAGS bits); resolves with its counts after them. */
  readonly refresh: (swarm: Swarm, peers: ReadonlyMap<Key, number>) => Promise<ScrapeCounts>;
  /** Whether a swarm with nothing to send may be forgotten: no reply it holds answers any more. */
  readonly stale: (swarm: Swarm, now: number) => boolean;
}

export class HeldSwarms<Key, Swarm extends HeldSwarm<Key>> {
  readonly swarms = new Map<InfoHash, Swarm>();
  readonly now: () => number;
  /** Swarms' collected changes in the order they are due; `head` is the first not yet sent. */
  private queue: Due<Key, Swarm>[] = [];
  private head = 0;
  /** Ticks spread the refreshes: each swarm's go when due, not every swarm's at once (a burst Redis queues). */
  private readonly tick: number;
  private readonly timer: NodeJS.Timeout;
  private nextForget = 0;
  private readonly sending = new Set<Promise<void>>();

  constructor(private readonly options: HeldSwarmsOptions<Key, Swarm>) {
    this.now = options.now ?? (() => performance.now());
    this.tick = Math.min(options.ms, Math.max(10, Math.floor(options.ms / 8)));
    this.timer = setInterval(() => this.sendDue(this.now()), this.tick);
    this.timer.unref();
  }

  /** The swarm's collected changes, queued to be sent MS from the first. */
  collect(swarm: Swarm): Map<Key, number> {
    let refreshes = swarm.refreshes;
    if (refreshes === undefined) {
      refreshes = swarm.refreshes = new Map();
      this.queue.push({ swarm, refreshes, due: this.now() + this.options.ms - this.tick });
    }
    return refreshes;
  }

  /** An announce about to go to Redis: the swarm's collected changes go first, so Redis applies them before it. */
  beforeCall(infoHash: InfoHash): void {
    const swarm = this.swarms.get(infoHash);
    if (swarm?.refreshes !== undefined) this.send(swarm, swarm.refreshes);
  }

  /**
   * Sends the refreshes that are due (one call per swarm, `refreshesPerCall` peers at most each), and once an
   * MS forgets the swarms that are stale and have nothing to send.
   */
  private sendDue(now: number): void {
    const queue = this.queue;
    while (this.head < queue.length && queue[this.head]!.due <= now) this.sendQueued(queue[this.head++]!);
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    if (now < this.nextForget) return;
    this.nextForget = now + this.options.ms;
    for (const [infoHash, swarm] of this.swarms) {
      if (swarm.refreshes === undefined && this.options.stale(swarm, now)) this.swarms.delete(infoHash);
    }
  }

  /** A queue entry's changes, unless a call for the swarm sent them already. */
  private sendQueued({ swarm, refreshes }: Due<Key, Swarm>): void {
    if (swarm.refreshes === refreshes) this.send(swarm, refreshes);
  }

  private send(swarm: Swarm, refreshes: Map<Key, number>): void {
    swarm.refreshes = undefined;
    if (refreshes.size === 0) return;
    for (const peers of this.chunks(refreshes)) {
      const sent = this.options.refresh(swarm, peers).then(
        (counts) => {
          swarm.complete = counts.complete;
          swarm.incomplete = counts.incomplete;
          swarm.downloaded = counts.downloaded;
        },
        (error: Error) => this.options.onRefreshError(error, peers.size),
      );
      this.sending.add(sent);
      void sent.finally(() => this.sending.delete(sent));
    }
  }

  /** Sends every collected refresh now, due or not, and waits for the answers (of those sent earlier too). */
  async sendAll(): Promise<void> {
    for (let i = this.head; i < this.queue.length; i++) this.sendQueued(this.queue[i]!);
    this.queue = [];
    this.head = 0;
    await Promise.all([...this.sending]);
  }

  /** Stops the timer and sends every collected refresh. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.sendAll();
  }

  private *chunks(refreshes: Map<Key, number>): Generator<ReadonlyMap<Key, number>> {
    const limit = this.options.refreshesPerCall;
    if (refreshes.size <= limit) {
      yield refreshes;
      return;
    }
    let chunk = new Map<Key, number>();
    for (const [peer, tags] of refreshes) {
      chunk.set(peer, tags);
      if (chunk.size === limit) {
        yield chunk;
        chunk = new Map();
      }
    }
    if (chunk.size > 0) yield chunk;
  }
}
