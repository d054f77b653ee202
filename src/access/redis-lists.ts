/**
 * The shared access lists in Redis: one SET of normalized entries per list, and one HASH of version counters
 * that every change increments (the CLI's), so that tracker processes poll one small key and reload a list
 * only when its version moves. Every key carries the hash tag `{lists}`: all of them live in one cluster slot
 * (one node answers a poll), and none can collide with the swarm keys (binary, `<kind>{<tag>}<hash>`) or the
 * registry's (`redswarm:processes`, `redswarm:coordinator`, …).
 */
import type { Cluster, Redis } from 'ioredis';
import type { ListName } from './lists.js';

const PREFIX = 'redswarm:access:{lists}:';
export const VERSIONS_KEY = `${PREFIX}versions`;

export function setKey(list: ListName): string {
  return `${PREFIX}${list}`;
}

/** Entries per SSCAN step and per SADD/SREM command: big lists move in bounded replies. */
const BATCH = 10_000;

/** The version of each list, in the order asked ('0' for a list never changed). */
export async function readVersions(redis: Redis | Cluster, lists: readonly ListName[]): Promise<string[]> {
  const versions = await redis.hmget(VERSIONS_KEY, ...lists);
  return versions.map((version) => version ?? '0');
}

/** Every entry of a list, in SSCAN steps (which may repeat an entry: the structures built from it dedupe). */
export async function readEntries(redis: Redis | Cluster, list: ListName): Promise<string[]> {
  const entries: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.sscan(setKey(list), cursor, 'COUNT', BATCH);
    for (const entry of batch) entries.push(entry);
    cursor = next;
  } while (cursor !== '0');
  return entries;
}

/**
 * Adds (SADD) or removes (SREM) normalized entries, then moves the list's version once, after all of them: a
 * big import is one reload for the followers, not one per batch. Resolves with how many entries changed.
 */
export async function changeEntries(redis: Redis | Cluster, list: ListName, change: 'add' | 'remove', entries: readonly string[]): Promise<number> {
  const pipeline = redis.pipeline();
  for (let at = 0; at < entries.length; at += BATCH) {
    const batch = entries.slice(at, at + BATCH);
    if (change === 'add') pipeline.sadd(setKey(list), ...batch);
    else pipeline.srem(setKey(list), ...batch);
  }
  pipeline.hincrby(VERSIONS_KEY, list, 1);
  const results = (await pipeline.exec()) ?? [];
  let changed = 0;
  results.forEach(([error, result], i) => {
    if (error) throw error;
    if (i < results.length - 1) changed += Number(result); // the last is the version
  });
  return changed;
}
