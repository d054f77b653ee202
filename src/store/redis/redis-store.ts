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
  decodeRefresh,
  decodeScrape,
  decodeWsAnnounce,
  decodeWsRefresh,
  headerCommand,
  namedCounts,
  refreshCommand,
  refreshWsCommand,
  scrapeCommand,
  settledCounts,
  statsCommand,
  statsHeadCommands,
  wsAnnounceCommand,
  type PeerKey,
  type WsRefresh,
} from './function-calls.js';
import { countAppendFailure, countingEvents } from '../../events/metrics.js';
import { RedisEventArgs, type EventsOptions } from '../../events/store-events.js';
import { EVENT_ARGS, EVENT_CODES, FUNCTIONS, PEER_FLAGS, functionLibrary } from './function-contract.js';
import type { Reply } from './resp.js';
import { ScriptClient } from './script-client.js';
import type { HeldSwarmsTiming } from './held-swarms.js';
import { AnnounceCache } from './announce-cache.js';
import { WsAnnounceCache } from './ws-announce-cache.js';
import { announceCacheAnswers, announceCacheRefreshes } from '../../metrics/tracker-metrics.js';
import { EventPartitions, KEY_LENGTH, SLOTS, WIRE_V4_KIND, WIRE_V4_PATTERN, WIRE_V6_PATTERN, WS_PATTERN, infoHashOfKey, swarmKey, swarmSlot } from './swarm-keys.js';

type SwarmKind = 'wire' | 'ws';

export interface RedisStoreOptions extends StoreOptions {
  /** A single node (`redis://…`), or the seed nodes of a cluster (`host:port`). */
  target: RedisTarget;
  /** Milliseconds a command may take before its request fails. */
  timeoutMs: number;
  /** Connection problems, for the log (connections are reopened by themselves). */
  onError: (error: Error) => void;
  /**
   * Swarm events on (docs/events.md): swarm keys take their event partition's tag, and every change is
   * appended to the partition's stream in the same function call. Absent: off, nothing of it runs.
   */
  events?: EventsOptions;
  /**
   * The announce caches (announce-cache.ts, ws-announce-cache.ts; docs/scaling.md): how long a swarm's reply
   * answers this process's announces, and the peers a call asks for to answer them (HTTP/UDP peers; WebSocket
   * offer targets). Absent: off, every announce is one exact call. Not with events (each announce's event is
   * appended with it).
   */
  announceCache?: { ms: number; sample: () => number; wsSample: () => number };
  /** A refresh of the announce cache that failed (`peers`: whose changes it carried), for the log; default onError. */
  onRefreshError?: (error: Error, peers: number) => void;
}

/** Expired peers one call removes at most per peer list, bounding its run time after a long outage. */
const EXPIRY_LIMIT = 1000;

const SEEDER_FLAG = PEER_FLAGS.seeder;

/** Peers one refresh call of the announce cache carries at most (7 or 19 bytes each in its argument). */
const REFRESHES_PER_CALL = 500;

