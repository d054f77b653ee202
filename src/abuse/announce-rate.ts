/**
 * Announces per (source, info hash) over a sliding window, in a fixed-size table whatever the traffic: a
 * count-min sketch (Cormode & Muthukrishnan) of two counters per key with conservative update, in two
 * generations. Nothing is stored per key, so an attacker with many addresses or info hashes cannot grow it;
 * what they can do is raise counters they share with others, which refuses nobody until the announces of one
 * window reach about limit × slots / 2 (some 15 million with the defaults, more than a process answers).
 *
 * - Layout: one Uint32 per slot, this window's count in the low 16 bits and the previous window's in the high
 *   16 bits, so a window change is one shift per slot (no timers, no per-key expiry) and both generations are
 *   read at once. A key's two slots lie in one 64-byte block of 16 slots: one cache miss per announce.
 * - Keys are hashed by two MurmurHash3 lanes under per-process random seeds: without the seeds nobody can
 *   compute where someone else's key lies, and a collision an attacker makes between keys of their own only
 *   merges their own counts. (SipHash-2-4 would cost ~300 ns a key here, four times this whole check:
 *   bench/abuse-limits.ts.)
 * - Estimate: this window's count plus the previous window's weighted by how much of it still lies within
 *   the sliding window. Refused announces are not counted, so counts never exceed the limit.
 */
import { COMPACT_V4_LENGTH, type CompactPeer, type InfoHash } from '../protocol/types.js';

const SLOTS_PER_BLOCK = 16;

/** MurmurHash3 (x86, 32-bit): one 4-byte block into the state. */
function mix(h: number, block: number): number {
  let k = Math.imul(block, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finalization: every input bit reaches every output bit. */
function finish(h: number, length: number): number {
  h ^= length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const word = (bytes: Uint8Array, at: number): number => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
const charWord = (text: string, at: number): number =>
  text.charCodeAt(at) | (text.charCodeAt(at + 1) << 8) | (text.charCodeAt(at + 2) << 16) | (text.charCodeAt(at + 3) << 24);

export class AnnounceRate {
  private readonly counters: Uint32Array;
  private readonly blockMask: number;
  private readonly seeds: Int32Array;
  /** Start (ms) of the current window; -Infinity: nothing counted yet. */
  private windowStart = -Infinity;

  /** `slots` is rounded up to a power of two (at least one block); 4 bytes each. `secret`: 8 random bytes or more. */
  constructor(slots: number, secret: Uint8Array) {
    const blocks = 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(slots / SLOTS_PER_BLOCK))));
    this.counters = new Uint32Array(blocks * SLOTS_PER_BLOCK);
    this.blockMask = blocks - 1;
    this.seeds = new Int32Array(Uint8Array.from(secret.subarray(0, 8)).buffer);
  }

  /** Bytes of the table: fixed at construction. */
  get bytes(): number {
    return this.counters.byteLength;
  }

  /**
   * Counts one announce of `infoHash` from the source of `peer` and returns true, or returns false (and counts
   * nothing) when that source has made `limit` of them within the last `windowMs` (by the estimate).
   */
  take(peer: CompactPeer, infoHash: InfoHash, limit: number, windowMs: number, now: number): boolean {
    if (now - this.windowStart >= windowMs) this.advance(windowMs, now);
    // Two hashes of the source (IPv4 address or IPv6 /64) and the info hash: one picks the block, one the slots.
    let h1 = this.seeds[0]!;
    let h2 = this.seeds[1]!;
    const isV4 = peer.length === COMPACT_V4_LENGTH;
    let block = word(peer, 0);
    h1 = mix(h1, block);
    h2 = mix(h2, block);
    if (!isV4) {
      block = word(peer, 4);
      h1 = mix(h1, block);
      h2 = mix(h2, block);
    }
    for (let at = 0; at < 20; at += 4) {
      block = charWord(infoHash, at);
      h1 = mix(h1, block);
      h2 = mix(h2, block);
    }
    const length = isV4 ? 24 : 28;
    const base = (finish(h1, length) & this.blockMask) * SLOTS_PER_BLOCK;
    const h = finish(h2, length);
    const first = base + (h & 15);
    const second = base + ((h + 1 + ((h >>> 4) % 15)) & 15);
    const c = this.counters;
    const a = c[first]!;
    const b = c[second]!;
    const current = Math.min(a & 0xffff, b & 0xffff);
    const previous = Math.min(a >>> 16, b >>> 16);
    const stillInWindow = 1 - (now - this.windowStart) / windowMs;
    if (current + previous * stillInWindow >= limit) return false;
    // Conservative update: only the counters at the minimum grow; the other one already counts more.
    if ((a & 0xffff) === current) c[first] = a + 1;
    if ((b & 0xffff) === current) c[second] = b + 1;
    return true;
  }

  /** A new window: this window's counts become the previous ones (or, after a silence of two, everything goes). */
  private advance(windowMs: number, now: number): void {
    const c = this.counters;
    if (now - this.windowStart >= 2 * windowMs) {
      c.fill(0);
      this.windowStart = now;
      return;
    }
    for (let i = 0; i < c.length; i++) c[i] = c[i]! << 16;
    this.windowStart += windowMs;
  }
}
