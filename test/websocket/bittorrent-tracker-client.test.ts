/**
 * The `bittorrent-tracker` npm Client against redswarm over ws://, with real WebRTC in Node (node-datachannel,
 * whose prebuilt addon comes as an npm package): two peers of one swarm exchange an offer and its answer through
 * redswarm and open a data channel; scrape counts are exact; closing a client's socket removes its peer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { counts, startSeederThenLeecher } from '../helpers/client-recorder.js';
import { type Recorder, WAIT_MS, WebRtcClients } from '../helpers/webrtc-recorder.js';
import { metricValue } from '../helpers/prometheus.js';


describe('bittorrent-tracker Client against redswarm over WebSocket (real WebRTC)', () => {
  let t: TestTracker;
  const webrtc = new WebRtcClients();

  /**
   * A client on its own socket: the client library shares one socket per announce URL in a process, so each
   * client gets a URL of its own (`ws://host:port`, `…/announce`, `…/a2`: redswarm serves every path).
   */
  function peer(name: string, infoHash: string, path: string, state: { left: number; numwant?: number }): Recorder {
    return webrtc.peer(name, `ws://127.0.0.1:${t.port}${path}`, infoHash, state);
  }

  before(async () => {
    t = await startTestTracker();
  });

  after(async () => {
    await webrtc.destroyAll();
    await t.stop();
  });

  it('two peers exchange an offer and its answer through redswarm and open a WebRTC data channel', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const seeder = peer('seeder', infoHash, '', { left: 0 });
    const leecher = peer('leecher', infoHash, '/announce', { left: 1000 });
    await startSeederThenLeecher(seeder, leecher);

    // The leecher's offer reaches the seeder, whose answer comes back: both sides get the other as a peer.
    await seeder.until('a peer from the leecher\'s offer', () => seeder.peers.length > 0);
    await leecher.until('a peer from the seeder\'s answer', () => leecher.peers.length > 0);
    const offers = await metricValue('redswarm_ws_offers_relayed_total', { kind: 'offer' });
    const answers = await metricValue('redswarm_ws_offers_relayed_total', { kind: 'answer' });
    assert.ok(offers >= 1 && answers >= 1, `offers ${offers}, answers ${answers} relayed`);
    assert.equal(await metricValue('redswarm_ws_answers_dropped_total'), 0);
    await seeder.until('the leecher\'s greeting over the data channel', () => seeder.received.includes('hello from leecher'));
    await leecher.until('the seeder\'s greeting over the data channel', () => leecher.received.includes('hello from seeder'));

    const scrape = await leecher.scrape();
    assert.equal(scrape.infoHash, infoHash);
    assert.deepEqual(counts(scrape), [1, 1, 0]);
  });

  it('scrape counts are exact through completed and stopped', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const a = peer('a', infoHash, '/a', { left: 0, numwant: 0 });
    const bState = { left: 500, numwant: 0 };
    const b = peer('b', infoHash, '/b', bState);
    const c = peer('c', infoHash, '/c', { left: 500, numwant: 0 });
    for (const r of [a, b, c]) {
      const next = r.nextUpdate();
      r.client.start();
      await next;
    }
    assert.deepEqual(counts(await c.scrape()), [1, 2, 0]);
    bState.left = 0;
    let next = b.nextUpdate();
    b.client.complete();
    assert.deepEqual(counts(await next), [2, 1]);
    assert.deepEqual(counts(await c.scrape()), [2, 1, 1]);
    next = a.nextUpdate();
    a.client.stop();
    assert.deepEqual(counts(await next), [1, 1]);
    assert.deepEqual(counts(await c.scrape()), [1, 1, 1]);
  });

  it('closing a client\'s socket removes its peer', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const staying = peer('staying', infoHash, '/staying', { left: 100, numwant: 0 });
    const leaving = peer('leaving', infoHash, '/leaving', { left: 0, numwant: 0 });
    for (const r of [staying, leaving]) {
      const next = r.nextUpdate();
      r.client.start();
      await next;
    }
    assert.deepEqual(counts(await staying.scrape()), [1, 1, 0]);
    // destroy() closes the socket without announcing `stopped`: the close alone must remove the peer.
    webrtc.clients.splice(webrtc.clients.indexOf(leaving.client), 1); // a second destroy() would never call back
    await new Promise<void>((resolve) => leaving.client.destroy(() => resolve()));
    // The client may see its socket closed before the tracker does: scrape again until it shows (bounded).
    const deadline = Date.now() + WAIT_MS;
    let scrape = await staying.scrape();
    while (scrape.complete !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      scrape = await staying.scrape();
    }
    assert.deepEqual(counts(scrape), [0, 1, 0]);
  });
});
