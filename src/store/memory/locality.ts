/**
 * Locality mode (opt-in, `--locality on`; docs/protocol-behaviour.md): a reply prefers peers likely to reach the
 * requester directly — the same public IP (the same NAT), then the same /24 (IPv4) or /48 (IPv6) — and keeps a
 * share of it random, so that no group of nearby peers only ever learns of itself.
 *
 * The selection reads a swarm through `LocalityView` (dense slots 0..count-1, as the packed HTTP/UDP tables and
 * the WebSocket swarms keep their peers). Small swarms are scanned; bigger ones go through a prefix index that is
 * built when a locality announce finds it older than a second (an O(n) counting sort, about what the per-second
 * expiry pass already costs) and costs nothing to maintain: every candidate it yields is checked against the
 * live record, so a stale entry can only be missed, never wrongly returned. Peers appended since the build are
 * read from the tail; a peer moved into a hole since then waits for the next build.
 */

/** A candidate's tier relative to the requester. */
export const SAME_ADDRESS = 0;
export const SAME_PREFIX = 1;
export const NOT_LOCAL = -1;

/** Swarms up to this many peers are scanned whole (exact tiers, cheaper than an index). */
export const SCAN_LIMIT = 128;
/** Most candidates looked at per announce in a bigger swarm (index bucket plus new tail). */
export const PROBE_BUDGET = 512;

/**
 * Candidates looked at for a quota: enough to sample a crowded prefix fairly (a random run of its bucket),
 * few enough that a /24 holding thousands of a swarm's peers costs about what a small swarm's scan does.
 */
export function probeBudget(quota: number): number {
  return Math.min(PROBE_BUDGET, 4 * quota + 32);
}

/** What the selection reads of a swarm. */
export interface LocalityView {
  readonly count: number;
  /** Hash of the /24 (IPv4) or /48 (IPv6) of the peer at `slot`; equal prefixes give equal hashes. */
  prefixHash(slot: number): number;
  /** SAME_ADDRESS, SAME_PREFIX or NOT_LOCAL (also for a peer expired at `now`) of `slot` relative to `to`. */
  tier(slot: number, to: number, now: number): number;
}

/** The locality setting, read on every announce so that a reload applies at once: the random share, or null (off). */
export type LocalityShare = () => number | null;

/**
 * How many peers of a reply of `want` may come from the local tiers. Rounded down, so the random part,
 * want − quota ≥ ⌈want × share⌉, is at least one peer whenever the share is above 0.
 */
export function localQuota(want: number, randomShare: number): number {
  return Math.floor(want * (1 - randomShare));
}

/** Hash of an IPv4 /24: the first address word without its last byte. */
export function prefixHash4(address: number): number {
  return mix(address >>> 8, 0x3c6ef372);
}

