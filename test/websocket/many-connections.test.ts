/**
 * As many WebSocket connections as one process may hold: the tracker (src/cli.ts in a child process) takes as
 * many browsers as the open-file limit allows (`ulimit -Hn`, minus a margin; the soft limit is raised to the
 * hard one first, where util-linux prlimit can), spread over source addresses 127.0.0.1, .2, … so that source
 * ports never run short. Each browser announces in 5 of 100 swarms; some then offer, the peers their offers
 * reach answer, and every answer must come back to its offerer; at the end every socket closes and no peer may be
 * left. Correctness only (every reply right, every relay delivered once, counts exact), no timing; bounded.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startInstance, type Instance } from '../helpers/instance.js';

const SWARMS = 100;
const SWARMS_PER_BROWSER = 5;
/** File descriptors left for everything but the browsers' sockets, in each process. */
const MARGIN = 500;
const OFFERERS = 500;

function openFileLimits(): [soft: number, hard: number] {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = (v: string | undefined): number => (v === undefined || v === 'unlimited' ? 1 << 20 : Number(v));
  return [value(line?.[1]), value(line?.[2])];
}

/** Node has no setrlimit: prlimit(1) raises this process's soft limit (the tracker, spawned after, inherits it). */
function raiseOpenFileLimit(): number {
  const [soft, hard] = openFileLimits();
  if (soft < hard) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`], { stdio: 'ignore' });
    } catch {
      // no prlimit: the soft limit it is
    }
  }
  return openFileLimits()[0];
}

const hash = (i: number): string => `swarm-${String(i).padStart(3, '0')}`.padEnd(20, '.');
const id = (prefix: string, i: number): string => `${prefix}${String(i).padStart(20 - prefix.length, '0')}`;

type Json = Record<string, unknown>;

class Browser {
  readonly peerId: string;
  readonly swarms: string[];
  private readonly waiting: ((message: Json) => void)[] = [];
  readonly offers: Json[] = [];
  readonly answers: Json[] = [];
  readonly failures: string[] = [];
  ws!: WebSocket;

  constructor(readonly index: number) {
    this.peerId = id('-MC0001-', index);
    this.swarms = Array.from({ length: SWARMS_PER_BROWSER }, (_, s) => hash((index + s * 20) % SWARMS));
  }

  open(url: string, localAddress: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as Json;
        if (message.offer !== undefined) this.offers.push(message);
        else if (message.answer !== undefined) this.answers.push(message);
        else if (typeof message['failure reason'] === 'string') this.failures.push(message['failure reason']);
        else this.waiting.shift()?.(message);
      });
    });
  }

  /** Sends an announce and resolves with its reply (replies come in order on a socket). */
  announce(fields: Json): Promise<Json> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.ws.send(JSON.stringify({ action: 'announce', peer_id: this.peerId, numwant: 0, left: 1000, ...fields }));
    });
  }

  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) resolve();
      else this.ws.once('close', () => resolve());
    });
  }
}

/** Runs `task` over `items`, at most `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(task));
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('WebSocket: as many connections as the open-file limit allows', { timeout: 600_000 }, () => {
  let instance: Instance;
  let browsers: Browser[] = [];
  const limit = raiseOpenFileLimit();
  const count = Math.max(100, limit - MARGIN);
  const sources = Math.ceil(count / 10_000);

  before(async () => {
    // Everything comes from a few loopback addresses: no per-address limit here.
    instance = await startInstance(['--ws-max-sockets-per-ip', '0', '--announce-rate-limit', '0', '--ws-max-sockets', String(count + 100)], { workers: 1 });
  });

  after(async () => {
    for (const b of browsers) b.ws?.terminate();
    await instance?.stop();
  });

  it(`${count} browsers in ${SWARMS_PER_BROWSER} of ${SWARMS} swarms each: announce, relay, close`, async () => {
    try {
      await run();
    } catch (error) {
      throw new Error(`${String(error)}; the tracker's log ends:\n${instance.output().slice(-3000)}`);
    }
  });

  async function run(): Promise<void> {
    browsers = Array.from({ length: count }, (_, i) => new Browser(i));
    await inBatches(browsers, 500, (b) => b.open(instance.wsUrl, `127.0.0.${1 + (b.index % sources)}`));

    // Every browser announces in each of its swarms; every reply is an announce reply for that swarm.
    await inBatches(browsers, 500, async (b) => {
      for (const swarm of b.swarms) {
        const reply = await b.announce({ info_hash: swarm, event: 'started' });
        assert.equal(reply.action, 'announce');
        assert.equal(reply.info_hash, swarm);
        assert.equal(typeof reply.interval, 'number');
      }
    });
    assert.deepEqual(browsers.flatMap((b) => b.failures), []);

    // The swarms hold every browser, each once.
    const scraper = browsers[0]!;
    const scrape = (hashes: string[]): Promise<{ complete: number; incomplete: number }[]> =>
      new Promise((resolve) => {
        scraper.ws.once('message', (data: Buffer) => resolve(Object.values((JSON.parse(data.toString()) as { files: object }).files)));
        scraper.ws.send(JSON.stringify({ action: 'scrape', info_hash: hashes }));
      });
    const counted = async (): Promise<number> => {
      let peers = 0;
      for (let i = 0; i < SWARMS; i += 50) {
        // Within the default --scrape-max-hashes.
        const counts = await scrape(Array.from({ length: Math.min(50, SWARMS - i) }, (_, k) => hash(i + k)));
        for (const c of counts) peers += c.complete + c.incomplete;
      }
      return peers;
    };
    assert.equal(await counted(), count * SWARMS_PER_BROWSER);

    // Some browsers offer in their first swarm; each offer reaches one other browser, whose answer comes back.
    const offerers = browsers.filter((b) => b.index % Math.ceil(count / OFFERERS) === 1);
    await inBatches(offerers, 100, async (b) => {
      const offer = { offer: { type: 'offer', sdp: `v=0 from ${b.index}` }, offer_id: id('offer-', b.index) };
      await b.announce({ info_hash: b.swarms[0], numwant: 1, offers: [offer] });
    });
    await until('every offer delivered', () => browsers.reduce((n, b) => n + b.offers.length, 0) === offerers.length);
    for (const b of browsers) {
      for (const offer of b.offers) {
        const from = browsers[Number((offer.peer_id as string).slice(8))]!;
        assert.equal(offer.offer_id, id('offer-', from.index));
        assert.deepEqual(offer.offer, { type: 'offer', sdp: `v=0 from ${from.index}` });
        assert.notEqual(from, b);
        b.ws.send(JSON.stringify({ action: 'announce', info_hash: offer.info_hash, peer_id: b.peerId, to_peer_id: offer.peer_id, offer_id: offer.offer_id, answer: { type: 'answer', sdp: `answer of ${b.index}` } }));
      }
    }
    await until('every answer back', () => offerers.every((b) => b.answers.length === 1));
    for (const b of offerers) {
      const answer = b.answers[0]!;
      assert.equal(answer.offer_id, id('offer-', b.index));
      assert.deepEqual(answer.answer, { type: 'answer', sdp: `answer of ${Number((answer.peer_id as string).slice(8))}` });
    }
    assert.deepEqual(browsers.flatMap((b) => b.failures), []);

    // Every socket but the scraper's closes: only the scraper's peers are left, then none.
    await inBatches(browsers.slice(1), 1000, async (b) => {
      b.ws.close();
      await b.closed();
    });
    await until('the closed sockets\' peers gone', async () => (await counted()) === SWARMS_PER_BROWSER);
    scraper.ws.close();
    await scraper.closed();
    const metrics = await instance.metrics();
    assert.match(metrics, /^redswarm_ws_connections 0$/m);
  }
});
