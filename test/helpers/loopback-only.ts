/**
 * For runners started inside a private network namespace (`unshare --net ...`; test/clients/netns.ts,
 * test/websocket/browser.test.ts): bring up `lo` and refuse to run unless it is the only interface, so that
 * nothing started there can reach or be reached from outside the machine.
 */
import { execFileSync } from 'node:child_process';

export function requireLoopbackOnly(): void {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(':')[1]?.trim().split('@')[0]);
  if (links.length !== 1 || links[0] !== 'lo') {
    throw new Error(`refusing to run: the namespace must only have lo, found: ${links.join(', ')}`);
  }
}
