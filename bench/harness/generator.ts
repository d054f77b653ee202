/**
 * The base of an in-process load generator (UDP, WebSocket): its clients, what it counts and how, its measured
 * window, its request-timeout timer and its random choices. A subclass only makes its clients, which open their
 * sockets, send requests and read replies; they call `response(ms)` for each counted reply (the hot path: one
 * histogram bucket and one compare), bump the subclass's counters in `count`, and `note()` error messages.
 * harness/processes.ts runs one generator per process.
 */
import { performance } from 'node:perf_hooks';
import { Zipf } from '../zipf.js';
import { latencyBucket, newHistogram } from './histogram.js';
import { cpuSecondsSince } from './proc-cpu.js';
import { loadHashes, makeRng } from './workload.js';

/** The options (harness/options.ts groups) a generator reads. */
export interface GeneratorOptions {
  hashes: number;
  hashesFile: string;
  seed: number;
  zipf: number;
  timeout: number;
  count: number;
  procs: number;
}

/** What one generator measured in its window; sent to the parent process over IPC, then summed. */
export interface WindowStats {
  elapsed: number;
  responses: number;
  genCpu: number;
  /** harness/histogram.ts buckets. */
  latency: number[];
  counters: Record<string, number>;
  messages: Record<string, number>;
}

/** One simulated client (a UDP socket, a WebSocket connection). */
export interface Client {
  open(): Promise<void>;
  /** Sends its first requests; replies keep its load going while the generator is `running`. */
  begin(): void;
  /** Requests older than --timeout: counted, and replaced. */
  checkTimeouts(now: number): void;
  close(): void;
}

/** Distinct error messages kept per generator, and in the summary. */
export const MAX_MESSAGES = 10;

export abstract class Generator<O extends GeneratorOptions, C extends string> {
  readonly random: () => number;
  /** Popularity over the info hashes: `zipf.next()` is a hash index (rank i is hash i: they are random anyway). */
  readonly zipf: Zipf;
  /** The info hashes, 20 bytes each. */
  readonly hashes: Buffer;
  /** The subclass's counters; zeroed when the window begins, except the `cumulative` ones. */
  readonly count: Record<C, number>;
  /** False once stopped or the count is reached: send nothing more. */
  running = false;
  measuring = false;
  /** Counted responses in the window. */
  responses = 0;
  readonly latency = newHistogram();
  private readonly messages = new Map<string, number>();
  private readonly countLimit: number;
  private onCountReached: (() => void) | undefined;
  private windowStart = 0;
  private cpuStart = process.cpuUsage();
  private timer: NodeJS.Timeout | undefined;
  private readonly clients: Client[] = [];
  private readonly clientCount: number;
  private readonly cumulative: readonly C[];

  constructor(
    readonly opts: O,
    /** This generator's process, 0 .. procs - 1: seeds its randomness, names its peers. */
    readonly index: number,
    /** How many clients; the names of the counters, and those counted since the start, not the window. */
    shape: { clients: number; counters: readonly C[]; cumulative?: readonly C[] },
  ) {
    const { counters } = shape;
    this.clientCount = shape.clients;
    this.cumulative = shape.cumulative ?? [];
    this.random = makeRng(opts.seed * 1000 + index + 1);
    this.hashes = loadHashes(opts);
    this.zipf = new Zipf(this.hashes.length / 20, opts.zipf, this.random);
    this.count = Object.fromEntries(counters.map((c) => [c, 0])) as Record<C, number>;
    this.countLimit = opts.count > 0 ? Math.ceil(opts.count / opts.procs) : 0;
  }

  /** Client `i` of this generator. */
  protected abstract newClient(i: number): Client;

  /** Makes the clients and opens their sockets, 100 at a time (no SYN flood of our own). */
  async open(): Promise<void> {
    for (let i = 0; i < this.clientCount; i += 100) {
      const batch = Array.from({ length: Math.min(100, this.clientCount - i) }, (_, k) => this.newClient(i + k));
      this.clients.push(...batch);
      await Promise.all(batch.map((c) => c.open()));
    }
  }

  start(): void {
    this.running = true;
    // Timeouts are checked on a coarse timer, not per request.
    const period = Math.max(5, Math.min(100, this.opts.timeout / 4));
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const c of this.clients) c.checkTimeouts(now);
    }, period);
    for (const c of this.clients) c.begin();
  }

  beginMeasure(onCountReached?: () => void): void {
    for (const c of Object.keys(this.count) as C[]) if (!this.cumulative.includes(c)) this.count[c] = 0;
    this.responses = 0;
    this.latency.fill(0);
    this.messages.clear();
    this.measuring = true;
    this.onCountReached = onCountReached;
    this.windowStart = performance.now();
    this.cpuStart = process.cpuUsage();
  }

  /** A counted response, `ms` after its request was sent. */
  response(ms: number): void {
    this.latency[latencyBucket(ms * 1000)]!++;
    if (++this.responses === this.countLimit && this.measuring) {
      this.running = false; // requests go idle as their replies come in
      const cb = this.onCountReached;
      this.onCountReached = undefined;
      cb?.();
    }
  }

  /** An error message for the summary (the first 10 distinct ones are counted). */
  note(message: string): void {
    if (this.messages.size < MAX_MESSAGES || this.messages.has(message)) {
      this.messages.set(message, (this.messages.get(message) ?? 0) + 1);
    }
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  /** Ends the window, stops the load and closes the sockets. */
  stop(): WindowStats {
    const stats: WindowStats = {
      elapsed: (performance.now() - this.windowStart) / 1000,
      responses: this.responses,
      genCpu: cpuSecondsSince(this.cpuStart),
      latency: Array.from(this.latency),
      counters: { ...this.count },
      messages: Object.fromEntries(this.messages),
    };
    this.running = false;
    this.measuring = false;
    clearInterval(this.timer);
    this.close();
    return stats;
  }
}
