/**
 * The embedded store's WebSocket (WebTorrent) swarms: peers known by peer_id, each with the route of its socket.
 * Kept apart from the packed HTTP/UDP tables (a peer here is a peer_id and a route, not an address), but as
 * compact: a tracker holds ~5 of them per connected browser, so a peer is a slot in a few parallel arrays, not
 * an object and a Map entry (docs/performance.md, issue #15).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SwarmEventRecorder } from '../../events/recorder.js';
import type { InfoHash, ScrapeCounts } from '../../protocol/types.js';
import { ZERO_COUNTS, type SweepResult, type WsAnnounceRequest, type WsAnnounceResult, type WsPeer } from '../store.js';
import { AddressedPeers, LocalitySelector, localFirst, localQuota } from './locality.js';
import { FLAG_COUNTED, FLAG_SEEDER } from './peer-table.js';
import { PeerIdIndex } from './ws-peer-index.js';

/** Swarms swept per event-loop turn, so a full sweep never stalls requests for long. */
const SWEEP_SLICE = 20_000;
/** Swarms past this many peers get a peer_id index; smaller ones are scanned. */
const INDEX_THRESHOLD = 16;

/**
 * One swarm's peers in parallel arrays indexed by slot (no object per peer: a tracker holds ~5 per connected
 * browser), dense, so a random sample is index arithmetic; removal moves the last peer into the hole.
 */
class WsSwarm {
  /** Swarm events: the sequence number of its last event. */
  seq = 0;
  seeders = 0;
  downloaded = 0;
  /**
   * No peer here expires before this second: a lower bound (a renewal only moves an expiry later), exact after
   * each expiry scan, which runs only once it has come.
   */
  nextExpiry = Infinity;
  readonly peerIds: string[] = [];
  /** The socket that announced the peer first: the only one it answers to while it lives. */
  readonly routes: string[] = [];
  /**
   * The socket's IP (binary string, '' if unknown) by slot, for locality mode; kept (`addressed`) only from its
   * first announce in this swarm with locality on (8 bytes a peer otherwise): peers that announced before have
   * their IP from their next announce.
   */
  readonly ips: string[] = [];
  addressed = false;
  /**
   * (expiresAt − createdAt) × 4 + flags (FLAG_SEEDER, FLAG_COUNTED) by slot, seconds since the swarm's start:
   * 4 bytes a peer where a JS number takes 8 (good for 17 years of a swarm never empty).
   */
  private states = new Int32Array(4);
  private index: PeerIdIndex | null = null;

  constructor(
    readonly infoHash: InfoHash,
    /** The second the swarm started (`states` counts from it). */
    private readonly createdAt: number,
  ) {}

  get count(): number {
    return this.peerIds.length;
  }

  /** The slot of `peerId`, or -1. */
  find(peerId: string): number {
    return this.index === null ? this.peerIds.indexOf(peerId) : this.index.find(peerId);
  }

  /** A new peer, neither seeder nor live until `renew` says. */
  add(peerId: string, route: string, ip: string): number {
    const slot = this.peerIds.length;
    this.peerIds.push(peerId);
    this.routes.push(route);
    if (this.addressed) this.ips.push(ip);
    if (slot === this.states.length) {
      const grown = new Int32Array(slot + (slot >> 1));
      grown.set(this.states);
      this.states = grown;
    }
    this.states[slot] = 0;
    if (this.index !== null && this.index.fits(slot + 1)) this.index.insert(slot);
    else if (slot + 1 > INDEX_THRESHOLD) this.index = new PeerIdIndex(this.peerIds);
    return slot;
  }

