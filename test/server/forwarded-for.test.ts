/** X-Forwarded-For is believed only from --trusted-proxies, and then its right-most untrusted hop is the peer. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import bencode from 'bencode';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';

const infoHash = '%AA'.repeat(20);

async function announce(t: TestTracker, port: number, forwardedFor?: string): Promise<string[]> {
  const query = `info_hash=${infoHash}&peer_id=${'-XF0001-'.padEnd(20, String(port % 10))}&port=${port}&left=5&compact=0`;
  const response = await fetch(`${t.httpUrl}?${query}`, {
    headers: forwardedFor === undefined ? {} : { 'X-Forwarded-For': forwardedFor },
  });
  const reply = bencode.decode(new Uint8Array(await response.arrayBuffer()));
  return (reply.peers as { ip: Uint8Array; port: number }[]).map((p) => `${Buffer.from(p.ip).toString()}:${p.port}`);
}

/** An announce whose X-Forwarded-For comes as separate header lines, as fetch cannot send them. */
async function announceWithHeaderLines(t: TestTracker, port: number, lines: string[]): Promise<void> {
  const query = `info_hash=${infoHash}&peer_id=${'-XF0001-'.padEnd(20, String(port % 10))}&port=${port}&left=5&compact=0`;
  const headers = lines.map((line) => `X-Forwarded-For: ${line}\r\n`).join('');
  const socket = net.connect(t.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.write(`GET /announce?${query} HTTP/1.1\r\nHost: t\r\n${headers}Connection: close\r\n\r\n`);
    socket.resume();
  });
}

for (const trusted of [true, false]) describe(trusted ? 'behind a trusted proxy' : 'without trusted proxies', () => {
  let tracker: TestTracker;
  before(async () => {
    tracker = await startTestTracker(trusted ? { trustedProxies: ['127.0.0.1', '10.9.9.9'] } : {});
  });
  after(() => tracker.stop());

  it(trusted ? 'a trusted proxy: the right-most hop that is not a trusted proxy is the peer' : 'no trusted proxy: the header is ignored', async () => {
    await announce(tracker, 7001, '6.6.6.6, 203.0.113.7, 10.9.9.9');
    const seen = await announce(tracker, 7002);
    assert.deepEqual(seen, [trusted ? '203.0.113.7:7001' : '127.0.0.1:7001']);
  });

  it('every X-Forwarded-For line counts, as one list: a forged first line is not the peer', async () => {
    // The client forged the first line; a proxy that appends its own line (HAProxy's forwardfor) added the second.
    await announceWithHeaderLines(tracker, 7003, ['9.9.9.9', '5.5.5.5']);
    const seen = await announce(tracker, 7004);
    assert.ok(seen.includes(trusted ? '5.5.5.5:7003' : '127.0.0.1:7003'), `peers seen: ${seen.join(' ')}`);
    assert.ok(!seen.includes('9.9.9.9:7003'), 'the forged hop is never the peer');
  });
});
