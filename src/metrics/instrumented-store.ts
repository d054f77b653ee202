/** A Store that times every operation and counts failures, around any other Store. */
import type { AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../protocol/types.js';
import type { Store, StoreStats, SweepResult, WsAnnounceRequest, WsAnnounceResult } from '../store/store.js';
import { storeDuration, storeErrors, sweeps, sweptPeers } from './tracker-metrics.js';

function timed<A extends unknown[], R>(operation: string, run: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  const duration = storeDuration.labels({ operation });
  const errors = storeErrors.labels({ operation });
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

  constructor(private readonly inner: Store) {
    this.periodicSweep = inner.periodicSweep;
    this.announce = timed('announce', (r) => inner.announce(r));
    this.announceWs = timed('announce_ws', (r) => inner.announceWs(r));
    this.scrape = timed('scrape', (h) => inner.scrape(h));
    this.scrapeWs = timed('scrape_ws', (h) => inner.scrapeWs(h));
    this.listSwarms = timed('list_swarms', (n) => inner.listSwarms(n));
    this.listWsSwarms = timed('list_ws_swarms', (n) => inner.listWsSwarms(n));
  }

  async sweep(): Promise<SweepResult> {
    const result = await this.inner.sweep();
    sweeps.inc();
    sweptPeers.inc(result.peersRemoved);
    return result;
  }

  stats(): Promise<StoreStats> {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
