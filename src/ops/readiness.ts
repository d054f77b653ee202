/**
 * Readiness as this process sees its store: one probe per band of the Redis Cluster's slot space, so a failed
 * master shows as the share of the keyspace this process cannot serve, whichever master it is. (The embedded
 * store answers every probe.)
 */
import type { InfoHash } from '../protocol/types.js';
import { swarmSlot } from '../store/redis/swarm-keys.js';
import type { Store } from '../store/store.js';

/** Equal bands of the 16384 slots; a master of a cluster of up to this many masters gets at least one. */
const BANDS = 16;
const SLOTS = 16384;

/** One never-announced info hash in each band: a scrape of it is the same path as a client's request. */
export const PROBE_HASHES: readonly InfoHash[] = (() => {
  const hashes = new Array<InfoHash>(BANDS);
  let found = 0;
  // Only the first two bytes decide the slot (swarm-keys.ts): walk them until every band has a hash.
  for (let tag = 0; tag < 0x10000 && found < BANDS; tag++) {
    const infoHash = String.fromCharCode(tag >> 8, tag & 0xff) + '\0'.repeat(18);
    const band = Math.floor((swarmSlot(infoHash) * BANDS) / SLOTS);
    if (hashes[band] === undefined) {
      hashes[band] = infoHash;
      found++;
    }
  }
  return hashes;
})();

export interface Readiness {
  /** Probes (bands of the keyspace) that answered, of `total`. */
  readonly answered: number;
  readonly total: number;
  /** The first failure's message, when any probe failed. */
  readonly error?: string;
}

export async function probeStore(store: Store): Promise<Readiness> {
  const results = await Promise.allSettled(PROBE_HASHES.map((infoHash) => store.scrape([infoHash])));
  const failed = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  const readiness = { answered: results.length - failed.length, total: results.length };
  return failed.length === 0 ? readiness : { ...readiness, error: String((failed[0]!.reason as Error)?.message ?? failed[0]!.reason) };
}
