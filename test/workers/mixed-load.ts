/**
 * Mixed announce load on a redswarm instance for the tests of Redis topology changes (failover.test.ts,
 * resharding.test.ts): lanes of sequential requests — HTTP (node:http, keep-alive), UDP (BEP 15 connect, then
 * announces) and WebSocket (announces with an offer, on sockets of their own) — cycling over a set of swarms,
 * each lane with peers of its own. Every request is recorded: when it was sent and answered, its swarm and the
 * swarm's group (e.g. the master it lives on), the peer it announced, and its outcome:
 *
 *   ok       a success reply (its counts kept)
 *   failure  a protocol failure reply (HTTP `failure reason` in a bencoded 200, UDP error packet, WebSocket
 *            `failure reason`); `detail` is its message
 *   hang     no reply within `hangMs`
 *   bad      anything else: a status other than 200, a body that is not strict bencode, a reset connection, a
 *            reply of the wrong shape, a closed WebSocket
 */
import dgram from 'node:dgram';
import http from 'node:http';
import type { Instance } from '../helpers/instance.js';
import { RawSocket, offer, type Json } from '../helpers/raw-socket.js';
import { decodeStrictDict, percentEncodeAll, udpAnnouncePacket, udpConnectPacket } from '../helpers/wire.js';

export type Protocol = 'http' | 'udp' | 'ws';
export type Outcome = 'ok' | 'failure' | 'hang' | 'bad';

/** What the tracker answers when the store fails a request (all three protocols). */
export const STORE_FAILURE = 'tracker storage unavailable, retry later';

export interface LoadSwarm {
  readonly infoHash: Buffer;
  /** A label the analysis groups by, e.g. the master the swarm lives on. */
  readonly group: string;
}

export interface Sample {
  readonly protocol: Protocol;
  /** Index into the swarms. */
  readonly swarm: number;
  readonly group: string;
  /** The peer announced: `127.0.0.1:port` (HTTP and UDP share a swarm's peer list), or a WebSocket peer_id (hex). */
  readonly peer: string;
  readonly lane: number;
  /** Date.now() when sent and when answered (or given up). */
  readonly sent: number;
  readonly done: number;
  readonly outcome: Outcome;
  readonly detail?: string;
  /** Of a success reply. */
  readonly complete?: number;
  readonly incomplete?: number;
}

export interface LoadOptions {
  /** Lanes per protocol. */
  http: number;
  udp: number;
  ws: number;
  /** A reply later than this is a hang. */
  hangMs: number;
  /** Pause between two requests of a lane. */
  pauseMs?: number;
  /** Peers each lane announces in each swarm, in turn. */
  peersPerLane?: number;
  /** Each lane stops after this long at the latest, whether stop() was called or not. */
  maxMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Peer ports: HTTP lanes from 10000, UDP lanes from 30000, 100 per lane. */
const HTTP_PORTS = 10_000;
const UDP_PORTS = 30_000;

export class MixedLoad {
  readonly samples: Sample[] = [];
  private stopping = false;
  private readonly lanes: Promise<void>[] = [];
  private readonly sockets: RawSocket[] = [];
  private readonly peersPerLane: number;
  private readonly pauseMs: number;
  private deadline = 0;

  constructor(
    private readonly instance: Instance,
    readonly swarms: readonly LoadSwarm[],
    private readonly options: LoadOptions,
  ) {
    this.peersPerLane = options.peersPerLane ?? 4;
    this.pauseMs = options.pauseMs ?? 10;
  }

  /**
   * Opens the WebSocket lanes' sockets, then starts every lane. After stop() (not close()), starts the lanes again
   * on the same sockets and peers; samples accumulate.
   */
  async start(): Promise<void> {
    this.stopping = false;
    this.lanes.length = 0;
    this.deadline = Date.now() + this.options.maxMs;
    while (this.sockets.length < this.options.ws) this.sockets.push(await RawSocket.open(this.instance.wsUrl));
    for (let lane = 0; lane < this.options.http; lane++) this.lanes.push(this.httpLane(lane));
    for (let lane = 0; lane < this.options.udp; lane++) this.lanes.push(this.udpLane(lane));
    for (let lane = 0; lane < this.options.ws; lane++) this.lanes.push(this.wsLane(lane, this.sockets[lane]!));
  }

  /**
   * Stops every lane after its request in flight; resolves with every sample. The WebSocket lanes' sockets stay
   * open (their peers stay in their swarms) until close().
   */
  async stop(): Promise<Sample[]> {
    this.stopping = true;
    await Promise.all(this.lanes);
    return this.samples;
  }

  /** Stops, and closes the WebSocket lanes' sockets. */
  async close(): Promise<void> {
    await this.stop();
    for (const socket of this.sockets) if (socket.closeCode === undefined) socket.ws.terminate();
  }