const answeredFromCache = announceCacheAnswers.child({ from: 'cache', swarm: 'wire' });
const answeredByRedis = announceCacheAnswers.child({ from: 'redis', swarm: 'wire' });
const wsAnsweredFromCache = announceCacheAnswers.child({ from: 'cache', swarm: 'ws' });
const wsAnsweredByRedis = announceCacheAnswers.child({ from: 'redis', swarm: 'ws' });
const REFRESH_COUNTS = {
  wire: { sent: announceCacheRefreshes.child({ outcome: 'sent', swarm: 'wire' }), failed: announceCacheRefreshes.child({ outcome: 'failed', swarm: 'wire' }) },
  ws: { sent: announceCacheRefreshes.child({ outcome: 'sent', swarm: 'ws' }), failed: announceCacheRefreshes.child({ outcome: 'failed', swarm: 'ws' }) },
};

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
  /** Events on: the partitions (which also place the swarm keys) and the functions' event arguments. */
  private readonly partitions: EventPartitions | undefined;
  private readonly eventArgs: RedisEventArgs | undefined;
  /** The announces' decoders, and what a failed announce tells (events on: they count the events). */
  private readonly announceDecoder: typeof decodeAnnounce;
  private readonly wsAnnounceDecoder: typeof decodeWsAnnounce;
  private readonly announceFailed: (() => void) | undefined;
  private readonly cache: AnnounceCache | undefined;
  private readonly wsCache: WsAnnounceCache | undefined;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly client: ScriptClient,
    private readonly topology: OwnedTopology,
    private readonly options: RedisStoreOptions,
    version: string,
  ) {
    const partitions = options.events === undefined ? undefined : new EventPartitions(options.events.partitions);
    this.partitions = partitions;
    this.eventArgs = options.events === undefined ? undefined : new RedisEventArgs(options.events);
    this.announceDecoder = options.events === undefined ? decodeAnnounce : countingEvents(decodeAnnounce);
    this.wsAnnounceDecoder = options.events === undefined ? decodeWsAnnounce : countingEvents(decodeWsAnnounce);
    this.announceFailed = options.events === undefined ? undefined : countAppendFailure;
    const call = ({ name, keys }: { name: string; keys: readonly string[] }, args: number) =>
      new FunctionCall(`${name}_${version}`, keys, partitions === undefined ? undefined : { partitions, args });
    this.announceCall = call(FUNCTIONS.announce, EVENT_ARGS.announce);
    this.announceWsCall = call(FUNCTIONS.announceWs, EVENT_ARGS.announce);
    this.scrapeCall = call(FUNCTIONS.scrape, EVENT_ARGS.scrape);
    this.scrapeWsCall = call(FUNCTIONS.scrapeWs, EVENT_ARGS.scrape);
    const cache = options.announceCache;
    if (cache !== undefined && options.events !== undefined) throw new Error('the announce cache cannot be used with swarm events');
    const { now, peerTtlSeconds, wsPeerTtlSeconds } = options;
    this.cache =
      cache &&
      new AnnounceCache({
        sample: cache.sample,
        ...this.refreshing('wire', FUNCTIONS.refresh, version, (call, infoHash, peers: ReadonlyMap<PeerKey, number>) =>
          refreshCommand(call, infoHash, peers, now(), peerTtlSeconds, EXPIRY_LIMIT), decodeRefresh, (peers) => peers.size),
      });
    this.wsCache =
      cache &&
      new WsAnnounceCache({
        sample: cache.wsSample,
        ...this.refreshing('ws', FUNCTIONS.refreshWs, version, (call, infoHash, peers: readonly WsRefresh[]) =>
          refreshWsCommand(call, infoHash, peers, now(), wsPeerTtlSeconds, EXPIRY_LIMIT), decodeWsRefresh, (peers) => peers.length),
      });
  }

  /**
   * What both announce caches take besides their sample: the hold period, and their refreshes sent as calls of
   * `fn` of this library version, counted under `swarm`.
   */
  private refreshing<Peers, Result>(
    swarm: 'wire' | 'ws',
    fn: { name: string; keys: readonly string[] },
    version: string,
    command: (call: FunctionCall, infoHash: InfoHash, peers: Peers) => Buffer,
    decode: (reply: Reply) => Result,
    size: (peers: Peers) => number,
  ): HeldSwarmsTiming & { refresh: (infoHash: InfoHash, peers: Peers) => Promise<Result> } {
    const call = new FunctionCall(`${fn.name}_${version}`, fn.keys);
    const { sent, failed } = REFRESH_COUNTS[swarm];
    const { options } = this;
    return {
      ms: options.announceCache!.ms,
      refreshesPerCall: REFRESHES_PER_CALL,
      refresh: (infoHash, peers) =>
        this.client.call(swarmSlot(infoHash), command(call, infoHash, peers), (reply) => {
          const result = decode(reply);
          sent.inc(size(peers));
          return result;
        }),
      onRefreshError: (error, peers) => {
        failed.inc(peers);
        (options.onRefreshError ?? options.onError)(error, peers);
      },
    };
  }

  /** Connects and waits until the node or cluster is ready (or fails after the timeout). */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const { source, version } = functionLibrary();
    const { redis, topology, settings } = await connectStore(options, source);
    const client = new ScriptClient({ topology, connection: settings, library: source, timeoutMs: options.timeoutMs, onError: options.onError });
    return new RedisStore(redis, client, topology, options, version);
  }

  announce(request: AnnounceRequest): Promise<AnnounceResult> {
    const cache = this.cache;
    if (cache !== undefined) return this.announceCached(cache, request);
    return this.call(request, request.numwant);
  }

  /** An announce answered from the announce cache, or sent asking for the cache's sample and learnt from. */
  private announceCached(cache: AnnounceCache, request: AnnounceRequest): Promise<AnnounceResult> {
    const held = cache.answer(request);
    if (held !== undefined) {
      answeredFromCache.inc();
      return Promise.resolve(held);
    }
    answeredByRedis.inc();
    cache.beforeCall(request.infoHash);
    const asked = cache.asked(request);
    return this.call(request, asked > 0 ? asked : request.numwant).then((result) => {
      cache.learn(request, result, asked);
      const want = request.numwant * request.peer.length;
      return result.peers.length <= want ? result : { ...result, peers: result.peers.subarray(0, want) };
    });
  }

  private call(request: AnnounceRequest, numwant: number): Promise<AnnounceResult> {
    const command = announceCommand(
      this.announceCall,
      request.infoHash,
      request.peer,
      this.options.now(),
      this.options.peerTtlSeconds,
      numwantArgument(numwant),
      randomPosition(),
      EXPIRY_LIMIT,
      EVENT_CODES[request.event],
      request.seeder ? SEEDER_FLAG : 0,
      this.eventArgs?.announce(request),
    );
    return this.client.call(swarmSlot(request.infoHash, this.partitions), command, this.announceDecoder, this.announceFailed);
  }

  /** With the announce cache, a re-announce of this process's peer is answered from it; otherwise undefined. */
  announceWsNow(request: WsAnnounceRequest): WsAnnounceResult | undefined {
    const held = this.wsCache?.answer(request);
    if (held !== undefined) wsAnsweredFromCache.inc();
    return held;
  }

  announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult> {
    const cache = this.wsCache;
    if (cache === undefined) return this.callWs(request, request.numwant);
    wsAnsweredByRedis.inc();
    cache.beforeCall(request);
    const asked = cache.asked(request);
    return this.callWs(request, asked > 0 ? asked : request.numwant).then((result) => {
      cache.learn(request, result, asked);
      return result.peers.length <= request.numwant ? result : { ...result, peers: result.peers.slice(0, request.numwant) };
    });
  }

  private callWs(request: WsAnnounceRequest, numwant: number): Promise<WsAnnounceResult> {
    const route = Buffer.from(request.route, 'utf8');
    if (route.length > 255 || request.peerId.length > 255) return Promise.reject(new Error('WebSocket peer_id or route longer than 255 bytes'));
    const command = wsAnnounceCommand(
      this.announceWsCall,
      request.infoHash,
      request.peerId,
      route,
      this.options.now(),
      this.options.wsPeerTtlSeconds,
      numwantArgument(numwant),
      randomPosition(),
      EXPIRY_LIMIT,
      EVENT_CODES[request.event],
      request.seeder ? SEEDER_FLAG : 0,
      this.eventArgs?.announceWs(request),
    );
    return this.client.call(swarmSlot(request.infoHash, this.partitions), command, this.wsAnnounceDecoder, this.announceFailed);
  }

  /** Each hash is its own read (in its own slot); the reads to one node go out in one write. */
  scrape(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    return Promise.all(infoHashes.map((infoHash) => this.scrapeOne('wire', infoHash)));
  }

  scrapeWs(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    return Promise.all(infoHashes.map((infoHash) => this.scrapeOne('ws', infoHash)));
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
    await Promise.all([this.cache?.close(), this.wsCache?.close()]);
    this.client.close();
    this.topology.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /**
   * A swarm's counts: its header read with HGET (~1 µs of Redis' CPU, where a function call costs ~10), and the
   * scrape function run only for a swarm with something to expire (settledCounts), which expires it first.
   */
  private scrapeOne(kind: SwarmKind, infoHash: InfoHash): Promise<ScrapeCounts> {
    const now = this.options.now();
    const ttl = kind === 'wire' ? this.options.peerTtlSeconds : this.options.wsPeerTtlSeconds;
    const read = headerCommand((kind === 'wire' ? FUNCTIONS.scrape : FUNCTIONS.scrapeWs).keys[0], infoHash, this.partitions);
    return this.client
      .call(swarmSlot(infoHash, this.partitions), read, (reply) => settledCounts(reply, now, ttl))
      .then((counts) => counts ?? this.runScrape(kind, infoHash, decodeCounts));
  }

  /**
   * Events on, run by the coordinator: visits the swarms whose keys expire within `marginSeconds` (each
   * partition's expiry index, at most `limit` a partition), so that their expired peers are reported and the
   * keys of those with live peers are kept (lua/swarm-functions.lua, events block). Returns the peers removed.
   */
  async sweepExpiring(marginSeconds: number, limit = 1000): Promise<number> {
    if (this.partitions === undefined) return 0;
    const max = this.options.now() + marginSeconds;
    let removed = 0;
    for (const index of this.partitions.expiryIndexes) {
      const members = await this.redis.zrangebyscore(index, '-inf', max, 'LIMIT', 0, limit);
      const results = await Promise.all(
        members.map((member) => {
          const [swarm, hex] = member.split(':') as [string, string];
          return this.runScrape(swarm === 'ws' ? 'ws' : 'wire', Buffer.from(hex, 'hex').toString('latin1'), decodeScrape, true);
        }),
      );
      for (const result of results) removed += result.removed;
    }
    return removed;
  }

  private runScrape<T>(kind: SwarmKind, infoHash: InfoHash, decode: (reply: Reply) => T, sweep = false): Promise<T> {
    const ttl = kind === 'wire' ? this.options.peerTtlSeconds : this.options.wsPeerTtlSeconds;
    const tail = this.eventArgs?.scrape(infoHash, kind === 'wire' ? 'bt' : 'ws', sweep);
    const command = scrapeCommand(kind === 'wire' ? this.scrapeCall : this.scrapeWsCall, infoHash, this.options.now(), EXPIRY_LIMIT, ttl, tail);
    return this.client.call(swarmSlot(infoHash, this.partitions), command, decode);
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
            const hasV4 = await Promise.all(hashes.map((infoHash) => node.exists(swarmKey(WIRE_V4_KIND, infoHash, this.partitions))));
            hashes = hashes.filter((_, i) => hasV4[i] === 0);
          }
          if (hashes.length > 0 && !(await visit(hashes))) return;
        } while (cursor !== '0');
      }
    }
  }
}
