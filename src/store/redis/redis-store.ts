/**
 * The scale-out store: swarms in Redis (one node, or a Redis Cluster), every operation one Lua script on one
 * swarm's keys (see lua/ and swarm-keys.ts), so announces from any number of workers are atomic and exact.
 * Nothing lives in the tracker process. There is no global index: announces and scrapes expire the swarms they
 * touch, and key TTLs reclaim the swarms nobody touches (docs/scaling.md).
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { AnnounceEvent, AnnounceRequest, AnnounceResult, InfoHash, ScrapeCounts } from '../../protocol/types.js';
import type {
  Store,
  StoreOptions,
  StoreStats,
  SweepResult,
  WsAnnounceRequest,
  WsAnnounceResult,
  WsPeer,
} from '../store.js';
import {
  WIRE_V4_PATTERN,
  WIRE_V6_PATTERN,
  WS_PATTERN,
  infoHashOfKey,
  wireSwarmKeys,
  wsSwarmKeys,
} from './swarm-keys.js';

type SwarmKind = 'wire' | 'ws';

export interface RedisStoreOptions extends StoreOptions {
  /** A single node (`redis://…`), or the seed nodes of a cluster (`host:port`). */
  target: { url: string } | { cluster: string[] };
  /** Milliseconds a command may take before its request fails. */
  timeoutMs: number;
  /** Connection problems, for the log (ioredis reconnects by itself). */
  onError: (error: Error) => void;
}

/** Expired peers one script call removes at most, bounding its run time after a long outage. */
const EXPIRY_LIMIT = 1000;

const EVENT_CODES: Readonly<Record<AnnounceEvent, number>> = { none: 0, completed: 1, started: 2, stopped: 3 };

type ScriptArg = string | number | Buffer;

/** The scripts, as ioredis defines them on the client (`…Buffer` variants reply with Buffers). */
interface SwarmScripts {
  swarmAnnounceBuffer(...args: ScriptArg[]): Promise<[number, number, number, Buffer]>;
  swarmAnnounceWsBuffer(...args: ScriptArg[]): Promise<[number, number, number, Buffer[]]>;
  swarmScrape(...args: ScriptArg[]): Promise<[number, number, number, number]>;
  swarmScrapeWs(...args: ScriptArg[]): Promise<[number, number, number, number]>;
}

const LUA_DIR = new URL('../../../lua/', import.meta.url);

/** A script with the shared swarm functions in front of it. */
function script(name: string): string {
  const library = readFileSync(new URL('swarm-lib.lua', LUA_DIR), 'utf8');
  return `${library}\n${readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8')}`;
}

function hostPort(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(node.slice(at + 1)) };
}

