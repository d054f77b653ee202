/**
 * Locality mode switched on while WebSocket browsers are connected (a SIGHUP reload changes the running
 * configuration in place): sockets opened with it off keep their IPv4 address as a number, and the store keeps
 * no addresses; from their next announce on, offers prefer the requester's address and /24 as when the mode
 * was on from the start (test/store/locality-tracker.test.ts).
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import type { TrackerConfig } from '../../src/config/index.js';
import { storeOptions } from '../../src/store/create-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { RawSocket, binaryId, offer, type Json } from '../helpers/raw-socket.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';

let t: TestTracker | undefined;
const sockets: RawSocket[] = [];

after(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  await t?.stop();
});

it('locality switched on live: after their next announce, offers go to the peers on the same address and /24 first', async () => {
  let running: TrackerConfig | undefined;
  t = await startTestTracker({ locality: 'off', localityRandomShare: 0.5 }, (config) => {
    running = config;
    return new MemoryStore(storeOptions(config));
  });
  const url = `ws://${t.host}:${t.port}/announce`;
  const infoHash = binaryId('h', 1);
  const announce = (socket: RawSocket, n: number, extra: Json = {}): Promise<Json> =>
    socket.request({ action: 'announce', info_hash: infoHash, peer_id: binaryId('p', n), left: 1, numwant: 0, offers: [], ...extra });
  const open = async (address: string): Promise<RawSocket> => {
    const socket = await RawSocket.open(url, { localAddress: address });
    sockets.push(socket);
    return socket;
  };
  const addresses = ['127.0.0.2', '127.0.0.3', ...Array.from({ length: 8 }, (_, i) => `127.0.1.${i + 1}`)];
  const peers: RawSocket[] = [];
  for (const [n, address] of addresses.entries()) {
    peers.push(await open(address));
    await announce(peers[n]!, n, { event: 'started' });
  }
  const requester = await open('127.0.0.2');
  await announce(requester, 99, { event: 'started' });

  running!.locality = 'on';
  for (const [n, peer] of peers.entries()) await announce(peer, n);
  const offersAt = (socket: RawSocket): number => socket.received.filter((m) => m.offer !== undefined).length;
  for (let round = 0; round < 5; round++) {
    const before = peers.map(offersAt);
    const offers = [0, 1, 2, 3].map((i) => offer(`offer-${round}-${i}`.padEnd(20, '.')));
    await announce(requester, 99, { numwant: 4, offers });
    const deadline = Date.now() + 5000;
    const delivered = (): number => peers.reduce((sum, peer, i) => sum + offersAt(peer) - before[i]!, 0);
    while (delivered() < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(delivered(), 4, 'every offer delivered');
    assert.ok(offersAt(peers[0]!) > before[0]! && offersAt(peers[1]!) > before[1]!, `round ${round}: the peers on 127.0.0.2 and 127.0.0.3 got offers`);
  }
});
