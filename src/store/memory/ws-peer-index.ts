/**
 * A WebSocket swarm's index from peer_id to slot, for swarms past a few dozen peers (smaller ones are scanned):
 * open addressing in one typed array (linear probing, load ≤ 0.7, backward-shift deletion, so no tombstones;
 * 16-bit buckets up to 45,875 peers), about 4 bytes a peer where a Map costs ~40. It holds slots only; the peer_ids are read from the swarm's dense
 * `peerIds` array, which the swarm keeps in step (insert after appending, retarget after moving, delete before).
 */
import { randomInt } from 'node:crypto';

/** Linear probing stays short up to this load; a rebuild brings it to at most half. */
const MAX_LOAD = 0.7;
/** Most buckets a Uint16Array holds: slot + 1 ≤ 65,535 for every slot that fits (MAX_LOAD × 65,536). */
const MAX_16_BIT_BUCKETS = 65_536;

/** Seed of the hash, so that nobody can choose peer_ids that collide. */
const HASH_SEED = randomInt(0x7fffffff) | 0;

function hashPeerId(peerId: string): number {
  let h = HASH_SEED;
  for (let i = 0; i < peerId.length; i++) {
    h = Math.imul(h ^ peerId.charCodeAt(i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

export class PeerIdIndex {
  private readonly buckets: Uint16Array | Int32Array; // slot + 1; 0 marks an empty bucket
  private readonly mask: number;

  /** Indexes every slot of `peerIds`. */
  constructor(private readonly peerIds: readonly string[]) {
    let size = 64;
    while (peerIds.length > size / 2) size *= 2;
    this.buckets = size <= MAX_16_BIT_BUCKETS ? new Uint16Array(size) : new Int32Array(size);
    this.mask = size - 1;
    for (let slot = 0; slot < peerIds.length; slot++) this.insert(slot);
  }

  /** Room for `count` peers within the load limit (else build a new index). */
  fits(count: number): boolean {
    return count <= this.buckets.length * MAX_LOAD;
  }

  /** The slot of `peerId`, or -1. */
  find(peerId: string): number {
    const { buckets, mask, peerIds } = this;
    for (let b = hashPeerId(peerId) & mask; buckets[b] !== 0; b = (b + 1) & mask) {
      const slot = buckets[b]! - 1;
      if (peerIds[slot] === peerId) return slot;
    }
    return -1;
  }

  insert(slot: number): void {
    const { buckets, mask } = this;
    let b = hashPeerId(this.peerIds[slot]!) & mask;
    while (buckets[b] !== 0) b = (b + 1) & mask;
    buckets[b] = slot + 1;
  }

  /** The peer at slot `from` moved to `to` (`peerIds[from]` still names it, or `peerIds[to]` already does). */
  retarget(peerId: string, from: number, to: number): void {
    this.buckets[this.bucketOf(peerId, from)] = to + 1;
  }

  /** Backward-shift deletion of the peer at `slot`: later entries of the probe run move up. */
  delete(peerId: string, slot: number): void {
    const { buckets, mask } = this;
    let hole = this.bucketOf(peerId, slot);
    for (let b = (hole + 1) & mask; buckets[b] !== 0; b = (b + 1) & mask) {
      const home = hashPeerId(this.peerIds[buckets[b]! - 1]!) & mask;
      // Move the entry into the hole if its home is not in the cyclic range (hole, b].
      if (((b - home) & mask) >= ((b - hole) & mask)) {
        buckets[hole] = buckets[b]!;
        hole = b;
      }
    }
    buckets[hole] = 0;
  }

  private bucketOf(peerId: string, slot: number): number {
    const { buckets, mask } = this;
    let b = hashPeerId(peerId) & mask;
    while (buckets[b] !== slot + 1) b = (b + 1) & mask;
    return b;
  }
}
