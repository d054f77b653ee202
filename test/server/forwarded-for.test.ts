/** X-Forwarded-For is believed only from --trusted-proxies, and then its right-most untrusted hop is the peer. */
import assert from 'node:assert/strict';
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
});
