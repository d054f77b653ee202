/**
 * `bittorrent-tracker` Clients over WebSocket with real WebRTC: a Recorder of what each reports (updates, scrapes,
 * WebRTC peers and what they send), with bounded waits for a condition on it, and the set of a test's clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Client from 'bittorrent-tracker';
import { ClientRecorder } from './client-recorder.js';

/** Each side of an exchange waits ~5 s for ICE gathering (simple-peer's iceCompleteTimeout): room for both. */
export const WAIT_MS = 30_000;

/** The simple-peer instance the client hands out with 'peer'. */
export interface WebRtcPeer {
  id: string;
  connected: boolean;
  on(event: 'connect', listener: () => void): void;
  on(event: 'data', listener: (data: Uint8Array) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  send(data: string): void;
  destroy(): void;
}

/** Greets every peer that connects (`hello from <name>`) and records what peers send. */
export class Recorder extends ClientRecorder<WebRtcPeer> {
  readonly received: string[] = [];

  constructor(name: string, client: Client) {
    super(name, client, WAIT_MS);
  }

  protected override recordPeer(peer: WebRtcPeer): void {
    super.recordPeer(peer);
    peer.on('connect', () => this.push(() => peer.send(`hello from ${this.name}`)));
    peer.on('data', (data) => this.push(() => this.received.push(Buffer.from(data).toString())));
    peer.on('error', () => this.push(() => undefined)); // a peer that fails is seen as not connecting
  }
}

/** A test's clients, each recorded; `destroyAll` ends them and the WebRTC peers they handed out. */
export class WebRtcClients {
  readonly clients: Client[] = [];
  readonly recorders: Recorder[] = [];

  /**
   * A client for `infoHash` announcing to `announceUrl`, with `state` read at every announce (numwant 0: no offers,
   * so no WebRTC set-up, where a test is only about counts). The client library shares one socket per announce
   * URL in a process: a client on a socket of its own needs a URL of its own.
   */
  peer(name: string, announceUrl: string, infoHash: string, state: { left: number; numwant?: number }): Recorder {
    const client = new Client({
      infoHash,
      peerId: randomBytes(20),
      announce: [announceUrl],
      port: 6881,
      getAnnounceOpts: () => ({ left: state.left, uploaded: 0, downloaded: 0, ...(state.numwant === undefined ? {} : { numwant: state.numwant }) }),
      // Loopback only: no STUN servers to wait for.
      rtcConfig: { iceServers: [] },
    });
    this.clients.push(client);
    const recorder = new Recorder(name, client);
    this.recorders.push(recorder);
    return recorder;
  }

  async destroyAll(): Promise<void> {
    await Promise.all(this.clients.map((c) => new Promise<void>((resolve) => c.destroy(() => resolve()))));
    // Peers handed out with 'peer' belong to the application; their native connections would keep Node running.
    for (const r of this.recorders) for (const p of r.peers) p.destroy();
  }
}

/** Starts `seeder` (nothing left to download), then `leecher`: the replies count [1, 0], then [1, 1] (complete, incomplete). */
