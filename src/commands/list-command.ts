/**
 * What `redswarm access` and `redswarm keys` share: adding, removing and listing the entries of one access
 * list where the tracker follows it — the shared list in Redis when the configuration uses Redis (and
 * `--access-redis`), otherwise the list's file.
 */
import { readFileSync } from 'node:fs';
import type { TrackerConfig } from '../config/index.js';
import { listFile } from '../access/access-control.js';
import { addToListFile, readListFile, removeFromListFile } from '../access/list-file.js';
import { LIST_KINDS, normalizeEntries, parseList, type ListName } from '../access/lists.js';
import { changeEntries, readEntries } from '../access/redis-lists.js';
import { createRedisClient, whenReady } from '../store/redis/connection.js';
import { redisTarget } from '../store/create-store.js';

export interface ListTarget {
  /** Where the list is, for messages. */
  readonly where: string;
  add(entries: readonly string[]): Promise<number>;
  remove(entries: readonly string[]): Promise<number>;
  entries(): Promise<string[]>;
  close(): Promise<void>;
}

const FILE_OPTION: Partial<Record<ListName, string>> = { 'info-hash': '--access-file', 'peer-id': '--peer-id-file', passkey: '--passkey-file' };

export async function openListTarget(config: TrackerConfig, list: ListName): Promise<ListTarget> {
  const kind = LIST_KINDS[list];
  const target = redisTarget(config);
  if (config.accessRedis && target !== null) {
    const redis = createRedisClient({ target, timeoutMs: config.storeTimeout }, { offlineQueue: false });
    redis.on('error', () => {}); // a command that fails says why; connection retries are not news here
    await whenReady(redis, config.storeTimeout);
    return {
      where: `the shared ${list} list in Redis`,
      add: (entries) => changeEntries(redis, list, 'add', entries),
      remove: (entries) => changeEntries(redis, list, 'remove', entries),
      entries: () => readEntries(redis, list).then((entries) => [...new Set(entries)]),
      close: () => redis.quit().then(() => undefined),
    };
  }
  const file = listFile(config, list);
  if (file === '') {
    const option = FILE_OPTION[list];
    throw new Error(`no ${list} list to edit: give ${option === undefined ? '' : `${option} or `}a Redis store (--redis, --redis-cluster)`);
  }
  return {
    where: file,
    add: (entries) => addToListFile(kind, file, entries),
    remove: (entries) => removeFromListFile(kind, file, entries),
    entries: () => readListFile(kind, file),
    close: async () => {},
  };
}

/** Entries from the command line, normalized; `-` reads them from stdin, one a line, as in a list file. */
export async function entriesOf(list: ListName, args: readonly string[]): Promise<string[]> {
  const kind = LIST_KINDS[list];
  if (args.length === 1 && args[0] === '-') return parseList(kind, readFileSync(0, 'latin1'), '<stdin>');
  return normalizeEntries(kind, args, 'argument');
}

/** Runs one verb on a list; resolves with the exit code. */
export async function runListVerb(config: TrackerConfig, list: ListName, verb: 'add' | 'remove' | 'list', args: readonly string[]): Promise<number> {
  const entries = verb === 'list' ? [] : await entriesOf(list, args);
  if (verb !== 'list' && entries.length === 0) {
    process.stderr.write(`redswarm: ${verb} needs at least one entry (or - to read them from stdin)\n`);
    return 2;
  }
  const target = await openListTarget(config, list);
  try {
    if (verb === 'list') {
      const listed = await target.entries();
      process.stdout.write(listed.sort().map((entry) => `${entry}\n`).join(''));
      return 0;
    }
    const changed = verb === 'add' ? await target.add(entries) : await target.remove(entries);
    const done = verb === 'add' ? 'added' : 'removed';
    process.stderr.write(`${done} ${changed} of ${entries.length} (${target.where})\n`);
    return 0;
  } finally {
    await target.close();
  }
}
