/**
 * Access control of one tracker process: the info-hash list, the peer_id prefix list, the WebSocket Origin
 * list and the passkeys, each merged from its sources (the config, a file, the shared list in Redis) and
 * followed as they change. Servers ask synchronously, once per request; with a list's mode `off` the cost is
 * one comparison. A source that changes is parsed whole into a new structure that replaces the old one by one
 * reference: requests see the old list or the new one, never half of one; a source that does not parse leaves
 * the old one in force and is logged with its file and line.
 */
import type { FSWatcher } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import type { TrackerConfig } from '../config/index.js';
import type { AccessMode } from '../config/options.js';
import { throttledWarning, type Logger } from '../log.js';
import type { CounterChild } from '../metrics/fast-metrics.js';
import { accessListEntries, accessListReloadFailures, accessRefused, type Protocol } from '../metrics/tracker-metrics.js';
import type { InfoHash, ScrapeCounts } from '../protocol/types.js';
import { ZERO_COUNTS } from '../store/store.js';
import { readListFile, watchListFile } from './list-file.js';
import { LIST_KINDS, LIST_NAMES, normalizeEntries, type ListKind, type ListName, type Matcher } from './lists.js';
import { readEntries, readVersions } from './redis-lists.js';
import { filterInSlices } from './slices.js';

type Source = 'config' | 'file' | 'redis';

export const INFO_HASH_REFUSED = 'info_hash not allowed on this tracker';
export const PEER_ID_REFUSED = 'client not allowed on this tracker (peer_id)';
export const ORIGIN_REFUSED = 'origin not allowed on this tracker';

/** Milliseconds between two polls of the lists' versions in Redis: a change is in force within about that. */
const POLL_MS = 250;

/** The file a list is read from ('' for none); the CLI edits the same one. */
export function listFile(config: TrackerConfig, list: ListName): string {
  if (list === 'info-hash') return config.accessFile;
  if (list === 'peer-id') return config.peerIdFile;
  if (list === 'passkey') return config.passkeyFile;
  return '';
}

/** Entries a list takes from the configuration itself, and the option they come from. */
function configEntries(config: TrackerConfig, list: ListName): { texts: string[]; option: string } | null {
  if (list === 'peer-id') return { texts: config.peerIdPrefixes, option: '--peer-id-prefixes' };
  if (list === 'origin') return { texts: config.wsOrigins, option: '--ws-origins' };
  return null;
}

/** One list as requests see it: the matchers of its sources, replaced as one array when a source changes. */
class FollowedList {
  private readonly sources = new Map<Source, Matcher>();
  private matchers: readonly Matcher[] = [];

  constructor(readonly kind: ListKind) {}

  set(source: Source, matcher: Matcher | null): void {
    if (matcher === null) this.sources.delete(source);
    else this.sources.set(source, matcher);
    this.matchers = [...this.sources.values()];
    accessListEntries.set({ list: this.kind.name, source }, matcher?.size ?? 0);
  }

  matches(value: string): boolean {
    const matchers = this.matchers;
    for (let i = 0; i < matchers.length; i++) if (matchers[i]!.matches(value)) return true;
    return false;
  }
}

/** Whether a value passes a list in `mode`. */
function passes(mode: AccessMode, list: FollowedList, value: string): boolean {
  return mode === 'off' || list.matches(value) === (mode === 'allow');
}

/** Counters of refusals, made once per (list, protocol). */
function refusedCounters(list: ListName): Record<Protocol, CounterChild> {
  const child = (protocol: Protocol) => accessRefused.child({ list, protocol });
  return { http: child('http'), udp: child('udp'), ws: child('ws') };
}
const infoHashRefused = refusedCounters('info-hash');
const peerIdRefused = refusedCounters('peer-id');
const originRefused = refusedCounters('origin').ws;

