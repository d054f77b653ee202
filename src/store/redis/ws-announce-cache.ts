/**
 * The announce cache for WebSocket announces (`--redis-announce-cache MS`, as announce-cache.ts is for HTTP/UDP;
 * docs/scaling.md). What a call returned for a WebSocket swarm (its counts, and a sample of its peers with the
 * requester added) answers, for MS milliseconds, this process's later announces of that swarm by peers that
 * Redis confirmed as this process's: a call for (peer_id, route) that was not refused as another route's makes
 * the peer a member, held until its stop or a refresh that finds it gone, so a cached reply never lets a socket
 * take over another's peer_id. A stop, a peer's first announce here, or one wanting more offer targets than the
 * sample holds is a call. The changes the cached announces ask for (per peer: its seeder bit, whether it
 * completed) go to Redis as one `refresh_ws` call per swarm MS after the first of them (held-swarms.ts).
 *
 * Bounds, all of them MS: a reply's counts and peers are at most MS old (an offer may go to a peer that left
 * within MS through another process, and is then dropped, as an offer to a closed socket is; a peer that joined
 * within MS through another process gets no offers from cached replies yet), and an announce answered here
 * reaches Redis at most MS later.
 */
import type { InfoHash, ScrapeCounts } from '../../protocol/types.js';
import type { WsAnnounceRequest, WsAnnounceResult, WsPeer } from '../store.js';
import { REFRESH_TAGS } from './function-contract.js';
import type { WsRefresh } from './function-calls.js';
import { HeldSwarms, askedFor, type HeldSwarm, type HeldSwarmsTiming } from './held-swarms.js';

/** A WebSocket swarm as the cache holds it. */
interface CachedWsSwarm extends HeldSwarm<string> {
  /** The peers of the last call's reply, its requester added, and until when they answer (ms). */
  peers: WsPeer[];
  until: number;
  /** How many peers that call asked for: the held peers answer announces wanting no more. */
  asked: number;
  /** This process's peers that Redis confirmed: peer_id → route. */
  readonly members: Map<string, string>;
}

export interface WsAnnounceCacheOptions extends HeldSwarmsTiming {
  /** Offer targets a call asks for, to answer later announces from; read at every call (a reload may change it). */
  readonly sample: () => number;
  /**
   * Sends a swarm's collected changes; resolves with its counts after them and the positions (in `peers`) of
   * those Redis no longer holds for their route.
   */
  readonly refresh: (infoHash: InfoHash, peers: readonly WsRefresh[]) => Promise<{ counts: ScrapeCounts; lost: readonly number[] }>;
}

export class WsAnnounceCache {
  private readonly held: HeldSwarms<string, CachedWsSwarm>;

  constructor(private readonly options: WsAnnounceCacheOptions) {
    this.held = new HeldSwarms({ ...options, refresh: (swarm, peers) => this.refresh(swarm, peers), stale: (swarm, now) => swarm.until <= now });
  }

  /** Swarms held, or with changes to send. */
  get size(): number {
    return this.held.swarms.size;
  }

  /** The reply to an announce from the cache, its change collected; undefined when it must be a call. */
  answer(request: WsAnnounceRequest): WsAnnounceResult | undefined {
    const swarm = this.held.swarms.get(request.infoHash);
    if (swarm === undefined || request.event === 'stopped' || request.numwant > swarm.asked) return undefined;
    if (swarm.members.get(request.peerId) !== request.route || swarm.until <= this.held.now()) return undefined;
    const refreshes = this.held.collect(swarm);
    const was = refreshes.get(request.peerId) ?? 0;
    const completed = request.event === 'completed' ? REFRESH_TAGS.completed : was & REFRESH_TAGS.completed;
    refreshes.set(request.peerId, completed | (request.seeder ? REFRESH_TAGS.seeder : 0));
    return {
      complete: swarm.complete,
      incomplete: swarm.incomplete,
      downloaded: swarm.downloaded,
      peers: pick(swarm.peers, request.peerId, request.numwant),
      conflict: false,
    };
  }

