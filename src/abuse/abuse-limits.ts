/**
 * The abuse limits of one process, as the servers ask for them: announces per (source, info hash), bans of UDP
 * sources that send invalid connection IDs, WebSocket connections per source. Limits are read from the running
 * configuration at each call (a reload applies at once; 0 turns a limit off); time comes from the injected
 * clock. Each limit counts what it refuses in the metrics.
 */
import type { TrackerConfig } from '../config/index.js';
import {
  announcesRateLimited,
  udpBanTableFull,
  udpBannedDatagrams,
  udpBans,
  wsSourceLimitRefusals,
  type Protocol,
} from '../metrics/tracker-metrics.js';
import { compactPeerFromText } from '../protocol/ip-address.js';
import { COMPACT_V4_LENGTH, type CompactPeer, type InfoHash } from '../protocol/types.js';
import { AnnounceRate } from './announce-rate.js';
import { SourceBans } from './source-bans.js';
import { SourceConnections } from './source-connections.js';
import { sourceKey } from './source.js';

const rateLimited = {
  http: announcesRateLimited.child({ protocol: 'http' }),
  udp: announcesRateLimited.child({ protocol: 'udp' }),
  ws: announcesRateLimited.child({ protocol: 'ws' }),
} satisfies Record<Protocol, unknown>;
const bannedDatagrams = udpBannedDatagrams.child({});

/** 127.0.0.0/8 or ::1 (v4-mapped addresses arrive folded to IPv4). */
function isLoopback(peer: CompactPeer): boolean {
  if (peer.length === COMPACT_V4_LENGTH) return peer[0] === 127;
  for (let i = 0; i < 15; i++) if (peer[i] !== 0) return false;
  return peer[15] === 1;
}

export interface AbuseLimitsOptions {
  /** The running configuration (reloaded in place). */
  config: TrackerConfig;
  /** Milliseconds on a monotonic clock. */
  clockMs: () => number;
  /** 16 random bytes keying the announce table's hash. */
  secret: Uint8Array;
}

export class AbuseLimits {
  private readonly config: TrackerConfig;
  private readonly clockMs: () => number;
  private readonly announces: AnnounceRate;
  private readonly bans: SourceBans;
  private readonly wsSources = new SourceConnections();

  constructor({ config, clockMs, secret }: AbuseLimitsOptions) {
    this.config = config;
    this.clockMs = clockMs;
    this.announces = new AnnounceRate(config.announceRateSlots, secret);
    this.bans = new SourceBans(config.udpBanMaxSources);
  }

  /** False (counted) when the source of `peer` has made --announce-rate-limit announces of `infoHash` lately. */
  announceAllowed(peer: CompactPeer, infoHash: InfoHash, protocol: Protocol): boolean {
    const { announceRateLimit, announceRateWindow } = this.config;
    if (announceRateLimit === 0 || this.exempt(peer)) return true;
    if (this.announces.take(peer, infoHash, announceRateLimit, announceRateWindow * 1000, this.clockMs())) return true;
    rateLimited[protocol].inc();
    return false;
  }

  /** Seconds a refused announcer should wait: a whole window, after which its count has surely dropped. */
  get retryAfter(): number {
    return this.config.announceRateWindow;
  }

  /** The failure reason of a refused announce. */
  get rateLimitedReason(): string {
    return `too many announces of this torrent from your address: retry in ${this.retryAfter} s`;
  }

  /** True (counted) when a datagram from `address` (as dgram gives it) must be dropped unanswered. */
  udpBanned(address: string): boolean {
    if (this.bans.size === 0) return false;
    const peer = compactPeerFromText(address, 0);
    if (peer === null || this.exempt(peer) || !this.bans.banned(sourceKey(peer), this.clockMs())) return false;
    bannedDatagrams.inc();
    return true;
  }

  /** Counts an invalid connection ID from `peer`; true when this one got its source banned (send it nothing). */
  udpInvalidConnectionId(peer: CompactPeer): boolean {
    const { udpBanThreshold, udpBanWindow, udpBanDuration } = this.config;
    if (udpBanThreshold === 0 || this.exempt(peer)) return false;
    const strike = this.bans.strike(sourceKey(peer), udpBanThreshold, udpBanWindow * 1000, udpBanDuration * 1000, this.clockMs());
    if (strike === 'untracked') udpBanTableFull.inc();
    if (strike !== 'banned') return false;
    udpBans.inc();
    return true;
  }

  /** False (counted) when the source of a WebSocket upgrade from `peer` holds --ws-max-sockets-per-ip already. */
  wsAdmits(peer: CompactPeer): boolean {
    if (this.exempt(peer) || this.wsSources.admits(sourceKey(peer), this.config.wsMaxSocketsPerIp)) return true;
    wsSourceLimitRefusals.inc();
    return false;
  }

  /** Loopback sources, when --exempt-loopback: a local proxy without --trusted-proxies, monitors, load tests. */
  private exempt(peer: CompactPeer): boolean {
    return this.config.exemptLoopback && isLoopback(peer);
  }

  wsOpened(peer: CompactPeer): void {
    this.wsSources.opened(sourceKey(peer));
  }

  wsClosed(peer: CompactPeer): void {
    this.wsSources.closed(sourceKey(peer));
  }
}
