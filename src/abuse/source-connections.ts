/**
 * Open connections per source. Every connection is counted whatever the limit (so that a limit set on reload
 * sees the connections already open); entries exist only for sources with open connections, so the table is
 * bounded by the connections the process holds (--ws-max-sockets).
 */
import type { SourceKey } from './source.js';

export class SourceConnections {
  private readonly open = new Map<SourceKey, number>();

  /** False when `source` holds `limit` connections already (0: no limit). */
  admits(source: SourceKey, limit: number): boolean {
    return limit === 0 || (this.open.get(source) ?? 0) < limit;
  }

  opened(source: SourceKey): void {
    this.open.set(source, (this.open.get(source) ?? 0) + 1);
  }

  closed(source: SourceKey): void {
    const count = this.open.get(source) ?? 0;
    if (count <= 1) this.open.delete(source);
    else this.open.set(source, count - 1);
  }

  /** Sources with open connections. */
  get sources(): number {
    return this.open.size;
  }
}
