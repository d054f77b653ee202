/** The WebTorrent message codec: what it accepts, what it refuses (and how it says so), what it sends. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MAX_OFFERS_PER_MESSAGE,
  WsRequestError,
  encodeWsAnnounceReply,
  encodeWsAnswer,
  encodeWsFailure,
  encodeWsOffer,
  encodeWsScrapeReply,
  parseWsMessage,
  type WsMessage,
} from '../../src/protocol/websocket.js';
import { RequestError } from '../../src/protocol/types.js';

/** 20 bytes as browsers send them: every byte value, control characters and 0x80–0xff included. */
const IH = String.fromCharCode(0, 1, 0x0a, 0x22, 0x5c, 0x7f, 0x80, 0xff, 0xe9, 0x20, ...Array(10).fill(0x41));
const PEER = '-WW0208-' + 'abcdefghijkl';
const OTHER = String.fromCharCode(...Array.from({ length: 20 }, (_, i) => 0xec + (i % 20)));
const OFFER_ID = String.fromCharCode(...Array.from({ length: 20 }, (_, i) => (i * 37) & 0xff));
const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };

function parse(message: unknown, maxScrape = 74): WsMessage {
  return parseWsMessage(typeof message === 'string' ? message : JSON.stringify(message), maxScrape);
}

function refused(message: unknown, expected: { action: string; reason: RegExp; infoHash?: string }): void {
  assert.throws(
    () => parse(message),
    (error: unknown) => {
      assert.ok(error instanceof WsRequestError && error instanceof RequestError, String(error));
      assert.equal(error.action, expected.action);
      assert.match(error.message, expected.reason);
      assert.equal(error.infoHash, expected.infoHash);
      return true;
    },
    JSON.stringify(message),
  );
}

const announce = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  action: 'announce',
  info_hash: IH,
  peer_id: PEER,
  ...extra,
});

