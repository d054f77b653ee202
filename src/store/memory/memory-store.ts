/** The embedded store: every swarm in this process's memory. Zero set-up; one process only. */
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  COMPACT_V4_LENGTH,
  type AnnounceRequest,
  type AnnounceResult,
  type InfoHash,
  type ScrapeCounts,
} from '../../protocol/types.js';
import {
  ZERO_COUNTS,
  statsOf,
  type Store,
  type StoreOptions,
  type StoreStats,
  type StoreTotals,
  type SweepResult,
  type WsAnnounceRequest,
  type WsAnnounceResult,
} from '../store.js';
import { LocalitySelector, localQuota } from './locality.js';
import type { SwarmEventRecorder } from '../../events/recorder.js';
import { FLAG_COUNTED, FLAG_SEEDER, PeerTable } from './peer-table.js';
import { RecordSlabs } from './record-slabs.js';
import { WsSwarms } from './ws-swarms.js';

const EMPTY = new Uint8Array(0);
/** Swarms swept per event-loop turn, so a full sweep never stalls requests for long. */
const SWEEP_SLICE = 20_000;

class Swarm {
  v4: PeerTable | null = null;
  v6: PeerTable | null = null;
  downloaded = 0;
  /** Swarm events: the sequence number of its last event. */
  seq = 0;

  get complete(): number {
    return (this.v4?.seeders ?? 0) + (this.v6?.seeders ?? 0);
  }

  get peers(): number {
    return (this.v4?.count ?? 0) + (this.v6?.count ?? 0);
  }
}

export class MemoryStore implements Store {
  readonly periodicSweep = true;
  private readonly swarms = new Map<InfoHash, Swarm>();
  private readonly slabsV4 = new RecordSlabs(3);
  private readonly slabsV6 = new RecordSlabs(6);
  private readonly wsSwarms: WsSwarms;
  private readonly ttl: number;
  private readonly now: () => number;
  private readonly localityShare: () => number | null;
  private readonly locality = new LocalitySelector();
  // Totals kept as peers come and go, by family (IPv4, IPv6): totals() is O(1).
  private seeders4 = 0;
  private peers4 = 0;
  private seeders6 = 0;
  private peers6 = 0;

  /** `events`: swarm events on (docs/events.md); every request is answered once its events are appended. */
  constructor(
    options: StoreOptions,
    private readonly events?: SwarmEventRecorder,
  ) {
    this.ttl = options.peerTtlSeconds;
    this.localityShare = options.localityShare ?? (() => null);
    this.wsSwarms = new WsSwarms(options.wsPeerTtlSeconds, this.localityShare, events);
    this.now = options.now;
  }

  async announce(request: AnnounceRequest): Promise<AnnounceResult> {
    const result = this.announceNow(request);
    if (this.events !== undefined) await this.events.settled();
    return result;
  }

  /** The synchronous core of announce, also used directly by benchmarks. */
  announceNow(request: AnnounceRequest): AnnounceResult {
    const now = this.now();
    const isV4 = request.peer.length === COMPACT_V4_LENGTH;
    let swarm = this.swarms.get(request.infoHash);
    if (swarm === undefined) {
      if (request.event === 'stopped') return { complete: 0, incomplete: 0, downloaded: 0, peers: EMPTY };
      swarm = new Swarm();
      this.swarms.set(request.infoHash, swarm);
    } else {
      this.expire(swarm, now, request.infoHash);
    }
    let table = isV4 ? swarm.v4 : swarm.v6;
    if (table === null) {
      table = new PeerTable(isV4 ? this.slabsV4 : this.slabsV6);
      if (isV4) swarm.v4 = table;
      else swarm.v6 = table;
    }
    const seedersBefore = table.seeders;
    const countBefore = table.count;
    let slot = table.find(request.peer);
    let peers = EMPTY;
    if (request.event === 'stopped') {
      if (slot >= 0) table.remove(slot);
    } else {
      const oldFlags = slot >= 0 ? table.flags(slot) : 0;
      let flags = (oldFlags & FLAG_COUNTED) | (request.seeder ? FLAG_SEEDER : 0);
      if (request.event === 'completed' && !(flags & FLAG_COUNTED)) {
        swarm.downloaded++;
        flags |= FLAG_COUNTED;
      }
      if (slot >= 0) table.update(slot, flags, now + this.ttl);
      else slot = table.insert(flags, now + this.ttl);
      if (request.numwant > 0 && table.count > 1) {
        const want = Math.min(request.numwant, table.count - 1);
        const out = Buffer.allocUnsafe(want * table.peerLength);
        const share = this.localityShare();
        const written =
          share === null
            ? table.writeSample(out, 0, want, slot, now)
            : table.writeLocalFirst(out, 0, want, slot, this.locality.localSlots(table, table, slot, localQuota(want, share), now), now);
        peers = written === out.length ? out : out.subarray(0, written);
      }
    }
    if (isV4) {
      this.seeders4 += table.seeders - seedersBefore;
      this.peers4 += table.count - countBefore;
    } else {
      this.seeders6 += table.seeders - seedersBefore;
      this.peers6 += table.count - countBefore;
    }
    const complete = swarm.complete;
    const result = { complete, incomplete: swarm.peers - complete, downloaded: swarm.downloaded, peers };
    if (this.events !== undefined && (request.event !== 'stopped' || table.count < countBefore)) {
      this.events.announce(request, ++swarm.seq, complete, result.incomplete);
    }
    if (swarm.peers === 0) this.drop(request.infoHash, swarm);
    return result;
  }

