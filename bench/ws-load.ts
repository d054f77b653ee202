/**
 * WebSocket (WebTorrent) announce load generator.
 *
 *   node --import tsx bench/ws-load.ts --port 6969 --duration 10 --warmup 2 [--connections 200] [--cpu-pid PID]
 *   node --import tsx bench/ws-load.ts --port 6969 --probe     # one scrape, exit 0 when answered
 *
 * Every connection is one browser: one peer_id, a few torrents (its swarms, drawn with Zipf-like popularity
 * over --hashes info hashes), and announces as WebTorrent sends them: `started` first, then updates, now and
 * then `stopped` and back, each with --offers SDP offers of --sdp-bytes. Offers relayed to it are answered
 * (--answer share), so the tracker also relays answers, as in a real swarm. Each connection keeps --window
 * announces in flight. Responses are announce replies; failure replies, timeouts and closed connections are
 * errors. Any tracker that speaks the WebTorrent protocol can be the target (bench/compare-ws.sh runs redswarm
 * and the `bittorrent-tracker` Server).
 *
 * The harness (bench/harness/) does the rest: options, --procs processes, the measured window, the tracker's
 * CPU time, the summary and its last line, `RESULT k=v ...`.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Generator, type Client } from './harness/generator.js';
import { generatorToolOptions, type OptionValues } from './harness/options.js';
import { runTool } from './harness/run.js';
import { hashesLabel, makeInfoHashes } from './harness/workload.js';

const DEFAULTS = { target: 'port', warmup: 2, hashes: 10_000, timeout: 5000, probe: 'one scrape' };
const OPTIONS = generatorToolOptions(DEFAULTS, {
  path: { type: 'string', arg: 'P', default: '/', help: 'WebSocket path' },
  connections: { type: 'int', arg: 'N', default: 200, min: 1, max: 50_000, help: 'WebSocket connections per process' },
  window: { type: 'int', arg: 'N', default: 1, min: 1, max: 64, help: 'announces in flight per connection' },
  'swarms-per-connection': { type: 'int', arg: 'N', default: 4, min: 1, max: 400, help: 'torrents each connection announces' },
  offers: { type: 'int', arg: 'N', default: 5, min: 0, max: 50, help: 'offers per announce (WebTorrent sends 5)' },
  'sdp-bytes': { type: 'int', arg: 'N', default: 500, min: 1, max: 30_000, help: "size of each offer's and answer's SDP" },
  answer: { type: 'number', arg: 'F', default: 1, min: 0, max: 1, help: 'share of relayed offers answered, 0..1' },
  stopped: { type: 'number', arg: 'F', default: 0.02, min: 0, max: 1, help: "share of re-announces that are `stopped` (0 for a tracker that does not answer them)" },
  'first-generator': { type: 'int', arg: 'N', default: 0, min: 0, max: 1000, help: "number of this run's first process in peer_ids: separate runs against one shared store need distinct ones" },
} as const);
type Options = OptionValues<typeof OPTIONS>;

const COUNTERS = ['failures', 'timeouts', 'closes', 'offersReceived', 'answersSent', 'answersReceived'] as const;
type Counter = (typeof COUNTERS)[number];

function url(opts: Options): string {
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return `ws://${host}:${opts.port}${opts.path.startsWith('/') ? opts.path : `/${opts.path}`}`;
}

/** An info hash as the JSON of a 20-character binary string. */
const hashJson = (hashes: Buffer, i: number): string => JSON.stringify(hashes.toString('latin1', i * 20, i * 20 + 20));

/** One generator process: --connections browsers. */
class WsGenerator extends Generator<Options, Counter> {
  /** The info hashes as JSON strings. */
  readonly hashesJson: string[];
  /** What every offer and answer carries: an SDP of the asked size, JSON-quoted. */
  readonly sdpJson: string;
  readonly url: string;

  constructor(opts: Options, index: number) {
    super(opts, index, { clients: opts.connections, counters: COUNTERS });
    this.hashesJson = Array.from({ length: this.hashes.length / 20 }, (_, i) => hashJson(this.hashes, i));
    const line = 'a=candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host\r\n';
    this.sdpJson = JSON.stringify(`v=0\r\n${line.repeat(Math.ceil(opts.sdpBytes / line.length))}`.slice(0, opts.sdpBytes));
    this.url = url(opts);
  }

  protected newClient(i: number): Client {
    return new Connection(this, i);
  }

  noteFailure(message: string): void {
    this.count.failures++;
    this.note(message);
  }
}

/** One browser: one socket, one peer_id, a few swarms. */
class Connection implements Client {
  private ws: WebSocket | null = null;
  private readonly peerId: string;
  private readonly peerIdJson: string;
  private readonly swarms: number[] = [];
  /** Per swarm: has this peer announced `started` (and not `stopped`) there? */
  private readonly joined: boolean[] = [];
  private readonly sentAt: number[] = [];
  private offerCounter = 0;

  constructor(
    private readonly gen: WsGenerator,
    readonly index: number,
  ) {
    const id = `-WW0208-${(gen.opts.firstGenerator + gen.index).toString(36).padStart(2, '0')}${index.toString(36).padStart(10, '0')}`;
    this.peerId = id;
    this.peerIdJson = JSON.stringify(id);
    while (this.swarms.length < Math.min(gen.opts.swarmsPerConnection, gen.hashesJson.length)) {
      const swarm = gen.zipf.next();
      if (!this.swarms.includes(swarm)) {
        this.swarms.push(swarm);
        this.joined.push(false);
      }
    }
  }

