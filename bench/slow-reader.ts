/**
 * The slow-reader attack on a running tracker: one keep-alive connection that pipelines announces (non-compact,
 * so replies are large) as fast as the socket takes them and never reads a reply. Prints the tracker's RSS every
 * second and when the tracker closed the connection. A tracker that buffers replies for it grows linearly
 * (issue 9 saw 105 → 554 MB in 60 s); redswarm holds at most one reply and closes the connection.
 *
 *   node --import tsx bench/slow-reader.ts --port N --pid PID [--duration 30] [--peers 200]
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { assertLoopback, parseOptions, targetOptions } from './harness/options.js';
import { sleep } from './harness/lifetime.js';

const options = parseOptions(
  {
    ...targetOptions('tracker HTTP port'),
    pid: { type: 'int', arg: 'PID', min: 1, max: 2 ** 31, required: true, help: "the tracker's process (its RSS is read from /proc)" },
    duration: { type: 'number', arg: 'S', default: 30, min: 1, max: 600, help: 'seconds to keep writing' },
    peers: { type: 'int', arg: 'N', default: 200, min: 0, max: 10_000, help: 'peers put in the swarm first (reply size)' },
  },
  process.argv.slice(2),
  'usage: node --import tsx bench/slow-reader.ts --port N --pid PID [options]',
);
assertLoopback(options.host);

const INFO_HASH = '%5B'.repeat(20);
const rssMb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${options.pid}/status`, 'utf8'))![1]) / 1024;
const announce = (i: number, compact: boolean): string =>
  `/announce?info_hash=${INFO_HASH}&peer_id=-SB0001-${String(i).padStart(12, '0')}&port=${1024 + (i % 60000)}&left=0&numwant=200${compact ? '' : '&compact=0'}`;

for (let i = 0; i < options.peers; i++) await (await fetch(`http://${options.host}:${options.port}${announce(i, true)}`)).arrayBuffer();

const socket = net.connect(options.port, options.host);
socket.pause(); // never reads
const batch = Array.from({ length: 50 }, (_, i) => `GET ${announce(i, false)} HTTP/1.1\r\nHost: t\r\n\r\n`).join('');
const started = Date.now();
let written = 0;
let closedAt = -1;
socket.on('error', () => {});
socket.on('close', () => {
  if (closedAt < 0) closedAt = (Date.now() - started) / 1000;
});
const pump = (): void => {
  while (!socket.destroyed && Date.now() - started < options.duration * 1000) {
    written += 50;
    if (!socket.write(batch)) {
      socket.once('drain', pump);
      return;
    }
  }
};
socket.on('connect', pump);

console.log(`rss_mb_before=${rssMb().toFixed(1)}`);
let peak = 0;
for (let second = 1; second <= options.duration; second++) {
  await sleep(1000);
  const rss = rssMb();
  peak = Math.max(peak, rss);
  console.log(`t=${second}s rss_mb=${rss.toFixed(1)} requests_written=${written} closed=${closedAt >= 0}`);
  if (closedAt >= 0 && second >= 3) break;
}
socket.destroy();
console.log(`RESULT closed_by_tracker_after_s=${closedAt >= 0 ? closedAt.toFixed(2) : 'never'} requests_written=${written} rss_mb_peak=${peak.toFixed(1)}`);
