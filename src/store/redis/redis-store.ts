/**
 * The scale-out store: swarms in Redis (one node, or a Redis Cluster), every operation one call of a Redis
 * function on one swarm's keys (lua/swarm-functions.lua, swarm-keys.ts), so announces from any number of
 * workers are atomic and exact. Nothing lives in the tracker process. There is no global index: announces and
 * scrapes expire the swarms they touch, and key TTLs reclaim the swarms nobody touches (docs/scaling.md).
 *
 * The function calls go through ScriptClient (pre-encoded commands on connections of its own); ioredis keeps
 * the cluster topology and runs the maintenance commands (SCAN).
 */
import { createHash } from 'node:crypto';
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
import type { Reply } from './resp.js';
import { ScriptClient, type ConnectionSettings, type Topology } from './script-client.js';
import {
  KEY_LENGTH,
  WIRE_KEYS,
  WIRE_V4_KIND,
  WIRE_V4_PATTERN,
  WIRE_V6_PATTERN,
  WS_KEYS,
  WS_PATTERN,
  infoHashOfKey,
  swarmKey,
  swarmSlot,
  writeKey,
} from './swarm-keys.js';
import { hostPort } from './nodes.js';

type SwarmKind = 'wire' | 'ws';

export interface RedisStoreOptions extends StoreOptions {
  /** A single node (`redis://…`), or the seed nodes of a cluster (`host:port`). */
  target: { url: string } | { cluster: string[] };
  /** Milliseconds a command may take before its request fails. */
  timeoutMs: number;
  /** Connection problems, for the log (connections are reopened by themselves). */
  onError: (error: Error) => void;
}

/** Expired peers one call removes at most per peer list, bounding its run time after a long outage. */
const EXPIRY_LIMIT = 1000;

const EVENT_CODES: Readonly<Record<AnnounceEvent, number>> = { none: 0, completed: 1, started: 2, stopped: 3 };

/** Bytes of a swarm header (lua/swarm-functions.lua). */
const HEADER_SIZE = 48;

/** The fixed part of an announce's argument: now, ttl, numwant, random, expiry limit (uint32 LE), event, seeder. */
const ANNOUNCE_ARGS_SIZE = 22;

/** The function library, its names suffixed with a hash of its source (see the header of the file). */
function library(): { source: string; version: string } {
  const text = readFileSync(new URL('../../../lua/swarm-functions.lua', import.meta.url), 'utf8');
  const version = createHash('sha1').update(text).digest('hex').slice(0, 12);
  return { source: text.replaceAll('$V', version), version };
}

/** An FCALL of one function on one swarm's keys: the constant head of the command, encoded once. */
class FunctionCall {
  private readonly head: Buffer;

  constructor(
    name: string,
    private readonly kinds: readonly string[],
  ) {
    this.head = Buffer.from(`*${4 + kinds.length}\r\n$5\r\nFCALL\r\n$${name.length}\r\n${name}\r\n$1\r\n${kinds.length}\r\n`, 'latin1');
  }

  /** The command for the swarm with room for an argument of `size` bytes, which start at `argumentAt(...)`. */
  command(infoHash: InfoHash, size: number): Buffer {
    const sizeLine = `$${size}\r\n`;
    const out = Buffer.allocUnsafe(this.head.length + this.kinds.length * (KEY_LENGTH + 7) + sizeLine.length + size + 2);
    let at = this.head.copy(out, 0);
    for (const kind of this.kinds) {
      out[at] = 0x24; // $26\r\n
      out[at + 1] = 0x32;
      out[at + 2] = 0x36;
      out[at + 3] = 13;
      out[at + 4] = 10;
      at = writeKey(out, at + 5, kind, infoHash);
      out[at] = 13;
      out[at + 1] = 10;
      at += 2;
    }
    out.write(sizeLine, at, 'latin1');
    out[out.length - 2] = 13;
    out[out.length - 1] = 10;
    return out;
  }
}

/** Where the argument starts in a command of FunctionCall.command. */
function argumentAt(command: Buffer, size: number): number {
  return command.length - 2 - size;
}


/** The slot map of ioredis' Cluster, plus the MOVED answers seen since its last refresh. */
class ClusterTopology implements Topology {
  private readonly table: (string | undefined)[] = new Array(16384);
  private lastRefresh = 0;
  private pending: NodeJS.Timeout | null = null;

  constructor(private readonly cluster: Cluster) {
    this.rebuild();
    cluster.on('refresh', () => this.rebuild());
  }

  nodeFor(slot: number): string | undefined {
    return this.table[slot];
  }

  moved(slot: number, node: string): void {
    this.table[slot] = node;
    this.refresh();
  }

