/**
 * UDP (BEP 15) announce/scrape load generator.
 *
 *   node --import tsx bench/udp-load.ts --port 6969 --duration 10 [--procs 2] [--cpu-pid PID]
 *   node --import tsx bench/udp-load.ts --write-hashes FILE     # the bench's info hashes, hex, one a line
 *   node --import tsx bench/udp-load.ts --port 6969 --probe     # one connect+announce, exit 0 when answered
 *
 * Every UDP socket is one simulated client: it connects once (and again every 55 s, as
 * BEP 15 asks), then keeps a bounded window of announce/scrape requests in flight.
 * Info hashes are picked with Zipf-like popularity over --hashes distinct hashes; the
 * announced peer (port, peer_id) is drawn from a bounded pool so that repeat announces
 * update existing peers instead of only ever inserting new ones.
 *
 * The hot path works on preallocated request buffers (one per window slot) and only
 * patches fields in place. Node's dgram still allocates one Buffer per received datagram;
 * that is the generator's floor.
 *
 * Only loopback targets are accepted. The run is bounded by --duration (and --count),
 * and a watchdog ends the process if anything hangs.
 *
 * The last line of output is `RESULT k=v ...` for scripts (bench/compare-opentracker.sh).
 */
import dgram from 'node:dgram';
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  assertLoopback,
  cpuSecondsSince,
  fmtUs,
  hashesToHexLines,
  makeInfoHashes,
  makeRng,
  numberOption as num,
  parseArgsOrHelp,
  percentOfCore,
  printResult,
  processTreeCpuSeconds,
  readHashesFile,
  sleep,
  startWatchdog,
  trackerCpuLine,
  trackerCpuResult,
} from './load-common.js';
import { Zipf } from './zipf.js';

// ---------------------------------------------------------------------------------------
// Latency

/** Latency histogram: 8 log-spaced buckets per octave of microseconds, up to ~33 s. */
const LAT_BUCKETS = 8 * 25;
function latBucket(us: number): number {
  const b = Math.floor(Math.log2(us + 1) * 8);
  return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}
function latBucketUpperUs(b: number): number {
  return Math.pow(2, (b + 1) / 8) - 1;
}
export function percentileUs(hist: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  if (total === 0) return NaN;
  const want = total * p;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= want) return latBucketUpperUs(i);
  }
  return latBucketUpperUs(hist.length - 1);
}

// ---------------------------------------------------------------------------------------
// Options

const EVENT_NAMES = ['none', 'completed', 'started', 'stopped'] as const; // BEP 15 event codes 0..3

interface Options {
  host: string;
  port: number;
  duration: number;
  warmup: number;
  count: number;
  hashes: number;
  hashesFile: string;
  zipf: number;
  seed: number;
  scrape: number;
  scrapeHashes: number;
  sockets: number;
  window: number;
  timeoutMs: number;
  reconnectMs: number;
  numwant: number;
  peers: number;
  seederShare: number;
  events: number[]; // weights for none, completed, started, stopped
  procs: number;
  cpuPid: number;
}

function parseEvents(spec: string): number[] {
  const w = [0, 0, 0, 0];
  for (const part of spec.split(',')) {
    const [name, val] = part.split(':');
    const i = EVENT_NAMES.indexOf((name ?? '').trim() as (typeof EVENT_NAMES)[number]);
    if (i < 0 || val === undefined || !(Number(val) >= 0)) throw new Error(`bad --events entry: ${part}`);
    w[i] = Number(val);
  }
  if (w.reduce((a, b) => a + b, 0) <= 0) throw new Error('--events: weights sum to 0');
  return w;
}

