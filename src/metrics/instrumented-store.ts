/** A Store that times every operation and counts failures, around the Redis store. */
import type { AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../protocol/types.js';
import type { Store, StoreStats, StoreTotals, SweepResult, WsAnnounceRequest, WsAnnounceResult } from '../store/store.js';
import { storeDuration, storeErrors } from './tracker-metrics.js';

function timed<A extends unknown[], R>(operation: string, run: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  const duration = storeDuration.child({ operation });
  const errors = storeErrors.child({ operation });
  return (...args) => {
    const started = performance.now();
    return run(...args).then(
      (result) => {
        duration.observe((performance.now() - started) / 1000);
        return result;
      },
      (error: unknown) => {
        errors.inc();
        throw error;
      },
    );
  };
}

export class InstrumentedStore implements Store {
  readonly periodicSweep: boolean;
  readonly announce: (request: AnnounceRequest) => Promise<AnnounceResult>;
  readonly announceWs: (request: WsAnnounceRequest) => Promise<WsAnnounceResult>;
  readonly scrape: (infoHashes: readonly InfoHash[]) => Promise<ScrapeCounts[]>;
  readonly scrapeWs: (infoHashes: readonly InfoHash[]) => Promise<ScrapeCounts[]>;
  readonly listSwarms: (limit: number) => Promise<InfoHash[]>;
  readonly listWsSwarms: (limit: number) => Promise<InfoHash[]>;
  /** Answers from the inner store's memory (the Redis store's announce cache): not timed, nothing to wait for. */
  readonly announceWsNow?: (request: WsAnnounceRequest) => WsAnnounceResult | undefined;

  constructor(private readonly inner: Store) {
    this.periodicSweep = inner.periodicSweep;
    this.announce = timed('announce', (r) => inner.announce(r));
    this.announceWs = timed('announce_ws', (r) => inner.announceWs(r));
    this.scrape = timed('scrape', (h) => inner.scrape(h));
    this.scrapeWs = timed('scrape_ws', (h) => inner.scrapeWs(h));
    this.listSwarms = timed('list_swarms', (n) => inner.listSwarms(n));
    this.listWsSwarms = timed('list_ws_swarms', (n) => inner.listWsSwarms(n));
    if (inner.announceWsNow !== undefined) this.announceWsNow = inner.announceWsNow.bind(inner);
  }

  sweep(): Promise<SweepResult> {
    return this.inner.sweep();
  }

  stats(): Promise<StoreStats> {
    return this.inner.stats();
  }

  totals(): Promise<StoreTotals> {
    return this.inner.totals();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
