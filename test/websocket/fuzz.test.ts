/**
 * Fuzzing the WebSocket tracker over real sockets: thousands of malformed frames (bad JSON, wrong types and
 * lengths, huge arrays, deep nesting, invalid UTF-8, binary and oversized frames) mixed with valid announces,
 * answers and scrapes, from several sockets at once. What every text frame must get back (a failure, for which
 * action and with which info_hash; an announce reply for its swarm; a scrape reply listing which swarms; nothing
 * for an answer) is decided by an oracle written here from the protocol's rules (docs/protocol-behaviour.md,
 * "WebSocket"; the message shapes of src/protocol/websocket.ts's header), never by the codec under test. Frames
 * that close a socket are followed by a new one. The request metrics must count what the oracle saw. At the end
 * every socket is closed: no peer may be left in any swarm, and the process must still serve WebSocket and HTTP.
 *
 * Deterministic from a seed (test/helpers/fuzz-seed.ts): fixed under CI=true, random otherwise, FUZZ_SEED=<n>
 * replays a run; the seed is printed at the start and is in every failure message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { register } from 'prom-client';
import { fuzzSeed } from '../helpers/fuzz-seed.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { Rng } from '../helpers/wire.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { RawSocket, binaryId, type Json } from '../helpers/raw-socket.js';

const { seed: SEED, where } = fuzzSeed('test/websocket/fuzz.test.ts');
const SOCKETS = 6;
const FRAMES_PER_SOCKET = 800;
const BATCH = 25;
const MAX_MESSAGE = 16 * 1024;
const SCRAPE_MAX = 74;
const MAX_OFFERS = 100;

// ---------------------------------------------------------------------------------------------------------------
// The oracle.
//
//   - A frame is read as the server reads it: UTF-8 (a lone surrogate went over the wire as U+FFFD), then JSON.
//     Anything but a JSON object, or an `action` other than "announce" or "scrape", is a failure.
//   - announce: `info_hash` and `peer_id` are binary ids (strings of 20 characters, each a byte: char code <= 0xff).
//     With an `answer` field it is an answer: `to_peer_id` and `offer_id` are binary ids, `answer` is
//     {type: "answer", sdp: string}; it gets no reply (and is dropped here: no offer was ever relayed with these
//     offer ids). Otherwise `event` is absent, `update`, `paused`, `started`, `completed` or `stopped`; `left`,
//     `numwant`, `uploaded`, `downloaded` are absent, null or finite numbers; `offers` is an array of at most 100
//     {offer: {type: "offer", sdp: string}, offer_id: binary id}. A failure carries `info_hash` once it was valid.
//   - scrape: `info_hash` is a binary id or an array of them, of at most SCRAPE_MAX entries; without one (absent or
//     an empty array) it is a full scrape, refused here (--full-scrape-limit 0). Its failures carry no `info_hash`.
//   - Fields the message does not use (`event` or `offers` on an answer, `ip`, `extra`, …) are ignored.
//   - Not said by the documentation, and decided here as the tracker does (reported): `event` null or "" is a regular
//     announce, `offers` null is none, `info_hash` null on a scrape is absent, and the scrape limit counts array
//     entries before duplicates collapse (HTTP counts distinct hashes).

type Action = 'announce' | 'scrape';

/** What a frame should get back while its socket stays open. */
type Expect =
  /** `action` null: the frame named no valid action, any of the two may come back. */
  | { kind: 'failure'; action: Action | null; infoHash: string | null; malformed: boolean }
  | { kind: 'reply'; action: 'announce'; infoHash: string }
  | { kind: 'reply'; action: 'scrape'; infoHashes: string[] }
  | { kind: 'none' };

class Invalid extends Error {
  constructor(
    readonly action: Action | null,
    readonly infoHash: string | null = null,
  ) {
    super('invalid');
  }
}

const ANNOUNCE_EVENTS = new Set(['update', 'paused', 'started', 'completed', 'stopped', '']);

/** The message's own field (JSON.parse makes every key an own property, `__proto__` included). */
function field(message: object, name: string): unknown {
  return Object.hasOwn(message, name) ? (message as Record<string, unknown>)[name] : undefined;
}

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBinaryId(value: unknown): value is string {
  return typeof value === 'string' && value.length === 20 && [...value].every((c) => c.length === 1 && c.charCodeAt(0) <= 0xff);
}

