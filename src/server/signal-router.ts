/**
 * Delivery of WebRTC signaling (relayed offers and answers) to the socket of a peer, wherever that socket is.
 * Every WebSocket peer is stored with the `route` of its socket; the WebSocket server hands each relayed
 * message to `deliver(route, …)` and never looks for sockets itself. This is the one seam a multi-worker or
 * multi-machine deployment replaces: its router forwards routes of other processes, and attaches local
 * sockets exactly as LocalSignalRouter does.
 */
import { randomBytes } from 'node:crypto';
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

/** Routes to the sockets of this process only. Its routes are `processId/socket`. */
export class LocalSignalRouter implements SignalRouter {
  private readonly prefix: string;
  private readonly sockets = new Map<string, object>();
  private receiver: SignalReceiver = () => false;
  private nextId = 0;

  /** `processId`: random per process, so a route another process stored in a shared store never names a socket here. */
  constructor(readonly processId: string = randomBytes(9).toString('base64url')) {
    this.prefix = `${processId}/`;
  }

  /** Whether a route names a socket of this process (open or not). */
  owns(route: string): boolean {
    return route.startsWith(this.prefix);
  }

  receiveWith(receiver: SignalReceiver): void {
    this.receiver = receiver;
  }

  attach(socket: object): string {
    const route = this.prefix + (this.nextId++).toString(36);
    this.sockets.set(route, socket);
    return route;
  }

  detach(route: string): void {
    this.sockets.delete(route);
  }

  deliver(route: string, signal: Signal): boolean {
    const socket = this.sockets.get(route);
    const delivered = socket !== undefined && this.receiver(socket, signal);
    if (delivered) (signal.kind === 'offer' ? offersLocal : answersLocal).inc();
    else (signal.kind === 'offer' ? offersLost : answersLost).inc();
    return delivered;
  }

  /** Nothing to do: this process's sockets and its memory store die together. */
  joined(): void {}

  left(): void {}
}
