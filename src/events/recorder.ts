/**
 * The embedded store's side of swarm events: the store numbers each swarm's changes (its `seq`) and tells the
 * recorder, which completes the event (schema.ts) and appends it to the sink. The appends made while the store
 * handled one request are handed back (`settled`), so that the request is answered only once the sink has
 * them, and fails when one failed.
 */
import type { AnnounceRequest, InfoHash } from '../protocol/types.js';
import type { WsAnnounceRequest } from '../store/store.js';
import { eventValues, expiredFacts, hexOf, peerText, type SwarmKind } from './schema.js';
import type { EventSink } from './sinks.js';
import { wireAnnounceFacts, wsAnnounceFacts } from './store-events.js';

export class SwarmEventRecorder {
  private pending: Promise<void>[] = [];

  constructor(readonly sink: EventSink) {}

  announce(request: AnnounceRequest, seq: number, complete: number, incomplete: number): void {
    this.hold(this.sink.append(request.infoHash, eventValues(seq, wireAnnounceFacts(request), complete, incomplete)));
  }

  announceWs(request: WsAnnounceRequest, seq: number, complete: number, incomplete: number): void {
    this.hold(this.sink.append(request.infoHash, eventValues(seq, wsAnnounceFacts(request), complete, incomplete)));
  }

  /** A peer that expired: `peer` is a compact peer (HTTP/UDP swarm) or a peer_id (WebSocket swarm). */
  expired(infoHash: InfoHash, swarm: SwarmKind, peer: Uint8Array | string, seeder: boolean, seq: number, complete: number, incomplete: number, nowSeconds: number): void {
    const facts = expiredFacts(infoHash, swarm, nowSeconds * 1000, typeof peer === 'string' ? hexOf(peer) : peerText(peer), seeder, swarm === 'ws' ? 'ws' : null);
    this.hold(this.sink.append(infoHash, eventValues(seq, facts, complete, incomplete)));
  }

  /**
   * Kept for settled(), and marked handled now: a sweep yields between slices before it asks, and an append
   * that fails meanwhile must not be an unhandled rejection (which ends the process); settled() still sees it.
   */
  private hold(append: Promise<void>): void {
    append.catch(() => {});
    this.pending.push(append);
  }

  /** Settles once every event recorded since the last call is appended; rejects if one could not be. */
  settled(): Promise<void> | undefined {
    if (this.pending.length === 0) return undefined;
    const all = this.pending;
    this.pending = [];
    return all.length === 1 ? all[0] : Promise.all(all).then(() => undefined);
  }
}
