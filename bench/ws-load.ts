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
 * Only loopback targets are accepted; the run is bounded by --duration, and a watchdog ends it if anything
 * hangs. The last line is `RESULT k=v ...` for scripts.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import {
  assertLoopback,
  cpuSecondsSince,
  fmtUs,
  makeInfoHashes,
  makeRng,
  numberOption as num,
  parseArgsOrHelp,
  percentOfCore,
  printResult,
  processTreeCpuSeconds,
  processUserSystemTicks,
  sleep,
  startWatchdog,
} from './load-common.js';
import { Zipf } from './zipf.js';

interface Options {
  host: string;
  port: number;
  path: string;
  duration: number;
  warmup: number;
  connections: number;
  window: number;
  hashes: number;
  swarmsPerConnection: number;
  offers: number;
  sdpBytes: number;
  answer: number;
  zipf: number;
  seed: number;
  timeoutMs: number;
  procs: number;
  cpuPid: number;
  label: string;
}

const USAGE = `usage: node --import tsx bench/ws-load.ts --port N [options]
  --host H                  target (loopback only)                        [127.0.0.1]
  --port N                  target port                                   (required)
  --path P                  WebSocket path                                [/]
  --duration S              measured seconds                              [10]
  --warmup S                unmeasured seconds first (connections open)   [2]
  --connections N           WebSocket connections per process             [200]
  --window N                announces in flight per connection            [1]
  --hashes N                distinct info hashes                          [10000]
  --swarms-per-connection N torrents each connection announces            [4]
  --offers N                offers per announce (WebTorrent sends 5)      [5]
  --sdp-bytes N             size of each offer's and answer's SDP         [500]
  --answer F                share of relayed offers answered, 0..1        [1]
  --zipf S                  popularity exponent                           [1]
  --seed N                  seed for hashes and choices                   [1]
  --timeout MS              announce reply timeout                        [5000]
  --procs N                 generator processes (figures are summed)      [1]
  --cpu-pid PID             report this process tree's CPU time in the measured window
  --label NAME              name printed with the result
  --probe [--probe-timeout S]  one scrape (retrying), exit 0 when answered`;

