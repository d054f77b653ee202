/**
 * The scale-out store: swarms in Redis (one node, or a Redis Cluster), every operation one call of a Redis
 * function on one swarm's keys (lua/swarm-functions.lua, swarm-keys.ts), so announces from any number of
 * workers are atomic and exact. Nothing lives in the tracker process. There is no global index: announces and
 * scrapes expire the swarms they touch, and key TTLs reclaim the swarms nobody touches (docs/scaling.md).
 *
 * This file is the store's logic. The function calls are encoded and decoded by function-calls.ts, on the
 * layouts of function-contract.ts, and go through ScriptClient (connections of its own); connection.ts
 * connects ioredis, which keeps the cluster topology and runs the maintenance commands (SCAN).
 */
import type { Cluster, Redis } from 'ioredis';
import type { AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../../protocol/types.js';
import { statsOf, type Store, type StoreOptions, type StoreStats, type StoreTotals, type SweepResult, type WsAnnounceRequest, type WsAnnounceResult } from '../store.js';
import { connectStore, mastersOf, type OwnedTopology, type RedisTarget } from './connection.js';
import {
  FunctionCall,
  STATS_FIELDS,
  addSlotCounts,
  announceCommand,
  decodeAnnounce,
  decodeCounts,
  decodeScrape,
  decodeWsAnnounce,
  namedCounts,
  scrapeCommand,
  statsCommand,
  statsHeadCommands,
  wsAnnounceCommand,
} from './function-calls.js';
import { EVENT_CODES, FUNCTIONS, PEER_FLAGS, functionLibrary } from './function-contract.js';
import type { Reply } from './resp.js';
import { ScriptClient } from './script-client.js';
import { KEY_LENGTH, SLOTS, WIRE_V4_KIND, WIRE_V4_PATTERN, WIRE_V6_PATTERN, WS_PATTERN, infoHashOfKey, swarmKey, swarmSlot } from './swarm-keys.js';

type SwarmKind = 'wire' | 'ws';

export interface RedisStoreOptions extends StoreOptions {
  /** A single node (`redis://…`), or the seed nodes of a cluster (`host:port`). */
  target: RedisTarget;
  /** Milliseconds a command may take before its request fails. */
  timeoutMs: number;
  /** Connection problems, for the log (connections are reopened by themselves). */
  onError: (error: Error) => void;
}

/** Expired peers one call removes at most per peer list, bounding its run time after a long outage. */
const EXPIRY_LIMIT = 1000;

const SEEDER_FLAG = PEER_FLAGS.seeder;

/** numwant as the uint32 argument; the functions treat it as a signed count. */
function numwantArgument(numwant: number): number {
  return Math.max(0, Math.min(numwant, 0x7fffffff));
}

const ALL_SLOTS: readonly number[] = Array.from({ length: SLOTS }, (_, slot) => slot);

/** A random uint32: where the sample of peers starts. */
function randomPosition(): number {
  return (Math.random() * 0x100000000) >>> 0;
}

export class RedisStore implements Store {
  readonly periodicSweep = false;
  private readonly announceCall: FunctionCall;
  private readonly announceWsCall: FunctionCall;
  private readonly scrapeCall: FunctionCall;
  private readonly scrapeWsCall: FunctionCall;
  /** The reads of every slot's totals (statsHeadCommands), made at the first totals(). */
  private statsHeads: Buffer[] | undefined;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly client: ScriptClient,
    private readonly topology: OwnedTopology,
    private readonly options: RedisStoreOptions,
    version: string,
  ) {
    const call = ({ name, keys }: { name: string; keys: readonly string[] }) => new FunctionCall(`${name}_${version}`, keys);
    this.announceCall = call(FUNCTIONS.announce);
    this.announceWsCall = call(FUNCTIONS.announceWs);
    this.scrapeCall = call(FUNCTIONS.scrape);
    this.scrapeWsCall = call(FUNCTIONS.scrapeWs);
  }

  /** Connects and waits until the node or cluster is ready (or fails after the timeout). */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const { source, version } = functionLibrary();
    const { redis, topology, settings } = await connectStore(options, source);
    const client = new ScriptClient({ topology, connection: settings, library: source, timeoutMs: options.timeoutMs, onError: options.onError });
    return new RedisStore(redis, client, topology, options, version);
  }

  announce(request: AnnounceRequest): Promise<AnnounceResult> {
    const command = announceCommand(
      this.announceCall,
      request.infoHash,
      request.peer,
      this.options.now(),
      this.options.peerTtlSeconds,
      numwantArgument(request.numwant),
      randomPosition(),
      EXPIRY_LIMIT,
      EVENT_CODES[request.event],
      request.seeder ? SEEDER_FLAG : 0,
    );
    return this.client.call(swarmSlot(request.infoHash), command, decodeAnnounce);
  }

  announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult> {
    const route = Buffer.from(request.route, 'utf8');
    if (route.length > 255 || request.peerId.length > 255) return Promise.reject(new Error('WebSocket peer_id or route longer than 255 bytes'));
    const command = wsAnnounceCommand(
      this.announceWsCall,
      request.infoHash,
      request.peerId,
      route,
      this.options.now(),
      this.options.wsPeerTtlSeconds,
      numwantArgument(request.numwant),
      randomPosition(),
      EXPIRY_LIMIT,
      EVENT_CODES[request.event],
      request.seeder ? SEEDER_FLAG : 0,
    );
    return this.client.call(swarmSlot(request.infoHash), command, decodeWsAnnounce);
  }

  /** Each hash is its own call (in its own slot); the calls to one node go out in one write. */
  scrape(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    return Promise.all(infoHashes.map((infoHash) => this.runScrape('wire', infoHash, decodeCounts)));
  }

  scrapeWs(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    return Promise.all(infoHashes.map((infoHash) => this.runScrape('ws', infoHash, decodeCounts)));
  }

  listSwarms(limit: number): Promise<InfoHash[]> {
    return this.listHashes('wire', limit);
  }

  listWsSwarms(limit: number): Promise<InfoHash[]> {
    return this.listHashes('ws', limit);
  }

  /**
   * Expires every swarm now. The tracker never schedules this (`periodicSweep` is false): touched swarms
   * expire as they are touched and untouched ones by key TTL. It is for maintenance and tests, and costs a
   * SCAN of the keyspace.
   */
  async sweep(): Promise<SweepResult> {
    let peersRemoved = 0;
    let swarmsRemoved = 0;
    for (const kind of ['wire', 'ws'] as const) {
      await this.forEachSwarm(kind, async (hashes) => {
        const results = await Promise.all(hashes.map((infoHash) => this.runScrape(kind, infoHash, decodeScrape)));
        for (const { complete, incomplete, removed } of results) {
          peersRemoved += removed;
          if (removed > 0 && complete + incomplete === 0) swarmsRemoved++;
        }
        return true;
      });
    }
    return { peersRemoved, swarmsRemoved };
  }

  async stats(): Promise<StoreStats> {
    return statsOf(await this.totals());
  }

  /**
   * The sum of every slot's totals, which the functions keep as swarms change (lua/swarm-functions.lua): one
   * GETRANGE of each slot's stats key (pipelined, routed by slot like every call), and a GET of the few whose
   * earliest bucket has ended since the slot was last rewritten. Read-only, 16384 reads whatever the swarms.
   */
  async totals(): Promise<StoreTotals> {
    const now = this.options.now();
    const sums = new Array<number>(STATS_FIELDS).fill(0);
    const whole: number[] = [];
    const heads = (this.statsHeads ??= statsHeadCommands());
    await this.client.callMany(ALL_SLOTS, (slot) => heads[slot]!, (slot, reply) => {
      if (!addSlotCounts(sums, reply, now)) whole.push(slot);
    });
    await this.client.callMany(whole, statsCommand, (_, reply) => void addSlotCounts(sums, reply, now));
    const c = namedCounts(sums);
    return {
      swarms: c.wire_swarms,
      ipv4: { seeders: c.v4_seeders, leechers: c.v4_leechers },
      ipv6: { seeders: c.v6_seeders, leechers: c.v6_leechers },
      ws: { swarms: c.ws_swarms, seeders: c.ws_seeders, leechers: c.ws_leechers },
    };
  }

  async close(): Promise<void> {
    this.client.close();
    this.topology.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private runScrape<T>(kind: SwarmKind, infoHash: InfoHash, decode: (reply: Reply) => T): Promise<T> {
    const ttl = kind === 'wire' ? this.options.peerTtlSeconds : this.options.wsPeerTtlSeconds;
    const command = scrapeCommand(kind === 'wire' ? this.scrapeCall : this.scrapeWsCall, infoHash, this.options.now(), EXPIRY_LIMIT, ttl);
    return this.client.call(swarmSlot(infoHash), command, decode);
  }

  /** Each swarm once: SCAN may return a key more than once (a rehash during the scan). */
  private async listHashes(kind: SwarmKind, limit: number): Promise<InfoHash[]> {
    const hashes = new Set<InfoHash>();
    await this.forEachSwarm(kind, async (batch) => {
      for (const infoHash of batch) if (hashes.size < limit) hashes.add(infoHash);
      return hashes.size < limit;
    });
    return [...hashes];
  }

  /**
   * Calls visit with batches of the info hashes of every swarm of a kind, master by master; visit returns false
   * to stop. An HTTP/UDP swarm is found by its IPv4 peers, or by its IPv6 peers when it has no IPv4 ones.
   */
  private async forEachSwarm(kind: SwarmKind, visit: (hashes: InfoHash[]) => Promise<boolean>): Promise<void> {
    const nodes = mastersOf(this.redis);
    const patterns = kind === 'ws' ? [WS_PATTERN] : [WIRE_V4_PATTERN, WIRE_V6_PATTERN];
    for (const node of nodes) {
      for (const pattern of patterns) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next.toString();
          let hashes = keys.filter((key) => key.length === KEY_LENGTH).map(infoHashOfKey);
          if (pattern === WIRE_V6_PATTERN) {
            const hasV4 = await Promise.all(hashes.map((infoHash) => node.exists(swarmKey(WIRE_V4_KIND, infoHash))));
            hashes = hashes.filter((_, i) => hasV4[i] === 0);
          }
          if (hashes.length > 0 && !(await visit(hashes))) return;
        } while (cursor !== '0');
      }
    }
  }
}
