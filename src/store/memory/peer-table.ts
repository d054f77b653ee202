/**
 * One address family's peers of one swarm, packed into a Uint32Array of fixed-size records:
 *   [address word(s)…, port << 16 | flags, expiresAt]
 * IPv4 records are 3 words (12 bytes), IPv6 records 6 words (24 bytes): no object per peer, which is what
 * keeps the embedded store near 50 bytes a peer (see docs/performance.md).
 * Peers are identified by address and port (not peer_id, which anyone can claim). Small tables are scanned;
 * from INDEX_THRESHOLD peers on, an open-addressing index (linear probing, backward-shift deletion) maps an
 * address to its record. Removal moves the last record into the hole, so records stay dense.
 */
import { randomInt } from 'node:crypto';
import { NOT_LOCAL, SAME_ADDRESS, SAME_PREFIX, prefixHash4, prefixHash6, type LocalityView } from './locality.js';
import { RecordSlabs, type Block } from './record-slabs.js';

export const FLAG_SEEDER = 1;
/** The peer's `completed` was already counted in the swarm's downloads. */
export const FLAG_COUNTED = 2;

const INDEX_THRESHOLD = 16;
/** Linear probing stays short up to this load; a rebuild halves it. */
const MAX_INDEX_LOAD = 0.7;
const INITIAL_CAPACITY = 1;

/** Seed of the index hash, so that nobody can choose ports that collide. */
const HASH_SEED = randomInt(0x7fffffff) | 0;

/** The key of the peer being looked up: address words, then the port in the last slot. */
const key = new Uint32Array(5);
const PORT_SLOT = 4;

