/**
 * The floor under any WebSocket tracker in Node on this machine: a uWebSockets.js server that parses and stores
 * nothing. What bench/ws-load.ts measures against it is the CPU per reply that the socket work alone costs (most
 * of it in the kernel): no tracker can go below it, so it bounds any ratio between two trackers. Loopback only.
 *
 * Default: every message gets a fixed announce reply (with ws-load `--offers 0`: one message in, one out).
 * --relay: the socket work of a tracker relaying bench/compare-wt.sh's relay load, and nothing else. An announce
 * gets a fixed reply, and for each of its offers (counted, not parsed) an offer of the load's size goes to another
 * socket, drawn at random; the offer names its sender in its peer_id (the socket's number), so that the answer
 * goes back to it, found by its offset after `"to_peer_id":"`. Every frame is prebuilt bytes (no UTF-8
 * conversion), and a socket's frames of one event-loop turn leave in one write, as redswarm batches them. The
 * load's generator answers those offers and counts the answers, so the messages in and out per announce, and
 * where they go, are those of a tracker.
 *
 * Idle sockets are pinged as redswarm and wt-tracker ping them (--idle-timeout, 240 s by default), so that what it
 * costs idle is the floor under theirs too.
 *
 *   node --import tsx bench/ws-floor.ts --port N [--relay] [--sdp-bytes 700] [--idle-timeout 240]
 */
import { uWS } from '../src/server/uws.js';
import { assertLoopback, parseOptions, targetOptions } from './harness/options.js';

const usage = 'usage: node --import tsx bench/ws-floor.ts --port N [--relay] [--sdp-bytes N] [--idle-timeout S]';
const OPTIONS = {
  ...targetOptions('port to listen on', 'address to listen on (loopback only)'),
  relay: { type: 'flag', help: 'relay offers and answers as a tracker would (see above)' },
  'sdp-bytes': { type: 'int', arg: 'N', default: 700, min: 1, max: 30_000, help: "size of each relayed offer's and answer's SDP" },
  'idle-timeout': { type: 'int', arg: 'S', default: 240, min: 8, max: 960, help: "seconds before a silent socket is pinged (less uWebSockets.js's 16) and closed: redswarm's and wt-tracker's default" },
} as const;
const opts = parseOptions(OPTIONS, process.argv.slice(2), usage);
assertLoopback(opts.host);

const reply = JSON.stringify({ action: 'announce', interval: 120, info_hash: 'x'.repeat(20), complete: 0, incomplete: 1 });

interface Socket {
  /** The socket's number: its offers' peer_id ends with it. */
  id: number;
  /** Where it is in `open`. */
  at: number;
  /** Its offer, prebuilt: from its peer_id. */
  offer: Buffer;
  /** Frames queued in this event-loop turn. */
  out: Buffer[] | undefined;
  closed: boolean;
}

/** Open sockets, in no order, and by id. */
const open: uWS.WebSocket<Socket>[] = [];
const byId = new Map<number, uWS.WebSocket<Socket>>();
let nextId = 0;
let queued: uWS.WebSocket<Socket>[] = [];

const sdp = `v=0\r\n${'a=candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host\r\n'.repeat(Math.ceil(opts.sdpBytes / 56))}`.slice(0, opts.sdpBytes);
const PEER_ID_HEAD = '-WW0208-fl';
const peerIdOf = (id: number): string => `${PEER_ID_HEAD}${String(id).padStart(10, '0')}`;
const signal = (peerId: string, kind: 'offer' | 'answer'): Buffer =>
  Buffer.from(JSON.stringify({ action: 'announce', info_hash: 'h'.repeat(20), peer_id: peerId, offer_id: 'o'.repeat(20), [kind]: { type: kind, sdp } }));
const REPLY = Buffer.from(reply);
const ANSWER = signal(peerIdOf(0), 'answer');
const OFFER_ID = Buffer.from('"offer_id"');
const TO_PEER_ID = Buffer.from('"to_peer_id":"');

function queue(ws: uWS.WebSocket<Socket>, frame: Buffer): void {
  const socket = ws.getUserData();
  if (socket.closed) return;
  if (socket.out === undefined) {
    if (queued.length === 0) setImmediate(flush);
    socket.out = [];
    queued.push(ws);
  }
  socket.out.push(frame);
}

function flush(): void {
  const turn = queued;
  queued = [];
  for (const ws of turn) {
    const socket = ws.getUserData();
    const out = socket.out!;
    socket.out = undefined;
    if (socket.closed) continue;
    ws.cork(() => {
      for (const frame of out) ws.send(frame, false);
    });
  }
}

/** An open socket other than `ws`, drawn at random. */
function other(ws: uWS.WebSocket<Socket>): uWS.WebSocket<Socket> | undefined {
  if (open.length < 2) return undefined;
  const { at } = ws.getUserData();
  let i = Math.floor(Math.random() * (open.length - 1));
  if (i >= at) i++;
  return open[i];
}

function relay(ws: uWS.WebSocket<Socket>, data: ArrayBuffer): void {
  const bytes = Buffer.from(data);
  const to = bytes.indexOf(TO_PEER_ID);
  if (to >= 0) {
    const from = to + TO_PEER_ID.length + PEER_ID_HEAD.length;
    const offerer = byId.get(Number(bytes.toString('latin1', from, from + 10)));
    if (offerer !== undefined) queue(offerer, ANSWER);
    return;
  }
  queue(ws, REPLY);
  const { offer } = ws.getUserData();
  for (let at = bytes.indexOf(OFFER_ID); at >= 0; at = bytes.indexOf(OFFER_ID, at + OFFER_ID.length)) {
    const peer = other(ws);
    if (peer !== undefined) queue(peer, offer);
  }
}

function opened(ws: uWS.WebSocket<Socket>): void {
  const id = nextId++;
  Object.assign(ws.getUserData(), { id, at: open.push(ws) - 1, offer: signal(peerIdOf(id), 'offer') });
  byId.set(id, ws);
}

function closed(ws: uWS.WebSocket<Socket>): void {
  const socket = ws.getUserData();
  socket.closed = true;
  const last = open.pop()!;
  if (last !== ws) {
    open[socket.at] = last;
    last.getUserData().at = socket.at;
  }
  byId.delete(socket.id);
}

// The default floor keeps nothing per socket (no user data, no open or close handler).
const relaying: uWS.WebSocketBehavior<Socket> = {
  upgrade: (res, req, context) =>
    res.upgrade<Socket>(
      { id: -1, at: -1, offer: REPLY, out: undefined, closed: false },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    ),
  open: opened,
  close: closed,
  message: relay,
};
uWS
  .App()
  .ws<Socket>('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024,
    idleTimeout: opts.idleTimeout,
    sendPingsAutomatically: true,
    ...(opts.relay ? relaying : { message: (ws) => void ws.send(REPLY, false) }),
  })
  .listen(opts.host, opts.port, (token) => {
    if (token === false) {
      console.error(`ws-floor: cannot listen on ${opts.host}:${opts.port}`);
      process.exit(1);
    }
    console.log(`ws-floor${opts.relay ? ' --relay' : ''} ws://${opts.host}:${opts.port}`);
  });