  open(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.gen.url, { perMessageDeflate: false });
      this.ws = ws;
      ws.on('open', () => resolve());
      ws.on('message', (data: Buffer) => this.onMessage(data));
      ws.on('error', () => undefined); // followed by close
      ws.on('close', () => {
        resolve();
        if (this.ws !== ws) return;
        this.ws = null;
        this.sentAt.length = 0;
        this.joined.fill(false);
        if (!this.gen.running) return;
        this.gen.count.closes++;
        setTimeout(() => {
          if (!this.gen.running) return;
          void this.open().then(() => this.fill());
        }, 100);
      });
    });
  }

  close(): void {
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
  }

  begin(): void {
    this.fill();
  }

  private fill(): void {
    while (this.gen.running && this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.sentAt.length < this.gen.opts.window) {
      this.announce();
    }
  }

  private announce(): void {
    const { gen } = this;
    const opts = gen.opts;
    const which = Math.floor(gen.random() * this.swarms.length);
    let event = '';
    let offers = opts.offers;
    if (!this.joined[which]) {
      event = ',"event":"started"';
      this.joined[which] = true;
    } else if (gen.random() < opts.stopped) {
      event = ',"event":"stopped"';
      this.joined[which] = false;
      offers = 0; // as WebTorrent: no offers with stopped
    }
    const left = gen.random() < 0.3 ? 0 : 1_000_000;
    let text = `{"action":"announce","info_hash":${gen.hashesJson[this.swarms[which]!]},"peer_id":${this.peerIdJson},"numwant":${offers},"uploaded":0,"downloaded":0,"left":${left}${event}`;
    if (offers > 0) {
      text += ',"offers":[';
      for (let i = 0; i < offers; i++) {
        const offerId = `o${this.peerId.slice(8)}${(this.offerCounter++ & 0xffffff).toString(36).padStart(7, '0')}`;
        text += `${i > 0 ? ',' : ''}{"offer":{"type":"offer","sdp":${gen.sdpJson}},"offer_id":"${offerId}"}`;
      }
      text += ']';
    }
    this.sentAt.push(performance.now());
    this.ws!.send(`${text}}`);
  }

  private onMessage(data: Buffer): void {
    const { gen } = this;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      gen.noteFailure('reply is not JSON');
      return;
    }
    if (message.offer !== undefined) {
      gen.count.offersReceived++;
      if (gen.random() < gen.opts.answer && this.ws !== null) {
        this.ws.send(
          `{"action":"announce","info_hash":${JSON.stringify(message.info_hash)},"peer_id":${this.peerIdJson},"to_peer_id":${JSON.stringify(message.peer_id)},"offer_id":${JSON.stringify(message.offer_id)},"answer":{"type":"answer","sdp":${gen.sdpJson}}}`,
        );
        gen.count.answersSent++;
      }
      return;
    }
    if (message.answer !== undefined) {
      gen.count.answersReceived++;
      return;
    }
    // An announce reply (or a failure): replies come in order on a connection.
    const sentAt = this.sentAt.shift();
    if (sentAt === undefined) return; // late: its slot already timed out
    if (typeof message['failure reason'] === 'string') gen.noteFailure(message['failure reason']);
    else if (message.action === 'announce' && typeof message.interval === 'number') gen.response(performance.now() - sentAt);
    else gen.noteFailure(`unexpected reply: ${JSON.stringify(message).slice(0, 80)}`);
    this.fill();
  }

  checkTimeouts(now: number): void {
    let timedOut = 0;
    while (this.sentAt.length > 0 && now - this.sentAt[0]! > this.gen.opts.timeout) {
      this.sentAt.shift();
      timedOut++;
    }
    if (timedOut === 0) return;
    this.gen.count.timeouts += timedOut;
    this.fill();
  }
}

/** One scrape of the first hash on a new connection. */
function probe(opts: Options): Promise<string | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url(opts), { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('no reply to a scrape');
    }, 2000);
    ws.on('open', () => ws.send(`{"action":"scrape","info_hash":[${hashJson(makeInfoHashes(1, opts.seed), 0)}]}`));
    ws.on('message', () => {
      clearTimeout(timer);
      ws.terminate();
      resolve(undefined);
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
  });
}

runTool({
  name: 'ws-load',
  proto: 'ws',
  entry: import.meta.url,
  options: OPTIONS,
  generator: (opts, index) => new WsGenerator(opts, index),
  probe,
  summary: (o, s) => {
    const c = s.counters;
    return {
      title:
        `procs=${o.procs} connections=${o.connections * o.procs} window=${o.window} offers=${o.offers}×${o.sdpBytes} B ` +
        `answer=${o.answer} swarms-per-connection=${o.swarmsPerConnection} ${hashesLabel(o)}`,
      lines: [['relayed', `${c.offersReceived} offers received, ${c.answersSent} answers sent, ${c.answersReceived} answers received`]],
      errors: `${c.failures} failure replies, ${c.timeouts} timeouts, ${c.closes} connections closed by the tracker`,
      result: {
        errors: c.failures + c.timeouts + c.closes,
        failures: c.failures,
        timeouts: c.timeouts,
        closes: c.closes,
        offers: c.offersReceived,
        answers: c.answersReceived,
      },
    };
  },
});