  /** How many peers a call for `request` asks for (held-swarms.ts askedFor). */
  asked(request: WsAnnounceRequest): number {
    return askedFor(request, this.options.sample());
  }

  /**
   * An announce about to be a call: the swarm's collected changes go first, so Redis applies them before it; a
   * stop takes the peer out of what is held at once, so no cached reply offers it any more.
   */
  beforeCall(request: WsAnnounceRequest): void {
    this.held.beforeCall(request.infoHash);
    if (request.event !== 'stopped') return;
    const swarm = this.held.swarms.get(request.infoHash);
    if (swarm === undefined || swarm.members.get(request.peerId) !== request.route) return;
    swarm.members.delete(request.peerId);
    swarm.peers = swarm.peers.filter((peer) => peer.peerId !== request.peerId);
  }

  /**
   * Redis' reply to `request`, which asked for `asked` peers: its counts are the swarm's newest; unless refused,
   * the requester is this process's member, and when it asked for the sample, its peers (the requester added)
   * answer announces wanting no more for the next MS.
   */
  learn(request: WsAnnounceRequest, result: WsAnnounceResult, asked: number): void {
    let swarm = this.held.swarms.get(request.infoHash);
    if (swarm === undefined) {
      if (request.event === 'stopped' || result.conflict) return;
      swarm = { infoHash: request.infoHash, complete: 0, incomplete: 0, downloaded: 0, refreshes: undefined, peers: [], until: 0, asked: 0, members: new Map() };
      this.held.swarms.set(request.infoHash, swarm);
    }
    swarm.complete = result.complete;
    swarm.incomplete = result.incomplete;
    swarm.downloaded = result.downloaded;
    const { peerId, route } = request;
    if (result.conflict || request.event === 'stopped') {
      if (swarm.members.get(peerId) === route) swarm.members.delete(peerId);
      return;
    }
    swarm.members.set(peerId, route);
    if (asked > 0) {
      swarm.peers = [...result.peers, { peerId, route }];
      swarm.until = this.held.now() + this.options.ms;
      swarm.asked = asked;
    }
  }

  /** Sends every collected refresh now, due or not, and waits for the answers (of those sent earlier too). */
  sendAll(): Promise<void> {
    return this.held.sendAll();
  }

  /** Stops the timer and sends every collected refresh. */
  close(): Promise<void> {
    return this.held.close();
  }

  /** A swarm's changes, each peer with its route; peers Redis no longer holds for their route stop being members. */
  private async refresh(swarm: CachedWsSwarm, peers: ReadonlyMap<string, number>): Promise<ScrapeCounts> {
    const sent: WsRefresh[] = [];
    for (const [peerId, tags] of peers) {
      // A member taken out since (a refresh found it gone, a call was refused) has nothing to refresh.
      const route = swarm.members.get(peerId);
      if (route !== undefined) sent.push({ peerId, route, tags });
    }
    if (sent.length === 0) return swarm;
    const { counts, lost } = await this.options.refresh(swarm.infoHash, sent);
    for (const at of lost) {
      const { peerId, route } = sent[at]!;
      if (swarm.members.get(peerId) === route) swarm.members.delete(peerId);
    }
    return counts;
  }
}

/**
 * Up to `numwant` distinct peers of `held` other than `peerId`: a window at a random position, wrapping around,
 * or all of them when there are no more.
 */
function pick(held: readonly WsPeer[], peerId: string, numwant: number): WsPeer[] {
  const count = held.length;
  const out: WsPeer[] = [];
  if (numwant <= 0 || count === 0) return out;
  const start = numwant >= count - 1 ? 0 : Math.floor(Math.random() * count);
  for (let i = 0; i < count && out.length < numwant; i++) {
    const peer = held[(start + i) % count]!;
    if (peer.peerId !== peerId) out.push(peer);
  }
  return out;
}