  /** Resolves once `count` more requests were answered (any outcome), or rejects after `timeoutMs`. */
  async answered(count: number, timeoutMs = 10_000): Promise<void> {
    const want = this.samples.length + count;
    const deadline = Date.now() + timeoutMs;
    while (this.samples.length < want) {
      if (Date.now() > deadline) throw new Error(`load: ${want - this.samples.length} of ${count} requests still unanswered after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  private get running(): boolean {
    return !this.stopping && Date.now() < this.deadline;
  }

  /** The swarm and the peer (0 … peersPerLane-1) of a lane's i-th request: every swarm in turn, lanes offset. */
  private pick(lane: number, i: number): { swarm: number; n: number } {
    const count = this.swarms.length;
    return { swarm: (i + lane * 7) % count, n: Math.floor(i / count) % this.peersPerLane };
  }

  private record(sample: Omit<Sample, 'group'>): void {
    this.samples.push({ ...sample, group: this.swarms[sample.swarm]!.group });
  }

  private async httpLane(lane: number): Promise<void> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; this.running; i++) {
        const { swarm, n } = this.pick(lane, i);
        const port = HTTP_PORTS + lane * 100 + n;
        const peerId = `-ML0001-h${lane}-${n}`.padEnd(20, 'x');
        const query = `info_hash=${percentEncodeAll(this.swarms[swarm]!.infoHash)}&peer_id=${peerId}&port=${port}&left=${n % 2}&numwant=5&compact=1`;
        const sent = Date.now();
        const result = await httpGet(agent, this.instance.port, `/announce?${query}`, this.options.hangMs);
        this.record({ protocol: 'http', swarm, peer: `127.0.0.1:${port}`, lane, sent, done: Date.now(), ...classifyHttp(result) });
        await sleep(this.pauseMs);
      }
    } finally {
      agent.destroy();
    }
  }

  private async udpLane(lane: number): Promise<void> {
    const socket = dgram.createSocket('udp4');
    const waiting = new Map<number, (reply: Buffer) => void>();
    socket.on('message', (reply) => {
      if (reply.length < 8) return;
      const resolve = waiting.get(reply.readUInt32BE(4));
      if (resolve !== undefined) resolve(reply);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    let transaction = lane << 24;
    const exchange = (packet: Buffer, transactionId: number): Promise<Buffer | null> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(transactionId);
          resolve(null);
        }, this.options.hangMs);
        waiting.set(transactionId, (reply) => {
          clearTimeout(timer);
          waiting.delete(transactionId);
          resolve(reply);
        });
        socket.send(packet, this.instance.port, '127.0.0.1');
      });
    let connectionId: Buffer | null = null;
    let connectedAt = 0;
    try {
      for (let i = 0; this.running; i++) {
        const { swarm, n } = this.pick(lane, i);
        const port = UDP_PORTS + lane * 100 + n;
        const sent = Date.now();
        // A connection ID is good for 2 minutes (BEP 15); asking again each minute keeps it simple.
        if (connectionId === null || sent - connectedAt > 60_000) {
          const reply = await exchange(udpConnectPacket(++transaction), transaction);
          if (reply === null || reply.readUInt32BE(0) !== 0 || reply.length < 16) {
            this.record({ protocol: 'udp', swarm, peer: `127.0.0.1:${port}`, lane, sent, done: Date.now(), outcome: reply === null ? 'hang' : 'bad', detail: 'connect' });
            await sleep(this.pauseMs);
            continue;
          }
          connectionId = Buffer.from(reply.subarray(8, 16));
          connectedAt = sent;
        }
        const packet = udpAnnouncePacket({
          connectionId,
          transactionId: ++transaction,
          infoHash: this.swarms[swarm]!.infoHash,
          peerId: Buffer.from(`-ML0001-u${lane}-${n}`.padEnd(20, 'x')),
          left: BigInt(n % 2),
          numwant: 5,
          port,
        });
        const reply = await exchange(packet, transaction);
        this.record({ protocol: 'udp', swarm, peer: `127.0.0.1:${port}`, lane, sent, done: Date.now(), ...classifyUdp(reply) });
        await sleep(this.pauseMs);
      }
    } finally {
      socket.close();
    }
  }

  private async wsLane(lane: number, socket: RawSocket): Promise<void> {
    for (let i = 0; this.running; i++) {
      const { swarm } = this.pick(lane, i);
      const infoHash = this.swarms[swarm]!.infoHash.toString('latin1');
      // One peer per lane and swarm: a socket's peer_id stays its own (another socket's would be refused).
      const peerId = `-ML0001-w${lane}-s${swarm}`.padEnd(20, 'x');
      const from = socket.received.length;
      const sent = Date.now();
      if (socket.closeCode !== undefined) {
        this.record({ protocol: 'ws', swarm, peer: Buffer.from(peerId).toString('hex'), lane, sent, done: sent, outcome: 'bad', detail: `socket closed (${socket.closeCode})` });
        return;
      }
      const offerId = `o${lane}.${i}`.padEnd(20, '.').slice(0, 20);
      socket.send({ action: 'announce', info_hash: infoHash, peer_id: peerId, left: lane % 2, numwant: 1, offers: [offer(offerId)] });
      let reply: Json | undefined;
      try {
        reply = await socket.until(
          'the announce reply',
          () => socket.closeCode !== undefined || socket.received.slice(from).find((m) => m.info_hash === infoHash && ('interval' in m || 'failure reason' in m)),
          this.options.hangMs,
        ) as Json | undefined;
      } catch {
        reply = undefined;
      }
      const done = Date.now();
      const peer = Buffer.from(peerId).toString('hex');
      if (reply === undefined) this.record({ protocol: 'ws', swarm, peer, lane, sent, done, outcome: 'hang' });
      else if (typeof reply !== 'object') this.record({ protocol: 'ws', swarm, peer, lane, sent, done, outcome: 'bad', detail: `socket closed (${socket.closeCode})` });
      else this.record({ protocol: 'ws', swarm, peer, lane, sent, done, ...classifyWs(reply) });
      // Offers relayed to this socket pile up otherwise.
      if (socket.received.length > 1000) socket.received.splice(0, socket.received.length);
      await sleep(this.pauseMs);
    }
  }
}

type Classified = Pick<Sample, 'outcome' | 'detail' | 'complete' | 'incomplete'>;

type HttpResult = { status: number; body: Buffer } | { error: string } | { timeout: true };

function httpGet(agent: http.Agent, port: number, path: string, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = http.get({ agent, host: '127.0.0.1', port, path }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => settle({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', (error) => settle({ error: error.message }));
    });
    request.on('error', (error) => settle({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
    const timer = setTimeout(() => {
      settle({ timeout: true });
      request.destroy();
    }, timeoutMs);
  });
}

function classifyHttp(result: HttpResult): Classified {
  if ('timeout' in result) return { outcome: 'hang' };
  if ('error' in result) return { outcome: 'bad', detail: result.error };
  if (result.status !== 200) return { outcome: 'bad', detail: `HTTP ${result.status}: ${result.body.toString('latin1').slice(0, 100)}` };
  try {
    const reply = decodeStrictDict(result.body);
    if (reply.has('failure reason')) return { outcome: 'failure', detail: reply.bytes('failure reason').toString() };
    reply.int('interval');
    return { outcome: 'ok', complete: reply.int('complete'), incomplete: reply.int('incomplete') };
  } catch (error) {
    return { outcome: 'bad', detail: `${(error as Error).message}: ${result.body.toString('latin1').slice(0, 100)}` };
  }
}

function classifyUdp(reply: Buffer | null): Classified {
  if (reply === null) return { outcome: 'hang' };
  const action = reply.readUInt32BE(0);
  if (action === 1 && reply.length >= 20) return { outcome: 'ok', incomplete: reply.readUInt32BE(12), complete: reply.readUInt32BE(16) };
  if (action === 3) return { outcome: 'failure', detail: reply.subarray(8).toString() };
  return { outcome: 'bad', detail: `UDP action ${action}, ${reply.length} bytes` };
}

function classifyWs(reply: Json): Classified {
  if ('failure reason' in reply) return { outcome: 'failure', detail: String(reply['failure reason']) };
  if (typeof reply.complete === 'number' && typeof reply.incomplete === 'number') return { outcome: 'ok', complete: reply.complete, incomplete: reply.incomplete };
  return { outcome: 'bad', detail: JSON.stringify(reply).slice(0, 200) };
}

// ---------------------------------------------------------------------------------------------------------------
// Summaries for assertions and diagnostics

/** Outcome counts, e.g. `{ ok: 120, failure: 3 }`. */
export function outcomes(samples: readonly Sample[]): Partial<Record<Outcome, number>> {
  const counts: Partial<Record<Outcome, number>> = {};
  for (const s of samples) counts[s.outcome] = (counts[s.outcome] ?? 0) + 1;
  return counts;
}

/** Samples per protocol and outcome, for a diagnostic line. */
export function summary(samples: readonly Sample[]): string {
  return (['http', 'udp', 'ws'] as const)
    .map((p) => `${p} ${JSON.stringify(outcomes(samples.filter((s) => s.protocol === p)))}`)
    .join(', ');
}

/** A few samples as text, for assertion messages. */
export function show(samples: readonly Sample[], origin: number, max = 5): string {
  return samples
    .slice(0, max)
    .map((s) => `${s.protocol} lane ${s.lane} swarm ${s.swarm} (${s.group}) sent +${s.sent - origin} ms, ${s.outcome} after ${s.done - s.sent} ms${s.detail ? `: ${s.detail}` : ''}`)
    .join('; ');
}
