/**
 * The `bittorrent-tracker` npm Client against redswarm over https:// or wss://, run as a child process of
 * tracker-client.test.ts with NODE_EXTRA_CA_CERTS naming the test CA (how a Node process trusts a private CA;
 * it is read only at start). Over https two clients find each other and scrape exact counts; over wss two clients
 * exchange an offer and its answer through redswarm and open a WebRTC data channel. Exits non-zero on failure.
 *
 * Usage (internal): node --import tsx test/tls/tracker-client-child.ts https|wss URL
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ClientRecorder, startSeederThenLeecher } from '../helpers/client-recorder.js';

const [mode, url] = process.argv.slice(2) as ['https' | 'wss', string];
const infoHash = randomBytes(20).toString('hex');

if (mode === 'https') {
  // Without WebRTC (load-tracker-client.ts): the HTTP tracker code only.
  const { default: Client } = await import('../server/load-tracker-client.js');
  const peer = (name: string, port: number, left: number): ClientRecorder<string> =>
    new ClientRecorder(name, new Client({ infoHash, peerId: randomBytes(20), announce: [url], port, getAnnounceOpts: () => ({ left, uploaded: 0, downloaded: 0 }) }), 10_000);
  const seeder = peer('seeder', 7001, 0);
  const leecher = peer('leecher', 7002, 1000);
  await startSeederThenLeecher(seeder, leecher);
  await leecher.until("the seeder's address", () => leecher.peers.find((p) => p.endsWith(':7001')));
  const scrape = await leecher.scrape();
  assert.deepEqual([scrape.complete, scrape.incomplete], [1, 1]);
  await Promise.all([seeder, leecher].map((r) => new Promise((resolve) => r.client.destroy(resolve))));
} else {
  const { WebRtcClients } = await import('../helpers/webrtc-recorder.js');
  const webrtc = new WebRtcClients();
  // One socket per client: the library shares a socket per announce URL.
  const seeder = webrtc.peer('seeder', url, infoHash, { left: 0 });
  const leecher = webrtc.peer('leecher', `${url}/announce`, infoHash, { left: 1000 });
  await startSeederThenLeecher(seeder, leecher);
  await seeder.until("the leecher's greeting over the data channel", () => seeder.received.includes('hello from leecher'));
  await leecher.until("the seeder's greeting over the data channel", () => leecher.received.includes('hello from seeder'));
  await webrtc.destroyAll();
}
process.stdout.write(`${mode} ok\n`);
process.exit(0);
