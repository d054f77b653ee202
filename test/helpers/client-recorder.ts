/**
 * Records what a `bittorrent-tracker` Client reports (updates, scrapes, peers, warnings and errors), with bounded
 * waits for a condition on it. Only types come from the package here: the HTTP/UDP tests load the client without
 * its WebRTC dependencies (test/server/load-tracker-client.ts).
 */
import assert from 'node:assert/strict';
import type Client from 'bittorrent-tracker';
import type { ScrapeData, UpdateData } from 'bittorrent-tracker';

/** `Peer` is what the client hands out with 'peer': an "ip:port" string over HTTP and UDP, a WebRTC peer over WebSocket. */
export class ClientRecorder<Peer> {
  readonly updates: UpdateData[] = [];
  readonly scrapes: ScrapeData[] = [];
  readonly peers: Peer[] = [];
  readonly problems: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly client: Client,
    private readonly waitMs: number,
  ) {
    client.on('update', (data: UpdateData) => this.push(() => this.updates.push(data)));
    client.on('peer', (peer: Peer) => this.push(() => this.recordPeer(peer)));
    client.on('scrape', (data: ScrapeData) => this.push(() => this.scrapes.push(data)));
    client.on('warning', (error: Error) => this.push(() => this.problems.push(`warning: ${error.message}`)));
    client.on('error', (error: Error) => this.push(() => this.problems.push(`error: ${error.message}`)));
  }

  protected recordPeer(peer: Peer): void {
    this.peers.push(peer);
  }

  /** What a timeout reports besides what was waited for. */
  protected describeState(): string {
    return `updates ${JSON.stringify(this.updates)}`;
  }

  /** Records something, then wakes every `until` to check its condition again. */
  protected push(record: () => void): void {
    record();
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves with the first truthy value of `probe`, re-checked on every event; fails on a warning or timeout. */
  async until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      assert.deepEqual(this.problems, [], `${this.name} reported problems while waiting for ${what}`);
      const value = probe();
      if (value !== undefined && value !== false) return value;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`${this.name}: timed out waiting for ${what}; ${this.describeState()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next update after the ones seen so far. */
  nextUpdate(): Promise<UpdateData> {
    const seen = this.updates.length;
    return this.until(`update #${seen + 1}`, () => this.updates[seen]);
  }

  /** Scrapes and waits for the result. */
  async scrape(): Promise<ScrapeData> {
    const seen = this.scrapes.length;
    this.client.scrape();
    return this.until(`scrape #${seen + 1}`, () => this.scrapes[seen]);
  }
}

/** Starts the seeder, then the leecher, each once the tracker answered the one before: [1, 0], then [1, 1]. */
export async function startSeederThenLeecher(seeder: ClientRecorder<unknown>, leecher: ClientRecorder<unknown>): Promise<void> {
  let next = seeder.nextUpdate();
  seeder.client.start();
  assert.deepEqual(counts(await next), [1, 0]);
  next = leecher.nextUpdate();
  leecher.client.start();
  assert.deepEqual(counts(await next), [1, 1]);
}

export function counts(data: { complete: number; incomplete: number; downloaded?: number }): number[] {
  return [data.complete, data.incomplete, ...(data.downloaded === undefined ? [] : [data.downloaded])];
}
