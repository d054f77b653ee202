/** `redswarm keys`: the passkeys of a private tracker (see docs/access-control.md). */
import { randomBytes } from 'node:crypto';
import type { TrackerConfig } from '../config/index.js';
import { runListVerb } from './list-command.js';

export const usage = `Usage: redswarm keys add [KEY…]      (no KEY: a new random key, printed)
       redswarm keys revoke KEY…    (- reads keys from stdin)
       redswarm keys list
Edits the shared passkey list in Redis (with --redis/--redis-cluster) or else --passkey-file; every tracker
follows a change within a second.
`;

export async function run(args: readonly string[], config: TrackerConfig): Promise<number> {
  const [verb, ...keys] = args;
  if (verb === 'add' && keys.length === 0) {
    const key = randomBytes(16).toString('hex');
    const code = await runListVerb(config, 'passkey', 'add', [key]);
    if (code === 0) process.stdout.write(`${key}\n`);
    return code;
  }
  if (verb === 'add' || (verb === 'list' && keys.length === 0)) return runListVerb(config, 'passkey', verb, keys);
  if (verb === 'revoke') return runListVerb(config, 'passkey', 'remove', keys);
  process.stderr.write(usage);
  return 2;
}
