/**
 * Records what a `bittorrent-tracker` Client reports over WebSocket (updates, scrapes, WebRTC peers and what
 * they send), with bounded waits for a condition on it.
 */
import assert from 'node:assert/strict';
import type Client from 'bittorrent-tracker';
import type { ScrapeData, UpdateData } from 'bittorrent-tracker';

/** Each side of an exchange waits ~5 s for ICE gathering (simple-peer's iceCompleteTimeout): room for both. */
export const WAIT_MS = 30_000;

/** The simple-peer instance the client hands out with 'peer'. */
export interface WebRtcPeer {
  id: string;
  connected: boolean;
  on(event: 'connect', listener: () => void): void;
  on(event: 'data', listener: (data: Uint8Array) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  send(data: string): void;
  destroy(): void;
}

export class Recorder {
  readonly updates: UpdateData[] = [];
  readonly scrapes: ScrapeData[] = [];
  readonly peers: WebRtcPeer[] = [];
  readonly received: string[] = [];
  readonly problems: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly client: Client,
  ) {
    client.on('update', (data: UpdateData) => this.push(() => this.updates.push(data)));
    client.on('scrape', (data: ScrapeData) => this.push(() => this.scrapes.push(data)));
    client.on('warning', (error: Error) => this.push(() => this.problems.push(`warning: ${error.message}`)));
    client.on('error', (error: Error) => this.push(() => this.problems.push(`error: ${error.message}`)));
    client.on('peer', (peer: WebRtcPeer) =>
      this.push(() => {
        this.peers.push(peer);
        peer.on('connect', () => this.push(() => peer.send(`hello from ${name}`)));
        peer.on('data', (data) => this.push(() => this.received.push(Buffer.from(data).toString())));
        peer.on('error', () => this.push(() => undefined)); // a peer that fails is seen as not connecting
      }),
    );
  }

  private push(record: () => void): void {
    record();
    for (const wake of this.waiters.splice(0)) wake();
  }

  async until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      assert.deepEqual(this.problems, [], `${this.name} reported problems while waiting for ${what}`);
      const value = probe();
      if (value !== undefined && value !== false) return value;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`${this.name}: timed out waiting for ${what}; updates ${JSON.stringify(this.updates)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  nextUpdate(): Promise<UpdateData> {
    const seen = this.updates.length;
    return this.until(`update #${seen + 1}`, () => this.updates[seen]);
  }

  async scrape(): Promise<ScrapeData> {
    const seen = this.scrapes.length;
    this.client.scrape();
    return this.until(`scrape #${seen + 1}`, () => this.scrapes[seen]);
  }
}

export function counts(data: { complete: number; incomplete: number; downloaded?: number }): number[] {
  return [data.complete, data.incomplete, ...(data.downloaded === undefined ? [] : [data.downloaded])];
}