export class RedisStore implements Store {
  readonly periodicSweep = false;
  private readonly scripts: SwarmScripts;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: RedisStoreOptions,
  ) {
    // defineCommand calls EVALSHA and re-sends the script when a node answers NOSCRIPT (restart, failover).
    redis.defineCommand('swarmAnnounce', { numberOfKeys: 3, lua: script('announce') });
    redis.defineCommand('swarmAnnounceWs', { numberOfKeys: 2, lua: script('announce-ws') });
    // A fixed key count per command: auto-pipelining and cluster routing read the slot from the first key.
    redis.defineCommand('swarmScrape', { numberOfKeys: 3, lua: script('scrape') });
    redis.defineCommand('swarmScrapeWs', { numberOfKeys: 2, lua: script('scrape') });
    this.scripts = redis as unknown as SwarmScripts;
  }

  /** Connects and waits until the node or cluster is ready (or fails after the timeout). */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    // No offline queue: while Redis is unreachable, requests fail at once with a clean failure reply instead
    // of piling up; ioredis keeps reconnecting in the background.
    const common = {
      enableAutoPipelining: true,
      commandTimeout: options.timeoutMs,
      maxRetriesPerRequest: 1,
      connectTimeout: options.timeoutMs,
    };
    const redis =
      'url' in options.target
        ? new Redis(options.target.url, {
            ...common,
            enableOfflineQueue: false,
            retryStrategy: (times) => Math.min(100 * times, 2000),
          })
        : new Cluster(options.target.cluster.map(hostPort), {
            enableAutoPipelining: true,
            enableOfflineQueue: false,
            scaleReads: 'master',
            slotsRefreshTimeout: options.timeoutMs,
            clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
            redisOptions: common,
          });
    redis.on('error', options.onError);
    const store = new RedisStore(redis, options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        redis.disconnect();
        reject(new Error(`Redis not ready within ${options.timeoutMs} ms`));
      }, Math.max(options.timeoutMs, 5000));
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return store;
  }

  async announce(request: AnnounceRequest): Promise<AnnounceResult> {
    const keys = wireSwarmKeys(request.infoHash);
    const isV4 = request.peer.length === 6;
    const [complete, incomplete, downloaded, peers] = await this.scripts.swarmAnnounceBuffer(
      keys.counters,
      isV4 ? keys.peersV4 : keys.peersV6,
      isV4 ? keys.peersV6 : keys.peersV4,
      // ioredis sends Buffers as bytes but stringifies other typed arrays: view the peer as a Buffer, no copy.
      Buffer.from(request.peer.buffer, request.peer.byteOffset, request.peer.length),
      EVENT_CODES[request.event],
      request.seeder ? 1 : 0,
      this.options.now(),
      this.options.peerTtlSeconds,
      request.numwant,
      randomRank(),
      EXPIRY_LIMIT,
    );
    return { complete, incomplete, downloaded, peers };
  }

  async announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult> {
    const keys = wsSwarmKeys(request.infoHash);
    const [complete, incomplete, downloaded, targets] = await this.scripts.swarmAnnounceWsBuffer(
      keys.routes,
      keys.peers,
      Buffer.from(request.peerId, 'latin1'),
      request.route,
      EVENT_CODES[request.event],
      request.seeder ? 1 : 0,
      this.options.now(),
      this.options.wsPeerTtlSeconds,
      request.numwant,
      randomRank(),
      EXPIRY_LIMIT,
    );
    const peers: WsPeer[] = [];
    for (let i = 0; i + 1 < targets.length; i += 2) {
      peers.push({ peerId: targets[i]!.toString('latin1'), route: targets[i + 1]!.toString('latin1') });
    }
    return { complete, incomplete, downloaded, peers };
  }

  /** Each hash is its own script call; auto-pipelining batches the calls per node, so no call spans slots. */
  scrape(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    return Promise.all(infoHashes.map((infoHash) => this.scrapeKeys(wireKeyList(infoHash))));
  }

  scrapeWs(infoHashes: readonly InfoHash[]): Promise<ScrapeCounts[]> {
    return Promise.all(infoHashes.map((infoHash) => this.scrapeKeys(wsKeyList(infoHash))));
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
        const results = await Promise.all(hashes.map((infoHash) => this.runScrape(keyList(kind, infoHash))));
        for (const [complete, incomplete, , removed] of results) {
          peersRemoved += removed;
          if (removed > 0 && complete + incomplete === 0) swarmsRemoved++;
        }
        return true;
      });
    }
    return { peersRemoved, swarmsRemoved };
  }

  /** Exact totals over the HTTP/UDP swarms; a SCAN of the keyspace, so callers should cache it. */
  async stats(): Promise<StoreStats> {
    let swarms = 0;
    let seeders = 0;
    let leechers = 0;
    await this.forEachSwarm('wire', async (hashes) => {
      for (const c of await this.scrape(hashes)) {
        if (c.complete + c.incomplete === 0) continue;
        swarms++;
        seeders += c.complete;
        leechers += c.incomplete;
      }
      return true;
    });
    return { swarms, seeders, leechers };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async listHashes(kind: SwarmKind, limit: number): Promise<InfoHash[]> {
    const hashes: InfoHash[] = [];
    await this.forEachSwarm(kind, async (batch) => {
      for (const infoHash of batch) if (hashes.length < limit) hashes.push(infoHash);
      return hashes.length < limit;
    });
    return hashes;
  }

  private async scrapeKeys(keys: string[]): Promise<ScrapeCounts> {
    const [complete, incomplete, downloaded] = await this.runScrape(keys);
    return { complete, incomplete, downloaded };
  }

  private runScrape(keys: string[]): Promise<[number, number, number, number]> {
    const scrape = keys.length === 3 ? this.scripts.swarmScrape : this.scripts.swarmScrapeWs;
    return scrape.call(this.scripts, ...keys, this.options.now(), EXPIRY_LIMIT, keys.length === 3 ? 0 : 1);
  }

  /**
   * Calls visit with batches of the info hashes of every swarm of a kind, master by master; visit returns false
   * to stop. An HTTP/UDP swarm is found by its IPv4 peers, or by its IPv6 peers when it has no IPv4 ones.
   */
  private async forEachSwarm(kind: SwarmKind, visit: (hashes: InfoHash[]) => Promise<boolean>): Promise<void> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    const patterns = kind === 'ws' ? [WS_PATTERN] : [WIRE_V4_PATTERN, WIRE_V6_PATTERN];
    for (const node of nodes) {
      for (const pattern of patterns) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          let hashes = keys.map(infoHashOfKey);
          if (pattern === WIRE_V6_PATTERN) {
            const hasV4 = await Promise.all(hashes.map((infoHash) => node.exists(wireSwarmKeys(infoHash).peersV4)));
            hashes = hashes.filter((_, i) => hasV4[i] === 0);
          }
          if (hashes.length > 0 && !(await visit(hashes))) return;
        } while (cursor !== '0');
      }
    }
  }
}

function keyList(kind: SwarmKind, infoHash: InfoHash): string[] {
  return kind === 'wire' ? wireKeyList(infoHash) : wsKeyList(infoHash);
}

function wireKeyList(infoHash: InfoHash): string[] {
  const keys = wireSwarmKeys(infoHash);
  return [keys.counters, keys.peersV4, keys.peersV6];
}

function wsKeyList(infoHash: InfoHash): string[] {
  const keys = wsSwarmKeys(infoHash);
  return [keys.routes, keys.peers];
}

/** A random rank offset for the script's sample window (scripts must not call math.random themselves). */
function randomRank(): number {
  return Math.floor(Math.random() * 0x7fffffff);
}
