/**
 * Locality mode end to end, from several loopback addresses (all of 127.0.0.0/8 is local on Linux): the
 * bittorrent-tracker Client over HTTP, raw BEP 15 packets over UDP, raw WebSocket clients for WebTorrent offers.
 * A requester on 127.0.0.5 gets the peer of its own address first, then those of 127.0.0.0/24, then random
 * ones of 127.0.1.0/24; with locality off, nothing is preferred.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, describe, it } from 'node:test';
import Client from '../server/load-tracker-client.js';
import { ClientRecorder } from '../helpers/client-recorder.js';
import { RawSocket, binaryId, offer } from '../helpers/raw-socket.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { udpAnnouncePacket, udpConnectPacket } from '../helpers/wire.js';

const WAIT_MS = 8000;
const REQUESTER = '127.0.0.5';
/** The requester's neighbours: its own address (another port), its /24, and 127.0.1.0/24. */
const SAME_ADDRESS = [REQUESTER];
const SAME_PREFIX = ['127.0.0.6', '127.0.0.7'];
const FAR = Array.from({ length: 12 }, (_, i) => `127.0.1.${i + 1}`);
const NUMWANT = 10;

function tierOf(address: string): number {
  if (address === REQUESTER) return 0;
  return address.startsWith('127.0.0.') ? 1 : 2;
}

/**
 * An HTTP dispatcher whose connections leave from `localAddress`. The Client fetches through Node's global fetch
 * (undici), which takes a `dispatcher`; undici is not a package here, so its Agent class comes from the global one.
 */
async function dispatcherFrom(localAddress: string): Promise<{ close(): Promise<void> }> {
  const key = Symbol.for('undici.globalDispatcher.1');
  const globals = globalThis as Record<symbol, object | undefined>;
  if (globals[key] === undefined) await fetch('http://127.0.0.1:1/').catch(() => undefined); // creates it
  const Agent = globals[key]!.constructor as new (options: { localAddress: string }) => { close(): Promise<void> };
  return new Agent({ localAddress });
}

const dispatchers: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(dispatchers.map((d) => d.close()));
  await (globalThis as Record<symbol, { close?: () => Promise<void> } | undefined>)[Symbol.for('undici.globalDispatcher.1')]?.close?.();
});

/** A bittorrent-tracker Client announcing from `address`, recording the peers it is given in order. */
async function httpPeer(t: TestTracker, infoHash: string, address: string, port: number): Promise<ClientRecorder<string>> {
  const dispatcher = await dispatcherFrom(address);
  dispatchers.push(dispatcher);
  const client = new Client({
    infoHash,
    peerId: randomBytes(20),
    announce: [t.httpUrl],
    port,
    proxyOpts: { httpAgent: dispatcher },
    getAnnounceOpts: () => ({ left: 1, uploaded: 0, downloaded: 0, numwant: NUMWANT }),
  } as ConstructorParameters<typeof Client>[0]);
  return new ClientRecorder<string>(address, client, WAIT_MS);
}

/** One BEP 15 connect + announce from a socket bound to `address`; the peers of the reply as "ip:port". */
async function udpAnnounce(t: TestTracker, infoHash: Buffer, address: string, port: number, numwant: number): Promise<string[]> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address, port: 0 }, resolve));
  const replies: Buffer[] = [];
  let wake = (): void => {};
  socket.on('message', (message) => {
    replies.push(message);
    wake();
  });
  const exchange = async (packet: Buffer): Promise<Buffer> => {
    const seen = replies.length;
    socket.send(packet, t.port, t.host);
    const timer = setTimeout(() => wake(), WAIT_MS);
    while (replies.length === seen) {
      await new Promise<void>((resolve) => (wake = resolve));
      if (replies.length === seen) assert.fail(`no UDP reply to ${address}`);
    }
    clearTimeout(timer);
    return replies[seen]!;
  };
  try {
    const connectionId = (await exchange(udpConnectPacket(1))).subarray(8, 16);
    const reply = await exchange(udpAnnouncePacket({ connectionId, transactionId: 2, infoHash, peerId: randomBytes(20), port, numwant, left: 1n, event: 2 }));
    assert.equal(reply.readUInt32BE(0), 1, `an announce reply, not ${reply.toString('latin1', 8)}`);
    const peers: string[] = [];
    for (let at = 20; at + 6 <= reply.length; at += 6) peers.push(`${reply[at]}.${reply[at + 1]}.${reply[at + 2]}.${reply[at + 3]}:${reply.readUInt16BE(at + 4)}`);
    return peers;
  } finally {
    socket.close();
  }
}