const USAGE = `usage: node --import tsx bench/udp-load.ts --port N [options]
  --host H            target (loopback only)                    [127.0.0.1]
  --port N            target UDP port                           (required)
  --duration S        measured seconds                          [10]
  --warmup S          unmeasured seconds before measuring       [0]
  --count N           stop after N responses in total (0: none) [0]
  --hashes N          distinct info hashes                      [100000]
  --hashes-file F     read hex info hashes from F instead
  --zipf S            popularity exponent (rank r ~ 1/r^S)      [1]
  --seed N            seed for hashes and randomness            [1]
  --scrape F          share of requests that are scrapes, 0..1  [0.1]
  --scrape-hashes N   info hashes per scrape request (1..74)    [5]
  --sockets N         client sockets per process                [8]
  --window N          requests in flight per socket (1..255)    [16]
  --timeout MS        request timeout                           [2000]
  --reconnect S       get a new connection id after S seconds   [55]
  --numwant N         num_want in announces (-1: default)       [50]
  --peers N           size of the announcing peer pool          [60000]
  --seeders F         share of non-completed announces with left=0 [0.3]
  --events SPEC       event weights                             [none:85,started:8,completed:2,stopped:5]
  --procs N           generator processes (figures are summed)  [1]
  --cpu-pid PID       report this process tree's CPU time during the measured window
  --write-hashes F    write the bench's info hashes (hex, one a line) to F and exit
  --probe [--probe-timeout S]  connect + announce once (retrying), exit 0 when answered`;