function isDescription(value: unknown, type: 'offer' | 'answer'): boolean {
  return isPlainObject(value) && field(value, 'type') === type && typeof field(value, 'sdp') === 'string';
}

function expectAnnounce(message: object): Expect {
  const infoHash = field(message, 'info_hash');
  if (!isBinaryId(infoHash)) throw new Invalid('announce');
  const fail = (ok: boolean): void => {
    if (!ok) throw new Invalid('announce', infoHash);
  };
  fail(isBinaryId(field(message, 'peer_id')));
  if (Object.hasOwn(message, 'answer')) {
    fail(isBinaryId(field(message, 'to_peer_id')));
    fail(isBinaryId(field(message, 'offer_id')));
    fail(isDescription(field(message, 'answer'), 'answer'));
    return { kind: 'none' };
  }
  const event = field(message, 'event');
  fail(event === undefined || event === null || (typeof event === 'string' && ANNOUNCE_EVENTS.has(event)));
  for (const name of ['left', 'numwant', 'uploaded', 'downloaded']) {
    const value = field(message, name);
    fail(value === undefined || value === null || (typeof value === 'number' && Number.isFinite(value)));
  }
  const offers = field(message, 'offers') ?? [];
  fail(Array.isArray(offers));
  fail((offers as unknown[]).length <= MAX_OFFERS);
  for (const item of offers as unknown[]) {
    fail(isPlainObject(item) && isBinaryId(field(item, 'offer_id')) && isDescription(field(item, 'offer'), 'offer'));
  }
  return { kind: 'reply', action: 'announce', infoHash };
}

function expectScrape(message: object): Expect {
  const raw = field(message, 'info_hash') ?? [];
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || list.length > SCRAPE_MAX || !list.every(isBinaryId)) throw new Invalid('scrape');
  const infoHashes = [...new Set(list as string[])];
  // A full scrape: refused, and not counted as malformed.
  if (infoHashes.length === 0) return { kind: 'failure', action: 'scrape', infoHash: null, malformed: false };
  return { kind: 'reply', action: 'scrape', infoHashes };
}

function expectFor(text: string): Expect {
  let message: unknown;
  try {
    message = JSON.parse(Buffer.from(text).toString());
  } catch {
    return { kind: 'failure', action: null, infoHash: null, malformed: true };
  }
  try {
    if (!isPlainObject(message)) throw new Invalid(null);
    const action = field(message, 'action');
    if (action === 'announce') return expectAnnounce(message);
    if (action === 'scrape') return expectScrape(message);
    throw new Invalid(null);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return { kind: 'failure', action: error.action, infoHash: error.infoHash, malformed: true };
  }
}

const hex = (id: string): string => Buffer.from(id, 'latin1').toString('hex');

/** One line per expected message, comparable with what came back (`*`: either action). */
function describeExpected(e: Expect): string | null {
  if (e.kind === 'none') return null;
  if (e.kind === 'failure') return `failure ${e.action ?? '*'} info_hash=${e.infoHash === null ? '-' : hex(e.infoHash)}`;
  if (e.action === 'announce') return `announce ${hex(e.infoHash)}`;
  return `scrape ${e.infoHashes.map(hex).sort().join(',')}`;
}

/** The same line for a message that came back, after checking its shape. */
function describeReceived(m: Json, context: string): string {
  if (Object.hasOwn(m, 'failure reason')) {
    const reason = m['failure reason'];
    assert.ok(typeof reason === 'string' && reason.length > 0, `${context}: failure reason ${JSON.stringify(reason)}`);
    assert.ok(m.action === 'announce' || m.action === 'scrape', `${context}: failure action ${JSON.stringify(m.action)}`);
    const keys = Object.keys(m).sort();
    assert.ok(keys.every((k) => ['action', 'failure reason', 'info_hash'].includes(k)), `${context}: failure keys ${keys.join(', ')}`);
    if (m.info_hash !== undefined) assert.ok(isBinaryId(m.info_hash), `${context}: failure info_hash`);
    return `failure ${m.action} info_hash=${m.info_hash === undefined ? '-' : hex(m.info_hash as string)}`;
  }
  if (m.action === 'announce') {
    assert.ok(isBinaryId(m.info_hash), `${context}: announce reply info_hash`);
    for (const key of ['interval', 'complete', 'incomplete']) {
      assert.ok(Number.isSafeInteger(m[key]) && (m[key] as number) >= 0, `${context}: announce reply ${key} ${JSON.stringify(m[key])}`);
    }
    return `announce ${hex(m.info_hash as string)}`;
  }
  assert.equal(m.action, 'scrape', `${context}: reply action`);
  assert.ok(isPlainObject(m.files), `${context}: scrape reply files`);
  const files = m.files as Record<string, Json>;
  for (const [hash, counts] of Object.entries(files)) {
    assert.ok(isBinaryId(hash), `${context}: scrape reply hash`);
    assert.deepEqual(Object.keys(counts).sort(), ['complete', 'downloaded', 'incomplete'], `${context}: scrape counts`);
  }
  return `scrape ${Object.keys(files).map(hex).sort().join(',')}`;
}