export class AccessControl {
  private readonly lists = Object.fromEntries(LIST_NAMES.map((name) => [name, new FollowedList(LIST_KINDS[name])])) as Record<
    ListName,
    FollowedList
  >;
  private readonly watchers = new Map<ListName, { file: string; watcher: FSWatcher }>();
  private follower: RedisFollower | null = null;
  /** The latest load of each list's source, by `list source`. */
  private readonly loads = new Map<string, number>();

  /** Lists are empty until start(); `config` is the running one, changed in place by a reload. */
  constructor(
    private readonly config: TrackerConfig,
    private readonly log: Logger,
  ) {}

  /**
   * Loads every configured list (a list that does not load fails the start) and follows them: files as they
   * change, the shared lists in Redis through `redis` when `--access-redis`.
   */
  static async start(config: TrackerConfig, log: Logger, redis?: Redis | Cluster): Promise<AccessControl> {
    const access = new AccessControl(config, log);
    for (const list of LIST_NAMES) await access.loadConfigEntries(list, true);
    for (const list of LIST_NAMES) await access.followFile(list, true);
    if (config.accessRedis && redis !== undefined) {
      access.follower = new RedisFollower(redis, access.lists, log);
      await access.follower.start();
    }
    return access;
  }

  infoHashAllowed(infoHash: InfoHash): boolean {
    return passes(this.config.accessMode, this.lists['info-hash'], infoHash);
  }

  peerIdAllowed(peerId: string): boolean {
    return passes(this.config.peerIdMode, this.lists['peer-id'], peerId);
  }

  /** A request without Origin is not a browser's: Origin lists say which web pages may use the tracker. */
  originAllowed(origin: string | undefined): boolean {
    if (origin === undefined || origin === '' || this.config.wsOriginsMode === 'off') return true;
    return passes(this.config.wsOriginsMode, this.lists.origin, origin.toLowerCase());
  }

  passkeyKnown(key: string): boolean {
    return this.lists.passkey.matches(key);
  }

  /** An announce's failure reason when a list refuses it (counted), or null. */
  announceRefusal(infoHash: InfoHash, peerId: string, protocol: Protocol): string | null {
    if (!this.infoHashAllowed(infoHash)) {
      infoHashRefused[protocol].inc();
      return INFO_HASH_REFUSED;
    }
    if (!this.peerIdAllowed(peerId)) {
      peerIdRefused[protocol].inc();
      return PEER_ID_REFUSED;
    }
    return null;
  }

  /** A WebSocket upgrade's refusal (counted) when the list refuses its Origin header ('' when absent), or null. */
  originRefusal(origin: string): string | null {
    if (this.originAllowed(origin)) return null;
    originRefused.inc();
    return ORIGIN_REFUSED;
  }

  /** A full scrape's swarms without the refused ones: a swarm the tracker never saw is not listed either. */
  listable(infoHashes: InfoHash[]): InfoHash[] {
    if (this.config.accessMode === 'off') return infoHashes;
    return infoHashes.filter((infoHash) => this.infoHashAllowed(infoHash));
  }

  /** Scrape counts with refused info hashes answered as unknown (zeros), like swarms the tracker never saw. */
  scrapeCounts(infoHashes: readonly InfoHash[], counts: ScrapeCounts[], protocol: Protocol): ScrapeCounts[] {
    if (this.config.accessMode === 'off') return counts;
    for (let i = 0; i < infoHashes.length; i++) {
      if (this.infoHashAllowed(infoHashes[i]!)) continue;
      infoHashRefused[protocol].inc();
      counts[i] = ZERO_COUNTS;
    }
    return counts;
  }

  /**
   * SIGHUP: the config's entries and the files again (paths may have changed); what fails keeps its old list.
   * The config's lists (small: built without yielding) change before any request after the modes (applied by
   * the caller); the files once read.
   */
  async reload(): Promise<void> {
    await Promise.all(LIST_NAMES.map((list) => this.loadConfigEntries(list, false)));
    for (const list of LIST_NAMES) await this.followFile(list, false);
  }

  close(): void {
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.follower?.close();
  }