function readOptions(argv: string[]): { opts: Options; child: boolean; writeHashes: string; probe: number } {
  const values = parseArgsOrHelp(USAGE, {
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '0' },
      count: { type: 'string', default: '0' },
      hashes: { type: 'string', default: '100000' },
      'hashes-file': { type: 'string', default: '' },
      zipf: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      scrape: { type: 'string', default: '0.1' },
      'scrape-hashes': { type: 'string', default: '5' },
      sockets: { type: 'string', default: '8' },
      window: { type: 'string', default: '16' },
      timeout: { type: 'string', default: '2000' },
      reconnect: { type: 'string', default: '55' },
      numwant: { type: 'string', default: '50' },
      peers: { type: 'string', default: '60000' },
      seeders: { type: 'string', default: '0.3' },
      events: { type: 'string', default: 'none:85,started:8,completed:2,stopped:5' },
      procs: { type: 'string', default: '1' },
      'cpu-pid': { type: 'string', default: '0' },
      'write-hashes': { type: 'string', default: '' },
      probe: { type: 'boolean', default: false },
      'probe-timeout': { type: 'string', default: '20' },
      child: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const writeHashes = values['write-hashes'] ?? '';
  if (values.port === undefined && !writeHashes) throw new Error(`--port is required\n${USAGE}`);
  const opts: Options = {
    host: values.host!,
    port: writeHashes ? 0 : num('port', values.port!, 1, 65535),
    duration: num('duration', values.duration!, 0.1, 3600, false),
    warmup: num('warmup', values.warmup!, 0, 600, false),
    count: num('count', values.count!, 0, 1e12),
    hashes: num('hashes', values.hashes!, 1, 10_000_000),
    hashesFile: values['hashes-file']!,
    zipf: num('zipf', values.zipf!, 0, 10, false),
    seed: num('seed', values.seed!, 0, 2 ** 31),
    scrape: num('scrape', values.scrape!, 0, 1, false),
    scrapeHashes: num('scrape-hashes', values['scrape-hashes']!, 1, 74),
    sockets: num('sockets', values.sockets!, 1, 4096),
    window: num('window', values.window!, 1, 255),
    timeoutMs: num('timeout', values.timeout!, 10, 60_000),
    reconnectMs: 1000 * num('reconnect', values.reconnect!, 1, 3600, false),
    numwant: num('numwant', values.numwant!, -1, 10_000),
    peers: num('peers', values.peers!, 1, 64_000),
    seederShare: num('seeders', values.seeders!, 0, 1, false),
    events: parseEvents(values.events!),
    procs: num('procs', values.procs!, 1, 64),
    cpuPid: num('cpu-pid', values['cpu-pid']!, 0, 2 ** 31),
  };
  if (!writeHashes) assertLoopback(opts.host);
  return {
    opts,
    child: values.child!,
    writeHashes,
    probe: values.probe ? num('probe-timeout', values['probe-timeout']!, 1, 600, false) : 0,
  };
}

// ---------------------------------------------------------------------------------------
// The generator (one per process)

interface Stats {
  elapsed: number;
  sent: number;
  announces: number;
  scrapes: number;
  peersReturned: number;
  errors: number; // action 3 replies
  timeouts: number;
  bad: number; // malformed or unexpected replies
  late: number; // replies to requests already timed out (or unknown transaction ids)
  sendErrors: number;
  connects: number;
  errorMessages: string[];
  latency: number[];
  genCpu: number; // generator process CPU seconds in the window
}

const PROTOCOL_ID_HI = 0x417;
const PROTOCOL_ID_LO = 0x27101980;
const CONNECT_SLOT = 0xff;
const ANNOUNCE_LEN = 98;

class Generator {
  private readonly rng: () => number;
  private readonly zipf: Zipf;
  private readonly eventCdf: Float64Array;
  private readonly clients: Client[] = [];
  private running = false;
  private measuring = false;
  private windowStart = 0;
  private cpuStart: NodeJS.CpuUsage = process.cpuUsage();
  private timer: NodeJS.Timeout | undefined;
  private readonly countLimit: number;
  private onCountReached: (() => void) | undefined;
  readonly lat = new Float64Array(LAT_BUCKETS);
  sent = 0;
  announces = 0;
  scrapes = 0;
  peersReturned = 0;
  errors = 0;
  timeouts = 0;
  bad = 0;
  late = 0;
  sendErrors = 0;
  connects = 0;
  readonly errorMessages = new Map<string, number>();

  constructor(
    readonly opts: Options,
    readonly hashes: Buffer,
    seed: number,
    countLimit: number,
  ) {
    this.rng = makeRng(seed);
    this.zipf = new Zipf(hashes.length / 20, opts.zipf, this.rng);
    const total = opts.events.reduce((a, b) => a + b, 0);
    this.eventCdf = new Float64Array(4);
    let acc = 0;
    for (let i = 0; i < 4; i++) this.eventCdf[i] = acc += opts.events[i]! / total;
    this.countLimit = countLimit;
  }

  /** Zipf-distributed hash index (rank i is hash i: the hashes are random anyway). */
  pickHash(): number {
    return this.zipf.next();
  }

  pickEvent(): number {
    const u = this.rng();
    const c = this.eventCdf;
    return u < c[0]! ? 0 : u < c[1]! ? 1 : u < c[2]! ? 2 : 3;
  }

  random(): number {
    return this.rng();
  }

  async open(): Promise<void> {
    const all: Promise<void>[] = [];
    for (let i = 0; i < this.opts.sockets; i++) {
      const c = new Client(this, i);
      this.clients.push(c);
      all.push(c.open());
    }
    await Promise.all(all);
  }

  start(): void {
    this.running = true;
    for (const c of this.clients) c.connect();
    // Timeouts are checked on a coarse timer, not per request.
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const c of this.clients) c.checkTimeouts(now);
    }, Math.max(5, Math.min(100, this.opts.timeoutMs / 4)));
  }

  beginMeasure(onCountReached?: () => void): void {
    this.sent = this.announces = this.scrapes = this.peersReturned = 0;
    this.errors = this.timeouts = this.bad = this.late = this.sendErrors = 0; // connects: since start
    this.errorMessages.clear();
    this.lat.fill(0);
    this.measuring = true;
    this.onCountReached = onCountReached;
    this.windowStart = performance.now();
    this.cpuStart = process.cpuUsage();
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Called after each counted response. */
  counted(): void {
    if (this.countLimit > 0 && this.measuring && this.announces + this.scrapes >= this.countLimit) {
      this.running = false; // slots go idle as their replies come in
      const cb = this.onCountReached;
      this.onCountReached = undefined;
      cb?.();
    }
  }

  stop(): Stats {
    const elapsed = (performance.now() - this.windowStart) / 1000;
    const genCpu = cpuSecondsSince(this.cpuStart);
    this.running = false;
    this.measuring = false;
    if (this.timer) clearInterval(this.timer);
    const stats: Stats = {
      elapsed,
      sent: this.sent,
      announces: this.announces,
      scrapes: this.scrapes,
      peersReturned: this.peersReturned,
      errors: this.errors,
      timeouts: this.timeouts,
      bad: this.bad,
      late: this.late,
      sendErrors: this.sendErrors,
      connects: this.connects,
      errorMessages: [...this.errorMessages].map(([m, n]) => `${n}× ${m}`),
      latency: Array.from(this.lat),
      genCpu,
    };
    return stats;
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  noteError(msg: string): void {
    if (this.errorMessages.size < 10 || this.errorMessages.has(msg)) {
      this.errorMessages.set(msg, (this.errorMessages.get(msg) ?? 0) + 1);
    }
  }
}

const enum SlotState {
  Idle = 0,
  Announce = 1,
  Scrape = 2,
}

/** One simulated client: one socket, one connection id, a window of in-flight requests. */
class Client {
  private readonly sock = dgram.createSocket('udp4');
  private readonly gen: Generator;
  private readonly window: number;
  private readonly announceBufs: Buffer[] = [];
  private readonly scrapeBufs: Buffer[] = [];
  private readonly state: Uint8Array;
  private readonly seq: Uint32Array; // per-slot generation, to spot stale replies
  private readonly sentAt: Float64Array;
  private readonly connectBuf = Buffer.alloc(16);
  private connectSeq = 0;
  private connectSentAt = 0;
  private connected = false;
  private connecting = false;
  private connectedAt = 0;

  constructor(gen: Generator, readonly index: number) {
    this.gen = gen;
    this.window = gen.opts.window;
    this.state = new Uint8Array(this.window);
    this.seq = new Uint32Array(this.window);
    this.sentAt = new Float64Array(this.window);
    this.connectBuf.writeUInt32BE(PROTOCOL_ID_HI, 0);
    this.connectBuf.writeUInt32BE(PROTOCOL_ID_LO, 4);
    this.connectBuf.writeUInt32BE(0, 8);
    const o = gen.opts;
    for (let i = 0; i < this.window; i++) {
      const a = Buffer.alloc(ANNOUNCE_LEN);
      a.writeUInt32BE(1, 8); // action: announce
      a.write('-RB0001-', 36, 'latin1'); // peer_id prefix; the rest is patched per request
      a.writeInt32BE(o.numwant, 92);
      this.announceBufs.push(a);
      const s = Buffer.alloc(16 + 20 * o.scrapeHashes);
      s.writeUInt32BE(2, 8); // action: scrape
      this.scrapeBufs.push(s);
    }
  }

  open(): Promise<void> {
    const { host, port } = this.gen.opts;
    return new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(0, host === 'localhost' || host === '::1' ? undefined : '127.0.0.1', () => {
        try {
          this.sock.setRecvBufferSize(1 << 21);
          this.sock.setSendBufferSize(1 << 21);
        } catch {
          /* best effort */
        }
        // A connected UDP socket: no per-send address lookup, and only the tracker's replies arrive.
        this.sock.connect(port, host, () => {
          this.sock.off('error', reject);
          this.sock.on('error', () => {
            this.gen.sendErrors++; // e.g. ECONNREFUSED from an ICMP port-unreachable
          });
          this.sock.on('message', (msg) => this.onMessage(msg));
          resolve();
        });
      });
    });
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }

  connect(): void {
    if (this.connecting) return;
    this.connecting = true;
    this.connectSeq = (this.connectSeq + 1) & 0xffffff;
    this.connectBuf.writeUInt32BE(((this.connectSeq << 8) | CONNECT_SLOT) >>> 0, 12);
    this.connectSentAt = performance.now();
    this.sock.send(this.connectBuf);
  }

  private fill(): void {
    for (let i = 0; i < this.window; i++) if (this.state[i] === SlotState.Idle) this.sendSlot(i);
  }

  private sendSlot(i: number): void {
    const g = this.gen;
    if (!g.isRunning) {
      this.state[i] = SlotState.Idle;
      return;
    }
    if (!this.connected || performance.now() - this.connectedAt > g.opts.reconnectMs) {
      this.state[i] = SlotState.Idle;
      this.connected = false;
      this.connect();
      return;
    }
    const seq = (this.seq[i]! + 1) & 0xffffff;
    this.seq[i] = seq;
    const tid = ((seq << 8) | i) >>> 0;
    const hashes = g.hashes;
    let buf: Buffer;
    if (g.random() < g.opts.scrape) {
      buf = this.scrapeBufs[i]!;
      buf.writeUInt32BE(tid, 12);
      for (let k = 0, off = 16; off < buf.length; k++, off += 20) {
        const h = g.pickHash() * 20;
        hashes.copy(buf, off, h, h + 20);
      }
      this.state[i] = SlotState.Scrape;
    } else {
      buf = this.announceBufs[i]!;
      buf.writeUInt32BE(tid, 12);
      const h = g.pickHash() * 20;
      hashes.copy(buf, 16, h, h + 20);
      // The announcing peer: port and peer_id both derive from one pool index, so the same
      // peer re-announcing is recognisable by either.
      const peer = Math.floor(g.random() * g.opts.peers);
      buf.writeUInt32BE(0x50000000 + peer, 44); // peer_id bytes 8..11
      buf.writeUInt32BE(Math.imul(peer, 2654435761) >>> 0, 48); // bytes 12..15 (a spread of the index)
      buf.writeUInt32BE(0x52420000 | (peer & 0xffff), 52); // bytes 16..19
      const event = g.pickEvent();
      const left = event === 1 || (event !== 2 && g.random() < g.opts.seederShare) ? 0 : 1 + Math.floor(g.random() * 1e9);
      buf.writeUInt32BE(0, 56);
      buf.writeUInt32BE(Math.floor(g.random() * 1e9), 60); // downloaded
      buf.writeUInt32BE(0, 64);
      buf.writeUInt32BE(left, 68);
      buf.writeUInt32BE(0, 72);
      buf.writeUInt32BE(Math.floor(g.random() * 1e9), 76); // uploaded
      buf.writeUInt32BE(event, 80);
      buf.writeUInt32BE(Math.imul(peer, 2246822519) >>> 0, 88); // key
      buf.writeUInt16BE(1024 + (peer % 64_512), 96);
      this.state[i] = SlotState.Announce;
    }
    this.sentAt[i] = performance.now();
    g.sent++;
    this.sock.send(buf);
  }

  private onMessage(msg: Buffer): void {
    const g = this.gen;
    if (msg.length < 8) {
      g.bad++;
      return;
    }
    const action = msg.readUInt32BE(0);
    const tid = msg.readUInt32BE(4);
    const i = tid & 0xff;
    if (i === CONNECT_SLOT) {
      if (!this.connecting || tid >>> 8 !== this.connectSeq) {
        g.late++;
        return;
      }
      if (action === 0 && msg.length >= 16) {
        for (let k = 0; k < this.window; k++) {
          msg.copy(this.announceBufs[k]!, 0, 8, 16);
          msg.copy(this.scrapeBufs[k]!, 0, 8, 16);
        }
        this.connecting = false;
        this.connected = true;
        this.connectedAt = performance.now();
        g.connects++;
        this.fill();
      } else {
        if (action === 3) {
          g.errors++;
          g.noteError(`connect: ${msg.toString('utf8', 8)}`);
        } else g.bad++;
        this.connecting = false;
        setTimeout(() => this.connect(), 100); // back off, then retry
      }
      return;
    }
    if (i >= this.window || this.state[i] === SlotState.Idle || tid >>> 8 !== this.seq[i]) {
      g.late++;
      return;
    }
    const kind = this.state[i]!;
    if (action === 1 && kind === SlotState.Announce && msg.length >= 20 && (msg.length - 20) % 6 === 0) {
      g.announces++;
      g.peersReturned += (msg.length - 20) / 6;
      g.lat[latBucket((performance.now() - this.sentAt[i]!) * 1000)]!++;
      g.counted();
    } else if (action === 2 && kind === SlotState.Scrape && msg.length === 8 + 12 * g.opts.scrapeHashes) {
      g.scrapes++;
      g.lat[latBucket((performance.now() - this.sentAt[i]!) * 1000)]!++;
      g.counted();
    } else if (action === 3) {
      g.errors++;
      g.noteError(`${kind === SlotState.Announce ? 'announce' : 'scrape'}: ${msg.toString('utf8', 8)}`);
      // An expired connection id: connect again before sending more.
      if (/connection/i.test(msg.toString('utf8', 8))) this.connected = false;
    } else {
      g.bad++;
      g.noteError(`bad reply: action ${action}, ${msg.length} bytes to a ${kind === SlotState.Announce ? 'announce' : 'scrape'}`);
    }
    this.sendSlot(i);
  }

  checkTimeouts(now: number): void {
    const g = this.gen;
    const limit = g.opts.timeoutMs;
    if (this.connecting && now - this.connectSentAt > limit) {
      g.timeouts++;
      this.connecting = false;
      if (g.isRunning) this.connect();
    }
    let idle = false;
    for (let i = 0; i < this.window; i++) {
      const s = this.state[i];
      if (s === SlotState.Idle) idle = true;
      else if (now - this.sentAt[i]! > limit) {
        g.timeouts++;
        this.sendSlot(i); // a fresh request; a late reply to the old one is counted as late
      }
    }
    // Slots left idle while a (re)connect was pending.
    if (idle && this.connected && !this.connecting && g.isRunning) this.fill();
  }
}