function readOptions(argv: string[]): { opts: Options; child: number; probe: number } {
  const values = parseArgsOrHelp(USAGE, {
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      path: { type: 'string', default: '/' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '200' },
      window: { type: 'string', default: '1' },
      hashes: { type: 'string', default: '10000' },
      'swarms-per-connection': { type: 'string', default: '4' },
      offers: { type: 'string', default: '5' },
      'sdp-bytes': { type: 'string', default: '500' },
      answer: { type: 'string', default: '1' },
      zipf: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '5000' },
      procs: { type: 'string', default: '1' },
      'cpu-pid': { type: 'string', default: '0' },
      label: { type: 'string', default: '' },
      probe: { type: 'boolean', default: false },
      'probe-timeout': { type: 'string', default: '20' },
      child: { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.port === undefined) throw new Error(`--port is required\n${USAGE}`);
  const opts: Options = {
    host: values.host!,
    port: num('port', values.port, 1, 65535),
    path: values.path!.startsWith('/') ? values.path! : `/${values.path!}`,
    duration: num('duration', values.duration!, 0.1, 3600, false),
    warmup: num('warmup', values.warmup!, 0, 600, false),
    connections: num('connections', values.connections!, 1, 50_000),
    window: num('window', values.window!, 1, 64),
    hashes: num('hashes', values.hashes!, 1, 10_000_000),
    swarmsPerConnection: num('swarms-per-connection', values['swarms-per-connection']!, 1, 400),
    offers: num('offers', values.offers!, 0, 50),
    sdpBytes: num('sdp-bytes', values['sdp-bytes']!, 1, 30_000),
    answer: num('answer', values.answer!, 0, 1, false),
    zipf: num('zipf', values.zipf!, 0, 10, false),
    seed: num('seed', values.seed!, 0, 2 ** 31),
    timeoutMs: num('timeout', values.timeout!, 10, 60_000),
    procs: num('procs', values.procs!, 1, 64),
    cpuPid: num('cpu-pid', values['cpu-pid']!, 0, 2 ** 31),
    label: values.label!,
  };
  assertLoopback(opts.host);
  return {
    opts,
    child: values.child === '' ? -1 : num('child', values.child!, 0, 63),
    probe: values.probe ? num('probe-timeout', values['probe-timeout']!, 1, 600, false) : 0,
  };
}

interface Stats {
  elapsed: number;
  responses: number;
  failures: number;
  timeouts: number;
  closes: number;
  offersReceived: number;
  answersSent: number;
  answersReceived: number;
  failureMessages: Record<string, number>;
  /** A sample of reply latencies in µs. */
  latencies: number[];
  genCpu: number;
}

const LATENCY_SAMPLES = 50_000;

class Generator {
  readonly random: () => number;
  readonly zipf: Zipf;
  /** The info hashes as the JSON of 20-character binary strings. */
  readonly hashesJson: string[];
  /** What every offer and answer carries: an SDP of the asked size, JSON-quoted. */
  readonly sdpJson: string;
  private readonly connections: Connection[] = [];
  running = false;
  measuring = false;
  private windowStart = 0;
  private cpuStart = process.cpuUsage();
  responses = 0;
  failures = 0;
  timeouts = 0;
  closes = 0;
  offersReceived = 0;
  answersSent = 0;
  answersReceived = 0;
  readonly failureMessages = new Map<string, number>();
  readonly latencies: number[] = [];
  private latencySeen = 0;

  constructor(
    readonly opts: Options,
    readonly index: number,
  ) {
    this.random = makeRng(opts.seed * 1000 + index + 1);
    this.zipf = new Zipf(opts.hashes, opts.zipf, this.random);
    const hashes = makeInfoHashes(opts.hashes, opts.seed);
    this.hashesJson = Array.from({ length: opts.hashes }, (_, i) => JSON.stringify(hashes.toString('latin1', i * 20, i * 20 + 20)));
    const line = 'a=candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host\r\n';
    this.sdpJson = JSON.stringify(`v=0\r\n${line.repeat(Math.ceil(opts.sdpBytes / line.length))}`.slice(0, opts.sdpBytes));
  }

  url(): string {
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `ws://${host}:${this.opts.port}${this.opts.path}`;
  }

  async open(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < this.opts.connections; i++) {
      const c = new Connection(this, i);
      this.connections.push(c);
      pending.push(c.open());
      if (pending.length === 100) await Promise.all(pending.splice(0)); // no SYN flood of our own
    }
    await Promise.all(pending);
  }

  start(): void {
    this.running = true;
    for (const c of this.connections) c.fill();
    setInterval(() => {
      const now = performance.now();
      for (const c of this.connections) c.checkTimeouts(now);
    }, 250).unref();
  }

  beginMeasure(): void {
    this.responses = this.failures = this.timeouts = this.closes = 0;
    this.offersReceived = this.answersSent = this.answersReceived = 0;
    this.failureMessages.clear();
    this.latencies.length = 0;
    this.latencySeen = 0;
    this.measuring = true;
    this.windowStart = performance.now();
    this.cpuStart = process.cpuUsage();
  }

  recordLatency(us: number): void {
    if (!this.measuring) return;
    // Reservoir sampling: a uniform sample of every reply's latency in bounded memory.
    const seen = this.latencySeen++;
    if (seen < LATENCY_SAMPLES) this.latencies.push(us);
    else {
      const slot = Math.floor(this.random() * (seen + 1));
      if (slot < LATENCY_SAMPLES) this.latencies[slot] = us;
    }
  }

  noteFailure(message: string): void {
    this.failures++;
    if (this.failureMessages.size < 10 || this.failureMessages.has(message)) {
      this.failureMessages.set(message, (this.failureMessages.get(message) ?? 0) + 1);
    }
  }

  stop(): Stats {
    const genCpu = cpuSecondsSince(this.cpuStart);
    const stats: Stats = {
      elapsed: (performance.now() - this.windowStart) / 1000,
      responses: this.responses,
      failures: this.failures,
      timeouts: this.timeouts,
      closes: this.closes,
      offersReceived: this.offersReceived,
      answersSent: this.answersSent,
      answersReceived: this.answersReceived,
      failureMessages: Object.fromEntries(this.failureMessages),
      latencies: this.latencies,
      genCpu,
    };
    this.running = false;
    this.measuring = false;
    for (const c of this.connections) c.close();
    return stats;
  }
}

/** One browser: one socket, one peer_id, a few swarms. */
class Connection {
  private ws: WebSocket | null = null;
  private readonly peerId: string;
  private readonly peerIdJson: string;
  private readonly swarms: number[] = [];
  /** Per swarm: has this peer announced `started` (and not `stopped`) there? */
  private readonly joined: boolean[] = [];
  private readonly sentAt: number[] = [];
  private offerCounter = 0;