  /** At most one CLUSTER SLOTS a second. */
  refresh(): void {
    if (this.pending !== null) return;
    const wait = this.lastRefresh + 1000 - Date.now();
    this.pending = setTimeout(
      () => {
        this.pending = null;
        this.lastRefresh = Date.now();
        this.cluster.refreshSlotsCache();
      },
      Math.max(0, wait),
    );
    this.pending.unref();
  }

  close(): void {
    if (this.pending !== null) clearTimeout(this.pending);
  }

  private rebuild(): void {
    for (let slot = 0; slot < 16384; slot++) this.table[slot] = this.cluster.slots[slot]?.[0];
  }
}

function singleTopology(node: string): Topology {
  return { nodeFor: () => node, moved: () => {}, refresh: () => {} };
}

/** The header and entries of an announce reply (lua/swarm-functions.lua). */
function announceParts(reply: Reply): [Buffer, Buffer] {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0]) || !Buffer.isBuffer(reply[1]) || reply[0].length < HEADER_SIZE) {
    throw new Error('Redis: unexpected reply to an announce');
  }
  return [reply[0], reply[1]];
}

/** complete, incomplete, downloaded from a swarm header: n1, n2, …, seeders at 24, downloaded (double) at 36. */
function countsOf(header: Buffer): ScrapeCounts {
  const seeders = header.readUInt32LE(24);
  return { complete: seeders, incomplete: header.readUInt32LE(0) + header.readUInt32LE(4) - seeders, downloaded: header.readDoubleLE(36) };
}

function decodeAnnounce(reply: Reply): AnnounceResult {
  const [header, peers] = announceParts(reply);
  const seeders = header.readUInt32LE(24);
  return {
    complete: seeders,
    incomplete: header.readUInt32LE(0) + header.readUInt32LE(4) - seeders,
    downloaded: header.readDoubleLE(36),
    peers,
  };
}

function decodeWsAnnounce(reply: Reply): WsAnnounceResult {
  const [header, entries] = announceParts(reply);
  // A third element, 1: another route holds the peer, and nothing changed.
  if (Array.isArray(reply) && reply[2] === 1) return { ...countsOf(header), peers: [], conflict: true };
  const stride = header.readUInt32LE(32);
  const peers: WsPeer[] = [];
  // Entries: peer_id length, peer_id, route length, route, padding.
  for (let at = 0; stride > 0 && at + stride <= entries.length; at += stride) {
    const routeAt = at + 2 + entries[at]!;
    peers.push({ peerId: entries.toString('latin1', at + 1, routeAt - 1), route: entries.toString('utf8', routeAt, routeAt + entries[routeAt - 1]!) });
  }
  return { ...countsOf(header), peers, conflict: false };
}

interface ScrapeReply extends ScrapeCounts {
  readonly removed: number;
}

/** A scrape's reply: the swarm's header (empty when there is no swarm) and the peers it removed as expired. */
function decodeScrape(reply: Reply): ScrapeReply {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0]) || typeof reply[1] !== 'number') throw new Error('Redis: unexpected reply to a scrape');
  const header = reply[0];
  if (header.length < HEADER_SIZE) return { complete: 0, incomplete: 0, downloaded: 0, removed: reply[1] };
  return { ...countsOf(header), removed: reply[1] };
}

function decodeCounts(reply: Reply): ScrapeCounts {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0])) throw new Error('Redis: unexpected reply to a scrape');
  return reply[0].length < HEADER_SIZE ? { complete: 0, incomplete: 0, downloaded: 0 } : countsOf(reply[0]);
}

