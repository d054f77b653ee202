/** `redswarm access`: edits the info-hash, peer_id prefix and Origin lists the trackers follow. */
import type { TrackerConfig } from '../config/index.js';
import type { ListName } from '../access/lists.js';
import { runListVerb } from './list-command.js';

export const usage = `Usage: redswarm access [info-hash|peer-id|origin] add|remove ENTRY…   (- reads entries from stdin)
       redswarm access [info-hash|peer-id|origin] list
Edits the shared list in Redis (with --redis/--redis-cluster, as the tracker's config gives them) or else the
list's file (--access-file, --peer-id-file); every tracker follows a change within a second. The list is
info-hash unless named. Entries starting with "-" (peer_id prefixes) go after "--".
`;

const LISTS = new Set<string>(['info-hash', 'peer-id', 'origin']);
const VERBS = new Set<string>(['add', 'remove', 'list']);

export async function run(args: readonly string[], config: TrackerConfig): Promise<number> {
  const list = (LISTS.has(args[0] ?? '') ? args[0] : 'info-hash') as ListName;
  const rest = LISTS.has(args[0] ?? '') ? args.slice(1) : args;
  const verb = rest[0] ?? '';
  if (!VERBS.has(verb) || (verb === 'list' && rest.length > 1)) {
    process.stderr.write(usage);
    return 2;
  }
  return runListVerb(config, list, verb as 'add' | 'remove' | 'list', rest.slice(1));
}
