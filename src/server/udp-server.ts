/** UDP tracker (BEP 15) on node:dgram: moves datagrams between sockets and the store. */
import dgram from 'node:dgram';
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { compactPeerFromText } from '../protocol/ip-address.js';
import { COMPACT_V4_LENGTH, COMPACT_V6_LENGTH } from '../protocol/types.js';
import type { ConnectionIds } from '../protocol/udp-connection-id.js';
import {
  UDP_ACTION_ANNOUNCE,
  UDP_ACTION_CONNECT,
  UdpRequestError,
  encodeUdpAnnounceReply,
  encodeUdpConnectReply,
  encodeUdpError,
  encodeUdpScrapeReply,
  parseUdpRequest,
  udpPeersThatFit,
  type UdpRequest,
} from '../protocol/udp.js';
import { RequestMeter, udpInvalidConnectionIds } from '../metrics/tracker-metrics.js';
import type { Store } from '../store/store.js';
import type { AbuseLimits } from '../abuse/abuse-limits.js';
import type { AccessControl } from '../access/access-control.js';
import { Admission } from './admission.js';
import type { AnnouncePolicy } from './announce-policy.js';
import type { InFlight } from './in-flight.js';

const connectMeter = new RequestMeter('udp', 'connect');
const announceMeter = new RequestMeter('udp', 'announce');
const scrapeMeter = new RequestMeter('udp', 'scrape');
const malformedMeter = new RequestMeter('udp', 'unknown');

/** Replies stay within the IPv6 minimum MTU (1280 − 40 − 8), so they are never fragmented. */
const MAX_REPLY_BYTES = 1232;
const MAX_PEERS_V4 = udpPeersThatFit(MAX_REPLY_BYTES, COMPACT_V4_LENGTH);
const MAX_PEERS_V6 = udpPeersThatFit(MAX_REPLY_BYTES, COMPACT_V6_LENGTH);

/**
 * dgram resolves every destination through dns.lookup, which for an IP literal still costs a regex and a
 * nextTick per reply. Replies only ever go to the source address of a request, an IP literal: hand it back.
 */
function literalAddress(family: 4 | 6): dgram.SocketOptions['lookup'] {
  return ((address: string, _options: unknown, callback: (error: null, address: string, family: number) => void) =>
    callback(null, address, family)) as dgram.SocketOptions['lookup'];
}

export interface UdpTrackerDeps {
  config: TrackerConfig;
  store: Store;
  policy: AnnouncePolicy;
  connectionIds: ConnectionIds;
  inFlight: InFlight;
  log: Logger;
  abuse: AbuseLimits;
  access: AccessControl;
}

export class UdpTracker {
  private readonly sockets: dgram.Socket[] = [];

  /** The log line of a refused passkey names the client by its source address. */
  private readonly admission: Admission<string>;

  constructor(private readonly deps: UdpTrackerDeps) {
    this.admission = new Admission(deps, 'udp', (address: string) => address);
  }

