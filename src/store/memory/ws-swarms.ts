/**
 * The embedded store's WebSocket (WebTorrent) swarms: peers known by peer_id, each with the route of its socket.
 * Kept apart from the packed HTTP/UDP tables and deliberately plain: a browser swarm is small, and a peer here
 * costs a socket anyway.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SwarmEventRecorder } from '../../events/recorder.js';
import type { InfoHash, ScrapeCounts } from '../../protocol/types.js';
import { ZERO_COUNTS, type SweepResult, type WsAnnounceRequest, type WsAnnounceResult, type WsPeer } from '../store.js';
import { AddressedPeers, LocalitySelector, localFirst, localQuota } from './locality.js';

/** Swarms swept per event-loop turn, so a full sweep never stalls requests for long. */
const SWEEP_SLICE = 20_000;

interface WsPeerEntry {
  readonly peerId: string;
  /** The socket that announced the peer first: the only one it answers to while it lives. */
  readonly route: string;
  /** The socket's IP (binary string, '' if unknown), for locality mode. */
  readonly ip: string;
  seeder: boolean;
  /** The peer's `completed` was already counted in the swarm's downloads. */
  counted: boolean;
  expiresAt: number;
  /** Position in WsSwarm.list. */
  slot: number;
}

class WsSwarm {
  /** Swarm events: the sequence number of its last event. */
  seq = 0;
  constructor(readonly infoHash: InfoHash) {}
  readonly byPeerId = new Map<string, WsPeerEntry>();
  /** The same peers, dense, so a random sample is index arithmetic. */
  readonly list: WsPeerEntry[] = [];
  seeders = 0;
  downloaded = 0;
  /** The second expired peers were last dropped. */
  checkedAt = 0;

  add(entry: WsPeerEntry): void {
    entry.slot = this.list.length;
    this.list.push(entry);
    this.byPeerId.set(entry.peerId, entry);
    if (entry.seeder) this.seeders++;
  }

  remove(entry: WsPeerEntry): void {
    const last = this.list.pop()!;
    if (last !== entry) {
      last.slot = entry.slot;
      this.list[entry.slot] = last;
    }
    this.byPeerId.delete(entry.peerId);
    if (entry.seeder) this.seeders--;
  }

  counts(): ScrapeCounts {
    return { complete: this.seeders, incomplete: this.list.length - this.seeders, downloaded: this.downloaded };
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
      swarm = new WsSwarm(request.infoHash);
      this.swarms.set(request.infoHash, swarm);
    } else {
      this.expire(swarm, now);
    }
    let entry = swarm.byPeerId.get(request.peerId);
    // Expired peers are gone by now: an entry is a live one, and another route's peer is not this request's.
    if (entry !== undefined && entry.route !== request.route) return { ...swarm.counts(), peers: [], conflict: true };
    const seedersBefore = swarm.seeders;
    const countBefore = swarm.list.length;
    let peers: WsPeer[] = [];
    if (request.event === 'stopped') {
      if (entry !== undefined) swarm.remove(entry);
    } else {
      if (entry === undefined) {
        entry = { peerId: request.peerId, route: request.route, ip: request.ip ?? '', seeder: request.seeder, counted: false, expiresAt: 0, slot: 0 };
        swarm.add(entry);
      } else {
        swarm.seeders += Number(request.seeder) - Number(entry.seeder);
        entry.seeder = request.seeder;
      }
      entry.expiresAt = now + this.ttl;
      if (request.event === 'completed' && !entry.counted) {
        entry.counted = true;
        swarm.downloaded++;
      }
      peers = sample(swarm.list, request.numwant, entry.slot);
      const share = this.localityShare();
      if (share !== null) peers = this.localFirst(swarm, entry.slot, peers, localQuota(peers.length, share), now);
    }
    this.seeders += swarm.seeders - seedersBefore;
    this.peers += swarm.list.length - countBefore;
    const result = { ...swarm.counts(), peers, conflict: false };
    if (this.events !== undefined && (request.event !== 'stopped' || swarm.list.length < countBefore)) {
      this.events.announceWs(request, ++swarm.seq, result.complete, result.incomplete);
    }
    if (swarm.list.length === 0) this.swarms.delete(request.infoHash);
    return result;
  }

  scrape(infoHashes: readonly InfoHash[], now: number): ScrapeCounts[] {
    return infoHashes.map((infoHash) => {
      const swarm = this.swarms.get(infoHash);
      if (swarm === undefined) return ZERO_COUNTS;
      this.expire(swarm, now);
      if (swarm.list.length === 0) this.swarms.delete(infoHash);
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
      if (swarm.list.length === 0) {
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
    const local = this.locality.localSlots(new AddressedPeers(swarm.list), swarm, self, quota, now);
    return localFirst(local.map((slot) => peerOf(swarm.list[slot]!)), random, random.length);
  }

  /** Drops a swarm's expired peers, at most once a second; returns how many went. */
  private expire(swarm: WsSwarm, now: number): number {
    if (swarm.checkedAt === now) return 0;
    swarm.checkedAt = now;
    let removed = 0;
    const seeders = swarm.seeders;
    for (let i = swarm.list.length - 1; i >= 0; i--) {
      const entry = swarm.list[i]!;
      if (entry.expiresAt <= now) {
        swarm.remove(entry);
        removed++;
        this.events?.expired(swarm.infoHash, 'ws', entry.peerId, entry.seeder, ++swarm.seq, swarm.seeders, swarm.list.length - swarm.seeders, now);
      }
    }
    this.peers -= removed;
    this.seeders -= seeders - swarm.seeders;
    return removed;
  }
}

function peerOf(entry: WsPeerEntry): WsPeer {
  return { peerId: entry.peerId, route: entry.route };
}

/** Up to `want` distinct random peers other than the one at `exclude` (Floyd's sampling: O(want)). */
function sample(list: readonly WsPeerEntry[], want: number, exclude: number): WsPeer[] {
  const others = list.length - 1;
  if (want > others) want = others;
  if (want <= 0) return [];
  const picked = new Set<number>();
  for (let j = others - want; j < others; j++) {
    const t = Math.floor(Math.random() * (j + 1));
    picked.add(picked.has(t) ? j : t);
  }
  const peers: WsPeer[] = [];
  for (const index of picked) {
    peers.push(peerOf(list[index >= exclude ? index + 1 : index]!));
  }
  return peers;
}
