/** What every protocol tells announcers alike: how many peers they get, and when to come back. */
import type { TrackerConfig } from '../config/index.js';

export class AnnouncePolicy {
  constructor(private readonly config: TrackerConfig) {}

  /** Peers to return for a requested numwant (negative: not given), within the configured maximum and `cap`. */
  numwant(requested: number, cap: number): number {
    const wanted = requested < 0 ? this.config.numwantDefault : requested;
    return Math.min(wanted, this.config.numwantMax, cap);
  }

  /** Announce interval with random jitter, so that clients started together drift apart. */
  interval(): number {
    return this.jittered(this.config.interval);
  }

  /** The WebSocket announce interval, with the same jitter. */
  wsInterval(): number {
    return this.jittered(this.config.wsInterval);
  }

  private jittered(interval: number): number {
    return interval + Math.floor(Math.random() * interval * this.config.intervalJitter);
  }

  get minInterval(): number {
    return this.config.minInterval;
  }
}