  constructor(
    private readonly gen: Generator,
    readonly index: number,
  ) {
    const id = `-WW0208-${gen.index.toString(36).padStart(2, '0')}${index.toString(36).padStart(10, '0')}`;
    this.peerId = id;
    this.peerIdJson = JSON.stringify(id);
    while (this.swarms.length < Math.min(gen.opts.swarmsPerConnection, gen.opts.hashes)) {
      const swarm = gen.zipf.next();
      if (!this.swarms.includes(swarm)) {
        this.swarms.push(swarm);
        this.joined.push(false);
      }
    }
  }

  open(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.gen.url(), { perMessageDeflate: false });
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
        this.gen.closes++;
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

  fill(): void {
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
    } else if (gen.random() < 0.02) {
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
      if (gen.measuring) gen.offersReceived++;
      if (gen.random() < gen.opts.answer && this.ws !== null) {
        this.ws.send(
          `{"action":"announce","info_hash":${JSON.stringify(message.info_hash)},"peer_id":${this.peerIdJson},"to_peer_id":${JSON.stringify(message.peer_id)},"offer_id":${JSON.stringify(message.offer_id)},"answer":{"type":"answer","sdp":${gen.sdpJson}}}`,
        );
        if (gen.measuring) gen.answersSent++;
      }
      return;
    }
    if (message.answer !== undefined) {
      if (gen.measuring) gen.answersReceived++;
      return;
    }
    // An announce reply (or a failure): replies come in order on a connection.
    const sentAt = this.sentAt.shift();
    if (sentAt === undefined) return; // late: its slot already timed out
    if (typeof message['failure reason'] === 'string') {
      if (gen.measuring) gen.noteFailure(message['failure reason']);
    } else if (message.action === 'announce' && typeof message.interval === 'number') {
      if (gen.measuring) gen.responses++;
      gen.recordLatency((performance.now() - sentAt) * 1000);
    } else if (gen.measuring) {
      gen.noteFailure(`unexpected reply: ${JSON.stringify(message).slice(0, 80)}`);
    }
    this.fill();
  }

  checkTimeouts(now: number): void {
    let timedOut = 0;
    while (this.sentAt.length > 0 && now - this.sentAt[0]! > this.gen.opts.timeoutMs) {
      this.sentAt.shift();
      timedOut++;
    }
    if (timedOut === 0) return;
    if (this.gen.measuring) this.gen.timeouts += timedOut;
    this.fill();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Drivers

/** Runs one generator: open, warm up, measure, report. */
async function runGenerator(opts: Options, index: number, onMeasure: () => void): Promise<Stats> {
  const gen = new Generator(opts, index);
  await gen.open();
  gen.start();
  await sleep(opts.warmup * 1000);
  gen.beginMeasure();
  onMeasure();
  await sleep(opts.duration * 1000);
  return gen.stop();
}

function childGenerator(opts: Options, index: number, onMeasure: () => void): Promise<Stats> {
  const self = fileURLToPath(import.meta.url);
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--procs' && all[i - 1] !== '--procs');
  const child = fork(self, [...args, '--child', String(index)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.on('message', (m: { type: 'measuring' } | { type: 'result'; stats: Stats }) => {
      if (m.type === 'measuring') onMeasure();
      else resolve(m.stats);
    });
    child.once('exit', (code) => reject(new Error(`generator ${index} exited with ${code} before reporting`)));
  });
}

async function probe(opts: Options, timeoutS: number): Promise<never> {
  const deadline = Date.now() + timeoutS * 1000;
  const gen = new Generator({ ...opts, hashes: 1 }, 0);
  while (Date.now() < deadline) {
    const answered = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(gen.url(), { perMessageDeflate: false });
      const timer = setTimeout(() => {
        ws.terminate();
        resolve(false);
      }, 2000);
      ws.on('open', () => ws.send(`{"action":"scrape","info_hash":[${gen.hashesJson[0]}]}`));
      ws.on('message', () => {
        clearTimeout(timer);
        ws.terminate();
        resolve(true);
      });
      ws.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (answered) process.exit(0);
    await sleep(200);
  }
  process.exit(1);
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function main(): Promise<void> {
  const { opts, child, probe: probeTimeout } = readOptions(process.argv.slice(2));
  // Watchdog: whatever happens, the run ends.
  startWatchdog(opts.warmup + opts.duration + 60 + (probeTimeout || 0), 'ws-load: watchdog: run did not finish in time', 3);
  if (probeTimeout > 0) await probe(opts, probeTimeout);
  if (child >= 0) {
    const stats = await runGenerator(opts, child, () => process.send!({ type: 'measuring' }));
    process.send!({ type: 'result', stats }, () => process.exit(0));
    return;
  }

  let cpuStart = NaN;
  let ticksStart: [number, number] = [NaN, NaN];
  let measuring = 0;
  const onMeasure = (): void => {
    if (++measuring > 1 || opts.cpuPid === 0) return;
    cpuStart = processTreeCpuSeconds(opts.cpuPid);
    ticksStart = processUserSystemTicks(opts.cpuPid);
  };
  const all =
    opts.procs === 1
      ? [await runGenerator(opts, 0, onMeasure)]
      : await Promise.all(Array.from({ length: opts.procs }, (_, i) => childGenerator(opts, i, onMeasure)));
  const trackerCpu = opts.cpuPid > 0 ? processTreeCpuSeconds(opts.cpuPid) - cpuStart : NaN;
  const ticksEnd = opts.cpuPid > 0 ? processUserSystemTicks(opts.cpuPid) : [NaN, NaN];
  const user = ticksEnd[0]! - ticksStart[0];
  const kernelShare = (ticksEnd[1]! - ticksStart[1]) / (user + ticksEnd[1]! - ticksStart[1]);

  const sum = (key: keyof Stats): number => all.reduce((a, s) => a + (s[key] as number), 0);
  const elapsed = Math.max(...all.map((s) => s.elapsed));
  const responses = sum('responses');
  const rps = responses / elapsed;
  const latencies = all.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const failureMessages: Record<string, number> = {};
  for (const s of all) for (const [m, n] of Object.entries(s.failureMessages)) failureMessages[m] = (failureMessages[m] ?? 0) + n;
  const errors = sum('failures') + sum('timeouts') + sum('closes');
  const cpuPerResponse = (trackerCpu * 1e6) / responses;
  const name = opts.label ? `${opts.label}: ` : '';

  console.log(
    `${name}${responses} announce replies in ${elapsed.toFixed(2)} s = ${rps.toFixed(0)}/s over ${opts.connections * opts.procs} connections ` +
      `(window ${opts.window}, ${opts.offers} offers of ${opts.sdpBytes} B each)`,
  );
  console.log(
    `  relayed: ${sum('offersReceived')} offers received, ${sum('answersSent')} answers sent, ${sum('answersReceived')} answers received`,
  );
  console.log(
    `  errors: ${sum('failures')} failure replies, ${sum('timeouts')} timeouts, ${sum('closes')} connections closed by the tracker`,
  );
  for (const [m, n] of Object.entries(failureMessages)) console.log(`    ${n}× ${m}`);
  console.log(`  latency: p50 ${fmtUs(percentile(latencies, 0.5))}, p99 ${fmtUs(percentile(latencies, 0.99))}, max ${fmtUs(latencies.at(-1) ?? NaN)}`);
  console.log(`  generator CPU: ${sum('genCpu').toFixed(2)} s (${percentOfCore(sum('genCpu'), elapsed)}% of one core)`);
  if (opts.cpuPid > 0) {
    console.log(
      `  tracker CPU (pid ${opts.cpuPid}): ${trackerCpu.toFixed(2)} s (${percentOfCore(trackerCpu, elapsed)}%), ` +
        `${cpuPerResponse.toFixed(1)} µs per reply, ${(100 * kernelShare).toFixed(0)}% of it in the kernel`,
    );
  }
  printResult({
    rps: rps.toFixed(1),
    responses,
    elapsed: elapsed.toFixed(3),
    errors,
    failures: sum('failures'),
    timeouts: sum('timeouts'),
    closes: sum('closes'),
    offers: sum('offersReceived'),
    answers: sum('answersReceived'),
    gen_cpu_s: sum('genCpu').toFixed(3),
    tracker_cpu_s: trackerCpu.toFixed(3),
    cpu_us_per_resp: cpuPerResponse.toFixed(2),
    kernel_share: kernelShare.toFixed(3),
    p50_us: percentile(latencies, 0.5).toFixed(0),
    p99_us: percentile(latencies, 0.99).toFixed(0),
  });
  process.exit(0);
}

await main();
