/**
 * Delivery of WebRTC signaling (relayed offers and answers) to the socket of a peer, wherever that socket is.
 * Every WebSocket peer is stored with the `route` of its socket; the WebSocket server hands each relayed
 * message to `deliver(route, …)` and never looks for sockets itself. This is the one seam a multi-worker or
 * multi-machine deployment replaces: its router forwards routes of other processes, and attaches local
 * sockets exactly as LocalSignalRouter does.
 */
import type { InfoHash } from '../protocol/types.js';
import type { SessionDescriptionJson, WsOffer } from '../protocol/websocket.js';
import { offersRelayed, signalsUndeliverable } from '../metrics/tracker-metrics.js';

const offersLocal = offersRelayed.child({ kind: 'offer', route: 'local' });
const answersLocal = offersRelayed.child({ kind: 'answer', route: 'local' });
const offersLost = signalsUndeliverable.labels({ kind: 'offer', route: 'local' });
const answersLost = signalsUndeliverable.labels({ kind: 'answer', route: 'local' });

export type Signal =
  | {
      readonly kind: 'offer';
      readonly infoHash: InfoHash;
      /** The offering peer, and the route its answer must go back to. */
      readonly fromPeerId: string;
      readonly fromRoute: string;
      /** The peer of the receiving socket the offer was picked for. */
      readonly toPeerId: string;
      readonly offer: WsOffer;
    }
  | {
      readonly kind: 'answer';
      readonly infoHash: InfoHash;
      /** The answering peer. */
      readonly fromPeerId: string;
      readonly offerId: string;
      readonly answer: SessionDescriptionJson;
    };

/**
 * Hands a signal to one socket of this process; false when it cannot (closed, or dropped as a slow reader).
 * One function for all sockets (set by the WebSocket server), the socket its argument: no closure per socket.
 */
export type SignalReceiver = (socket: object, signal: Signal) => boolean;

export interface SignalRouter {
  /** How signals reach this process's sockets; set once, before any attach. */
  receiveWith(receiver: SignalReceiver): void;
  /** Makes a socket of this process reachable; returns its route (at most 64 bytes) to store with its peers. */
  attach(socket: object): string;
  /** The socket is gone: its route reaches nothing any more. */
  detach(route: string): void;
  /** Hands a signal to the socket behind `route`; false when nothing can be reached there. */
  deliver(route: string, signal: Signal): boolean;
  /** The socket behind `route` became a peer of a swarm (so a router can clean up after its process dies). */
  joined(route: string, infoHash: InfoHash, peerId: string): void;
  /** …and stopped being one. */
  left(route: string, infoHash: InfoHash, peerId: string): void;
}

/**
 * Routes to the sockets of this process only. Its routes are `slot.generation` (base 36), after `processId/` when
 * it has one: the sockets are kept by slot in an array, not in a Map by route (~47 bytes a socket), and a slot
 * reused by a later socket has a new generation, so an old route never reaches it.
 */
export class LocalSignalRouter implements SignalRouter {
  private readonly prefix: string;
  private readonly sockets: (object | null)[] = [];
  private readonly generations: number[] = [];
  private readonly freeSlots: number[] = [];
  private receiver: SignalReceiver = () => false;

  /**
   * `processId`: random per process where processes share a store (RedisSignalRouter), so that a route another
   * process stored never names a socket here. Alone, with the embedded store, routes need none: a route of ~5
   * characters is a 24-byte string, one with a process id 40 (a socket keeps one).
   */
  constructor(readonly processId = '') {
    this.prefix = processId === '' ? '' : `${processId}/`;
  }

  /** Whether a route names a socket of this process (open or not). */
  owns(route: string): boolean {
    return route.startsWith(this.prefix);
  }

  receiveWith(receiver: SignalReceiver): void {
    this.receiver = receiver;
  }

  attach(socket: object): string {
    const slot = this.freeSlots.pop() ?? this.sockets.length;
    if (slot === this.sockets.length) this.generations.push(0);
    this.sockets[slot] = socket;
    // One flat string: a concatenation would stay a rope of its parts (~56 bytes a socket instead of ~32).
    return Buffer.from(`${this.prefix}${slot.toString(36)}.${this.generations[slot]!.toString(36)}`, 'latin1').toString('latin1');
  }

  detach(route: string): void {
    const slot = this.slotOf(route);
    if (slot < 0) return;
    this.sockets[slot] = null;
    this.generations[slot]!++;
    this.freeSlots.push(slot);
  }

  deliver(route: string, signal: Signal): boolean {
    const slot = this.slotOf(route);
    const delivered = slot >= 0 && this.receiver(this.sockets[slot]!, signal);
    if (delivered) (signal.kind === 'offer' ? offersLocal : answersLocal).inc();
    else (signal.kind === 'offer' ? offersLost : answersLost).inc();
    return delivered;
  }

  /** Nothing to do: this process's sockets and its memory store die together. */
  joined(): void {}

  left(): void {}

  /** The slot of the attached socket `route` names, or -1 (another process's route, a detached socket's, or none). */
  private slotOf(route: string): number {
    const from = this.prefix.length;
    const dot = route.indexOf('.', from);
    if (dot < 0 || !route.startsWith(this.prefix)) return -1;
    const slot = base36(route, from, dot);
    const generation = base36(route, dot + 1, route.length);
    if (slot < 0 || slot >= this.sockets.length || this.generations[slot] !== generation || this.sockets[slot] === null) return -1;
    return slot;
  }
}

/** The number written `text[from, to)` in base 36 as Number.toString(36) writes it, or -1 if it is not one. */
function base36(text: string, from: number, to: number): number {
  if (from >= to || to - from > 10 || (text.charCodeAt(from) === 48 && to - from > 1)) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
    if (digit < 0) return -1;
    n = n * 36 + digit;
  }
  return n;
}