/** Matches what came back against what was expected, in any order (announces wait on the store, failures do not). */
function matchReplies(expected: Expect[], received: Json[], context: string): void {
  const want = expected.map(describeExpected).filter((d): d is string => d !== null);
  const got = received.map((m) => describeReceived(m, context));
  const unmatched = [...got];
  const missing: string[] = [];
  // Exact lines first, then the failures that may carry either action.
  for (const line of [...want].sort((a, b) => Number(a.startsWith('failure *')) - Number(b.startsWith('failure *')))) {
    let at = unmatched.indexOf(line);
    if (at < 0 && line.startsWith('failure * ')) {
      const rest = line.slice('failure * '.length);
      at = unmatched.findIndex((g) => g === `failure announce ${rest}` || g === `failure scrape ${rest}`);
    }
    if (at < 0) missing.push(line);
    else unmatched.splice(at, 1);
  }
  assert.deepEqual({ missing, unexpected: unmatched }, { missing: [], unexpected: [] }, context);
}

/** Request counts of the WebSocket tracker, from the Prometheus metrics it exports (prom-client's registry). */
async function wsMetrics(): Promise<Record<string, number>> {
  const samples = parseExposition(await register.metrics());
  const requests = (action: string, outcome: string): number =>
    total(samples, 'redswarm_requests_total', { protocol: 'ws', action, outcome });
  return {
    unknownError: requests('unknown', 'error'),
    announceOk: requests('announce', 'ok'),
    announceRejected: requests('announce', 'rejected'),
    scrapeOk: requests('scrape', 'ok'),
    scrapeRejected: requests('scrape', 'rejected'),
    answerOk: requests('answer', 'ok'),
    answerRejected: requests('answer', 'rejected'),
    answersDropped: total(samples, 'redswarm_ws_answers_dropped_total'),
  };
}

/** Random JSON-ish values, the wrong types and lengths a field may get. */
function junk(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 2 ? 7 : 10)) {
    case 0: return null;
    case 1: return rng.int(-1e6, 1e6);
    case 2: return rng.chance(0.5) ? 1e308 * 10 : -0.5;
    case 3: return rng.chance(0.5);
    case 4: return '';
    case 5: return String.fromCharCode(...rng.bytes(rng.pick([19, 20, 21]))); // binary strings, right length or not
    case 6: return '\u{1F600}'.repeat(10); // 20 UTF-16 units, not bytes
    case 7: return 'Ā'.repeat(20);
    case 8: return Array.from({ length: rng.int(0, 4) }, () => junk(rng, depth + 1));
    case 9: return { type: rng.pick(['offer', 'answer', 'x']), sdp: junk(rng, depth + 1) };
    default: return { [rng.pick(['info_hash', 'offer', '__proto__', 'constructor'])]: junk(rng, depth + 1) };
  }
}

class Fuzzer {
  readonly rng: Rng;
  /** Every info hash a valid announce may have used. */
  readonly hashes = Array.from({ length: 8 }, (_, i) => binaryId(String.fromCharCode(0xc0 + i), i));

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** A valid message, as a base for mutations or sent as is. */
  valid(peerId: string): Json {
    const rng = this.rng;
    const infoHash = rng.pick(this.hashes);
    switch (rng.int(0, 5)) {
      case 0:
        return { action: 'scrape', info_hash: rng.chance(0.5) ? infoHash : [infoHash, rng.pick(this.hashes)] };
      case 1:
        return {
          action: 'announce',
          info_hash: infoHash,
          peer_id: peerId,
          to_peer_id: binaryId('t', rng.int(0, 9)),
          offer_id: binaryId('\u00ee', rng.int(0, 9)),
          answer: { type: 'answer', sdp: 'v=0 fuzz' },
        };
      default:
        return {
          action: 'announce',
          info_hash: infoHash,
          peer_id: peerId,
          event: rng.pick(['started', 'completed', 'stopped', undefined, 'update']),
          left: rng.pick([0, 100, null]),
          numwant: rng.int(0, 6),
          offers: Array.from({ length: rng.int(0, 4) }, (_, i) => ({
            offer: { type: 'offer', sdp: 'v=0 fuzz' },
            offer_id: binaryId('\u00ef', rng.int(0, 200) * 4 + i),
          })),
        };
    }
  }