describe('parseWsMessage: announce', () => {
  it('reads what the bittorrent-tracker client sends', () => {
    const message = parse(
      announce({ event: 'started', numwant: 5, uploaded: 0, downloaded: 0, left: 1000, offers: [{ offer: OFFER, offer_id: OFFER_ID }] }),
    );
    assert.deepEqual(message, {
      kind: 'announce',
      infoHash: IH,
      peerId: PEER,
      event: 'started',
      seeder: false,
      numwant: 5,
      offers: [{ offerId: OFFER_ID, offer: JSON.stringify(OFFER) }],
      uploaded: 0,
      downloaded: 0,
      left: 1000,
    });
  });

  it('maps events, and reads left=0 as a seeder and a missing or null left as a leecher', () => {
    const cases: [unknown, string][] = [[undefined, 'none'], ['', 'none'], ['update', 'none'], ['paused', 'none'], ['started', 'started'], ['completed', 'completed'], ['stopped', 'stopped'], [null, 'none']];
    for (const [event, expected] of cases) {
      const message = parse(announce({ event }));
      assert.equal(message.kind === 'announce' && message.event, expected, String(event));
    }
    const seeder = (left: unknown): boolean => {
      const message = parse(announce({ left }));
      return message.kind === 'announce' && message.seeder;
    };
    assert.equal(seeder(0), true);
    assert.equal(seeder(1), false);
    assert.equal(seeder(null), false, 'a magnet without metadata sends left: null (NaN in JSON)');
    assert.equal(seeder(undefined), false);
  });

  it('keeps numwant as sent (floored), or -1 when absent, null or negative', () => {
    const numwant = (value: unknown): number => {
      const message = parse(announce({ numwant: value }));
      return message.kind === 'announce' ? message.numwant : NaN;
    };
    assert.equal(numwant(7), 7);
    assert.equal(numwant(2.9), 2);
    assert.equal(numwant(0), 0);
    assert.equal(numwant(undefined), -1);
    assert.equal(numwant(null), -1);
    assert.equal(numwant(-3), -1);
  });

  it('refuses wrong info_hash and peer_id, naming the swarm once the info_hash is valid', () => {
    for (const bad of [undefined, null, 5, 'short', IH + 'x', ['x'], { a: 1 }, 'é'.repeat(19) + 'Ā', '\u{1F600}'.repeat(10)]) {
      refused(announce({ info_hash: bad }), { action: 'announce', reason: /info_hash/ });
    }
    for (const bad of [undefined, 7, PEER.slice(1), PEER + PEER, 'Ā'.repeat(20)]) {
      refused(announce({ peer_id: bad }), { action: 'announce', reason: /peer_id/, infoHash: IH });
    }
  });

  it('refuses wrong events and number fields', () => {
    for (const event of ['start', 'STARTED', 'constructor', '__proto__', 3, true, ['started']]) {
      refused(announce({ event }), { action: 'announce', reason: /event/, infoHash: IH });
    }
    for (const field of ['left', 'numwant', 'uploaded', 'downloaded']) {
      for (const bad of ['5', true, [], {}]) {
        refused(announce({ [field]: bad }), { action: 'announce', reason: new RegExp(field), infoHash: IH });
      }
    }
    refused(`{"action":"announce","info_hash":${JSON.stringify(IH)},"peer_id":"${PEER}","left":1e999}`, {
      action: 'announce',
      reason: /left/,
      infoHash: IH,
    });
  });

  it('refuses malformed offers, and more offers than any announce may carry', () => {
    const bad: unknown[] = [
      'x',
      {},
      [{ offer: OFFER }],
      [{ offer_id: OFFER_ID }],
      [{ offer: OFFER, offer_id: 'short' }],
      [{ offer: { type: 'answer', sdp: 'v=0' }, offer_id: OFFER_ID }],
      [{ offer: { type: 'offer', sdp: 5 }, offer_id: OFFER_ID }],
      [{ offer: 'v=0', offer_id: OFFER_ID }],
      [null],
      [[OFFER, OFFER_ID]],
    ];
    for (const offers of bad) {
      refused(announce({ offers }), { action: 'announce', reason: /offer/, infoHash: IH });
    }
    const many = Array.from({ length: MAX_OFFERS_PER_MESSAGE + 1 }, () => ({ offer: OFFER, offer_id: OFFER_ID }));
    refused(announce({ offers: many }), { action: 'announce', reason: /too many offers/, infoHash: IH });
    const most = parse(announce({ offers: many.slice(1) }));
    assert.equal(most.kind === 'announce' && most.offers.length, MAX_OFFERS_PER_MESSAGE);
  });

  it('relays only type and sdp of an offer', () => {
    const message = parse(announce({ offers: [{ offer: { ...OFFER, extra: 'x'.repeat(100) }, offer_id: OFFER_ID, junk: 1 }] }));
    assert.deepEqual(message.kind === 'announce' && message.offers, [{ offerId: OFFER_ID, offer: JSON.stringify(OFFER) }]);
  });

  it('keeps each session description as the JSON text sent, wherever and however it is written (property)', () => {
    // Any SDP text (quotes, backslashes, control and non-BMP characters), any other members around, escaped
    // member names, duplicate members (the last counts, as for JSON.parse), any indentation.
    const sdp = fc.string({ unit: 'binary', maxLength: 40 });
    const junk = fc.dictionary(fc.constantFrom('a', 'offerx', 'sdp', '"', '\\'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 });
    const indent = fc.constantFrom(undefined, 0, 1, '\t', ' \r\n');
    const escapeNames = (text: string, names: boolean): string => (names ? text.replaceAll('"offer"', '"off\\u0065r"') : text);
    fc.assert(
      fc.property(fc.array(fc.tuple(sdp, junk), { minLength: 1, maxLength: 4 }), junk, indent, fc.boolean(), (offers, around, space, names) => {
        const items = offers.map(([text, other]) => ({ ...other, offer: { type: 'offer', sdp: text }, offer_id: OFFER_ID }));
        const text = escapeNames(JSON.stringify({ ...around, ...announce({ offers: items }), offer: 'not this one' }, null, space), names);
        const message = parse(text);
        assert.ok(message.kind === 'announce');
        for (const o of message.offers) assert.ok(text.includes(o.offer), `${o.offer} is not the text sent`);
        assert.deepEqual(
          message.offers.map((o) => JSON.parse(o.offer) as unknown),
          offers.map(([text]) => ({ type: 'offer', sdp: text })),
        );
      }),
      { numRuns: 1000 },
    );
    const duplicate = `{"action":"announce","info_hash":${JSON.stringify(IH)},"peer_id":"${PEER}","answer":5,"to_peer_id":${JSON.stringify(OTHER)},"offer_id":${JSON.stringify(OFFER_ID)},"answer" : { "sdp" : "x\\\"}" , "type":"answer"} }`;
    const answer = parse(duplicate);
    assert.equal(answer.kind === 'answer' && answer.answer, '{ "sdp" : "x\\\"}" , "type":"answer"}');
  });
});

