/**
 * The Redis signal router on its own, on a real 3-master Redis Cluster: its self-check notices a subscription
 * lost behind its back and restores it (logged and counted), a signal that reaches no subscriber removes no
 * peer, and a Redis outage is logged as one connection warning every few seconds, not one per reconnect.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Counter } from 'prom-client';
import { signalResubscribes, signalsUndeliverable } from '../../src/metrics/tracker-metrics.js';
import { RedisSignalRouter, type PeerList } from '../../src/scale-out/redis-signal-router.js';
import type { Signal } from '../../src/server/signal-router.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/** Probes every 300 ms, so that a loss is found within a second here (5 s in production). */
const FAST_CHECKS = { checkIntervalMs: 300, probeTimeoutMs: 150 };

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function capturingLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

/** A peer list that only records: the router hands it what its sockets join and leave, nothing else. */
function recordingPeers(): PeerList & { calls: string[] } {
  const calls: string[] = [];
  return { calls, joined: (route) => void calls.push(`joined ${route}`), left: (route) => void calls.push(`left ${route}`) };
}

function offerSignal(n: number): Signal {
  return {
    kind: 'offer',
    infoHash: 'i'.repeat(20),
    fromPeerId: 'f'.repeat(20),
    fromRoute: 'elsewhere/0',
    toPeerId: 't'.repeat(20),
    offer: { offerId: String(n).padStart(20, '0'), offer: JSON.stringify({ type: 'offer', sdp: `v=0 ${n}` }) },
  };
}

