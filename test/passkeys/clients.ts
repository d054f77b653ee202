/**
 * Raw requests with a passkey in their URL, over each protocol, each on a connection of its own: what the
 * passkey tests ask a running tracker. Each resolves with the swarm's seeders on success or the failure text.
 */
import { AccessControl } from '../../src/access/access-control.js';
import { defaultConfig, type TrackerConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import type { Store } from '../../src/store/store.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { udpConnectedRequest } from '../helpers/udp-exchange.js';
import { bep41, decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpScrapePacket, type BDict } from '../helpers/wire.js';

export type Kind = 'announce' | 'scrape';
export type Outcome = { seeders: number } | { failure: string };

const PEER_ID = Buffer.from('-RS0001-passkeytests');

/** A path of the tracker: `/KIND`, or `/KEY/KIND` with a key. */
const pathOf = (kind: Kind, key: string | undefined): string => (key === undefined ? `/${kind}` : `/${key}/${kind}`);

export async function httpRequest(port: number, kind: Kind, key: string | undefined, infoHash: Buffer): Promise<Outcome> {
  const query = `info_hash=${percentEncodeAll(infoHash)}${kind === 'announce' ? `&peer_id=${percentEncodeAll(PEER_ID)}&port=6881&left=0` : ''}`;
  const response = await fetch(`http://127.0.0.1:${port}${pathOf(kind, key)}?${query}`, { headers: { connection: 'close' } });
  const reply = decodeStrictDict(new Uint8Array(await response.arrayBuffer()));
  if (reply.has('failure reason')) return { failure: reply.bytes('failure reason').toString() };
  if (kind === 'announce') return { seeders: reply.int('complete') };
  return { seeders: (reply.dict('files').entries.get(infoHash.toString('latin1')) as BDict).int('complete') };
}

/** A UDP announce with `urlData` as BEP 41 URL data (none when undefined), or a scrape (which has no place for it). */
export async function udpRequest(port: number, kind: Kind, urlData: string | undefined, infoHash: Buffer): Promise<Outcome> {
  const options = urlData === undefined ? undefined : bep41.urlData(urlData);
  const reply = await udpConnectedRequest(port, (connectionId) =>
    kind === 'announce'
      ? udpAnnouncePacket({ connectionId, transactionId: 2, infoHash, peerId: PEER_ID, port: 6881, options })
      : udpScrapePacket(connectionId, 2, [infoHash]),
  );
  if (reply.readUInt32BE(0) === 3) return { failure: reply.subarray(8).toString() };
  return { seeders: reply.readUInt32BE(kind === 'announce' ? 16 : 8) };
}

/** Over an open WebSocket (its upgrade path gave it its key, if any). */
export async function wsRequest(socket: RawSocket, kind: Kind, infoHash: Buffer): Promise<Outcome> {
  const info_hash = infoHash.toString('latin1');
  const reply = await socket.request(
    kind === 'announce'
      ? { action: 'announce', info_hash, peer_id: PEER_ID.toString('latin1'), left: 0, numwant: 0, offers: [] }
      : { action: 'scrape', info_hash },
  );
  if (typeof reply['failure reason'] === 'string') return { failure: reply['failure reason'] };
  if (kind === 'announce') return { seeders: reply['complete'] as number };
  return { seeders: (reply['files'] as Record<string, { complete: number }>)[info_hash]!.complete };
}

/** A WebSocket to `/KEY/announce` (or `/announce`); a refused upgrade rejects with its HTTP status. */
export function wsOpen(port: number, key: string | undefined): Promise<RawSocket> {
  return RawSocket.open(`ws://127.0.0.1:${port}${pathOf('announce', key)}`);
}

/** One announce or scrape over a new WebSocket. */
export async function wsRequestOnce(port: number, kind: Kind, key: string | undefined, infoHash: Buffer): Promise<Outcome> {
  const socket = await wsOpen(port, key);
  try {
    return await wsRequest(socket, kind, infoHash);
  } finally {
    await socket.close();
  }
}

/** The three protocols, each with the key in its URL (UDP: BEP 41 URL data `/KEY/announce`). */
export const PROTOCOLS = {
  http: httpRequest,
  udp: (port: number, kind: Kind, key: string | undefined, infoHash: Buffer) =>
    udpRequest(port, kind, kind === 'announce' && key !== undefined ? `/${key}/announce` : undefined, infoHash),
  ws: wsRequestOnce,
} as const;

/** A test tracker that follows the passkey file `keys`; stop() closes both. */
export async function startKeyedTracker(
  keys: string,
  privateMode: boolean,
  makeStore?: (config: TrackerConfig) => Store,
): Promise<TestTracker> {
  const access = await AccessControl.start({ ...defaultConfig(), passkeyFile: keys }, createLogger('silent'));
  const t = await startTestTracker({ privateMode }, makeStore, { access });
  return {
    ...t,
    async stop() {
      access.close();
      await t.stop();
    },
  };
}