/** Waits (bounded) until `done` holds: offers arrive on other sockets than the one that waits. */
async function pollUntil(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The tiers of a reply's peers, in order. */
function tiers(peers: readonly string[]): number[] {
  return peers.map((peer) => tierOf(peer.slice(0, peer.lastIndexOf(':'))));
}

/** Locality on: 1 same-address peer, 2 same-/24 peers (within the quota of 5 of 10), then 7 of the 12 far ones. */
const LOCAL_FIRST = [0, 1, 1, 2, 2, 2, 2, 2, 2, 2];

describe('locality mode over HTTP (bittorrent-tracker Client) and UDP, from several loopback addresses', () => {
  for (const locality of ['on', 'off'] as const) {
    it(`HTTP, locality ${locality}`, async () => {
      const t = await startTestTracker({ locality, localityRandomShare: 0.5 });
      const infoHash = randomBytes(20).toString('hex');
      const recorders: ClientRecorder<string>[] = [];
      try {
        let port = 50000;
        for (const address of [...SAME_ADDRESS, ...SAME_PREFIX, ...FAR]) {
          const peer = await httpPeer(t, infoHash, address, port++);
          recorders.push(peer);
          const update = peer.nextUpdate();
          peer.client.start();
          await update;
        }
        const requester = await httpPeer(t, infoHash, REQUESTER, 40000);
        recorders.push(requester);
        const sawLocalFirst: boolean[] = [];
        for (let round = 0; round < 8; round++) {
          const seen = requester.peers.length;
          const update = requester.nextUpdate();
          if (round === 0) requester.client.start();
          else requester.client.update();
          await update;
          await requester.until(`${NUMWANT} peers`, () => requester.peers.length >= seen + NUMWANT);
          const reply = requester.peers.slice(seen, seen + NUMWANT);
          assert.ok(!reply.includes(`${REQUESTER}:40000`), 'never the requester itself');
          sawLocalFirst.push(tiers(reply).join() === LOCAL_FIRST.join());
        }
        if (locality === 'on') assert.deepEqual(sawLocalFirst, Array(8).fill(true));
        // Off: the 3 nearby peers lead a reply of 10 of 15 by chance with probability 1/455 per reply.
        else assert.ok(sawLocalFirst.filter(Boolean).length < 4, `off: ${sawLocalFirst.filter(Boolean).length} of 8 replies led by nearby peers`);
      } finally {
        await Promise.all(recorders.map((r) => new Promise<void>((resolve) => r.client.destroy(() => resolve()))));
        await t.stop();
      }
    });
  }

  it('UDP, locality on: tiers in order, and the random share reaches every far peer over a few replies', async () => {
    const t = await startTestTracker({ locality: 'on', localityRandomShare: 0.5 });
    try {
      const infoHash = randomBytes(20);
      let port = 50000;
      for (const address of [...SAME_ADDRESS, ...SAME_PREFIX, ...FAR]) await udpAnnounce(t, infoHash, address, port++, 0);
      const reached = new Set<string>();
      for (let round = 0; round < 20; round++) {
        const peers = await udpAnnounce(t, infoHash, REQUESTER, 40000, NUMWANT);
        assert.deepEqual(tiers(peers), LOCAL_FIRST);
        for (const peer of peers.slice(3)) reached.add(peer);
      }
      // 7 of 12 far peers per reply: one missed by all 20 replies has probability 12 × (5/12)^20 < 1e-6.
      // (20 replies: within the default per-address announce rate limit.)
      assert.equal(reached.size, FAR.length);
    } finally {
      await t.stop();
    }
  });
});

describe('locality mode for WebSocket offers', () => {
  /** Sockets from various addresses in one WebSocket swarm; a requester on 127.0.0.2 announcing 4 offers. */
  async function offersTo(locality: 'on' | 'off', rounds: number): Promise<{ nearbyFirst: number }> {
    const t = await startTestTracker({ locality, localityRandomShare: 0.5 });
    const url = `ws://${t.host}:${t.port}/announce`;
    const infoHash = binaryId('h', 1);
    const sockets: RawSocket[] = [];
    try {
      const join = async (address: string, n: number): Promise<RawSocket> => {
        const socket = await RawSocket.open(url, { localAddress: address });
        sockets.push(socket);
        await socket.request({ action: 'announce', info_hash: infoHash, peer_id: binaryId('p', n), event: 'started', left: 1, numwant: 0, offers: [] });
        return socket;
      };
      const sameAddress = await join('127.0.0.2', 1);
      const samePrefix = await join('127.0.0.3', 2);
      for (let i = 0; i < 8; i++) await join(`127.0.1.${i + 1}`, 10 + i);
      const requester = await RawSocket.open(url, { localAddress: '127.0.0.2' });
      sockets.push(requester);
      const offersAt = (socket: RawSocket): number => socket.received.filter((m) => m.offer !== undefined).length;
      let nearbyFirst = 0;
      for (let round = 0; round < rounds; round++) {
        const before = sockets.map(offersAt);
        const offers = [0, 1, 2, 3].map((i) => offer(`offer-${round}-${i}`.padEnd(20, '.')));
        await requester.request({ action: 'announce', info_hash: infoHash, peer_id: binaryId('r', 1), event: round === 0 ? 'started' : undefined, left: 1, numwant: 4, offers });
        const delivered = (): number => sockets.reduce((sum, socket, i) => sum + offersAt(socket) - before[i]!, 0);
        await pollUntil('4 offers delivered', () => delivered() === 4);
        const got = (socket: RawSocket): boolean => offersAt(socket) > before[sockets.indexOf(socket)]!;
        if (got(sameAddress) && got(samePrefix)) nearbyFirst++;
      }
      return { nearbyFirst };
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
      await t.stop();
    }
  }

  it('on: a browser-like client on 127.0.0.2 sends offers to the peer on its address and its /24 every time', async () => {
    assert.deepEqual(await offersTo('on', 10), { nearbyFirst: 10 });
  });

  it('off: the nearby peers get offers only by chance', async () => {
    // Both nearby peers among 4 targets of 10: probability 2/15 per announce.
    const { nearbyFirst } = await offersTo('off', 10);
    assert.ok(nearbyFirst < 10, `off: both nearby peers got offers in ${nearbyFirst} of 10 announces`);
  });
});