  remove(slot: number): void {
    const last = this.peerIds.length - 1;
    this.index?.delete(this.peerIds[slot]!, slot);
    if (this.isSeeder(slot)) this.seeders--;
    if (slot !== last) {
      this.index?.retarget(this.peerIds[last]!, last, slot);
      this.peerIds[slot] = this.peerIds[last]!;
      this.routes[slot] = this.routes[last]!;
      if (this.addressed) this.ips[slot] = this.ips[last]!;
      this.states[slot] = this.states[last]!;
    }
    if (last > 16 && last < this.states.length >> 2) this.states = this.states.slice(0, this.states.length >> 1);
    this.peerIds.pop();
    this.routes.pop();
    if (this.addressed) this.ips.pop();
    if (this.index !== null && last < INDEX_THRESHOLD / 2) this.index = null;
  }

  expiresAt(slot: number): number {
    return this.createdAt + (this.states[slot]! >> 2);
  }

  isSeeder(slot: number): boolean {
    return (this.states[slot]! & FLAG_SEEDER) !== 0;
  }

  /** A new announce of the peer at `slot`: its seeder flag and expiry; true when its `completed` is newly counted. */
  renew(slot: number, seeder: boolean, expiresAt: number, completed: boolean): boolean {
    const flags = this.states[slot]! & (FLAG_SEEDER | FLAG_COUNTED);
    const counted = completed && (flags & FLAG_COUNTED) === 0;
    this.seeders += Number(seeder) - (flags & FLAG_SEEDER);
    this.states[slot] = (expiresAt - this.createdAt) * 4 + (seeder ? FLAG_SEEDER : 0) + (counted ? FLAG_COUNTED : flags & FLAG_COUNTED);
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    return counted;
  }

  /** Locality mode: the IP of the peer at `slot` (ips kept from now on). */
  address(slot: number, ip: string): void {
    if (!this.addressed) {
      this.addressed = true;
      for (let i = 0; i < this.peerIds.length; i++) this.ips.push('');
    }
    this.ips[slot] = ip;
  }

  peer(slot: number): WsPeer {
    return { peerId: this.peerIds[slot]!, route: this.routes[slot]! };
  }

  counts(): ScrapeCounts {
    return { complete: this.seeders, incomplete: this.peerIds.length - this.seeders, downloaded: this.downloaded };
  }
}

export class WsSwarms {
  private readonly swarms = new Map<InfoHash, WsSwarm>();
  // Totals over the swarms, kept as peers come and go.
  private seeders = 0;
  private peers = 0;

  constructor(
    /** Seconds a peer stays after its last announce. */
    private readonly ttl: number,
    /** Locality mode's random share, or null when off (locality.ts). */
    private readonly localityShare: () => number | null = () => null,
    /** Swarm events on (docs/events.md). */
    private readonly events?: SwarmEventRecorder,
  ) {}

  private readonly locality = new LocalitySelector();

  announce(request: WsAnnounceRequest, now: number): WsAnnounceResult {
    let swarm = this.swarms.get(request.infoHash);
    if (swarm === undefined) {
      if (request.event === 'stopped') return { ...ZERO_COUNTS, peers: [], conflict: false };
      swarm = new WsSwarm(request.infoHash, now);
      this.swarms.set(request.infoHash, swarm);
    } else {
      this.expire(swarm, now);
    }
    let slot = swarm.find(request.peerId);
    // Expired peers are gone by now: a slot is a live peer, and another route's peer is not this request's.
    if (slot >= 0 && swarm.routes[slot] !== request.route) return { ...swarm.counts(), peers: [], conflict: true };
    const seedersBefore = swarm.seeders;
    const countBefore = swarm.count;
    let peers: WsPeer[] = [];
    if (request.event === 'stopped') {
      if (slot >= 0) swarm.remove(slot);
    } else {
      const expiresAt = now + this.ttl;
      if (slot < 0) slot = swarm.add(request.peerId, request.route, request.ip ?? '');
      if (swarm.renew(slot, request.seeder, expiresAt, request.event === 'completed')) swarm.downloaded++;
      peers = sample(swarm, request.numwant, slot);
      const share = this.localityShare();
      if (share !== null) {
        swarm.address(slot, request.ip ?? '');
        peers = this.localFirst(swarm, slot, peers, localQuota(peers.length, share), now);
      }
    }
    this.seeders += swarm.seeders - seedersBefore;
    this.peers += swarm.count - countBefore;
    const result = { ...swarm.counts(), peers, conflict: false };
    if (this.events !== undefined && (request.event !== 'stopped' || swarm.count < countBefore)) {
      this.events.announceWs(request, ++swarm.seq, result.complete, result.incomplete);
    }
    if (swarm.count === 0) this.swarms.delete(request.infoHash);
    return result;
  }

