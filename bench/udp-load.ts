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
 * The harness (bench/harness/) does the rest: options, --procs processes, the measured
 * window, the tracker's CPU time, the summary and its last line, `RESULT k=v ...`.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { Generator, type Client } from './harness/generator.js';
import { generatorToolOptions, type OptionValues } from './harness/options.js';
import { runTool } from './harness/run.js';
import { hashesLabel, loadHashes } from './harness/workload.js';

const DEFAULTS = { target: 'UDP port', warmup: 0, hashes: 100_000, timeout: 2000, probe: 'connect + announce once' };
const OPTIONS = generatorToolOptions(DEFAULTS, {
  scrape: { type: 'number', arg: 'F', default: 0.1, min: 0, max: 1, help: 'share of requests that are scrapes, 0..1' },
  'scrape-hashes': { type: 'int', arg: 'N', default: 5, min: 1, max: 74, help: 'info hashes per scrape request' },
  sockets: { type: 'int', arg: 'N', default: 8, min: 1, max: 4096, help: 'client sockets per process' },
  window: { type: 'int', arg: 'N', default: 16, min: 1, max: 255, help: 'requests in flight per socket' },
  reconnect: { type: 'number', arg: 'S', default: 55, min: 1, max: 3600, help: 'get a new connection id after S seconds' },
  numwant: { type: 'int', arg: 'N', default: 50, min: -1, max: 10_000, help: 'num_want in announces (-1: default)' },
  peers: { type: 'int', arg: 'N', default: 60_000, min: 1, max: 64_000, help: 'size of the announcing peer pool' },
  seeders: { type: 'number', arg: 'F', default: 0.3, min: 0, max: 1, help: 'share of non-completed announces with left=0' },
  events: { type: 'string', arg: 'SPEC', default: 'none:85,started:8,completed:2,stopped:5', help: 'event weights' },
  memberships: { type: 'int', arg: 'N', default: 0, min: 0, max: 1 << 24, help: 'announce N fixed (hash, peer) pairs (0: each a random pair)' },
  'source-addresses': { type: 'int', arg: 'N', default: 1, min: 1, max: 4096, help: 'sockets take loopback source addresses 127.0.k/16.(1 + k%16), k < N, in turn: 16 per /24 (for --locality)' },
} as const);
type Options = OptionValues<typeof OPTIONS>;

const EVENT_NAMES = ['none', 'completed', 'started', 'stopped'] as const; // BEP 15 event codes 0..3

/** --events as weights for none, completed, started, stopped. */
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

const PROTOCOL_ID_HI = 0x417;
const PROTOCOL_ID_LO = 0x27101980;
const CONNECT_SLOT = 0xff;
const ANNOUNCE_LEN = 98;

const COUNTERS = ['announces', 'scrapes', 'peersReturned', 'errors', 'timeouts', 'bad', 'late', 'sendErrors', 'connects'] as const;
type Counter = (typeof COUNTERS)[number];
// errors: action 3 replies; bad: malformed or unexpected replies; late: replies to requests already timed out
// (or unknown transaction ids); connects: since the start, not only in the window.

/** One generator process: --sockets clients. */
class UdpGenerator extends Generator<Options, Counter> {
  private readonly eventCdf = new Float64Array(4);
  readonly reconnectMs: number;
  /**
   * --memberships: the hash, the pool peer and whether it seeds of each (hash, peer) pair, drawn once; an
   * announce picks a pair, so that peers re-announce in their swarms (mostly the stores' common path) and only
   * stops, rejoins and completions change them. Without it each announce is a random pair, seeding at random:
   * nearly always a new peer of its swarm.
   */
  readonly memberHash: Uint32Array;
  readonly memberPeer: Uint32Array;
  readonly memberSeeds: Uint8Array;

  constructor(opts: Options, index: number) {
    super(opts, index, { clients: opts.sockets, counters: COUNTERS, cumulative: ['connects'] });
    this.memberHash = new Uint32Array(opts.memberships);
    this.memberPeer = new Uint32Array(opts.memberships);
    this.memberSeeds = new Uint8Array(opts.memberships);
    for (let m = 0; m < opts.memberships; m++) {
      this.memberHash[m] = this.zipf.next();
      this.memberPeer[m] = Math.floor(this.random() * opts.peers);
      this.memberSeeds[m] = this.random() < opts.seeders ? 1 : 0;
    }
    const events = parseEvents(opts.events);
    const total = events.reduce((a, b) => a + b, 0);
    let acc = 0;
    for (let i = 0; i < 4; i++) this.eventCdf[i] = acc += events[i]! / total;
    this.reconnectMs = opts.reconnect * 1000;
  }