  /** A text frame that keeps the socket open: within the message size. */
  textFrame(peerId: string): string {
    for (;;) {
      const text = this.anyTextFrame(peerId);
      if (Buffer.byteLength(text) <= MAX_MESSAGE) return text;
    }
  }

  private anyTextFrame(peerId: string): string {
    const rng = this.rng;
    const base = this.valid(peerId);
    switch (rng.int(0, 11)) {
      case 0:
      case 1:
        return JSON.stringify(base);
      case 2: { // one field gets a wrong value
        const keys = Object.keys(base);
        return JSON.stringify({ ...base, [rng.pick(keys)]: junk(rng) });
      }
      case 3: { // a field is missing, or an unknown one is added
        const copy: Json = { ...base };
        delete copy[rng.pick(Object.keys(copy))];
        if (rng.chance(0.5)) copy[rng.pick(['extra', 'ip', 'port', '__proto__'])] = junk(rng);
        return JSON.stringify(copy);
      }
      case 4: { // truncated or spliced JSON
        const text = JSON.stringify(base);
        const cut = rng.int(0, text.length - 1);
        return rng.chance(0.5) ? text.slice(0, cut) : text.slice(0, cut) + text.slice(cut + 1);
      }
      case 5: // huge arrays, within the message size
        return rng.chance(0.5)
          ? JSON.stringify({ action: 'scrape', info_hash: Array.from({ length: rng.int(75, 700) }, () => rng.pick(this.hashes)) })
          : JSON.stringify({ ...base, action: 'announce', offers: Array(rng.int(101, 1500)).fill(0) });
      case 6: // deep nesting
        return rng.chance(0.5) ? '['.repeat(4000) + ']'.repeat(4000) : '{"a":'.repeat(2000) + '1' + '}'.repeat(2000);
      case 7: // not an object
        return JSON.stringify(rng.pick([null, 1, 'announce', [base], true]));
      case 8: // control characters and random text
        return String.fromCharCode(...Array.from({ length: rng.int(0, 60) }, () => rng.int(0, 0x2ff)));
      case 9: // offers of the wrong shape
        return JSON.stringify({ ...base, action: 'announce', offers: [junk(rng), junk(rng)] });
      default: // an action that does not exist, or of the wrong type
        return JSON.stringify({ ...base, action: junk(rng) });
    }
  }
}

