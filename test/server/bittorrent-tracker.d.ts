/** The part of the `bittorrent-tracker` (v11) client and server API the tests and benches use; the package ships no types. */
declare module 'bittorrent-tracker' {
  import { EventEmitter } from 'node:events';

  export interface ClientOptions {
    infoHash: string | Uint8Array;
    peerId: string | Uint8Array;
    announce: string | string[];
    port: number;
    getAnnounceOpts?: () => Record<string, unknown>;
    userAgent?: string;
    /** RTCPeerConnection configuration for WebSocket (WebRTC) trackers. */
    rtcConfig?: { iceServers?: unknown[] };
  }

  export interface AnnounceOptions {
    numwant?: number;
    uploaded?: number;
    downloaded?: number;
    left?: number;
  }

  export interface UpdateData {
    announce: string;
    complete: number;
    incomplete: number;
  }

  export interface ScrapeData {
    announce: string;
    infoHash: string;
    complete: number;
    incomplete: number;
    downloaded: number;
  }

  export default class Client extends EventEmitter {
    constructor(options: ClientOptions);
    readonly infoHash: string;
    readonly peerId: string;
    start(options?: AnnounceOptions): void;
    stop(options?: AnnounceOptions): void;
    complete(options?: AnnounceOptions): void;
    update(options?: AnnounceOptions): void;
    scrape(options?: { infoHash?: string | string[] }): void;
    destroy(callback?: (error: Error | null) => void): void;
  }

  export interface ServerOptions {
    http?: boolean;
    udp?: boolean;
    ws?: boolean;
    /** The `/stats` page (it walks every swarm). */
    stats?: boolean;
    interval?: number;
  }

  export class Server extends EventEmitter {
    constructor(options?: ServerOptions);
    listen(port: number, hostname: string, onListening?: () => void): void;
    close(callback?: () => void): void;
  }
}