describe('parseWsMessage: answer', () => {
  const answer = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
    announce({ to_peer_id: OTHER, offer_id: OFFER_ID, answer: ANSWER, ...extra });

  it('reads an announce that carries an answer as an answer', () => {
    assert.deepEqual(parse(answer()), {
      kind: 'answer',
      infoHash: IH,
      peerId: PEER,
      toPeerId: OTHER,
      offerId: OFFER_ID,
      answer: JSON.stringify(ANSWER),
    });
  });

  it('refuses a missing or wrong to_peer_id, offer_id or answer', () => {
    refused(answer({ to_peer_id: undefined }), { action: 'announce', reason: /to_peer_id/, infoHash: IH });
    refused(answer({ to_peer_id: 'x' }), { action: 'announce', reason: /to_peer_id/, infoHash: IH });
    refused(answer({ offer_id: undefined }), { action: 'announce', reason: /offer_id/, infoHash: IH });
    refused(answer({ offer_id: OFFER_ID + 'x' }), { action: 'announce', reason: /offer_id/, infoHash: IH });
    for (const bad of [null, 'v=0', { type: 'offer', sdp: 'v=0' }, { type: 'answer' }, { type: 'answer', sdp: null }, []]) {
      refused(answer({ answer: bad }), { action: 'announce', reason: /answer/, infoHash: IH });
    }
  });
});

describe('parseWsMessage: scrape', () => {
  it('takes one hash, several (duplicates collapse) or none (a full scrape)', () => {
    assert.deepEqual(parse({ action: 'scrape', info_hash: IH }), { kind: 'scrape', infoHashes: [IH] });
    assert.deepEqual(parse({ action: 'scrape', info_hash: [IH, OTHER, IH] }), { kind: 'scrape', infoHashes: [IH, OTHER] });
    assert.deepEqual(parse({ action: 'scrape' }), { kind: 'scrape', infoHashes: [] });
    assert.deepEqual(parse({ action: 'scrape', info_hash: [] }), { kind: 'scrape', infoHashes: [] });
  });

  it('refuses wrong hashes and more than the configured number', () => {
    for (const bad of [5, 'short', [IH, 'short'], [IH, 5], { [IH]: 1 }, [[IH]]]) {
      refused({ action: 'scrape', info_hash: bad }, { action: 'scrape', reason: /info_hash/ });
    }
    const hashes = Array.from({ length: 3 }, (_, i) => IH.slice(0, 19) + String.fromCharCode(i));
    assert.throws(() => parse({ action: 'scrape', info_hash: hashes }, 2), /too many info_hash values \(at most 2\)/);
    assert.equal((parse({ action: 'scrape', info_hash: hashes }, 3) as { infoHashes: string[] }).infoHashes.length, 3);
  });
});

