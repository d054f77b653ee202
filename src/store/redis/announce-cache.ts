/**
 * The Redis store's announce cache (`--redis-announce-cache MS`, off by default; docs/scaling.md): an explicit
 * trade of exactness for Redis CPU. What a call returned for a swarm (its counts, and a sample of its peers of
 * one address family with the requester added) answers this process's later HTTP/UDP announces of that swarm
 * and family, whatever their event, for MS milliseconds. The changes they ask for are collected per swarm (per
 * peer: its seeder bit, whether it completed, whether it stopped last) and go to Redis as one call
 * (lua/swarm-functions.lua `refresh`) MS after the first of them; swarms fall due at different times, so Redis
 * gets them spread out, not in a burst. A call for a swarm (a miss) first sends what is collected for it, on the
 * same connection, so Redis applies a peer's announces in the order they came.
 *
 * Bounds, all of them MS: a reply's counts and peers are at most MS old (a peer returned may have left within
 * MS, a peer that joined within MS is not yet returned, the requester's own change is not in the counts), and
 * an announce answered here reaches Redis at most MS later. Announces of one peer through different processes
 * within MS of each other may reach Redis out of order (docs/scaling.md says what that can do).
 */
import type { AnnounceEvent, AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../../protocol/types.js';
import { REFRESH_TAGS } from './function-contract.js';
import { peerKey, type PeerKey } from './function-calls.js';
import { HeldSwarms, askedFor, type HeldSwarm, type HeldSwarmsTiming } from './held-swarms.js';

/** A swarm as the cache holds it. */
interface CachedSwarm extends HeldSwarm<PeerKey> {
  /** Compact peers of each family (the requester of the call included), and until when they answer (ms). */
  v4: Buffer | undefined;
  v4Until: number;
  v6: Buffer | undefined;
  v6Until: number;
  /** How many peers the held reply of each family was asked for: it answers announces wanting no more. */
  v4Asked: number;
  v6Asked: number;
}

export interface AnnounceCacheOptions extends HeldSwarmsTiming {
  /**
   * Peers a call asks for, to answer later requests from (each wants at most this many); read at every call
   * (`--numwant-max` may be reloaded).
   */
  readonly sample: () => number;
  /** Sends a swarm's collected changes (peer → REFRESH_TAGS bits); resolves with its counts after them. */
  readonly refresh: (infoHash: InfoHash, peers: ReadonlyMap<PeerKey, number>) => Promise<ScrapeCounts>;
}

/** A peer's collected change after one more announce of it (REFRESH_TAGS bits, `was`: 0 for none yet). */
function collected(was: number, event: AnnounceEvent, seeder: boolean): number {
  const completed = event === 'completed' || (was & REFRESH_TAGS.completed) !== 0 ? REFRESH_TAGS.completed : 0;
  // A stop keeps the seeder bit its completion (if any) is applied with.
  if (event === 'stopped') return (was & REFRESH_TAGS.seeder) | completed | REFRESH_TAGS.stopped;
  return (seeder ? REFRESH_TAGS.seeder : 0) | completed;
}

/**
 * The position of `peer`'s entry among entries `from` .. `to` - 1 of `held` (entries of its length), -1 when it
 * is not there. Compared from the port back: peers of one address differ there.
 */
function positionOf(held: Buffer, peer: Uint8Array, from: number, to: number): number {
  const stride = peer.length;
  for (let p = from; p < to; p++) {
    const at = p * stride;
    let i = stride - 1;
    while (i >= 0 && held[at + i] === peer[i]) i--;
    if (i < 0) return p;
  }
  return -1;
}

/**
 * What a swarm holds, `parts` one after the other, in a buffer of its own: a slice of Node's shared 8 KB pool
 * (as Buffer.concat makes) would keep its whole slab alive for as long as it is held.
 */
function heldCopy(parts: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The entries of `held` before and after the one at position `self`. */
function around(held: Buffer, self: number, stride: number): [Buffer, Buffer] {
  return [held.subarray(0, self * stride), held.subarray((self + 1) * stride)];
}

/** `held` without the entry at position `self` (for a reply). */
function withoutEntry(held: Buffer, self: number, stride: number): Buffer {
  return Buffer.concat(around(held, self, stride));
}

/** Copies entries `from` .. `to` - 1 of `held` but the one at `self` to `out` at byte `at`; returns the end. */
function copyEntries(held: Buffer, out: Buffer, at: number, from: number, to: number, self: number, stride: number): number {
  if (self < from || self >= to) return at + held.copy(out, at, from * stride, to * stride);
  at += held.copy(out, at, from * stride, self * stride);
  return at + held.copy(out, at, (self + 1) * stride, to * stride);
}

export class AnnounceCache {
  private readonly held: HeldSwarms<PeerKey, CachedSwarm>;

  constructor(private readonly options: AnnounceCacheOptions) {
    this.held = new HeldSwarms({
      ...options,
      refresh: (swarm, peers) => options.refresh(swarm.infoHash, peers),
      stale: (swarm, now) => swarm.v4Until <= now && swarm.v6Until <= now,
    });
  }

  /** Swarms held, or with changes to send. */
  get size(): number {
    return this.held.swarms.size;
  }

  /**
   * The reply to an announce from the cache, its change collected; undefined when the announce must go to
   * Redis (then call `beforeCall` first).
   */
  answer(request: AnnounceRequest): AnnounceResult | undefined {
    const swarm = this.held.swarms.get(request.infoHash);
    if (swarm === undefined) return undefined;
    const peer = request.peer;
    const v6 = peer.length === 18;
    if (request.numwant > (v6 ? swarm.v6Asked : swarm.v4Asked)) return undefined;
    if ((v6 ? swarm.v6Until : swarm.v4Until) <= this.held.now()) return undefined;
    const refreshes = this.held.collect(swarm);
    const key = peerKey(peer);
    refreshes.set(key, collected(refreshes.get(key) ?? 0, request.event, request.seeder));
    if (request.event === 'stopped') {
      // Nobody is given it any more.
      if (v6) swarm.v6 = this.without(swarm.v6!, peer);
      else swarm.v4 = this.without(swarm.v4!, peer);
    }
    return {
      complete: swarm.complete,
      incomplete: swarm.incomplete,
      downloaded: swarm.downloaded,
      peers: this.pick((v6 ? swarm.v6 : swarm.v4)!, peer, request.numwant),
    };
  }

  /** How many peers a call for `request` asks for (held-swarms.ts askedFor). */
  asked(request: AnnounceRequest): number {
    return askedFor(request, this.options.sample());
  }

  /** An announce about to go to Redis: the swarm's collected changes go first, so Redis applies them before it. */
  beforeCall(infoHash: InfoHash): void {
    this.held.beforeCall(infoHash);
  }

  /**
   * A reply from Redis to `request`, which asked for `asked` peers (0: none to hold, as for a stop): its counts
   * are the swarm's newest; its peers (all the swarm has, up to `asked`) answer the family's announces wanting
   * no more for the next MS, with the requester added.
   */
  learn(request: AnnounceRequest, result: AnnounceResult, asked: number): void {
    let swarm = this.held.swarms.get(request.infoHash);
    if (swarm === undefined) {
      if (asked === 0) return;
      swarm = {
        infoHash: request.infoHash,
        complete: 0,
        incomplete: 0,
        downloaded: 0,
        v4: undefined,
        v4Until: 0,
        v6: undefined,
        v6Until: 0,
        v4Asked: 0,
        v6Asked: 0,
        refreshes: undefined,
      };
      this.held.swarms.set(request.infoHash, swarm);
    }
    swarm.complete = result.complete;
    swarm.incomplete = result.incomplete;
    swarm.downloaded = result.downloaded;
    const peer = request.peer;
    const v6 = peer.length === 18;
    if (asked > 0) {
      const peers = heldCopy([result.peers, peer]);
      const until = this.held.now() + this.options.ms;
      if (v6) {
        swarm.v6 = peers;
        swarm.v6Until = until;
        swarm.v6Asked = asked;
      } else {
        swarm.v4 = peers;
        swarm.v4Until = until;
        swarm.v4Asked = asked;
      }
    }
  }

  /** Sends every collected refresh now, due or not, and waits for the answers (of those sent earlier too). */
  sendAll(): Promise<void> {
    return this.held.sendAll();
  }

  /** Stops the timer and sends every collected refresh. */
  close(): Promise<void> {
    return this.held.close();
  }

  /**
   * Up to `numwant` distinct peers of `held` other than `peer`: all of them when that is no more, else a window
   * at a random position, wrapping around; only the entries taken are compared with the requester's, and at
   * most four copies are made (none when `held` serves whole).
   */
  private pick(held: Buffer, peer: Uint8Array, numwant: number): Buffer {
    const stride = peer.length;
    const count = held.length / stride;
    if (numwant >= count - 1) {
      const self = positionOf(held, peer, 0, count);
      if (numwant >= count) return self < 0 ? held : withoutEntry(held, self, stride);
      if (self >= 0) return withoutEntry(held, self, stride);
    }
    const start = Math.floor(Math.random() * count);
    const end = start + numwant;
    let self = positionOf(held, peer, start, Math.min(end, count));
    if (self < 0 && end > count) self = positionOf(held, peer, 0, end - count);
    // The requester's entry is left out of the window, which then takes one more.
    const last = self < 0 ? end : end + 1;
    const out = Buffer.allocUnsafe(numwant * stride);
    if (last <= count) {
      copyEntries(held, out, 0, start, last, self, stride);
    } else {
      copyEntries(held, out, copyEntries(held, out, 0, start, count, self, stride), 0, last - count, self, stride);
    }
    return out;
  }

  /** `held` without `peer`'s entry. */
  private without(held: Buffer, peer: Uint8Array): Buffer {
    const self = positionOf(held, peer, 0, held.length / peer.length);
    return self < 0 ? held : heldCopy(around(held, self, peer.length));
  }
}