describe(`WebSocket fuzz ${where}`, () => {
  let t: TestTracker;
  let url: string;

  before(async () => {
    // Thousands of announces from one address: no per-address rate limit here (test/abuse/ tests it).
    t = await startTestTracker({ wsMaxMessageBytes: MAX_MESSAGE, scrapeMaxHashes: SCRAPE_MAX, fullScrapeLimit: 0, announceRateLimit: 0 });
    url = `ws://127.0.0.1:${t.port}`;
  });

  after(async () => {
    await t.stop();
  });

  it(`${SOCKETS} sockets × ${FRAMES_PER_SOCKET} frames: exact replies, no crash, no peer left behind`, async () => {
    const fuzzer = new Fuzzer(SEED);
    const before = await wsMetrics();
    /** What the oracle expects the metrics to count. */
    const tally = { malformed: 0, binary: 0, announces: 0, scrapes: 0, fullScrapes: 0, answers: 0 };
    let closings = 0;
    const open: RawSocket[] = [];

    const run = async (index: number): Promise<void> => {
      const peerId = binaryId('f', index);
      let socket = await RawSocket.open(url);
      open.push(socket);
      let sent = 0;
      while (sent < FRAMES_PER_SOCKET) {
        const expected: Expect[] = [];
        const from = socket.received.length;
        for (let i = 0; i < BATCH && sent < FRAMES_PER_SOCKET; i++, sent++) {
          const text = fuzzer.textFrame(peerId);
          const expect = expectFor(text);
          if (expect.kind === 'failure') {
            if (expect.malformed) tally.malformed++;
            else tally.fullScrapes++;
          } else if (expect.kind === 'none') tally.answers++;
          else if (expect.action === 'announce') tally.announces++;
          else tally.scrapes++;
          expected.push(expect);
          socket.send(text);
        }
        const replies = expected.filter((e) => e.kind !== 'none').length;
        const isReply = (m: Json): boolean => m.offer === undefined && m.answer === undefined;
        await socket.until(`${replies} replies ${where}`, () => socket.received.slice(from).filter(isReply).length >= replies);
        matchReplies(expected, socket.received.slice(from).filter(isReply), `batch of socket ${index} ${where}`);

        // Now and then a frame that must close the socket; a new socket carries on.
        if (fuzzer.rng.chance(0.3)) {
          const kind = fuzzer.rng.int(0, 2);
          if (kind === 0) {
            socket.send(fuzzer.rng.bytes(fuzzer.rng.int(1, 200)));
            tally.binary++; // the only closing frame the tracker reads (and counts) before it closes
          } else if (kind === 1) socket.send('x'.repeat(MAX_MESSAGE + fuzzer.rng.int(1, 5000)));
          else socket.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0xc0, 0x7d]), { binary: false }); // invalid UTF-8
          await socket.closed();
          closings++;
          sent++;
          socket = await RawSocket.open(url);
          open.push(socket);
        }
      }
    };

    await Promise.all(Array.from({ length: SOCKETS }, (_, i) => run(i)));
    assert.ok(tally.malformed > 2000, `only ${tally.malformed} malformed frames ${where}`);
    assert.ok(closings > 10, `only ${closings} closing frames ${where}`);
    assert.ok(tally.announces > 500 && tally.scrapes > 100 && tally.fullScrapes > 5 && tally.answers > 100, `the mix is off: ${JSON.stringify(tally)} ${where}`);

    await Promise.all(open.map((s) => s.close()));
    const deadline = Date.now() + 5000;
    while (t.tracker.ws.sockets > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(t.tracker.ws.sockets, 0, where);

    // Every socket has closed, so every frame has been handled and counted.
    const after = await wsMetrics();
    const delta = (key: string): number => after[key]! - before[key]!;
    const counted = (metric: string, key: string, expected: number): void => assert.equal(delta(key), expected, `${metric} ${where}`);
    counted('redswarm_requests_total{protocol="ws",action="unknown",outcome="error"} (malformed and binary frames)', 'unknownError', tally.malformed + tally.binary);
    counted('redswarm_requests_total{protocol="ws",action="announce",outcome="ok"}', 'announceOk', tally.announces);
    counted('redswarm_requests_total{protocol="ws",action="announce",outcome="rejected"}', 'announceRejected', 0);
    counted('redswarm_requests_total{protocol="ws",action="scrape",outcome="ok"}', 'scrapeOk', tally.scrapes);
    counted('redswarm_requests_total{protocol="ws",action="scrape",outcome="rejected"} (full scrapes)', 'scrapeRejected', tally.fullScrapes);
    counted('redswarm_requests_total{protocol="ws",action="answer",outcome="ok"}', 'answerOk', 0);
    counted('redswarm_requests_total{protocol="ws",action="answer",outcome="rejected"}', 'answerRejected', tally.answers);
    counted('redswarm_ws_answers_dropped_total', 'answersDropped', tally.answers);
    assert.deepEqual(await t.store.listWsSwarms(1_000_000), [], `no WebSocket swarm is left ${where}`);
    for (const counts of await t.store.scrapeWs(fuzzer.hashes)) assert.deepEqual(counts, { complete: 0, incomplete: 0, downloaded: 0 }, `WebSocket swarm counts ${where}`);

    // Still serving: WebSocket and HTTP.
    const fresh = await RawSocket.open(url);
    const reply = await fresh.request({ action: 'announce', info_hash: fuzzer.hashes[0], peer_id: binaryId('n', 1), left: 0 });
    assert.deepEqual([reply.complete, reply.incomplete], [1, 0], `a fresh announce afterwards ${where}`);
    await fresh.close();
    const http = await fetch(`http://127.0.0.1:${t.port}/scrape?info_hash=${'%41'.repeat(20)}`);
    assert.equal(http.status, 200, `HTTP afterwards ${where}`);
    await http.arrayBuffer();
  });
});