export class RedisStore implements Store {
  readonly periodicSweep = false;
  private readonly announceCall: FunctionCall;
  private readonly announceWsCall: FunctionCall;
  private readonly scrapeCall: FunctionCall;
  private readonly scrapeWsCall: FunctionCall;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly client: ScriptClient,
    private readonly topology: ClusterTopology | null,
    private readonly options: RedisStoreOptions,
    version: string,
  ) {
    this.announceCall = new FunctionCall(`announce_${version}`, WIRE_KEYS);
    this.announceWsCall = new FunctionCall(`announce_ws_${version}`, WS_KEYS);
    this.scrapeCall = new FunctionCall(`scrape_${version}`, WIRE_KEYS);
    this.scrapeWsCall = new FunctionCall(`scrape_ws_${version}`, WS_KEYS);
  }

  /** Connects and waits until the node or cluster is ready (or fails after the timeout). */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    // No offline queue: while Redis is unreachable, maintenance commands fail at once instead of piling up;
    // ioredis keeps reconnecting in the background.
    const common = {
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
            enableOfflineQueue: false,
            scaleReads: 'master',
            slotsRefreshTimeout: options.timeoutMs,
            clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
            redisOptions: common,
          });
    redis.on('error', options.onError);
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
    const { source, version } = library();
    // Load the functions on every master now, which also checks that Redis has Functions (7.0+); a node that
    // misses them later (restarted, flushed, new) gets them again on its first call.
    const masters = redis instanceof Cluster ? redis.nodes('master') : [redis];
    const loads = await Promise.allSettled(masters.map((node) => node.function('LOAD', source)));
    for (const load of loads) {
      const message = load.status === 'rejected' ? String((load.reason as Error).message) : '';
      if (/unknown command/i.test(message)) {
        redis.disconnect();
        throw new Error(`the Redis store needs Redis 7.0 or newer (Functions): ${message}`);
      }
      // Another tracker of this version loaded it first: fine. A library Redis refuses is a bug to show now.
      if (/error (registering|compiling)/i.test(message)) {
        redis.disconnect();
        throw new Error(`Redis refused the store's functions: ${message}`);
      }
    }
    let topology: Topology;
    let settings: ConnectionSettings;
    let clusterTopology: ClusterTopology | null = null;
    if (redis instanceof Cluster) {
      clusterTopology = new ClusterTopology(redis);
      topology = clusterTopology;
      const nodeOptions = redis.options.redisOptions ?? {};
      settings = { username: nodeOptions.username, password: nodeOptions.password, tls: nodeOptions.tls };
    } else {
      const { host, port, username, password, db, tls } = redis.options;
      topology = singleTopology(`${host}:${port}`);
      settings = { username, password, db, tls };
    }
    const client = new ScriptClient({ topology, connection: settings, library: source, timeoutMs: options.timeoutMs, onError: options.onError });
    return new RedisStore(redis, client, clusterTopology, options, version);
  }

  announce(request: AnnounceRequest): Promise<AnnounceResult> {
    const peer = request.peer;
    const size = ANNOUNCE_ARGS_SIZE + peer.length;
    const command = this.announceCall.command(request.infoHash, size);
    const at = this.announceArguments(command, size, request.event, request.seeder, request.numwant, this.options.peerTtlSeconds);
    command.set(peer, at + ANNOUNCE_ARGS_SIZE);
    return this.client.call(swarmSlot(request.infoHash), command, decodeAnnounce);
  }

  announceWs(request: WsAnnounceRequest): Promise<WsAnnounceResult> {
    const route = Buffer.from(request.route, 'utf8');
    const idLength = request.peerId.length;
    if (route.length > 255 || idLength > 255) return Promise.reject(new Error('WebSocket peer_id or route longer than 255 bytes'));
    const size = ANNOUNCE_ARGS_SIZE + 1 + idLength + route.length;
    const command = this.announceWsCall.command(request.infoHash, size);
    const at = this.announceArguments(command, size, request.event, request.seeder, request.numwant, this.options.wsPeerTtlSeconds);
    command[at + ANNOUNCE_ARGS_SIZE] = idLength;
    command.write(request.peerId, at + ANNOUNCE_ARGS_SIZE + 1, idLength, 'latin1');
    route.copy(command, at + ANNOUNCE_ARGS_SIZE + 1 + idLength);
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
    this.client.close();
    this.topology?.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Writes the fixed part of an announce's argument; returns where the argument starts. */
  private announceArguments(command: Buffer, size: number, event: AnnounceEvent, seeder: boolean, numwant: number, ttl: number): number {
    const at = argumentAt(command, size);
    command.writeUInt32LE(this.options.now(), at);
    command.writeUInt32LE(ttl, at + 4);
    command.writeUInt32LE(Math.max(0, Math.min(numwant, 0x7fffffff)), at + 8);
    command.writeUInt32LE((Math.random() * 0x100000000) >>> 0, at + 12);
    command.writeUInt32LE(EXPIRY_LIMIT, at + 16);
    command[at + 20] = EVENT_CODES[event];
    command[at + 21] = seeder ? 1 : 0;
    return at;
  }

  private runScrape<T>(kind: SwarmKind, infoHash: InfoHash, decode: (reply: Reply) => T): Promise<T> {
    const command = (kind === 'wire' ? this.scrapeCall : this.scrapeWsCall).command(infoHash, 12);
    const at = argumentAt(command, 12);
    command.writeUInt32LE(this.options.now(), at);
    command.writeUInt32LE(EXPIRY_LIMIT, at + 4);
    command.writeUInt32LE(kind === 'wire' ? this.options.peerTtlSeconds : this.options.wsPeerTtlSeconds, at + 8);
    return this.client.call(swarmSlot(infoHash), command, decode);
  }

  private async listHashes(kind: SwarmKind, limit: number): Promise<InfoHash[]> {
    const hashes: InfoHash[] = [];
    await this.forEachSwarm(kind, async (batch) => {
      for (const infoHash of batch) if (hashes.length < limit) hashes.push(infoHash);
      return hashes.length < limit;
    });
    return hashes;
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
