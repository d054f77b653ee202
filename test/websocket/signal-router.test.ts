/** The delivery seam (LocalSignalRouter) and the per-socket record of offers that may be answered. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WsAnswerMessage } from '../../src/protocol/websocket.js';
import { PendingOffers } from '../../src/server/pending-offers.js';
import { LocalSignalRouter, type Signal } from '../../src/server/signal-router.js';
import { binaryId } from '../helpers/raw-socket.js';

const IH = binaryId('i', 1);
const FROM = binaryId('f', 1);
const TO = binaryId('t', 1);

function answer(offerId: string, extra: Partial<WsAnswerMessage> = {}): WsAnswerMessage {
  return { kind: 'answer', infoHash: IH, peerId: TO, toPeerId: FROM, offerId, answer: '{"type":"answer","sdp":"v=0"}', ...extra };
}

describe('LocalSignalRouter', () => {
  const signal: Signal = { kind: 'answer', infoHash: IH, fromPeerId: FROM, offerId: binaryId('o', 1), answer: '{"type":"answer","sdp":"v=0"}' };

  it('delivers to the socket attached under a route, until it is detached', () => {
    const router = new LocalSignalRouter();
    const got: Signal[] = [];
    const open = {};
    router.receiveWith((socket, s) => socket === open && got.push(s) > 0);
    const route = router.attach(open);
    const other = router.attach({});
    assert.notEqual(route, other);
    assert.ok(Buffer.byteLength(route) <= 64);
    assert.equal(router.deliver(route, signal), true);
    assert.deepEqual(got, [signal]);
    assert.equal(router.deliver(other, signal), false, 'a receiver that cannot take it says so');
    router.detach(route);
    assert.equal(router.deliver(route, signal), false);
    assert.equal(got.length, 1);
  });

  for (const processId of ['', 'p1']) {
    it(`never delivers an old route to the socket that took its place, nor a malformed route anywhere (process id ${JSON.stringify(processId)})`, () => {
      const router = new LocalSignalRouter(processId);
      const got: object[] = [];
      router.receiveWith((socket) => got.push(socket) > 0);
      const first = {};
      const old = router.attach(first);
      router.detach(old);
      const second = {};
      const route = router.attach(second);
      assert.notEqual(route, old);
      assert.equal(router.deliver(old, signal), false, 'the slot is reused, the old route reaches nothing');
      router.detach(old);
      assert.equal(router.deliver(route, signal), true, 'detaching an old route leaves the new socket attached');
      assert.deepEqual(got, [second]);
      const [prefix, rest] = [route.slice(0, route.indexOf('/') + 1), route.slice(route.indexOf('/') + 1)];
      for (const forged of [`${prefix}0${rest}`, `${prefix}${rest}0`, `${prefix}${rest}.0`, `${prefix}${rest.replace('.', '')}`, `${prefix}.`, prefix, `${prefix}Z${rest}`]) {
        assert.equal(router.deliver(forged, signal), false, forged);
      }
      assert.equal(got.length, 1);
    });
  }

  it('alone (the embedded store), routes are `slot.generation` in base 36: short strings, no process id', () => {
    const router = new LocalSignalRouter();
    const routes = Array.from({ length: 40 }, () => router.attach({}));
    assert.deepEqual(routes.slice(0, 2), ['0.0', '1.0']);
    assert.equal(routes[39], '13.0');
    router.detach(routes[5]!);
    assert.equal(router.attach({}), '5.1');
  });

  it('never takes another process\'s route for one of its own sockets', () => {
    const here = new LocalSignalRouter('here');
    const there = new LocalSignalRouter('there');
    let delivered = 0;
    here.receiveWith(() => ++delivered > 0);
    there.receiveWith(() => true);
    here.attach({});
    const remote = there.attach({});
    assert.notEqual(here.processId, there.processId);
    assert.equal(here.owns(remote), false);
    assert.equal(there.owns(remote), true);
    assert.ok(remote.startsWith(`${there.processId}/`));
    assert.equal(here.deliver(remote, signal), false);
    assert.equal(here.deliver('', signal), false);
    assert.equal(delivered, 0);
  });
});

describe('PendingOffers', () => {
  it('authorizes one answer per offer, from the peer it went to, for the sender it came from, in its swarm', () => {
    const pending = new PendingOffers(1000, 10);
    const id = binaryId('o', 1);
    pending.add(id, IH, FROM, TO, 'route-of-sender', 0);
    assert.equal(pending.take(answer(binaryId('o', 2)), 1), undefined, 'unknown offer_id');
    assert.equal(pending.take(answer(id, { infoHash: binaryId('i', 2) }), 1), undefined, 'other swarm');
    assert.equal(pending.take(answer(id, { toPeerId: binaryId('f', 2) }), 1), undefined, 'other sender');
    assert.equal(pending.take(answer(id, { peerId: binaryId('t', 2) }), 1), undefined, 'answered by a peer it did not go to');
    assert.equal(pending.take(answer(id), 1), 'route-of-sender', 'wrong answers do not use the offer up');
    assert.equal(pending.take(answer(id), 1), undefined, 'used up');
  });

  it('forgets offers after the timeout', () => {
    const pending = new PendingOffers(1000, 10);
    pending.add(binaryId('o', 1), IH, FROM, TO, 'r1', 0);
    pending.add(binaryId('o', 2), IH, FROM, TO, 'r2', 500);
    assert.equal(pending.take(answer(binaryId('o', 1)), 1000), undefined, 'expired at exactly the timeout');
    assert.equal(pending.take(answer(binaryId('o', 2)), 1000), 'r2');
    pending.add(binaryId('o', 3), IH, FROM, TO, 'r3', 5000);
    assert.equal(pending.size, 1, 'expired offers are dropped as new ones come');
    assert.equal(pending.expire(5999), 1);
    assert.equal(pending.expire(6000), 0, 'or when asked');
  });

  it('drops expired offers as new ones come, after the first was answered or sent again', () => {
    const pending = new PendingOffers(1000, 10);
    pending.add(binaryId('o', 1), IH, FROM, TO, 'r1', 0);
    pending.add(binaryId('o', 2), IH, FROM, TO, 'r2', 600);
    assert.equal(pending.take(answer(binaryId('o', 1)), 700), 'r1');
    pending.add(binaryId('o', 3), IH, FROM, TO, 'r3', 1500);
    assert.equal(pending.size, 2, 'o2 lives until 1600');
    pending.add(binaryId('o', 4), IH, FROM, TO, 'r4', 1600);
    assert.equal(pending.size, 2, 'o2 gone at 1600');
    pending.add(binaryId('o', 3), IH, FROM, TO, 'r3', 2000); // sent again: lives until 3000
    pending.add(binaryId('o', 5), IH, FROM, TO, 'r5', 2500);
    assert.equal(pending.size, 3);
    pending.add(binaryId('o', 6), IH, FROM, TO, 'r6', 3000);
    assert.equal(pending.size, 2, 'o4 (2600) and o3 (3000) gone');
    assert.equal(pending.take(answer(binaryId('o', 5)), 3000), 'r5');
  });

  it('keeps at most its capacity, forgetting the oldest', () => {
    const pending = new PendingOffers(60_000, 3);
    for (let i = 1; i <= 5; i++) pending.add(binaryId('o', i), IH, FROM, TO, `r${i}`, i);
    assert.equal(pending.size, 3);
    assert.equal(pending.take(answer(binaryId('o', 2)), 10), undefined);
    assert.equal(pending.take(answer(binaryId('o', 3)), 10), 'r3');
    assert.equal(pending.take(answer(binaryId('o', 5)), 10), 'r5');
  });
});