  /** Binds one socket per host; `::` is dual-stack, so IPv4 clients reach it too (as v4-mapped addresses). */
  async listen(host: string, port: number): Promise<void> {
    const type = host.includes(':') ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, ipv6Only: false, lookup: literalAddress(type === 'udp6' ? 6 : 4) });
    socket.on('message', (packet, remote) => this.handle(socket, packet, remote.address, remote.port));
    socket.on('error', (error) => this.deps.log.error({ err: error }, 'udp socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.sockets.push(socket);
  }

  /** Stops receiving; replies already under way still go out (the sockets close after them). */
  async close(): Promise<void> {
    await Promise.all(this.sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    this.sockets.length = 0;
  }

  private handle(socket: dgram.Socket, packet: Buffer, address: string, sourcePort: number): void {
    const { config, connectionIds, abuse, access } = this.deps;
    // A banned source gets nothing back, not even an error: no reply to reflect at anyone.
    if (abuse.udpBanned(address)) return;
    let request: UdpRequest | null;
    try {
      request = parseUdpRequest(packet, config.scrapeMaxHashes);
    } catch (error) {
      malformedMeter.count('error');
      if (error instanceof UdpRequestError) this.send(socket, encodeUdpError(error.transactionId, error.message, packet.length), address, sourcePort);
      return;
    }
    const peer = compactPeerFromText(address, sourcePort);
    if (request === null || peer === null) {
      malformedMeter.count('error');
      return;
    }
    const ip = peer.subarray(0, peer.length - 2);
    if (request.action === UDP_ACTION_CONNECT) {
      this.send(socket, encodeUdpConnectReply(request.transactionId, (out, at) => connectionIds.issue(ip, out, at)), address, sourcePort);
      connectMeter.count('ok');
      return;
    }
    const meter = request.action === UDP_ACTION_ANNOUNCE ? announceMeter : scrapeMeter;
    if (!connectionIds.verify(packet, 0, ip)) {
      udpInvalidConnectionIds.inc();
      meter.count('rejected');
      if (abuse.udpInvalidConnectionId(peer)) return;
      this.send(socket, encodeUdpError(request.transactionId, 'invalid connection id', packet.length), address, sourcePort);
      return;
    }
    const { admission } = this;
    // A scrape has no place for a passkey (BEP 41 URL data comes with announces): a private tracker refuses it.
    const refusal =
      request.action === UDP_ACTION_ANNOUNCE
        ? (admission.passkeyRefusal(request.passkey, meter, address) ?? admission.announceRefusal(request.infoHash, request.peerId, peer, meter))
        : admission.passkeyRefusal(undefined, meter, address);
    if (refusal !== undefined) {
      // Not bounded by the request's size: its connection ID proved the source address, nothing is reflected.
      this.send(socket, encodeUdpError(request.transactionId, refusal.reason, Infinity), address, sourcePort);
      return;
    }
    const { store, policy, inFlight, log } = this.deps;
    const done = inFlight.begin();
    const started = performance.now();
    const transactionId = request.transactionId;
    const failed = (error: unknown): void => {
      log.error({ err: error }, 'store request failed');
      this.send(socket, encodeUdpError(transactionId, 'tracker storage unavailable, retry later', Infinity), address, sourcePort);
      meter.done('error', started);
      done();
    };
    const sent = (reply: Buffer): void => {
      this.send(socket, reply, address, sourcePort);
      meter.done('ok', started);
      done();
    };
    if (request.action === UDP_ACTION_ANNOUNCE) {
      // The peer is reachable at the source address and the port it announced, not the source port.
      peer[peer.length - 2] = request.port >> 8;
      peer[peer.length - 1] = request.port & 0xff;
      const isV4 = peer.length === COMPACT_V4_LENGTH;
      store
        .announce({
          infoHash: request.infoHash,
          peer,
          event: request.event,
          seeder: request.seeder,
          numwant: request.event === 'stopped' ? 0 : policy.numwant(request.numwant, isV4 ? MAX_PEERS_V4 : MAX_PEERS_V6),
          passkey: request.passkey,
          // For swarm events only.
          protocol: 'udp',
          key: request.key,
          uploaded: request.uploaded,
          downloaded: request.downloaded,
          left: request.left,
        })
        .then((result) => sent(encodeUdpAnnounceReply(transactionId, policy.interval(), result)), failed);
    } else {
      store
        .scrape(request.infoHashes)
        .then((counts) => sent(encodeUdpScrapeReply(transactionId, access.scrapeCounts(request.infoHashes, counts, 'udp'))), failed);
    }
  }

  private send(socket: dgram.Socket, reply: Buffer | null, address: string, port: number): void {
    if (reply === null) return;
    try {
      socket.send(reply, port, address);
    } catch {
      // The socket closed during shutdown while this reply waited on the store: nobody left to tell.
    }
  }
}
