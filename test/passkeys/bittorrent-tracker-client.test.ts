/**
 * The `bittorrent-tracker` npm Client with passkey URLs against a private redswarm (--private): over HTTP and
 * WebSocket (real WebRTC) peers with known keys find each other, a client with an unknown key is told so; over
 * UDP this client sends no BEP 41 URL data, so its key never reaches the tracker and it is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Client from 'bittorrent-tracker';
import { PASSKEY_REQUIRED, PASSKEY_UNKNOWN } from '../../src/server/passkeys.js';
import { until } from '../access/clients.js';
import { ClientRecorder } from '../helpers/client-recorder.js';
import type { TestTracker } from '../helpers/tracker.js';
import { counts, startSeederThenLeecher } from '../helpers/client-recorder.js';
import { WebRtcClients } from '../helpers/webrtc-recorder.js';
import { startKeyedTracker } from './clients.js';

const KEYS = ['seeder-key-0000000001', 'leecher-key-000000002'] as const;
const UNKNOWN = 'nobody-has-this-key-3';

describe('bittorrent-tracker Client with passkeys against a private redswarm', () => {
  let dir: string;
  let t: TestTracker;
  const clients: Client[] = [];
  const webrtc = new WebRtcClients();

  /** An HTTP or UDP client announcing to `url`, with peers as "ip:port". */
  function peer(name: string, url: string, infoHash: string, left: number): ClientRecorder<string> {
    const client = new Client({ infoHash, peerId: randomBytes(20), announce: [url], port: 6881 + clients.length, getAnnounceOpts: () => ({ left, uploaded: 0, downloaded: 0 }) });
    clients.push(client);
    return new ClientRecorder<string>(name, client, 8000);
  }

  const url = (scheme: 'http' | 'udp' | 'ws', key: string): string => `${scheme}://127.0.0.1:${t.port}/${key}/announce`;

  /** Waits for the client's warning (the tracker's failure reason) to say `reason`. */
  const warned = (recorder: ClientRecorder<unknown>, reason: string): Promise<void> =>
    until(`${recorder.name} to be told "${reason}"`, () => recorder.problems.some((problem) => problem.includes(reason)));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redswarm-passkeys-client-'));
    await writeFile(join(dir, 'keys'), KEYS.join('\n'));
    t = await startKeyedTracker(join(dir, 'keys'), true);
  });

  after(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.destroy(() => resolve()))));
    await webrtc.destroyAll();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('HTTP: peers with known keys find each other and scrape (at /KEY/scrape)', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const seeder = peer('seeder', url('http', KEYS[0]), infoHash, 0);
    const leecher = peer('leecher', url('http', KEYS[1]), infoHash, 100);
    seeder.client.start();
    assert.deepEqual(counts(await seeder.nextUpdate()), [1, 0]);
    leecher.client.start();
    assert.deepEqual(counts(await leecher.nextUpdate()), [1, 1]);
    assert.equal(await leecher.until('the seeder as a peer', () => leecher.peers[0]), `127.0.0.1:${6881 + clients.indexOf(seeder.client)}`);
    assert.deepEqual(counts(await leecher.scrape()), [1, 1, 0]);
  });

  it('HTTP: an unknown key is told "unknown passkey" and registers nothing', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const stranger = peer('stranger', url('http', UNKNOWN), infoHash, 0);
    stranger.client.start();
    await warned(stranger, PASSKEY_UNKNOWN);
    assert.deepEqual(stranger.updates, []);
  });

  it('UDP: the client sends no BEP 41 URL data, so its key is missing', async () => {
    const udp = peer('udp', url('udp', KEYS[0]), randomBytes(20).toString('hex'), 0);
    udp.client.start();
    await warned(udp, PASSKEY_REQUIRED);
  });

  it('WebSocket: peers with known keys exchange an offer and answer and open a data channel; an unknown key is refused', async () => {
    const infoHash = randomBytes(20).toString('hex');
    // One key per client: the client library shares one socket per announce URL in a process.
    const seeder = webrtc.peer('ws seeder', url('ws', KEYS[0]), infoHash, { left: 0 });
    const leecher = webrtc.peer('ws leecher', url('ws', KEYS[1]), infoHash, { left: 1000 });
    await startSeederThenLeecher(seeder, leecher);
    await seeder.until("the leecher's greeting over the data channel", () => seeder.received.includes('hello from ws leecher'));
    await leecher.until("the seeder's greeting over the data channel", () => leecher.received.includes('hello from ws seeder'));

    const stranger = webrtc.peer('ws stranger', url('ws', UNKNOWN), infoHash, { left: 0 });
    stranger.client.start();
    await warned(stranger, PASSKEY_UNKNOWN);
  });
});
