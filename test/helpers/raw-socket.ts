/** A raw WebSocket client for the tests: sends JSON (or any frame), and waits, bounded, for what comes back. */
import assert from 'node:assert/strict';
import WebSocket from 'ws';

export const WAIT_MS = 5000;

export type Json = Record<string, unknown>;

export class RawSocket {
  readonly received: Json[] = [];
  closeCode: number | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.received.push(isBinary ? { binary: true } : (JSON.parse(String(data)) as Json));
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    ws.on('error', () => this.wake()); // the close that follows is what tests look at
  }

  static open(url: string, options: WebSocket.ClientOptions = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawSocket(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    });
  }

  send(message: Json | string | Buffer): void {
    if (Buffer.isBuffer(message)) this.ws.send(message, { binary: true });
    else this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  private wake(): void {
    for (const wake of this.waiters) wake();
  }

  /** Waits until `probe` returns something, re-checked on every message and on close. */
  async until<T>(what: string, probe: () => T | undefined | false, waitMs = WAIT_MS): Promise<T> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const value = probe();
      if (value !== undefined && value !== false) return value;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${what}; received ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** The first message received at or after index `from` that matches. */
  async next(what: string, match: (message: Json) => boolean = () => true, from = 0): Promise<Json> {
    return this.until(what, () => this.received.slice(from).find(match));
  }

  /** Sends and waits for the next message after it. */
  async request(message: Json | string): Promise<Json> {
    const seen = this.received.length;
    this.send(message);
    return this.until('a reply', () => this.received[seen]);
  }

  closed(waitMs = WAIT_MS): Promise<number> {
    return this.until('the socket to close', () => this.closeCode, waitMs);
  }

  close(): Promise<number> {
    if (this.closeCode === undefined) this.ws.close();
    return this.closed();
  }
}

/** A 20-character binary id: 18 × the one-character `tag`, then `n` in two bytes (0xff and control bytes included). */
export function binaryId(tag: string, n: number): string {
  return tag.repeat(18) + String.fromCharCode((n >> 8) & 0xff, n & 0xff);
}

export function offer(offerId: string, sdp = 'v=0 offer'): Json {
  return { offer: { type: 'offer', sdp }, offer_id: offerId };
}