  pickEvent(): number {
    const u = this.random();
    const c = this.eventCdf;
    return u < c[0]! ? 0 : u < c[1]! ? 1 : u < c[2]! ? 2 : 3;
  }

  private clientsMade = 0;

  protected newClient(): Client {
    const k = (this.index * this.opts.sockets + this.clientsMade++) % this.opts.sourceAddresses;
    return new UdpClient(this, `127.0.${k >> 4}.${1 + (k & 15)}`);
  }
}

const enum SlotState {
  Idle = 0,
  Announce = 1,
  Scrape = 2,
}

/** One simulated client: one socket, one connection id, a window of in-flight requests. */
class UdpClient implements Client {
  private readonly sock = dgram.createSocket('udp4');
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

  constructor(
    private readonly gen: UdpGenerator,
    /** Loopback source address of an IPv4 target. */
    private readonly source: string,
  ) {
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
      this.sock.bind(0, host === 'localhost' || host === '::1' ? undefined : this.source, () => {
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
            this.gen.count.sendErrors++; // e.g. ECONNREFUSED from an ICMP port-unreachable
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

  begin(): void {
    this.connect();
  }

  private connect(): void {
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
    if (!g.running) {
      this.state[i] = SlotState.Idle;
      return;
    }
    if (!this.connected || performance.now() - this.connectedAt > g.reconnectMs) {
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
      for (let off = 16; off < buf.length; off += 20) {
        const h = g.zipf.next() * 20;
        hashes.copy(buf, off, h, h + 20);
      }
      this.state[i] = SlotState.Scrape;
    } else {
      buf = this.announceBufs[i]!;
      buf.writeUInt32BE(tid, 12);
      const member = g.opts.memberships > 0 ? Math.floor(g.random() * g.opts.memberships) : -1;
      const h = (member < 0 ? g.zipf.next() : g.memberHash[member]!) * 20;
      hashes.copy(buf, 16, h, h + 20);
      // The announcing peer: port and peer_id both derive from one pool index, so the same
      // peer re-announcing is recognisable by either.
      const peer = member < 0 ? Math.floor(g.random() * g.opts.peers) : g.memberPeer[member]!;
      buf.writeUInt32BE(0x50000000 + peer, 44); // peer_id bytes 8..11
      buf.writeUInt32BE(Math.imul(peer, 2654435761) >>> 0, 48); // bytes 12..15 (a spread of the index)
      buf.writeUInt32BE(0x52420000 | (peer & 0xffff), 52); // bytes 16..19
      const event = g.pickEvent();
      const seeds = member < 0 ? event !== 2 && g.random() < g.opts.seeders : g.memberSeeds[member] === 1;
      const left = event === 1 || seeds ? 0 : 1 + Math.floor(g.random() * 1e9);
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
    this.sock.send(buf);
  }

  private onMessage(msg: Buffer): void {
    const g = this.gen;
    const count = g.count;
    if (msg.length < 8) {
      count.bad++;
      return;
    }
    const action = msg.readUInt32BE(0);
    const tid = msg.readUInt32BE(4);
    const i = tid & 0xff;
    if (i === CONNECT_SLOT) {
      if (!this.connecting || tid >>> 8 !== this.connectSeq) {
        count.late++;
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
        count.connects++;
        this.fill();
      } else {
        if (action === 3) {
          count.errors++;
          g.note(`connect: ${msg.toString('utf8', 8)}`);
        } else count.bad++;
        this.connecting = false;
        setTimeout(() => this.connect(), 100); // back off, then retry
      }
      return;
    }
    if (i >= this.window || this.state[i] === SlotState.Idle || tid >>> 8 !== this.seq[i]) {
      count.late++;
      return;
    }
    const kind = this.state[i]!;
    if (action === 1 && kind === SlotState.Announce && msg.length >= 20 && (msg.length - 20) % 6 === 0) {
      count.announces++;
      count.peersReturned += (msg.length - 20) / 6;
      g.response(performance.now() - this.sentAt[i]!);
    } else if (action === 2 && kind === SlotState.Scrape && msg.length === 8 + 12 * g.opts.scrapeHashes) {
      count.scrapes++;
      g.response(performance.now() - this.sentAt[i]!);
    } else if (action === 3) {
      count.errors++;
      g.note(`${kind === SlotState.Announce ? 'announce' : 'scrape'}: ${msg.toString('utf8', 8)}`);
      // An expired connection id: connect again before sending more.
      if (/connection/i.test(msg.toString('utf8', 8))) this.connected = false;
    } else {
      count.bad++;
      g.note(`bad reply: action ${action}, ${msg.length} bytes to a ${kind === SlotState.Announce ? 'announce' : 'scrape'}`);
    }
    this.sendSlot(i);
  }

  checkTimeouts(now: number): void {
    const g = this.gen;
    const limit = g.opts.timeout;
    if (this.connecting && now - this.connectSentAt > limit) {
      g.count.timeouts++;
      this.connecting = false;
      if (g.running) this.connect();
    }
    let idle = false;
    for (let i = 0; i < this.window; i++) {
      const s = this.state[i];
      if (s === SlotState.Idle) idle = true;
      else if (now - this.sentAt[i]! > limit) {
        g.count.timeouts++;
        this.sendSlot(i); // a fresh request; a late reply to the old one is counted as late
      }
    }
    // Slots left idle while a (re)connect was pending.
    if (idle && this.connected && !this.connecting && g.running) this.fill();
  }
}

/** Sends `buf` on `sock` and waits up to 300 ms for a reply. */
function exchange(sock: dgram.Socket, buf: Buffer): Promise<Buffer | null> {
  return new Promise((resolve) => {
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
}

/** One connect + one announce for the last hash (event stopped: the probe leaves no peer behind). */
async function probe(opts: Options): Promise<string | undefined> {
  const hashes = loadHashes(opts);
  const sock = dgram.createSocket('udp4');
  sock.on('error', () => {});
  try {
    await new Promise<void>((r) => sock.connect(opts.port, opts.host, r));
    const c = Buffer.alloc(16);
    c.writeUInt32BE(PROTOCOL_ID_HI, 0);
    c.writeUInt32BE(PROTOCOL_ID_LO, 4);
    c.writeUInt32BE(0, 8);
    c.writeUInt32BE(0x1234, 12);
    const cr = await exchange(sock, c);
    if (!cr || cr.length < 16 || cr.readUInt32BE(0) !== 0) return 'no reply to connect';
    const a = Buffer.alloc(ANNOUNCE_LEN);
    cr.copy(a, 0, 8, 16);
    a.writeUInt32BE(1, 8);
    a.writeUInt32BE(0x5678, 12);
    hashes.copy(a, 16, hashes.length - 20);
    a.write('-RB0001-probeprobepr', 36, 'latin1');
    a.writeUInt32BE(1, 68); // left = 1
    a.writeUInt32BE(3, 80); // event: stopped
    a.writeInt32BE(0, 92);
    a.writeUInt16BE(1, 96);
    const ar = await exchange(sock, a);
    if (ar && ar.length >= 20 && ar.readUInt32BE(0) === 1 && ar.readUInt32BE(4) === 0x5678) return undefined;
    return ar && ar.length >= 8 && ar.readUInt32BE(0) === 3 ? ar.toString('utf8', 8) : 'no reply to announce';
  } finally {
    sock.close();
  }
}

runTool({
  name: 'udp-load',
  proto: 'udp',
  entry: import.meta.url,
  options: OPTIONS,
  generator: (opts, index) => new UdpGenerator(opts, index),
  probe,
  summary: (o, s) => {
    const c = s.counters;
    return {
      title:
        `procs=${o.procs} sockets=${o.sockets * o.procs} window=${o.window} ` +
        `${hashesLabel(o)} scrape=${o.scrape} numwant=${o.numwant}`,
      detail: `announce ${c.announces}, scrape ${c.scrapes}; ${(c.peersReturned / Math.max(1, c.announces)).toFixed(1)} peers/announce`,
      errors:
        `${c.errors} error replies (action 3), ${c.timeouts} timeouts, ${c.bad} bad replies, ${c.late} late, ` +
        `${c.sendErrors} socket errors; ${c.connects} connects`,
      result: { announces: c.announces, scrapes: c.scrapes, errors: c.errors, timeouts: c.timeouts, bad: c.bad, late: c.late },
    };
  },
});