  async scrape(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    const now = this.now();
    const counts = infoHashes.map((infoHash) => {
      const swarm = this.swarms.get(infoHash);
      if (swarm === undefined) return ZERO_COUNTS;
      this.expire(swarm, now, infoHash);
      if (swarm.peers === 0) this.drop(infoHash, swarm);
      const complete = swarm.complete;
      return { complete, incomplete: swarm.peers - complete, downloaded: swarm.downloaded };
    });
    if (this.events !== undefined) await this.events.settled();
    return counts;
  }

  async announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult> {
    const result = this.wsSwarms.announce(request, this.now());
    if (this.events !== undefined) await this.events.settled();
    return result;
  }

  announceWsNow(request: WsAnnounceRequest): WsAnnounceResult | undefined {
    return this.events === undefined ? this.wsSwarms.announce(request, this.now()) : undefined;
  }

  async scrapeWs(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    const counts = this.wsSwarms.scrape(infoHashes, this.now());
    if (this.events !== undefined) await this.events.settled();
    return counts;
  }

  async listWsSwarms(limit: number): Promise<InfoHash[]> {
    return this.wsSwarms.list(limit);
  }

  async listSwarms(limit: number): Promise<InfoHash[]> {
    const hashes: InfoHash[] = [];
    for (const infoHash of this.swarms.keys()) {
      if (hashes.length === limit) break;
      hashes.push(infoHash);
    }
    return hashes;
  }

  async sweep(): Promise<SweepResult> {
    const now = this.now();
    let peersRemoved = 0;
    let swarmsRemoved = 0;
    let visited = 0;
    for (const [infoHash, swarm] of this.swarms) {
      peersRemoved += this.expire(swarm, now, infoHash);
      if (swarm.peers === 0) {
        this.drop(infoHash, swarm);
        swarmsRemoved++;
      }
      if (++visited % SWEEP_SLICE === 0) await nextTurn();
    }
    const ws = await this.wsSwarms.sweep(this.now());
    if (this.events !== undefined) await this.events.settled();
    return { peersRemoved: peersRemoved + ws.peersRemoved, swarmsRemoved: swarmsRemoved + ws.swarmsRemoved };
  }

  async stats(): Promise<StoreStats> {
    return statsOf(await this.totals());
  }

  async totals(): Promise<StoreTotals> {
    return {
      swarms: this.swarms.size,
      ipv4: { seeders: this.seeders4, leechers: this.peers4 - this.seeders4 },
      ipv6: { seeders: this.seeders6, leechers: this.peers6 - this.seeders6 },
      ws: this.wsSwarms.totals(),
    };
  }

  async close(): Promise<void> {
    this.swarms.clear();
    this.wsSwarms.clear();
    this.seeders4 = this.peers4 = this.seeders6 = this.peers6 = 0;
    await this.events?.sink.close();
  }

  private drop(infoHash: InfoHash, swarm: Swarm): void {
    this.swarms.delete(infoHash);
    swarm.v4?.release();
    swarm.v6?.release();
  }

  /**
   * Drops a swarm's expired peers, keeping the store-wide totals right. Doing it whenever a swarm is touched is
   * what keeps expired peers out of every count and reply between sweeps; it costs a comparison until the
   * soonest expiry among the swarm's peers has come (PeerTable.due), so a sweep with nothing due is O(swarms).
   */
  private expire(swarm: Swarm, now: number, infoHash: InfoHash): number {
    const { v4, v6 } = swarm;
    if (!(v4?.due(now) ?? false) && !(v6?.due(now) ?? false)) return 0;
    let removed = 0;
    const expired = this.events === undefined ? undefined : this.expiryEvents(swarm, now, infoHash);
    if (v4 !== null) {
      const seeders = v4.seeders;
      const gone = v4.expire(now, expired?.(v4));
      removed += gone;
      this.peers4 -= gone;
      this.seeders4 -= seeders - v4.seeders;
    }
    if (v6 !== null) {
      const seeders = v6.seeders;
      const gone = v6.expire(now, expired?.(v6));
      removed += gone;
      this.peers6 -= gone;
      this.seeders6 -= seeders - v6.seeders;
    }
    return removed;
  }

  /** Swarm events: a table's PeerTable.expire callback that records each expired peer, counts falling as they go. */
  private expiryEvents(swarm: Swarm, now: number, infoHash: InfoHash): (table: PeerTable) => (slot: number, seeder: boolean) => void {
    const events = this.events!;
    let complete = swarm.complete;
    let peers = swarm.peers;
    return (table) => (slot, seeder) => {
      peers--;
      if (seeder) complete--;
      events.expired(infoHash, 'bt', table.peerAt(slot), seeder, ++swarm.seq, complete, peers - complete, now);
    };
  }
}