// ---------------------------------------------------------------------------------------
// Drivers: single process, parent with children, child

function loadHashes(opts: Options): Buffer {
  return opts.hashesFile ? readHashesFile(opts.hashesFile) : makeInfoHashes(opts.hashes, opts.seed);
}

type ParentMsg = { type: 'measure' } | { type: 'stop' } | { type: 'start' };
type ChildMsg = { type: 'ready' } | { type: 'count-reached' } | { type: 'result'; stats: Stats } | { type: 'fatal'; error: string };

async function runChild(opts: Options, index: number): Promise<void> {
  const send = (m: ChildMsg): void => {
    process.send!(m);
  };
  const perChild = opts.count > 0 ? Math.ceil(opts.count / opts.procs) : 0;
  const gen = new Generator(opts, loadHashes(opts), opts.seed * 1000 + index + 1, perChild);
  await gen.open();
  process.on('message', (m: ParentMsg) => {
    if (m.type === 'start') gen.start();
    else if (m.type === 'measure') gen.beginMeasure(() => send({ type: 'count-reached' }));
    else if (m.type === 'stop') {
      const stats = gen.stop();
      gen.close();
      send({ type: 'result', stats });
      process.disconnect();
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

/** Controls a set of generators (in this process or in children) the same way. */
interface Worker {
  start(): void;
  measure(onCount: () => void): void;
  stop(): Promise<Stats>;
  kill(): void;
}

async function localWorker(opts: Options): Promise<Worker> {
  const gen = new Generator(opts, loadHashes(opts), opts.seed * 1000 + 1, opts.count);
  await gen.open();
  return {
    start: () => gen.start(),
    measure: (cb) => gen.beginMeasure(cb),
    stop: async () => {
      const s = gen.stop();
      gen.close();
      return s;
    },
    kill: () => gen.close(),
  };
}

function childWorker(opts: Options, index: number): Promise<Worker> {
  const self = fileURLToPath(import.meta.url);
  const child: ChildProcess = fork(self, [...process.argv.slice(2), '--child'], {
    env: { ...process.env, UDP_LOAD_CHILD_INDEX: String(index) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let onResult: ((s: Stats) => void) | undefined;
  let onCount: (() => void) | undefined;
  return new Promise((resolve, reject) => {
    child.on('message', (m: ChildMsg) => {
      if (m.type === 'ready') {
        resolve({
          start: () => child.send({ type: 'start' } satisfies ParentMsg),
          measure: (cb) => {
            onCount = cb;
            child.send({ type: 'measure' } satisfies ParentMsg);
          },
          stop: () =>
            new Promise<Stats>((res) => {
              onResult = res;
              child.send({ type: 'stop' } satisfies ParentMsg);
            }),
          kill: () => child.kill(),
        });
      } else if (m.type === 'count-reached') onCount?.();
      else if (m.type === 'result') onResult?.(m.stats);
      else if (m.type === 'fatal') reject(new Error(m.error));
    });
    let ready = false;
    child.on('message', (m: ChildMsg) => {
      if (m.type === 'ready') ready = true;
    });
    child.on('exit', (code, signal) => {
      if (code === 0) return;
      const msg = `generator process ${index} exited with ${signal ?? code}`;
      if (!ready) return reject(new Error(msg));
      // Once running, a lost process means the figures cannot be summed: give up as a whole.
      console.error(`udp-load: ${msg}`);
      process.exit(1);
    });
  });
}

function sumStats(all: Stats[]): Stats {
  const out: Stats = {
    elapsed: Math.max(...all.map((s) => s.elapsed)),
    sent: 0,
    announces: 0,
    scrapes: 0,
    peersReturned: 0,
    errors: 0,
    timeouts: 0,
    bad: 0,
    late: 0,
    sendErrors: 0,
    connects: 0,
    errorMessages: [],
    latency: new Array<number>(LAT_BUCKETS).fill(0),
    genCpu: 0,
  };
  for (const s of all) {
    out.sent += s.sent;
    out.announces += s.announces;
    out.scrapes += s.scrapes;
    out.peersReturned += s.peersReturned;
    out.errors += s.errors;
    out.timeouts += s.timeouts;
    out.bad += s.bad;
    out.late += s.late;
    out.sendErrors += s.sendErrors;
    out.connects += s.connects;
    out.genCpu += s.genCpu;
    for (const m of s.errorMessages) if (out.errorMessages.length < 10) out.errorMessages.push(m);
    for (let i = 0; i < LAT_BUCKETS; i++) out.latency[i]! += s.latency[i]!;
  }
  return out;
}

async function runMain(opts: Options): Promise<void> {
  // Watchdog: whatever happens, this process ends.
  const watchdog = startWatchdog(opts.warmup + opts.duration + 60, 'udp-load: watchdog fired, exiting', 2);

  const workers: Worker[] = [];
  const cleanup = (): void => {
    for (const w of workers) w.kill();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });
  try {
    if (opts.procs === 1) workers.push(await localWorker(opts));
    else workers.push(...(await Promise.all(Array.from({ length: opts.procs }, (_, i) => childWorker(opts, i)))));
  } catch (e) {
    cleanup();
    throw e;
  }
  for (const w of workers) w.start();
  if (opts.warmup > 0) await sleep(opts.warmup * 1000);

  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  let reached = 0;
  const cpu0 = opts.cpuPid ? processTreeCpuSeconds(opts.cpuPid) : NaN;
  for (const w of workers) w.measure(() => ++reached === workers.length && finish());
  const t = setTimeout(finish, opts.duration * 1000);
  await done;
  clearTimeout(t);
  const cpu1 = opts.cpuPid ? processTreeCpuSeconds(opts.cpuPid) : NaN;
  const stats = sumStats(await Promise.all(workers.map((w) => w.stop())));
  report(opts, stats, cpu1 - cpu0);
  clearTimeout(watchdog);
  // Give children a moment to exit on their own after sending their results.
  process.exitCode = stats.announces + stats.scrapes > 0 ? 0 : 1;
  setTimeout(() => process.exit(), 200).unref();
}

function report(opts: Options, s: Stats, trackerCpu: number): void {
  const responses = s.announces + s.scrapes;
  const rps = responses / s.elapsed;
  const lines = [
    `udp-load ${opts.host}:${opts.port}: procs=${opts.procs} sockets=${opts.sockets * opts.procs} window=${opts.window} ` +
      `hashes=${opts.hashesFile ? `file:${opts.hashesFile}` : opts.hashes} zipf=${opts.zipf} scrape=${opts.scrape} numwant=${opts.numwant}`,
    `  responses:  ${responses} in ${s.elapsed.toFixed(2)} s = ${rps.toFixed(0)} responses/s ` +
      `(announce ${s.announces}, scrape ${s.scrapes}; ${(s.peersReturned / Math.max(1, s.announces)).toFixed(1)} peers/announce)`,
    `  errors:     ${s.errors} error replies (action 3), ${s.timeouts} timeouts, ${s.bad} bad replies, ${s.late} late, ${s.sendErrors} socket errors; ${s.connects} connects`,
    `  latency:    p50 ${fmtUs(percentileUs(s.latency, 0.5))}, p90 ${fmtUs(percentileUs(s.latency, 0.9))}, p99 ${fmtUs(percentileUs(s.latency, 0.99))}, max ${fmtUs(percentileUs(s.latency, 1))}`,
    `  generator:  ${s.genCpu.toFixed(2)} CPU s (${percentOfCore(s.genCpu, s.elapsed)}% of one core)`,
  ];
  if (opts.cpuPid) lines.push(trackerCpuLine(trackerCpu, s.elapsed, responses));
  for (const m of s.errorMessages) lines.push(`  error:      ${m}`);
  console.log(lines.join('\n'));
  const kv: Record<string, string | number> = {
    proto: 'udp',
    responses,
    elapsed: s.elapsed.toFixed(3),
    rps: rps.toFixed(0),
    announces: s.announces,
    scrapes: s.scrapes,
    errors: s.errors,
    timeouts: s.timeouts,
    bad: s.bad,
    late: s.late,
    p50_us: percentileUs(s.latency, 0.5).toFixed(0),
    p99_us: percentileUs(s.latency, 0.99).toFixed(0),
    gen_cpu_s: s.genCpu.toFixed(3),
    ...trackerCpuResult(opts.cpuPid, trackerCpu, responses),
  };
  printResult(kv);
}

/** One connect + one announce for the last hash, retried until answered or out of time. */
async function probe(opts: Options, timeoutS: number): Promise<boolean> {
  const hashes = loadHashes(opts);
  const hash = hashes.subarray(hashes.length - 20);
  const sock = dgram.createSocket('udp4');
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.connect(opts.port, opts.host, r));
  const deadline = Date.now() + timeoutS * 1000;
  let lastError = 'no reply';
  try {
    while (Date.now() < deadline) {
      const reply = (buf: Buffer): Promise<Buffer | null> =>
        new Promise((resolve) => {
          const t = setTimeout(() => {
            sock.off('message', onMsg);
            resolve(null);
          }, 300);
          const onMsg = (m: Buffer): void => {
            clearTimeout(t);
            sock.off('message', onMsg);
            resolve(m);
          };
          sock.on('message', onMsg);
          sock.send(buf);
        });
      const c = Buffer.alloc(16);
      c.writeUInt32BE(PROTOCOL_ID_HI, 0);
      c.writeUInt32BE(PROTOCOL_ID_LO, 4);
      c.writeUInt32BE(0, 8);
      c.writeUInt32BE(0x1234, 12);
      const cr = await reply(c);
      if (cr && cr.length >= 16 && cr.readUInt32BE(0) === 0) {
        const a = Buffer.alloc(ANNOUNCE_LEN);
        cr.copy(a, 0, 8, 16);
        a.writeUInt32BE(1, 8);
        a.writeUInt32BE(0x5678, 12);
        hash.copy(a, 16);
        a.write('-RB0001-probeprobepr', 36, 'latin1');
        a.writeUInt32BE(1, 68); // left = 1
        a.writeUInt32BE(3, 80); // event: stopped, so the probe leaves no peer behind
        a.writeInt32BE(0, 92);
        a.writeUInt16BE(1, 96);
        const ar = await reply(a);
        if (ar && ar.length >= 20 && ar.readUInt32BE(0) === 1 && ar.readUInt32BE(4) === 0x5678) return true;
        if (ar && ar.length >= 8 && ar.readUInt32BE(0) === 3) lastError = ar.toString('utf8', 8);
      }
      await sleep(200);
    }
    console.error(`udp-load --probe: ${opts.host}:${opts.port} did not answer an announce within ${timeoutS} s (last: ${lastError})`);
    return false;
  } finally {
    sock.close();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const childIndex = Number(process.env.UDP_LOAD_CHILD_INDEX ?? '0');
  const { opts, child, writeHashes, probe: probeTimeout } = readOptions(argv);
  if (writeHashes) {
    writeFileSync(writeHashes, hashesToHexLines(loadHashes(opts)));
    return;
  }
  if (probeTimeout > 0) {
    process.exit((await probe(opts, probeTimeout)) ? 0 : 1);
  }
  if (child) return runChild(opts, childIndex);
  return runMain(opts);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(`udp-load: ${e instanceof Error ? e.message : String(e)}`);
    if (process.send) process.send({ type: 'fatal', error: String(e) } satisfies ChildMsg);
    process.exit(1);
  });
}
