/**
 * The default abuse limits (applied to loopback too, which they exempt by default) never refuse what real clients do: the `bittorrent-tracker` npm Client's usual life
 * (started, a re-announce after `min interval`, completed, stopped) over HTTP and UDP, and several such clients
 * behind one address (a NAT) in one torrent, each announcing in quick succession and retrying.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { ClientRecorder } from '../helpers/client-recorder.js';
import { metricValue } from '../helpers/prometheus.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import Client from '../server/load-tracker-client.js';

const WAIT_MS = 8000;
const NAT_CLIENTS = 7;

/** Info hashes of ASCII bytes: the bencode package returns non-UTF-8 dictionary keys as hex, which the client misreads. */
function asciiInfoHash(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Buffer.from(Array.from(randomBytes(20), (b) => alphabet.charCodeAt(b % alphabet.length))).toString('hex');
}

/** Runs one of the client's actions and waits for the tracker's reply to it; a failure reply fails the test. */
async function step(recorder: ClientRecorder<string>, action: 'start' | 'update' | 'complete' | 'stop'): Promise<void> {
  const next = recorder.nextUpdate();
  recorder.client[action]();
  await next;
}

/** The client's HTTP requests keep idle keep-alive sockets in Node's global fetch; closing them lets the process exit. */
after(async () => {
  const dispatcher = (globalThis as Record<symbol, { close?: () => Promise<void> } | undefined>)[Symbol.for('undici.globalDispatcher.1')];
  await dispatcher?.close?.();
});

for (const transport of ['http', 'udp'] as const) {
  describe(`default limits, bittorrent-tracker Client over ${transport.toUpperCase()}`, () => {
    const clock = { now: 1_000_000 };
    const clients: Client[] = [];
    let t: TestTracker;

    function recorder(name: string, infoHash: string, port: number): ClientRecorder<string> {
      const client = new Client({
        infoHash,
        peerId: randomBytes(20),
        announce: [transport === 'http' ? t.httpUrl : t.udpUrl],
        port,
        getAnnounceOpts: () => ({ left: 0, uploaded: 0, downloaded: 0 }),
      });
      clients.push(client);
      return new ClientRecorder(name, client, WAIT_MS);
    }

    before(async () => {
      t = await startTestTracker({ exemptLoopback: false }, undefined, { clockMs: () => clock.now });
    });

    after(async () => {
      await Promise.all(clients.map((client) => new Promise<void>((resolve) => client.destroy(() => resolve()))));
      await t.stop();
    });

    it('started, a re-announce after `min interval`, completed, stopped: never refused', async () => {
      const limited = await metricValue('redswarm_announces_rate_limited_total', { protocol: transport });
      const one = recorder('client', asciiInfoHash(), 45001);
      await step(one, 'start');
      clock.now += defaultConfig().minInterval * 1000;
      await step(one, 'update');
      await step(one, 'complete');
      await step(one, 'stop');
      assert.equal(await metricValue('redswarm_announces_rate_limited_total', { protocol: transport }), limited);
    });

    it(`${NAT_CLIENTS} clients behind one address in one torrent, all at once, each retrying: never refused`, async () => {
      const limited = await metricValue('redswarm_announces_rate_limited_total', { protocol: transport });
      const infoHash = asciiInfoHash();
      const behindNat = Array.from({ length: NAT_CLIENTS }, (_, i) => recorder(`client ${i}`, infoHash, 46001 + i));
      for (const action of ['start', 'update', 'complete', 'stop'] as const) {
        await Promise.all(behindNat.map((r) => step(r, action)));
      }
      assert.equal(await metricValue('redswarm_announces_rate_limited_total', { protocol: transport }), limited);
    });
  });
}
