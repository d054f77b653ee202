/**
 * Fuzzing the WebSocket tracker over real sockets: thousands of malformed frames (bad JSON, wrong types and
 * lengths, huge arrays, deep nesting, invalid UTF-8, binary and oversized frames) mixed with valid announces,
 * answers and scrapes, from several sockets at once. Every text frame must get exactly the reply the codec
 * predicts (a failure with its reason, an announce or scrape reply, or nothing for an answer); frames that
 * close a socket are followed by a new one. At the end every socket is closed: no peer may be left in any
 * swarm, and the process must still serve WebSocket and HTTP.
 *
 * Deterministic from a seed: FUZZ_SEED=<n> replays a run (the seed is in every failure message).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WsRequestError, parseWsMessage } from '../../src/protocol/websocket.js';
import { Rng } from '../helpers/wire.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { RawSocket, binaryId, type Json } from '../helpers/raw-socket.js';

const SEED = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31));
const SOCKETS = 6;
const FRAMES_PER_SOCKET = 800;
const BATCH = 25;
const MAX_MESSAGE = 16 * 1024;
const SCRAPE_MAX = 74;
const where = `(FUZZ_SEED=${SEED})`;

/** What a frame should get back while its socket stays open. */
type Expect = { kind: 'failure'; reason: string } | { kind: 'reply'; action: 'announce' | 'scrape' } | { kind: 'none' };

function expectFor(text: string): Expect {
  try {
    // As the server reads it: a lone surrogate went over the wire as U+FFFD.
    const message = parseWsMessage(Buffer.from(text).toString(), SCRAPE_MAX);
    if (message.kind === 'answer') return { kind: 'none' };
    if (message.kind === 'scrape' && message.infoHashes.length === 0) {
      return { kind: 'failure', reason: 'full scrape is disabled: give info_hash' };
    }
    return { kind: 'reply', action: message.kind };
  } catch (error) {
    assert.ok(error instanceof WsRequestError, `${String(error)} ${where}`);
    return { kind: 'failure', reason: error.message };
  }
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
    t = await startTestTracker({ wsMaxMessageBytes: MAX_MESSAGE, scrapeMaxHashes: SCRAPE_MAX });
    url = `ws://127.0.0.1:${t.port}`;
  });

  after(async () => {
    await t.stop();
  });

  it(`${SOCKETS} sockets × ${FRAMES_PER_SOCKET} frames: exact replies, no crash, no peer left behind`, async () => {
    const fuzzer = new Fuzzer(SEED);
    let malformed = 0;
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
          if (expect.kind === 'failure' && expect.reason !== 'full scrape is disabled: give info_hash') malformed++;
          expected.push(expect);
          socket.send(text);
        }
        const replies = expected.filter((e) => e.kind !== 'none').length;
        const isReply = (m: Json): boolean => m.offer === undefined && m.answer === undefined;
        await socket.until(`${replies} replies ${where}`, () => socket.received.slice(from).filter(isReply).length >= replies);
        const got = socket.received.slice(from).filter(isReply);
        const describe = (m: Json): string =>
          typeof m['failure reason'] === 'string' ? `failure: ${m['failure reason']}` : `reply: ${String(m.action)}`;
        const want = expected.flatMap((e) => (e.kind === 'failure' ? [`failure: ${e.reason}`] : e.kind === 'reply' ? [`reply: ${e.action}`] : []));
        assert.deepEqual(got.map(describe).sort(), want.sort(), `batch of socket ${index} ${where}`);

        // Now and then a frame that must close the socket; a new socket carries on.
        if (fuzzer.rng.chance(0.3)) {
          const kind = fuzzer.rng.int(0, 2);
          if (kind === 0) socket.send(fuzzer.rng.bytes(fuzzer.rng.int(1, 200)));
          else if (kind === 1) socket.send('x'.repeat(MAX_MESSAGE + fuzzer.rng.int(1, 5000)));
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
    assert.equal(t.tracker.ws.counters.malformed, malformed, where);
    assert.ok(malformed > 2000, `only ${malformed} malformed frames ${where}`);
    assert.ok(closings > 10, `only ${closings} closing frames ${where}`);

    await Promise.all(open.map((s) => s.close()));
    const deadline = Date.now() + 5000;
    while (t.tracker.ws.sockets > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(t.tracker.ws.sockets, 0, where);
    assert.deepEqual(await t.store.listWsSwarms(1_000_000), [], `no WebSocket swarm is left ${where}`);
    for (const counts of await t.store.scrapeWs(fuzzer.hashes)) assert.deepEqual(counts, { complete: 0, incomplete: 0, downloaded: 0 });

    // Still serving: WebSocket and HTTP.
    const fresh = await RawSocket.open(url);
    const reply = await fresh.request({ action: 'announce', info_hash: fuzzer.hashes[0], peer_id: binaryId('n', 1), left: 0 });
    assert.deepEqual([reply.complete, reply.incomplete], [1, 0]);
    await fresh.close();
    const http = await fetch(`http://127.0.0.1:${t.port}/scrape?info_hash=${'%41'.repeat(20)}`);
    assert.equal(http.status, 200);
    await http.arrayBuffer();
  });
});