function hashKey(addressWords: number): number {
  let h = HASH_SEED;
  for (let i = 0; i < addressWords; i++) {
    h = Math.imul(h ^ key[i]!, 0x9e3779b1);
    h ^= h >>> 16;
  }
  h = Math.imul(h ^ key[PORT_SLOT]!, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const EMPTY_RECORDS = new Uint32Array(0);

export class PeerTable implements Block, LocalityView {
  /** Words per record. */
  private readonly stride: number;
  private readonly addressWords: number;
  /** The records live at array[base .. base + capacity × stride). */
  array: Uint32Array;
  base = 0;
  private capacity = INITIAL_CAPACITY;
  private index: Int32Array | null = null; // record slot + 1; 0 marks an empty bucket
  count = 0;
  seeders = 0;
  /**
   * No peer here expires before this second: a lower bound (an update only moves an expiry later), exact after
   * each expire(), which scans the table only once it has come.
   */
  private nextExpiry = Infinity;

  constructor(
    /** Shared record memory of this address family: stride 3 for IPv4, 6 for IPv6. */
    private readonly slabs: RecordSlabs,
  ) {
    this.stride = slabs.stride;
    this.addressWords = slabs.stride - 2;
    this.array = EMPTY_RECORDS;
    slabs.allocate(this.capacity, this);
  }

  /** Returns the records' memory; the table must not be used afterwards. */
  release(): void {
    this.slabs.release(this.capacity, this);
  }

  /** Compact peer length of this family: address bytes + 2 port bytes. */
  get peerLength(): number {
    return this.addressWords * 4 + 2;
  }

  /** Record slot of a compact peer, or -1. */
  find(peer: Uint8Array): number {
    const words = this.addressWords;
    for (let i = 0; i < words; i++) {
      const at = i * 4;
      key[i] = (peer[at]! << 24) | (peer[at + 1]! << 16) | (peer[at + 2]! << 8) | peer[at + 3]!;
    }
    const portAt = words * 4;
    key[PORT_SLOT] = (peer[portAt]! << 8) | peer[portAt + 1]!;
    return this.index === null ? this.scan() : this.lookup();
  }

  private matches(slot: number): boolean {
    const r = this.array;
    const base = this.base + slot * this.stride;
    for (let i = 0; i < this.addressWords; i++) if (r[base + i] !== key[i]) return false;
    return r[base + this.addressWords]! >>> 16 === key[PORT_SLOT];
  }

  private scan(): number {
    for (let slot = 0; slot < this.count; slot++) if (this.matches(slot)) return slot;
    return -1;
  }

  private lookup(): number {
    const index = this.index!;
    const mask = index.length - 1;
    for (let b = hashKey(this.addressWords) & mask; ; b = (b + 1) & mask) {
      const entry = index[b]!;
      if (entry === 0) return -1;
      if (this.matches(entry - 1)) return entry - 1;
    }
  }

  /** Adds the peer last passed to find() (which must have returned -1); returns its slot. */
  insert(flags: number, expiresAt: number): number {
    if (this.count === this.capacity) this.resize(this.grownCapacity());
    const slot = this.count++;
    const r = this.array;
    const base = this.base + slot * this.stride;
    for (let i = 0; i < this.addressWords; i++) r[base + i] = key[i]!;
    r[base + this.addressWords] = (key[PORT_SLOT]! << 16) | flags;
    r[base + this.addressWords + 1] = expiresAt;
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    if (flags & FLAG_SEEDER) this.seeders++;
    if (this.index !== null) {
      if (this.count > this.index.length * MAX_INDEX_LOAD) this.rebuildIndex();
      else this.indexInsert(slot);
    } else if (this.count > INDEX_THRESHOLD) {
      this.rebuildIndex();
    }
    return slot;
  }

  flags(slot: number): number {
    return this.array[this.base + slot * this.stride + this.addressWords]! & 0xffff;
  }

  /** Refreshes a peer: new flags and expiry. */
  update(slot: number, flags: number, expiresAt: number): void {
    const at = this.base + slot * this.stride + this.addressWords;
    const old = this.array[at]!;
    this.seeders += (flags & FLAG_SEEDER) - (old & FLAG_SEEDER);
    this.array[at] = (old & 0xffff0000) | flags;
    this.array[at + 1] = expiresAt;
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
  }

  /** Removes a peer; the last record moves into its slot. */
  remove(slot: number): void {
    const r = this.array;
    const stride = this.stride;
    const base = this.base;
    if (r[base + slot * stride + this.addressWords]! & FLAG_SEEDER) this.seeders--;
    if (this.index !== null) this.indexDelete(slot);
    const last = --this.count;
    if (slot !== last) {
      if (this.index !== null) this.indexRetarget(last, slot);
      r.copyWithin(base + slot * stride, base + last * stride, base + last * stride + stride);
    }
    if (this.index !== null && this.count < INDEX_THRESHOLD / 2) this.index = null;
    this.shrinkIfSparse();
  }

  /** Whether a peer may have expired by `now`: only then does expire() scan. */
  due(now: number): boolean {
    return now >= this.nextExpiry;
  }

  /**
   * Drops every peer with expiresAt <= now, keeping record order; returns how many went. `onExpired(slot)` (swarm
   * events) is told each one first, while peerAt(slot) still reads it.
   */
  expire(now: number, onExpired?: (slot: number, seeder: boolean) => void): number {
    if (now < this.nextExpiry) return 0;
    const r = this.array;
    const stride = this.stride;
    const expiryAt = this.addressWords + 1;
    let kept = 0;
    let soonest = Infinity;
    for (let slot = 0; slot < this.count; slot++) {
      const base = this.base + slot * stride;
      const expiresAt = r[base + expiryAt]!;
      if (expiresAt > now) {
        if (kept !== slot) r.copyWithin(this.base + kept * stride, base, base + stride);
        kept++;
        if (expiresAt < soonest) soonest = expiresAt;
      } else {
        const seeder = (r[base + this.addressWords]! & FLAG_SEEDER) !== 0;
        onExpired?.(slot, seeder);
        if (seeder) this.seeders--;
      }
    }
    this.nextExpiry = soonest;
    const removed = this.count - kept;
    if (removed > 0) {
      this.count = kept;
      this.shrinkIfSparse();
      if (this.count > INDEX_THRESHOLD) this.rebuildIndex();
      else this.index = null;
    }
    return removed;
  }

  /**
   * Writes up to `want` live peers other than `exclude` as compact peers into out[at..], spread over the
   * table: a random offset, then even strides (cheap, and a different sample for every call).
   * Returns the number of bytes written.
   */
  writeSample(out: Uint8Array, at: number, want: number, exclude: number, now: number): number {
    const candidates = exclude >= 0 ? this.count - 1 : this.count;
    if (want > candidates) want = candidates;
    if (want <= 0) return 0;
    const step = candidates / want;
    const offset = Math.random() * step;
    const start = at;
    for (let i = 0; i < want; i++) {
      let slot = Math.floor(offset + i * step);
      if (exclude >= 0 && slot >= exclude) slot++;
      at = this.writePeer(slot, out, at, now);
    }
    return at - start;
  }

  /**
   * Locality mode (locality.ts): writes the peers at `local` (distinct slots, not `exclude`) first, then up to
   * `want` in all with an even-stride sample, as writeSample takes it, of the slots that are neither.
   */
  writeLocalFirst(out: Uint8Array, at: number, want: number, exclude: number, local: readonly number[], now: number): number {
    if (local.length === 0) return this.writeSample(out, at, want, exclude, now);
    const start = at;
    for (const slot of local) at = this.writePeer(slot, out, at, now);
    const skipped = exclude >= 0 ? [...local, exclude] : local.slice();
    skipped.sort((a, b) => a - b);
    const candidates = this.count - skipped.length;
    const rest = Math.min(want - local.length, candidates);
    if (rest <= 0) return at - start;
    const step = candidates / rest;
    const offset = Math.random() * step;
    for (let i = 0, passed = 0; i < rest; i++) {
      // The k-th slot that is not skipped: k plus the skipped slots before it (both ascend, so one merge pass).
      const k = Math.floor(offset + i * step);
      while (passed < skipped.length && skipped[passed]! <= k + passed) passed++;
      at = this.writePeer(k + passed, out, at, now);
    }
    return at - start;
  }

  /** Locality: the hash of the record's /24 (IPv4) or /48 (IPv6). */
  prefixHash(slot: number): number {
    const r = this.array;
    const base = this.base + slot * this.stride;
    return this.addressWords === 1 ? prefixHash4(r[base]!) : prefixHash6(r[base]!, r[base + 1]!);
  }

  /** Locality: whether the live record at `slot` has the address of the one at `to`, or its /24 or /48. */
  tier(slot: number, to: number, now: number): number {
    const r = this.array;
    const a = this.base + slot * this.stride;
    const b = this.base + to * this.stride;
    if (r[a + this.addressWords + 1]! <= now) return NOT_LOCAL;
    if (this.addressWords === 1) {
      if (r[a] === r[b]) return SAME_ADDRESS;
      return r[a]! >>> 8 === r[b]! >>> 8 ? SAME_PREFIX : NOT_LOCAL;
    }
    if (r[a] !== r[b] || r[a + 1]! >>> 16 !== r[b + 1]! >>> 16) return NOT_LOCAL;
    return r[a + 1] === r[b + 1] && r[a + 2] === r[b + 2] && r[a + 3] === r[b + 3] ? SAME_ADDRESS : SAME_PREFIX;
  }

  private writePeer(slot: number, out: Uint8Array, at: number, now: number): number {
    if (this.array[this.base + slot * this.stride + this.addressWords + 1]! <= now) return at; // expired since the last sweep of this swarm
    return this.writeRecord(slot, out, at);
  }

  /** The compact peer at `slot` (swarm events). */
  peerAt(slot: number): Uint8Array {
    const out = new Uint8Array(this.peerLength);
    this.writeRecord(slot, out, 0);
    return out;
  }

  private writeRecord(slot: number, out: Uint8Array, at: number): number {
    const r = this.array;
    const base = this.base + slot * this.stride;
    const words = this.addressWords;
    for (let i = 0; i < words; i++) {
      const w = r[base + i]!;
      out[at++] = w >>> 24;
      out[at++] = w >>> 16;
      out[at++] = w >>> 8;
      out[at++] = w;
    }
    const portWord = r[base + words]!;
    out[at++] = portWord >>> 24;
    out[at++] = portWord >>> 16;
    return at;
  }

  private grownCapacity(): number {
    const capacity = this.capacity;
    return RecordSlabs.capacityFor(capacity < 64 ? capacity * 2 : capacity + (capacity >> 1));
  }

  private shrinkIfSparse(): void {
    if (this.capacity > INITIAL_CAPACITY && this.count * 4 < this.capacity) {
      this.resize(RecordSlabs.capacityFor(Math.max(INITIAL_CAPACITY, this.count * 2)));
    }
  }

  private resize(capacity: number): void {
    const from = this.array;
    const fromBase = this.base;
    const fromCapacity = this.capacity;
    this.slabs.allocate(capacity, this);
    const words = this.count * this.stride;
    this.array.set(from.subarray(fromBase, fromBase + words), this.base);
    this.slabs.release(fromCapacity, { array: from, base: fromBase });
    this.capacity = capacity;
  }

  private loadKey(slot: number): void {
    const r = this.array;
    const base = this.base + slot * this.stride;
    for (let i = 0; i < this.addressWords; i++) key[i] = r[base + i]!;
    key[PORT_SLOT] = r[base + this.addressWords]! >>> 16;
  }

  private rebuildIndex(): void {
    let size = 64;
    while (this.count > size * (MAX_INDEX_LOAD / 2)) size *= 2;
    const saved = key.slice();
    this.index = new Int32Array(size);
    for (let slot = 0; slot < this.count; slot++) this.indexInsert(slot);
    key.set(saved);
  }

  private indexInsert(slot: number): void {
    const index = this.index!;
    const mask = index.length - 1;
    this.loadKey(slot);
    let b = hashKey(this.addressWords) & mask;
    while (index[b] !== 0) b = (b + 1) & mask;
    index[b] = slot + 1;
  }

  /** The bucket holding a slot (which must be indexed). */
  private bucketOf(slot: number): number {
    const index = this.index!;
    const mask = index.length - 1;
    this.loadKey(slot);
    let b = hashKey(this.addressWords) & mask;
    while (index[b] !== slot + 1) b = (b + 1) & mask;
    return b;
  }

  private indexRetarget(from: number, to: number): void {
    this.index![this.bucketOf(from)] = to + 1;
  }

  /** Backward-shift deletion: later entries of the probe run move up, so lookups never need tombstones. */
  private indexDelete(slot: number): void {
    const index = this.index!;
    const mask = index.length - 1;
    let hole = this.bucketOf(slot);
    for (let b = (hole + 1) & mask; index[b] !== 0; b = (b + 1) & mask) {
      this.loadKey(index[b]! - 1);
      const home = hashKey(this.addressWords) & mask;
      // Move the entry into the hole if its home is not in the cyclic range (hole, b].
      if (((b - home) & mask) >= ((b - hole) & mask)) {
        index[hole] = index[b]!;
        hole = b;
      }
    }
    index[hole] = 0;
  }
}