/** Hash of an IPv6 /48: the first address word and the high half of the second. */
export function prefixHash6(word0: number, word1: number): number {
  return mix(word0, word1 >>> 16);
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Slots grouped by prefix hash, as the swarm was at `builtAt` (a counting sort: O(n)). */
class PrefixIndex {
  readonly count: number;
  readonly mask: number;
  /** Bucket b holds slots[starts[b] .. starts[b + 1]). */
  readonly starts: Int32Array;
  readonly slots: Int32Array;

  constructor(view: LocalityView, readonly builtAt: number) {
    const count = view.count;
    let buckets = 64;
    while (buckets < count) buckets *= 2;
    this.count = count;
    this.mask = buckets - 1;
    const starts = new Int32Array(buckets + 1);
    for (let slot = 0; slot < count; slot++) starts[(view.prefixHash(slot) & this.mask) + 1]!++;
    for (let b = 0; b < buckets; b++) starts[b + 1]! += starts[b]!;
    const next = starts.slice(0, buckets);
    const slots = new Int32Array(count);
    for (let slot = 0; slot < count; slot++) slots[next[view.prefixHash(slot) & this.mask]!++] = slot;
    this.starts = starts;
    this.slots = slots;
  }
}

/**
 * Up to `quota` slots per tier, each a uniform sample of the candidates offered (reservoir sampling), so that
 * a large group of nearby peers is not always answered with the same few of them.
 */
class TierSample {
  readonly sameAddress: number[] = [];
  readonly samePrefix: number[] = [];
  private seenAddress = 0;
  private seenPrefix = 0;
  private quota = 0;

  /** Starts a new sample (one instance serves every announce: selection is synchronous). */
  reset(quota: number): this {
    this.quota = quota;
    this.sameAddress.length = 0;
    this.samePrefix.length = 0;
    this.seenAddress = 0;
    this.seenPrefix = 0;
    return this;
  }

  offer(slot: number, tier: number): void {
    if (tier === SAME_ADDRESS) this.seenAddress = keep(this.sameAddress, ++this.seenAddress, slot, this.quota);
    else if (tier === SAME_PREFIX) this.seenPrefix = keep(this.samePrefix, ++this.seenPrefix, slot, this.quota);
  }

  /** Same-address peers first, then same-prefix ones, at most `quota` in all (a new array). */
  slots(): readonly number[] {
    const room = this.quota - this.sameAddress.length;
    if (this.sameAddress.length === 0 && this.samePrefix.length === 0) return NONE;
    return this.sameAddress.concat(room > 0 ? this.samePrefix.slice(0, room) : NONE);
  }
}

function keep(sample: number[], seen: number, slot: number, quota: number): number {
  if (sample.length < quota) sample.push(slot);
  else {
    const j = Math.floor(Math.random() * seen);
    if (j < quota) sample[j] = slot;
  }
  return seen;
}

const NONE: number[] = [];

export class LocalitySelector {
  /** Prefix indexes of the big swarms, dropped with them. */
  private readonly indexes = new WeakMap<object, PrefixIndex>();
  private readonly picked = new TierSample();

  /**
   * Up to `quota` local peers of the requester at slot `self` (never itself): same address first, then same
   * prefix. `owner` keys the swarm's prefix index (any object that lives as long as the swarm's slots).
   */
  localSlots(view: LocalityView, owner: object, self: number, quota: number, now: number): readonly number[] {
    const count = view.count;
    if (quota <= 0 || count <= 1) return NONE;
    const picked = this.picked.reset(quota);
    if (count <= SCAN_LIMIT) {
      for (let slot = 0; slot < count; slot++) if (slot !== self) picked.offer(slot, view.tier(slot, self, now));
      return picked.slots();
    }
    let index = this.indexes.get(owner);
    if (index === undefined || index.builtAt !== now) {
      index = new PrefixIndex(view, now);
      this.indexes.set(owner, index);
    }
    let budget = probeBudget(quota);
    // Peers that joined since the build were appended: read them first, they are not in the index.
    for (let slot = index.count; slot < count && budget > 0; slot++, budget--) {
      if (slot !== self) picked.offer(slot, view.tier(slot, self, now));
    }
    const bucket = view.prefixHash(self) & index.mask;
    const from = index.starts[bucket]!;
    const size = index.starts[bucket + 1]! - from;
    // A random start, so that a bucket bigger than the budget is not always read from its beginning.
    const start = size > budget ? Math.floor(Math.random() * size) : 0;
    for (let i = 0; i < size && budget > 0; i++, budget--) {
      const slot = index.slots[from + ((start + i) % size)]!;
      if (slot !== self && slot < count) picked.offer(slot, view.tier(slot, self, now));
    }
    return picked.slots();
  }
}

/**
 * The reply of a WebSocket announce: the local peers, then the random sample (which holds `want` peers or every
 * other one) without them, `want` in all.
 */
export function localFirst<T extends { readonly peerId: string }>(local: readonly T[], random: readonly T[], want: number): T[] {
  if (local.length === 0) return random as T[];
  const taken = new Set(local.map((peer) => peer.peerId));
  const peers = local.slice();
  for (const peer of random) {
    if (peers.length >= want) break;
    if (!taken.has(peer.peerId)) peers.push(peer);
  }
  return peers;
}

/** A WebSocket swarm's peers as the selection reads them: dense slots, each with its IP as a binary string ('' if unknown). */
export interface AddressedSwarm {
  readonly ips: readonly string[];
  expiresAt(slot: number): number;
}

/** A LocalityView of a WebSocket swarm. */
export class AddressedPeers implements LocalityView {
  constructor(private readonly swarm: AddressedSwarm) {}

  get count(): number {
    return this.swarm.ips.length;
  }

  prefixHash(slot: number): number {
    const ip = this.swarm.ips[slot]!;
    if (ip.length === 4) return prefixHash4(wordAt(ip, 0));
    return ip.length === 16 ? prefixHash6(wordAt(ip, 0), wordAt(ip, 4)) : 0;
  }

  tier(slot: number, to: number, now: number): number {
    const ip = this.swarm.ips[slot]!;
    const other = this.swarm.ips[to]!;
    if (this.swarm.expiresAt(slot) <= now || ip.length !== other.length || ip.length === 0) return NOT_LOCAL;
    if (ip === other) return SAME_ADDRESS;
    const prefixLength = ip.length === 4 ? 3 : 6;
    for (let i = 0; i < prefixLength; i++) if (ip.charCodeAt(i) !== other.charCodeAt(i)) return NOT_LOCAL;
    return SAME_PREFIX;
  }
}

function wordAt(binary: string, at: number): number {
  return ((binary.charCodeAt(at) << 24) | (binary.charCodeAt(at + 1) << 16) | (binary.charCodeAt(at + 2) << 8) | binary.charCodeAt(at + 3)) >>> 0;
}