async function counterValue(counter: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await counter.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out after ${waitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the Redis signal router on a Redis Cluster', () => {
  let redis: TestRedis;
  let target: { cluster: string[] };
  const routers: RedisSignalRouter[] = [];

  async function router(log: Logger, peers: PeerList = recordingPeers()): Promise<RedisSignalRouter> {
    const started = await RedisSignalRouter.start({ target, timeoutMs: 1000 }, randomBytes(9).toString('base64url'), peers, log, FAST_CHECKS);
    routers.push(started);
    return started;
  }

  /** A receiving socket on `receiver`, and a way to send it numbered offers from `sender` until one arrives. */
  function socketOn(receiver: RedisSignalRouter, sender: RedisSignalRouter) {
    const got: number[] = [];
    receiver.receiveWith((socket, signal) => (socket as { take(signal: Signal): boolean }).take(signal));
    const route = receiver.attach({
      take(signal: Signal): boolean {
        if (signal.kind === 'offer') got.push(Number(signal.offer.offerId));
        return true;
      },
    });
    let next = 0;
    return {
      route,
      got,
      /** Sends offers (a new one every 100 ms) until one arrives; fails after `waitMs`. */
      async reachable(waitMs: number): Promise<void> {
        const deadline = Date.now() + waitMs;
        for (;;) {
          const n = ++next;
          sender.deliver(route, offerSignal(n));
          const sent = Date.now();
          while (Date.now() - sent < 100) {
            if (got.includes(n)) return;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          assert.ok(Date.now() < deadline, `no offer reached the socket within ${waitMs} ms (received ${got.length})`);
        }
      },
    };
  }

  before(async () => {
    redis = await startRedis('cluster');
    target = redis.target as { cluster: string[] };
  });
  after(async () => {
    await Promise.all(routers.map((r) => r.close()));
    await redis?.stop();
  });

  it('a subscription dropped behind its back is found by the self-check, logged, counted and restored', async () => {
    const { log, lines } = capturingLogger();
    const receiver = await router(log);
    const sender = await router(pino({ level: 'silent' }));
    const socket = socketOn(receiver, sender);
    await socket.reachable(2000);
    const resubscribesBefore = await counterValue(signalResubscribes);

    // SUNSUBSCRIBE on the router's own subscriber connection: ioredis forgets the channel too, so nothing but the
    // router's self-check can bring it back.
    const channel = `sig:{${receiver.processId}}`;
    await (receiver as unknown as { subscriber: Cluster }).subscriber.sunsubscribe(channel);
    const probe = new Cluster(target.cluster.map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })));
    try {
      assert.equal(await probe.spublish(channel, 'anyone?'), 0, 'the channel has no subscriber now');
    } finally {
      probe.disconnect();
    }

    await socket.reachable(5000);
    await waitFor('the restored line', () => lines.some((l) => l.msg === 'signaling channel restored'), 3000);
    assert.ok((await counterValue(signalResubscribes)) > resubscribesBefore, 'the re-subscription is counted');
    const lost = lines.filter((l) => l.msg.startsWith('signaling channel lost'));
    assert.equal(lost.length, 1, 'one warning for the loss');
    assert.equal(lost[0]!.level, 40);
    assert.equal(lost[0]!.reason, 'no subscriber');
    const restored = lines.find((l) => l.msg === 'signaling channel restored')!;
    assert.equal(restored.level, 30);
    assert.ok((restored.resubscribes as number) >= 1);
  });

  it('its subscriber connection killed by Redis (CLIENT KILL TYPE pubsub): signals arrive again', async () => {
    const { log } = capturingLogger();
    const receiver = await router(log);
    const sender = await router(pino({ level: 'silent' }));
    const socket = socketOn(receiver, sender);
    await socket.reachable(2000);
    // CLIENT KILL acts on the node it is sent to: every node, each on a connection of its own.
    for (const node of redis.nodes) {
      const [host, port] = node.split(':');
      const admin = new Redis({ host: host!, port: Number(port) });
      try {
        await admin.client('KILL', 'TYPE', 'pubsub');
      } finally {
        admin.disconnect();
      }
    }
    await socket.reachable(5000);
  });

  it('session descriptions published as objects (processes before 2026-12) arrive as their JSON text', async () => {
    const { log } = capturingLogger();
    const receiver = await router(log);
    const got: Signal[] = [];
    receiver.receiveWith((_socket, signal) => got.push(signal) > 0);
    const route = receiver.attach({});
    const old = new Cluster(target.cluster.map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })));
    try {
      const description = { type: 'offer', sdp: 'v=0 old' };
      const signal = { ...offerSignal(7), offer: { offerId: '0'.repeat(20), offer: description } };
      await old.spublish(`sig:{${receiver.processId}}`, JSON.stringify({ route, signal }));
      const answer = { kind: 'answer', infoHash: 'i'.repeat(20), fromPeerId: 'f'.repeat(20), offerId: '1'.repeat(20), answer: { type: 'answer', sdp: 'v=0 old' } };
      await old.spublish(`sig:{${receiver.processId}}`, JSON.stringify({ route, signal: answer }));
      await waitFor('both signals', () => got.length === 2, 3000);
    } finally {
      old.disconnect();
    }
    const [offer, answer] = got;
    assert.ok(offer?.kind === 'offer' && answer?.kind === 'answer');
    assert.equal(offer.offer.offer, JSON.stringify({ type: 'offer', sdp: 'v=0 old' }));
    assert.equal(answer.answer, JSON.stringify({ type: 'answer', sdp: 'v=0 old' }));
  });

  it('malformed messages on its channel are dropped; the process goes on delivering', async () => {
    const { log, lines } = capturingLogger();
    const receiver = await router(log);
    const got: Signal[] = [];
    receiver.receiveWith((_socket, signal) => got.push(signal) > 0);
    const route = receiver.attach({});
    const publisher = new Cluster(target.cluster.map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })));
    const good = offerSignal(9);
    const malformed: unknown[] = [
      { route: 5, signal: good },
      { route: null, signal: good },
      { route },
      { route, signal: null },
      { route, signal: 'offer' },
      { route, signal: { ...good, kind: 'hello' } },
      { route, signal: { ...good, offer: 5 } },
      { route, signal: { ...good, offer: { offerId: 7, offer: '{}' } } },
      { route, signal: { ...good, offer: { offerId: 'x'.repeat(20), offer: 5 } } },
      { route, signal: { ...good, fromRoute: undefined } },
      { route, signal: { kind: 'answer', infoHash: 'i'.repeat(20), fromPeerId: 'f'.repeat(20), offerId: 3, answer: '{}' } },
      { route, signal: { kind: 'answer', infoHash: 'i'.repeat(20), fromPeerId: 'f'.repeat(20), offerId: 'o'.repeat(20) } },
      [route, good],
      42,
    ];
    try {
      for (const message of malformed) await publisher.spublish(`sig:{${receiver.processId}}`, JSON.stringify(message));
      await publisher.spublish(`sig:{${receiver.processId}}`, '{not json');
      await publisher.spublish(`sig:{${receiver.processId}}`, JSON.stringify({ route, signal: good }));
      await waitFor('the good signal after the malformed ones', () => got.length > 0, 3000);
    } finally {
      publisher.disconnect();
    }
    assert.deepEqual(got, [good], 'only the well-formed signal is delivered');
    assert.equal(lines.filter((line) => line.msg === 'malformed signal dropped').length, malformed.length - 1, 'each one that parses as an object');
  });

  it('a signal that reaches no subscriber is counted and removes no peer', async () => {
    const { log } = capturingLogger();
    const peers = recordingPeers();
    const sender = await router(log, peers);
    const before = await counterValue(signalsUndeliverable, { kind: 'offer', route: 'remote' });
    // A route of a process that has no subscription (gone, or restoring its own).
    sender.deliver('nobodyHere/0', offerSignal(1));
    await waitFor('the undeliverable count', async () => (await counterValue(signalsUndeliverable, { kind: 'offer', route: 'remote' })) === before + 1, 3000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(peers.calls, [], 'nothing was taken off any list (the router holds no store to remove peers with)');
  });

  it('while Redis is down, connection problems are one warning line every few seconds with a count', async () => {
    const { log, lines } = capturingLogger();
    const receiver = await router(log);
    const sender = await router(pino({ level: 'silent' }));
    const socket = socketOn(receiver, sender);
    await socket.reachable(2000);
    const from = lines.length;
    const down = Date.now();
    await redis.restart({ signal: 'SIGKILL', downMs: 4000 });
    const outageMs = Date.now() - down;
    await socket.reachable(15_000);
    const problems = lines.slice(from).filter((l) => l.msg === 'signaling connection problem');
    // ioredis reports a failed reconnect every ~150 ms; one line per 5 s window is what may be written.
    assert.ok(problems.length >= 1, 'the outage is logged');
    assert.ok(problems.length <= Math.ceil((Date.now() - down) / 5000) + 1, `${problems.length} lines in a ${outageMs} ms outage`);
    assert.ok(problems.slice(1).every((l) => (l.suppressed as number) > 0), 'a later line counts the ones left out');
    await waitFor('the restored line', () => lines.slice(from).some((l) => l.msg === 'signaling channel restored'), 5000);
    assert.equal(lines.slice(from).filter((l) => l.msg.startsWith('signaling channel lost')).length, 1, 'one warning for the loss');
  });
});
