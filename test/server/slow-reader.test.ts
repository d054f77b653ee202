/**
 * A client that pipelines announces on one keep-alive connection and never reads the replies must not grow the
 * tracker's memory: at most one reply is held for it, and the connection is closed once it asks for more.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { register } from 'prom-client';
import { parseExposition, total } from '../helpers/prometheus.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';

const INFO_HASH = '%5A'.repeat(20);
/** How long the client keeps writing before the test gives up on the tracker closing the connection. */
const WRITE_FOR_MS = 20_000;

function announceLine(i: number): string {
  const peerId = `-SR0001-${String(i % 1_000_000).padStart(12, '0')}`;
  return `GET /announce?info_hash=${INFO_HASH}&peer_id=${peerId}&port=${1024 + (i % 60000)}&left=0&compact=0&numwant=200 HTTP/1.1\r\nHost: t\r\n\r\n`;
}

async function slowReaderMetric(outcome: string): Promise<number> {
  return total(parseExposition(await register.metrics()), 'redswarm_http_slow_readers_total', { outcome });
}

async function answered(): Promise<number> {
  return total(parseExposition(await register.metrics()), 'redswarm_requests_total', { protocol: 'http', action: 'announce' });
}

/** Writes pipelined announces without ever reading; resolves with what happened once the server closed, or the time ran out. */
function pipelineWithoutReading(port: number): Promise<{ closedByServer: boolean; requestsWritten: number }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.pause();
    const batch = Array.from({ length: 50 }, (_, i) => announceLine(i)).join('');
    let written = 0;
    const started = Date.now();
    let finished = false;
    const finish = (closedByServer: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closedByServer, requestsWritten: written });
    };
    const timer = setTimeout(() => finish(false), WRITE_FOR_MS);
    const pump = (): void => {
      while (!socket.destroyed && Date.now() - started < WRITE_FOR_MS) {
        written += 50;
        if (!socket.write(batch)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', pump);
  });
}

/** How many whole replies (headers and Content-Length bytes of body) `text` holds. */
function completeReplies(text: string): number {
  let replies = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return replies;
    const length = /content-length: (\d+)/i.exec(text.slice(at, end));
    if (length === null || text.length < end + 4 + Number(length[1])) return replies;
    at = end + 4 + Number(length[1]);
    replies++;
  }
}

describe('an HTTP client that never reads its replies', () => {
  let tracker: TestTracker;
  before(async () => {
    tracker = await startTestTracker();
    // 200 peers, so that every (non-compact) reply is ~12 KB and the kernel's buffers fill quickly.
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        fetch(`${tracker.httpUrl}?info_hash=${INFO_HASH}&peer_id=${`-SP0001-${String(i).padStart(12, '0')}`}&port=${2000 + i}&left=0`).then((r) => r.arrayBuffer()),
      ),
    );
  });
  after(() => tracker.stop());

  it('is closed by the tracker instead of having its replies buffered without bound', async () => {
    const heldBefore = await slowReaderMetric('held');
    const closedBefore = await slowReaderMetric('closed');
    const answeredBefore = await answered();
    const { closedByServer, requestsWritten } = await pipelineWithoutReading(tracker.port);
    assert.ok(closedByServer, `the connection stayed open while ${requestsWritten} requests were written and none read`);
    assert.ok((await slowReaderMetric('held')) > heldBefore, 'the held reply is counted');
    assert.ok((await slowReaderMetric('closed')) > closedBefore, 'the closed connection is counted');
    // What was answered is what fits in the kernel's socket buffers (a few MB of ~12 KB replies), not all that was written.
    const replies = (await answered()) - answeredBefore;
    assert.ok(replies < requestsWritten, `${replies} replies for ${requestsWritten} requests`);
  });

  it('a client that reads gets every pipelined reply, in order', async () => {
    const socket = net.connect(tracker.port, '127.0.0.1');
    const count = 300;
    let received = '';
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (completeReplies(received) === count) resolve();
      });
      socket.on('error', reject);
    });
    socket.write(Array.from({ length: count }, (_, i) => announceLine(i)).join(''));
    await done;
    socket.destroy();
    assert.equal((received.match(/8:intervali/g) ?? []).length, count);
  });
});