  scrape(infoHashes: readonly InfoHash[], now: number): ScrapeCounts[] {
    return infoHashes.map((infoHash) => {
      const swarm = this.swarms.get(infoHash);
      if (swarm === undefined) return ZERO_COUNTS;
      this.expire(swarm, now);
      if (swarm.count === 0) this.swarms.delete(infoHash);
      return swarm.counts();
    });
  }

  list(limit: number): InfoHash[] {
    const hashes: InfoHash[] = [];
    for (const infoHash of this.swarms.keys()) {
      if (hashes.length === limit) break;
      hashes.push(infoHash);
    }
    return hashes;
  }

  async sweep(now: number): Promise<SweepResult> {
    let peersRemoved = 0;
    let swarmsRemoved = 0;
    let visited = 0;
    for (const [infoHash, swarm] of this.swarms) {
      peersRemoved += this.expire(swarm, now);
      if (swarm.count === 0) {
        this.swarms.delete(infoHash);
        swarmsRemoved++;
      }
      if (++visited % SWEEP_SLICE === 0) await nextTurn();
    }
    return { peersRemoved, swarmsRemoved };
  }

  clear(): void {
    this.swarms.clear();
    this.seeders = 0;
    this.peers = 0;
  }

  totals(): { swarms: number; seeders: number; leechers: number } {
    return { swarms: this.swarms.size, seeders: this.seeders, leechers: this.peers - this.seeders };
  }

  /** Locality mode: the random sample led by up to `quota` peers near the one at `self`. */
  private localFirst(swarm: WsSwarm, self: number, random: WsPeer[], quota: number, now: number): WsPeer[] {
    const local = this.locality.localSlots(new AddressedPeers(swarm), swarm, self, quota, now);
    return localFirst(local.map((slot) => swarm.peer(slot)), random, random.length);
  }

  /**
   * Drops a swarm's expired peers once the soonest expiry among them has come (a comparison until then, so a
   * sweep with nothing due is O(swarms)); returns how many went.
   */
  private expire(swarm: WsSwarm, now: number): number {
    if (now < swarm.nextExpiry) return 0;
    let removed = 0;
    let soonest = Infinity;
    const seeders = swarm.seeders;
    // From the end: the peer that remove() moves into a hole was seen already.
    for (let slot = swarm.count - 1; slot >= 0; slot--) {
      const expiresAt = swarm.expiresAt(slot);
      if (expiresAt > now) {
        if (expiresAt < soonest) soonest = expiresAt;
        continue;
      }
      const peerId = swarm.peerIds[slot]!;
      const seeder = swarm.isSeeder(slot);
      swarm.remove(slot);
      removed++;
      this.events?.expired(swarm.infoHash, 'ws', peerId, seeder, ++swarm.seq, swarm.seeders, swarm.count - swarm.seeders, now);
    }
    swarm.nextExpiry = soonest;
    this.peers -= removed;
    this.seeders -= seeders - swarm.seeders;
    return removed;
  }
}

/** Up to `want` distinct random peers other than the one at `exclude` (Floyd's sampling: O(want)). */
function sample(swarm: WsSwarm, want: number, exclude: number): WsPeer[] {
  const others = swarm.count - 1;
  if (want > others) want = others;
  if (want <= 0) return [];
  const picked = new Set<number>();
  for (let j = others - want; j < others; j++) {
    const t = Math.floor(Math.random() * (j + 1));
    picked.add(picked.has(t) ? j : t);
  }
  const peers: WsPeer[] = [];
  for (const index of picked) peers.push(swarm.peer(index >= exclude ? index + 1 : index));
  return peers;
}
