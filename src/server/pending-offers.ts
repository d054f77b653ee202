/**
 * The offers delivered to one socket that it may still answer. Recording them where they are delivered is
 * what authorizes an answer without asking the store: an answer is relayed only to the peer whose offer went
 * to this socket, within the offer timeout.
 */
import type { InfoHash } from '../protocol/types.js';
import type { WsAnswerMessage } from '../protocol/websocket.js';

interface PendingOffer {
  readonly infoHash: InfoHash;
  /** The offering peer: the answer's to_peer_id. */
  readonly fromPeerId: string;
  /** The peer of this socket the offer was picked for: the only one that may answer it. */
  readonly toPeerId: string;
  /** Where the offering peer's socket is. */
  readonly fromRoute: string;
  readonly expiresAt: number;
}

export class PendingOffers {
  /**
   * By offer_id (20 random bytes from the offering client; a clash only replaces an older offer on this socket).
   * Insertion order is expiry order, as every offer gets the same timeout.
   */
  private readonly offers = new Map<string, PendingOffer>();
  /** No offer expires before this (the first one's expiry, or earlier): add looks for expired ones from then on. */
  private earliest = Infinity;

  constructor(
    private readonly timeoutMs: number,
    /** Most offers kept; beyond, the oldest is forgotten (a peer answers within seconds, or not at all). */
    private readonly capacity: number,
  ) {}

  get size(): number {
    return this.offers.size;
  }

  add(offerId: string, infoHash: InfoHash, fromPeerId: string, toPeerId: string, fromRoute: string, now: number): void {
    if (now >= this.earliest) this.expire(now);
    this.offers.delete(offerId); // a repeated id moves to the end, keeping the order by expiry
    if (this.offers.size >= this.capacity) this.offers.delete(this.offers.keys().next().value!);
    const expiresAt = now + this.timeoutMs;
    if (this.offers.size === 0) this.earliest = expiresAt;
    this.offers.set(offerId, { infoHash, fromPeerId, toPeerId, fromRoute, expiresAt });
  }

  /** The route the answer goes to, if it answers an offer this socket got, in time; the offer is used up. */
  take(answer: WsAnswerMessage, now: number): string | undefined {
    const offer = this.offers.get(answer.offerId);
    if (offer === undefined || offer.expiresAt <= now) return undefined;
    if (offer.infoHash !== answer.infoHash || offer.fromPeerId !== answer.toPeerId || offer.toPeerId !== answer.peerId) {
      return undefined;
    }
    this.offers.delete(answer.offerId);
    return offer.fromRoute;
  }

  /** Forgets the offers whose time is up; returns how many are left. */
  expire(now: number): number {
    this.earliest = Infinity;
    for (const [key, offer] of this.offers) {
      if (offer.expiresAt > now) {
        this.earliest = offer.expiresAt;
        break;
      }
      this.offers.delete(key);
    }
    return this.offers.size;
  }
}
