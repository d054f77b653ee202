/** What the access tests ask a running tracker, over each protocol, on connections of their own. */
import { RawSocket } from '../helpers/raw-socket.js';
import { udpConnectedRequest } from '../helpers/udp-exchange.js';
import { decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpScrapePacket, type BDict } from '../helpers/wire.js';

export const PEER_ID = '-RS0001-000000000001';

/** An info hash from its hex, as bytes. */
export const hashBytes = (hex: string): Buffer => Buffer.from(hex, 'hex');

/** The failure reason of an HTTP announce, or null when it succeeded. */
export async function httpAnnounce(port: number, hex: string, peerId = PEER_ID): Promise<string | null> {
  const query = `info_hash=${percentEncodeAll(hashBytes(hex))}&peer_id=${encodeURIComponent(peerId)}&port=6881&left=0`;
  const response = await fetch(`http://127.0.0.1:${port}/announce?${query}`, { headers: { connection: 'close' } });
  const reply = decodeStrictDict(new Uint8Array(await response.arrayBuffer()));
  return reply.has('failure reason') ? reply.bytes('failure reason').toString() : null;
}

/** An HTTP scrape's counts of one info hash. */
export async function httpScrape(port: number, hex: string): Promise<{ complete: number; incomplete: number; downloaded: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/scrape?info_hash=${percentEncodeAll(hashBytes(hex))}`, { headers: { connection: 'close' } });
  const files = decodeStrictDict(new Uint8Array(await response.arrayBuffer())).entries.get('files') as BDict;
  const counts = files.entries.get(hashBytes(hex).toString('latin1')) as BDict;
  return { complete: counts.int('complete'), incomplete: counts.int('incomplete'), downloaded: counts.int('downloaded') };
}

/** The info hashes (hex, sorted) a full HTTP scrape lists. */
export async function fullScrapeHashes(port: number): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${port}/scrape`, { headers: { connection: 'close' } });
  const files = decodeStrictDict(new Uint8Array(await response.arrayBuffer())).entries.get('files') as BDict;
  return [...files.entries.keys()].map((key) => Buffer.from(key, 'latin1').toString('hex')).sort();
}

/** The error message of a UDP announce (action 3), or null when it succeeded (action 1). */
export async function udpAnnounce(port: number, hex: string, peerId = PEER_ID): Promise<string | null> {
  const reply = await udpConnectedRequest(port, (connectionId) =>
    udpAnnouncePacket({ connectionId, transactionId: 2, infoHash: hashBytes(hex), peerId: Buffer.from(peerId, 'latin1'), port: 6881 }),
  );
  return reply.readUInt32BE(0) === 3 ? reply.subarray(8).toString() : null;
}

/** A UDP scrape's seeders of one info hash. */
export async function udpScrapeSeeders(port: number, hex: string): Promise<number> {
  const reply = await udpConnectedRequest(port, (connectionId) => udpScrapePacket(connectionId, 3, [hashBytes(hex)]));
  return reply.readUInt32BE(8);
}

/** The failure reason of a WebSocket announce, or null when it succeeded. */
export async function wsAnnounce(port: number, hex: string, peerId = PEER_ID): Promise<string | null> {
  const socket = await RawSocket.open(`ws://127.0.0.1:${port}`);
  try {
    const reply = await socket.request({ action: 'announce', info_hash: hashBytes(hex).toString('latin1'), peer_id: peerId, numwant: 0, offers: [] });
    return typeof reply['failure reason'] === 'string' ? reply['failure reason'] : null;
  } finally {
    await socket.close();
  }
}

/** Whether a WebSocket upgrade with this Origin header is accepted; the refusal's HTTP status otherwise. */
export async function wsOpens(port: number, origin: string | undefined): Promise<true | string> {
  try {
    const socket = await RawSocket.open(`ws://127.0.0.1:${port}`, origin === undefined ? {} : { headers: { origin } });
    await socket.close();
    return true;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Polls `check` until it holds (every 50 ms), or fails after a generous deadline. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