describe('parseWsMessage: not a message', () => {
  it('refuses bad JSON, non-objects and unknown actions', () => {
    for (const text of ['', 'announce', '{', '{"action":"announce"', '\u0000', 'null', '[]', '"x"', '5', 'true']) {
      assert.throws(() => parseWsMessage(text, 74), (e: unknown) => e instanceof WsRequestError && e.action === 'announce', text);
    }
    for (const action of [undefined, 'ANNOUNCE', 'answer', 'connect', 5, null, ['announce']]) {
      refused({ action, info_hash: IH, peer_id: PEER }, { action: 'announce', reason: /action/ });
    }
  });

  it('never lets __proto__ or inherited names stand for fields', () => {
    refused(`{"action":"announce","__proto__":{"info_hash":${JSON.stringify(IH)}},"peer_id":"${PEER}"}`, {
      action: 'announce',
      reason: /info_hash/,
    });
    refused(announce({ event: 'toString' }), { action: 'announce', reason: /event/, infoHash: IH });
  });

  it('throws only WsRequestError, whatever the text (property)', () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const field = fc.oneof(json, fc.string({ minLength: 19, maxLength: 21 }), fc.constant(IH), fc.constant(PEER));
    const message = fc.record(
      {
        action: fc.oneof(fc.constantFrom('announce', 'scrape'), json),
        info_hash: fc.oneof(field, fc.array(field, { maxLength: 80 })),
        peer_id: field,
        event: fc.oneof(fc.constantFrom('started', 'stopped', 'completed'), json),
        numwant: json,
        left: json,
        offers: fc.oneof(json, fc.array(fc.record({ offer: fc.oneof(json, fc.constant(OFFER)), offer_id: field }), { maxLength: 12 })),
        answer: fc.oneof(json, fc.constant(ANSWER)),
        to_peer_id: field,
        offer_id: field,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(message.map((m) => JSON.stringify(m)), fc.string(), fc.string({ unit: 'binary' })), (text) => {
        try {
          const parsed = parseWsMessage(text, 74);
          assert.ok(['announce', 'answer', 'scrape'].includes(parsed.kind));
        } catch (error) {
          assert.ok(error instanceof WsRequestError, `${String(error)} for ${text}`);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('encoders', () => {
  it('round-trip every byte value of binary fields through JSON and UTF-8, as a frame carries them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (a, b) => {
        const ih = Buffer.from(a).toString('latin1');
        const peer = Buffer.from(b).toString('latin1');
        const wire = (text: string): Record<string, unknown> => JSON.parse(Buffer.from(text, 'utf8').toString('utf8'));
        const offer = wire(encodeWsOffer(ih, peer, { offerId: peer, offer: '{"type":"offer","sdp":"v=0"}' }));
        assert.deepEqual(offer, { action: 'announce', info_hash: ih, peer_id: peer, offer_id: peer, offer: { type: 'offer', sdp: 'v=0' } });
        const reparsed = parseWsMessage(JSON.stringify({ action: 'scrape', info_hash: offer.info_hash }), 74);
        assert.deepEqual(reparsed, { kind: 'scrape', infoHashes: [ih] });
      }),
      { numRuns: 300 },
    );
  });

  it('encode the announce reply, the relayed answer, scrape and failures', () => {
    assert.deepEqual(JSON.parse(encodeWsAnnounceReply(IH, 130, { complete: 2, incomplete: 3, downloaded: 9 })), {
      action: 'announce',
      interval: 130,
      info_hash: IH,
      complete: 2,
      incomplete: 3,
    });
    assert.deepEqual(JSON.parse(encodeWsAnswer(IH, PEER, OFFER_ID, '{"type":"answer","sdp":"v=0"}')), {
      action: 'announce',
      info_hash: IH,
      peer_id: PEER,
      offer_id: OFFER_ID,
      answer: { type: 'answer', sdp: 'v=0' },
    });
    assert.deepEqual(
      JSON.parse(
        encodeWsScrapeReply([IH, OTHER], [
          { complete: 1, incomplete: 2, downloaded: 3 },
          { complete: 0, incomplete: 0, downloaded: 0 },
        ]),
      ),
      {
        action: 'scrape',
        files: { [IH]: { complete: 1, incomplete: 2, downloaded: 3 }, [OTHER]: { complete: 0, incomplete: 0, downloaded: 0 } },
      },
    );
    assert.deepEqual(JSON.parse(encodeWsFailure('announce', 'bad', IH)), { action: 'announce', 'failure reason': 'bad', info_hash: IH });
    assert.deepEqual(JSON.parse(encodeWsFailure('scrape', 'bad')), { action: 'scrape', 'failure reason': 'bad' });
  });
});