  private async loadConfigEntries(list: ListName, strict: boolean): Promise<void> {
    const given = configEntries(this.config, list);
    if (given === null) return;
    const { kind } = this.lists[list];
    await this.load(list, 'config', strict, async () =>
      given.texts.length === 0 ? null : kind.build(normalizeEntries(kind, given.texts, given.option)),
    );
  }

  /** Reads the list's file now, and watches it (again, if its path changed). */
  private async followFile(list: ListName, strict: boolean): Promise<void> {
    const file = listFile(this.config, list);
    const watched = this.watchers.get(list);
    if (watched !== undefined && watched.file !== file) {
      watched.watcher.close();
      this.watchers.delete(list);
    }
    if (file === '') {
      await this.load(list, 'file', strict, async () => null);
      return;
    }
    await this.readFile(list, file, strict);
    if (this.watchers.has(list)) return;
    const stopped = (error: Error): void => this.log.error({ err: error, list, file }, `access list file not followed: ${error.message}`);
    try {
      this.watchers.set(list, { file, watcher: watchListFile(file, () => void this.readFile(list, file, false), stopped) });
    } catch (error) {
      // Its directory is gone: a start fails; a reload says so, and SIGHUP tries again.
      if (strict) throw error;
      stopped(error as Error);
    }
  }

  private async readFile(list: ListName, file: string, strict: boolean): Promise<void> {
    const { kind } = this.lists[list];
    await this.load(list, 'file', strict, async () => kind.build(await readListFile(kind, file)));
  }

  /**
   * Makes a source's new matcher and swaps it in, unless a later load of the same source started meanwhile
   * (a file changed twice: the second read wins, whichever ends first). When making it fails, a start fails;
   * a reload is logged and counted, and the old list stays.
   */
  private async load(list: ListName, source: Source, strict: boolean, make: () => Promise<Matcher | null>): Promise<void> {
    const key = `${list} ${source}`;
    const ticket = (this.loads.get(key) ?? 0) + 1;
    this.loads.set(key, ticket);
    let matcher: Matcher | null;
    try {
      matcher = await make();
    } catch (error) {
      if (strict) throw error;
      accessListReloadFailures.inc({ list, source });
      this.log.error({ list, source }, `${list} access list not reloaded, the old one stays: ${(error as Error).message}`);
      return;
    }
    if (this.loads.get(key) !== ticket) return;
    this.lists[list].set(source, matcher);
    if (matcher !== null) this.log.info({ list, source, entries: matcher.size }, 'access list loaded');
  }
}

/**
 * Follows the shared lists in Redis: polls their versions (one HMGET) every POLL_MS and reloads a list whose
 * version moved. Polling rather than pub/sub: a lost subscription would go unnoticed (docs/architecture.md),
 * a missed poll is made up by the next one. The version is read before the entries, so a change made during
 * a reload moves it again and the next poll reloads once more.
 */
class RedisFollower {
  private readonly versions = new Map<ListName, string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly warn: (error: unknown) => void;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly lists: Record<ListName, FollowedList>,
    private readonly log: Logger,
  ) {
    this.warn = throttledWarning(log, 'shared access lists not followed: Redis does not answer; the lists in force stay');
  }

  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.poll().then(
        () => this.schedule(),
        (error: unknown) => {
          accessListReloadFailures.inc({ list: 'all', source: 'redis' });
          this.warn(error);
          this.schedule();
        },
      );
    }, POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const versions = await readVersions(this.redis, LIST_NAMES);
    for (let i = 0; i < LIST_NAMES.length; i++) {
      const list = LIST_NAMES[i]!;
      const version = versions[i]!;
      if (this.versions.get(list) === version || this.closed) continue;
      const followed = this.lists[list];
      // Entries are written normalized by the CLI; one written by hand otherwise is left out.
      const entries = await filterInSlices(await readEntries(this.redis, list), (entry) => followed.kind.normalize(entry) === entry);
      followed.set('redis', await followed.kind.build(entries));
      if (this.versions.has(list)) this.log.info({ list, version, entries: entries.length }, 'shared access list reloaded');
      this.versions.set(list, version);
    }
  }
}
