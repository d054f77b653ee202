/**
 * Fuzzing a live tracker over real loopback sockets: thousands of random and mutated UDP datagrams and HTTP
 * queries. What the tracker must answer is decided by oracles written here from the protocol rules (BEP 15 for
 * UDP, the documented HTTP query rules for HTTP), never by the codecs under test; every reply is checked against
 * them and a model of the swarms kept by the test (what each request should do to them), the UDP
 * anti-amplification rule is checked on every unauthenticated reply, the UDP request metrics must count what the
 * oracle saw, and at the end the store's own totals must agree with a full scrape and with the model.
 *
 * Deterministic from a seed (test/helpers/fuzz-seed.ts): fixed under CI=true, random otherwise, FUZZ_SEED=<n>
 * replays a run; the seed is printed at the start and is in every failure message.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { register } from 'prom-client';
import type { AnnounceEvent } from '../../src/protocol/types.js';
import { fuzzSeed } from '../helpers/fuzz-seed.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import {
  BDict,
  PROTOCOL_ID,
  Rng,
  binary,
  decodeStrictDict,
  percentEncodeAll,
  percentEncodeMixed,
  udpAnnouncePacket,
  udpConnectPacket,
  udpScrapePacket,
} from '../helpers/wire.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';

const { seed: SEED, where } = fuzzSeed('test/server/fuzz.test.ts');
const UDP_PACKETS = 5000;
const HTTP_REQUESTS = 5000;
const WINDOW = 32;
const REPLY_WAIT_MS = 5000;

// Tracker settings the model must mirror (defaults of src/config.ts).
const NUMWANT_DEFAULT = 50;
const NUMWANT_MAX = 200;
const UDP_PEER_CAP = Math.floor((1232 - 20) / 6);
const INTERVAL = 1800;
const MIN_INTERVAL = 900;
const MAX_SCRAPE = 74;

// ---------------------------------------------------------------------------------------------------------------
// Model of the swarms: every peer comes from 127.0.0.1, so a peer is its announced port.

interface Counts {
  complete: number;
  incomplete: number;
  downloaded: number;
}

class SwarmModel {
  readonly peers = new Map<number, { seeder: boolean; counted: boolean }>();
  downloaded = 0;

  counts(): Counts {
    let complete = 0;
    for (const p of this.peers.values()) if (p.seeder) complete++;
    return { complete, incomplete: this.peers.size - complete, downloaded: this.downloaded };
  }
}

interface AnnounceOutcome {
  complete: number;
  incomplete: number;
  /** Exactly how many peers the reply must carry. */
  want: number;
  /** Ports the reply may list (every other peer of the swarm). */
  others: Set<number>;
  self: number;
}

class Model {
  readonly swarms = new Map<string, SwarmModel>();
  /** Largest swarm seen, to show that numwant's default and maximum were exercised. */
  largest = 0;

  /** Mirrors the memory store: `stopped` removes, `completed` counts once per peer, empty swarms are dropped. */
  announce(hash: string, port: number, event: AnnounceEvent, seeder: boolean, numwant: number): AnnounceOutcome {
    let swarm = this.swarms.get(hash);
    if (swarm === undefined) {
      if (event === 'stopped') return { complete: 0, incomplete: 0, want: 0, others: new Set(), self: port };
      swarm = new SwarmModel();
      this.swarms.set(hash, swarm);
    }
    if (event === 'stopped') {
      swarm.peers.delete(port);
    } else {
      const peer = swarm.peers.get(port) ?? { seeder, counted: false };
      peer.seeder = seeder;
      if (event === 'completed' && !peer.counted) {
        peer.counted = true;
        swarm.downloaded++;
      }
      swarm.peers.set(port, peer);
    }
    const { complete, incomplete } = swarm.counts();
    const others = new Set([...swarm.peers.keys()].filter((p) => p !== port));
    const want = event === 'stopped' ? 0 : Math.min(numwant, others.size);
    this.largest = Math.max(this.largest, swarm.peers.size);
    if (swarm.peers.size === 0) this.swarms.delete(hash);
    return { complete, incomplete, want, others, self: port };
  }

  counts(hash: string): Counts {
    return this.swarms.get(hash)?.counts() ?? { complete: 0, incomplete: 0, downloaded: 0 };
  }

  totals(): { swarms: number; seeders: number; leechers: number } {
    let seeders = 0;
    let leechers = 0;
    for (const s of this.swarms.values()) {
      const c = s.counts();
      seeders += c.complete;
      leechers += c.incomplete;
    }
    return { swarms: this.swarms.size, seeders, leechers };
  }
}

function effectiveNumwant(requested: number, cap: number): number {
  return Math.min(requested < 0 ? NUMWANT_DEFAULT : requested, NUMWANT_MAX, cap);
}

/** Compact IPv4 peers of a reply, checked against what the model allows. */
function checkPeers(peers: Uint8Array, expected: AnnounceOutcome, context: string): void {
  assert.equal(peers.length, 6 * expected.want, `${context}: ${peers.length / 6} peers, expected ${expected.want}`);
  const seen = new Set<number>();
  for (let at = 0; at < peers.length; at += 6) {
    assert.deepEqual([...peers.subarray(at, at + 4)], [127, 0, 0, 1], `${context}: peer address`);
    const port = (peers[at + 4]! << 8) | peers[at + 5]!;
    assert.ok(port !== expected.self, `${context}: the requester was given itself`);
    assert.ok(expected.others.has(port), `${context}: port ${port} is not in the swarm`);
    assert.ok(!seen.has(port), `${context}: port ${port} listed twice`);
    seen.add(port);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared state

const rng = new Rng(SEED);
const model = new Model();
/** The swarm no fuzz input ever names: its counts must come out of the fuzz unchanged. */
const KNOWN = binary(Buffer.from('known-swarm-hash-0!!', 'latin1'));
const HASH_POOL: Buffer[] = Array.from({ length: 12 }, () => rng.bytes(20));
/** Enough ports that the busiest swarms outgrow numwant's default (50) and maximum (200). */
const PORT_POOL: number[] = Array.from({ length: 320 }, (_, i) => 20000 + i);

/** Half the time one of two busy swarms, so that some swarms get large. */
function pickHash(): Buffer {
  return rng.chance(0.5) ? HASH_POOL[rng.int(0, 1)]! : rng.pick(HASH_POOL);
}
let t: TestTracker;

before(async () => {
  t = await startTestTracker({ fullScrapeLimit: 1_000_000 });
});

after(async () => {
  await t.stop();
});

// ---------------------------------------------------------------------------------------------------------------
// UDP

/** One client socket; replies are collected by transaction id. */
class UdpProbe {
  readonly socket = dgram.createSocket('udp4');
  readonly replies = new Map<number, Buffer[]>();
  readonly stray: Buffer[] = [];
  private wake: (() => void) | null = null;

  async open(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.socket.on('message', (msg) => {
      if (msg.length < 8) this.stray.push(msg);
      else {
        const tid = msg.readUInt32BE(4);
        const list = this.replies.get(tid);
        if (list === undefined) this.replies.set(tid, [msg]);
        else list.push(msg);
      }
      this.wake?.();
    });
  }

  send(packet: Buffer): void {
    this.socket.send(packet, t.port, '127.0.0.1');
  }

  /** Waits (bounded) until `done()` holds, re-checking on every datagram. */
  async until(done: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + REPLY_WAIT_MS;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${what} ${where}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.wake = null;
  }

  /** Sends one packet and returns its single reply. */
  async request(packet: Buffer): Promise<Buffer> {
    const tid = packet.readUInt32BE(12);
    this.replies.delete(tid);
    this.send(packet);
    await this.until(() => this.replies.has(tid), `the reply to transaction ${tid}`);
    const replies = this.replies.get(tid)!;
    this.replies.delete(tid);
    assert.equal(replies.length, 1, `replies to transaction ${tid} ${where}`);
    return replies[0]!;
  }

  async connect(tid: number): Promise<Buffer> {
    const reply = await this.request(udpConnectPacket(tid));
    assert.equal(reply.length, 16, `connect reply length ${where}`);
    assert.equal(reply.readUInt32BE(0), 0, `connect reply action ${where}`);
    return reply.subarray(8, 16);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** What the oracle expects the tracker to count, as its metrics do. */
interface UdpTally {
  /** redswarm_requests_total{protocol="udp",action="unknown",outcome="error"}: unparsable packets, answered or not. */
  malformed: number;
  /** redswarm_udp_invalid_connection_ids_total, and outcome="rejected" of announce and scrape. */
  invalidCid: number;
  /** outcome="ok" of connect, announce and scrape. */
  connects: number;
  announces: number;
  scrapes: number;
}

function emptyTally(): UdpTally {
  return { malformed: 0, invalidCid: 0, connects: 0, announces: 0, scrapes: 0 };
}

/** The same figures, read from the Prometheus metrics the tracker exports (prom-client's registry, this process). */
async function udpMetrics(): Promise<UdpTally & { rejected: number }> {
  const samples = parseExposition(await register.metrics());
  const requests = (match: Record<string, string>): number =>
    total(samples, 'redswarm_requests_total', { protocol: 'udp', ...match });
  return {
    malformed: requests({ action: 'unknown', outcome: 'error' }),
    invalidCid: total(samples, 'redswarm_udp_invalid_connection_ids_total'),
    rejected: requests({ outcome: 'rejected' }),
    connects: requests({ action: 'connect', outcome: 'ok' }),
    announces: requests({ action: 'announce', outcome: 'ok' }),
    scrapes: requests({ action: 'scrape', outcome: 'ok' }),
  };
}

type UdpExpect =
  | { kind: 'none' }
  | { kind: 'error'; authenticated: boolean }
  | { kind: 'connect' }
  | ({ kind: 'announce' } & AnnounceOutcome)
  | { kind: 'scrape'; counts: Counts[] };

/** What the tracker must answer to `packet`, from BEP 15 and the model; updates the model for announces. */
function expectUdp(packet: Buffer, validCid: Buffer, tally: UdpTally): UdpExpect {
  if (packet.length < 16) {
    tally.malformed++;
    return { kind: 'none' };
  }
  const action = packet.readUInt32BE(8);
  const cidOk = packet.subarray(0, 8).equals(validCid);
  const malformed = (): UdpExpect => {
    tally.malformed++;
    return { kind: 'error', authenticated: false };
  };
  if (action === 0) {
    if (!packet.subarray(0, 8).equals(PROTOCOL_ID)) return malformed();
    tally.connects++;
    return { kind: 'connect' };
  }
  if (action === 1) {
    if (packet.length < 98) return malformed();
    const eventId = packet.readUInt32BE(80);
    const port = packet.readUInt16BE(96);
    if (eventId > 3 || port === 0) return malformed();
    if (!cidOk) {
      tally.invalidCid++;
      return { kind: 'error', authenticated: false };
    }
    const event = (['none', 'completed', 'started', 'stopped'] as const)[eventId]!;
    const seeder = packet.readBigUInt64BE(64) === 0n;
    const numwant = effectiveNumwant(packet.readInt32BE(92), UDP_PEER_CAP);
    tally.announces++;
    return { kind: 'announce', ...model.announce(packet.toString('latin1', 16, 36), port, event, seeder, numwant) };
  }
  if (action === 2) {
    const bytes = packet.length - 16;
    if (bytes === 0 || bytes % 20 !== 0 || bytes / 20 > MAX_SCRAPE) return malformed();
    if (!cidOk) {
      tally.invalidCid++;
      return { kind: 'error', authenticated: false };
    }
    const counts: Counts[] = [];
    for (let at = 16; at < packet.length; at += 20) counts.push(model.counts(packet.toString('latin1', at, at + 20)));
    tally.scrapes++;
    return { kind: 'scrape', counts };
  }
  return malformed();
}

function checkUdpReply(packet: Buffer, reply: Buffer, expected: UdpExpect, context: string): void {
  const tid = packet.readUInt32BE(12);
  const action = reply.readUInt32BE(0);
  assert.equal(reply.readUInt32BE(4), tid, `${context}: transaction id`);
  const authenticated = expected.kind === 'announce' || expected.kind === 'scrape';
  if (!authenticated) {
    assert.ok(reply.length <= packet.length, `${context}: unauthenticated reply of ${reply.length} bytes to a ${packet.length}-byte request`);
  }
  switch (expected.kind) {
    case 'none':
      assert.fail(`${context}: a reply to a packet that cannot carry a transaction id`);
      break;
    case 'error':
      assert.equal(action, 3, `${context}: expected an error reply, got action ${action}`);
      assert.ok(reply.length >= 8, `${context}: error reply length`);
      break;
    case 'connect':
      assert.equal(action, 0, `${context}: expected a connect reply, got action ${action} ${reply.subarray(8).toString()}`);
      assert.equal(reply.length, 16, `${context}: connect reply length`);
      break;
    case 'announce': {
      assert.equal(action, 1, `${context}: expected an announce reply, got action ${action} ${reply.subarray(8).toString()}`);
      assert.ok(reply.length >= 20 && (reply.length - 20) % 6 === 0, `${context}: announce reply length ${reply.length}`);
      const interval = reply.readUInt32BE(8);
      assert.ok(interval >= INTERVAL && interval < INTERVAL * 1.1 + 1, `${context}: interval ${interval}`);
      assert.equal(reply.readUInt32BE(12), expected.incomplete, `${context}: leechers`);
      assert.equal(reply.readUInt32BE(16), expected.complete, `${context}: seeders`);
      checkPeers(reply.subarray(20), expected, context);
      break;
    }
    case 'scrape': {
      assert.equal(action, 2, `${context}: expected a scrape reply, got action ${action} ${reply.subarray(8).toString()}`);
      assert.equal(reply.length, 8 + 12 * expected.counts.length, `${context}: scrape reply length`);
      expected.counts.forEach((c, i) => {
        const at = 8 + 12 * i;
        assert.deepEqual(
          { complete: reply.readUInt32BE(at), downloaded: reply.readUInt32BE(at + 4), incomplete: reply.readUInt32BE(at + 8) },
          c,
          `${context}: scrape counts of hash #${i}`,
        );
      });
      break;
    }
  }
}

/** A random datagram: noise, broken headers, and valid requests with mutations. */
function randomDatagram(validCid: Buffer): Buffer {
  const length = (): number => rng.pick([rng.int(0, 20), rng.int(0, 120), rng.int(0, 1500)]);
  const mutate = (packet: Buffer): Buffer => {
    let out = packet;
    if (rng.chance(0.15)) out = out.subarray(0, rng.int(0, out.length));
    if (rng.chance(0.15)) out = Buffer.concat([out, rng.bytes(rng.int(1, 300))]);
    if (rng.chance(0.3)) {
      out = Buffer.from(out);
      for (let n = rng.int(1, 3); n > 0 && out.length > 0; n--) out[rng.int(0, out.length - 1)] = rng.int(0, 255);
    }
    return out;
  };
  const wrongCid = (): Buffer => {
    if (rng.chance(0.5)) return rng.bytes(8);
    const cid = Buffer.from(validCid);
    const bit = rng.int(0, 63);
    cid[bit >> 3] = cid[bit >> 3]! ^ (0x80 >> (bit & 7));
    return cid;
  };
  const announce = (cid: Uint8Array): Buffer =>
    udpAnnouncePacket({
      connectionId: cid,
      transactionId: 0,
      infoHash: rng.chance(0.9) ? pickHash() : rng.bytes(20),
      peerId: rng.bytes(20),
      downloaded: rng.chance(0.5) ? 0n : BigInt(rng.u32()),
      left: rng.pick([0n, 0n, 1n, 1n << 32n, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())]),
      uploaded: 0n,
      event: rng.chance(0.9) ? rng.int(0, 3) : rng.pick([4, 7, 0xffffffff, rng.u32()]),
      ip: rng.chance(0.8) ? 0 : rng.u32(),
      key: rng.u32(),
      numwant: rng.pick([-1, 0, 1, 5, 50, 300, rng.u32() | 0]),
      port: rng.chance(0.95) ? rng.pick(PORT_POOL) : 0,
      options: rng.chance(0.2) ? rng.bytes(rng.int(0, 40)) : undefined,
    });
  const scrape = (cid: Uint8Array): Buffer => {
    const n = rng.pick([1, 2, rng.int(0, 10), rng.int(0, 80), 74, 75]);
    return udpScrapePacket(cid, 0, Array.from({ length: n }, () => (rng.chance(0.8) ? pickHash() : rng.bytes(20))));
  };
  const roll = rng.int(0, 99);
  if (roll < 8) return rng.bytes(length());
  if (roll < 13) return rng.bytes(rng.int(0, 15));
  if (roll < 23) {
    const head = Buffer.alloc(16);
    rng.pick([PROTOCOL_ID, validCid, rng.bytes(8)]).copy(head, 0);
    head.writeUInt32BE(rng.pick([0, 1, 2, 3, 4, rng.u32()]), 8);
    return Buffer.concat([head, rng.bytes(length())]);
  }
  if (roll < 33) return mutate(udpConnectPacket(0, rng.chance(0.2) ? rng.int(1, 100) : 0));
  if (roll < 68) return mutate(announce(validCid));
  if (roll < 76) return mutate(announce(wrongCid()));
  if (roll < 94) return mutate(scrape(validCid));
  return mutate(scrape(wrongCid()));
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function httpGet(path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: t.port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(REPLY_WAIT_MS, () => req.destroy(new Error(`HTTP request timed out: ${path.slice(0, 200)} ${where}`)));
    req.on('error', reject);
  });
}

/** Printable ASCII a URL path can carry as is. */
const PRINTABLE = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => c !== '#');

function printable(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += rng.pick(PRINTABLE);
  return out;
}

function encodeBytes(bytes: Uint8Array): string {
  return rng.chance(0.5) ? percentEncodeAll(bytes, rng.chance(0.5)) : percentEncodeMixed(bytes, () => rng.chance(0.3), () => rng.chance(0.5));
}

function mutateQuery(q: string): string {
  let out = q;
  if (rng.chance(0.2)) out = out.slice(0, rng.int(0, out.length)); // may cut an escape in half
  if (rng.chance(0.15) && out.length > 0) {
    const at = rng.int(0, out.length - 1);
    out = out.slice(0, at) + rng.pick([...PRINTABLE, '%', '&', '=', '%2', '%%']) + out.slice(at + 1);
  }
  if (rng.chance(0.1)) {
    // repeat one of its parameters
    const pairs = out.split('&');
    out += '&' + rng.pick(pairs);
  }
  if (rng.chance(0.05)) out += `&${rng.pick(['numwant', 'port', 'left', 'x', 'info_hash'])}=${'9'.repeat(rng.int(15, 4000))}`;
  if (rng.chance(0.05)) out += `&junk=${printable(rng.int(0, 8000))}`;
  return out;
}

function randomAnnounceQuery(): string {
  const pairs: [string, string][] = [];
  const hashBytes = rng.chance(0.92) ? pickHash() : rng.bytes(rng.pick([19, 20, 20, 21]));
  if (rng.chance(0.95)) pairs.push(['info_hash', encodeBytes(hashBytes)]);
  if (rng.chance(0.95)) pairs.push(['peer_id', encodeBytes(rng.bytes(rng.chance(0.95) ? 20 : rng.int(0, 40)))]);
  if (rng.chance(0.95)) pairs.push(['port', rng.chance(0.9) ? String(rng.pick(PORT_POOL)) : rng.pick(['0', '65536', '', 'abc', '-1', '9'.repeat(30), '00020001'])]);
  if (rng.chance(0.8)) pairs.push(['left', rng.pick(['0', '0', '1', String(rng.u32()), '-1', 'x', '', '9'.repeat(20), '9'.repeat(25)])]);
  if (rng.chance(0.7)) pairs.push(['event', rng.pick(['started', 'completed', 'stopped', '', 'paused', 'empty', 'STOPPED', '%73topped', 'constructor'])]);
  if (rng.chance(0.5)) pairs.push(['numwant', rng.pick(['0', '1', '3', '50', '200', '500', '-1', 'many', '9'.repeat(20), '9'.repeat(40)])]);
  if (rng.chance(0.3)) pairs.push(['compact', rng.pick(['0', '1', '', 'no'])]);
  for (const extra of ['uploaded', 'downloaded', 'key', 'ip', 'trackerid', 'supportcrypto', 'no_peer_id']) {
    if (rng.chance(0.2)) pairs.push([extra, printable(rng.int(0, 12)).replaceAll('&', '').replaceAll('=', '')]);
  }
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
  }
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function randomScrapeQuery(): string {
  const parts: string[] = [];
  if (rng.chance(0.15)) {
    // Around the limit of distinct hashes, with repeats that must collapse: the pool's hashes, then new ones.
    const distinct = rng.pick([MAX_SCRAPE - 1, MAX_SCRAPE, MAX_SCRAPE, MAX_SCRAPE + 1, rng.int(MAX_SCRAPE + 1, MAX_SCRAPE + 20)]);
    const hashes = [...HASH_POOL, ...Array.from({ length: distinct - HASH_POOL.length }, () => rng.bytes(20))];
    const repeats = Array.from({ length: rng.int(0, 10) }, () => rng.pick(hashes));
    for (const bytes of [...hashes, ...repeats]) parts.push(`info_hash=${encodeBytes(bytes)}`);
  } else {
    const n = rng.pick([0, 1, 2, rng.int(0, 10), rng.int(0, 80), 74, 75]);
    for (let i = 0; i < n; i++) {
      const bytes = rng.chance(0.9) ? pickHash() : rng.bytes(rng.pick([19, 20, 21]));
      parts.push(`info_hash=${encodeBytes(bytes)}`);
    }
  }
  if (rng.chance(0.2)) parts.push(`${rng.pick(['peer_id', 'x', 'info_hashx', 'INFO_HASH'])}=${printable(rng.int(0, 30))}`);
  return parts.join('&');
}

function randomHttpPath(): { path: string; kind: 'announce' | 'scrape'; query: string } {
  const roll = rng.int(0, 99);
  let kind: 'announce' | 'scrape' = 'announce';
  let query: string;
  if (roll < 55) query = mutateQuery(randomAnnounceQuery());
  else if (roll < 62) query = printable(rng.int(0, 600));
  else if (roll < 67) query = `${rng.pick(['info_hash', 'peer_id', 'port', 'x'])}=${percentEncodeAll(rng.bytes(rng.int(0, 100)))}`;
  else if (roll < 90) {
    kind = 'scrape';
    query = mutateQuery(randomScrapeQuery());
  } else {
    kind = 'scrape';
    query = printable(rng.int(0, 600));
  }
  return { path: `/${kind}?${query}`, kind, query };
}

// ---------------------------------------------------------------------------------------------------------------
// The HTTP oracle: a reference decoder of the query as the client sends it, written from the documented rules
// (docs/protocol-behaviour.md, "HTTP"), not from src/protocol. It decides failure or success and, on success, what
// the model needs.
//
//   - The query is `&`-separated `name=value` pairs; empty pieces are skipped; a piece without `=` is a name with an
//     empty value. Names are matched as sent (every tracker parameter name is plain ASCII); unknown names, and
//     `ip`, `key`, `trackerid`, `uploaded`, `downloaded`, are ignored whatever their value.
//   - `info_hash`, `peer_id` and `event` values are percent-decoded byte for byte: `%XX` (either hex case) is one
//     byte, `+` and every other ASCII character is itself; a `%` not followed by two hex digits, or a raw character
//     above 0x7f, is an error.
//   - `port`, `left`, `numwant` are decimal digits as sent (not percent-decoded: `port=%36%38` is not a port, and a
//     stray `%` in `left` or `numwant` makes it garbage, not an error); `compact=0` is the exact text `0`.
//   - A repeated parameter: the last value counts, and every value given must be valid; a repeated `info_hash` is an
//     error on announce and collapses on scrape.

/** Why a request must fail; the tracker's wording is not documented, so only the presence of a failure is checked. */
type HttpFailure =
  | 'malformed percent-encoding'
  | 'raw non-ASCII'
  | 'missing info_hash'
  | 'duplicate info_hash'
  | 'info_hash not 20 bytes'
  | 'missing peer_id'
  | 'peer_id not 20 bytes'
  | 'missing port'
  | 'invalid port'
  | 'invalid event'
  | 'too many info_hash';

type HttpVerdict =
  | { kind: 'failure'; why: HttpFailure }
  | {
      kind: 'announce';
      infoHash: string;
      port: number;
      event: AnnounceEvent;
      seeder: boolean;
      /** As requested; -1 when absent or not a non-negative decimal (the default applies). */
      numwant: number;
      compact: boolean;
    }
  | { kind: 'scrape'; hashes: string[] };

class Refused extends Error {
  constructor(readonly why: HttpFailure) {
    super(why);
  }
}

/** The query's pairs, in order, as sent. */
function referencePairs(query: string): { name: string; value: string }[] {
  return query
    .split('&')
    .filter((piece) => piece.length > 0)
    .map((piece) => {
      const eq = piece.indexOf('=');
      return eq < 0 ? { name: piece, value: '' } : { name: piece.slice(0, eq), value: piece.slice(eq + 1) };
    });
}

/** Byte-wise percent-decoding into a binary (latin1) string. */
function referenceDecode(value: string): string {
  if (/[^\x00-\x7f]/.test(value)) throw new Refused('raw non-ASCII');
  // Hex digits are never `%`, so every `%` starts an escape, and each must be followed by two hex digits.
  if (/%(?![0-9A-Fa-f]{2})/.test(value)) throw new Refused('malformed percent-encoding');
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Longest decimal the tracker reads; longer digit strings are garbage like any other text (`numwant` with 40 digits
 * gets the default, not the maximum; `port` padded with zeros past 20 digits is invalid). The documentation does
 * not say where a number stops being one: this is the tracker's choice, kept here so that the fuzz can send such
 * values.
 */
const DECIMAL_DIGITS_MAX = 20;

/** A decimal number as sent (digits only, at most DECIMAL_DIGITS_MAX of them), else null. */
function referenceDecimal(value: string): bigint | null {
  return value.length <= DECIMAL_DIGITS_MAX && /^[0-9]+$/.test(value) ? BigInt(value) : null;
}

/** `event` values and what they mean; anything else (`empty`, `STOPPED`, `constructor`, …) is an error. */
function referenceEvent(value: string): AnnounceEvent {
  switch (value) {
    case '':
    case 'paused': // BEP 21: a regular announce
      return 'none';
    case 'started':
    case 'completed':
    case 'stopped':
      return value;
    default:
      throw new Refused('invalid event');
  }
}

function referenceAnnounce(query: string): HttpVerdict {
  const pairs = referencePairs(query);
  const values = (name: string): string[] => pairs.filter((p) => p.name === name).map((p) => p.value);
  const last = <T>(items: T[]): T | undefined => items[items.length - 1];

  const hashValues = values('info_hash').map(referenceDecode);
  const peerIds = values('peer_id').map(referenceDecode);
  const events = values('event').map((v) => referenceEvent(referenceDecode(v)));
  const ports = values('port').map((v) => {
    const port = referenceDecimal(v);
    if (port === null || port < 1n || port > 65535n) throw new Refused('invalid port');
    return Number(port);
  });
  if (hashValues.length === 0) throw new Refused('missing info_hash');
  if (hashValues.length > 1) throw new Refused('duplicate info_hash');
  if (hashValues[0]!.length !== 20) throw new Refused('info_hash not 20 bytes');
  if (peerIds.length === 0) throw new Refused('missing peer_id');
  if (peerIds.some((id) => id.length !== 20)) throw new Refused('peer_id not 20 bytes');
  if (ports.length === 0) throw new Refused('missing port');

  const left = referenceDecimal(last(values('left')) ?? '');
  const numwant = referenceDecimal(last(values('numwant')) ?? '');
  return {
    kind: 'announce',
    infoHash: hashValues[0]!,
    port: last(ports)!,
    event: last(events) ?? 'none',
    seeder: left === 0n, // missing, negative or garbage: unknown, a leecher
    numwant: numwant === null ? -1 : Number(numwant), // may be far above the maximum, which then applies
    compact: last(values('compact')) !== '0',
  };
}

function referenceScrape(query: string): HttpVerdict {
  const hashes: string[] = [];
  for (const { name, value } of referencePairs(query)) {
    if (name !== 'info_hash') continue;
    const hash = referenceDecode(value);
    if (hash.length !== 20) throw new Refused('info_hash not 20 bytes');
    if (!hashes.includes(hash)) hashes.push(hash);
  }
  if (hashes.length > MAX_SCRAPE) throw new Refused('too many info_hash');
  return { kind: 'scrape', hashes };
}

/** What the tracker must answer to `GET /<kind>?<query>`. */
function httpVerdict(kind: 'announce' | 'scrape', query: string): HttpVerdict {
  try {
    return kind === 'announce' ? referenceAnnounce(query) : referenceScrape(query);
  } catch (error) {
    if (error instanceof Refused) return { kind: 'failure', why: error.why };
    throw error;
  }
}

/** How often each rule decided a verdict, to show that the fuzz reached every rule. */
const verdictTally = new Map<string, number>();

function tallyVerdict(verdict: HttpVerdict): void {
  const tags: string[] = [];
  if (verdict.kind === 'failure') tags.push(`failure: ${verdict.why}`);
  else if (verdict.kind === 'announce') {
    tags.push('announce', `event ${verdict.event}`, verdict.seeder ? 'seeder' : 'leecher');
    if (!verdict.compact) tags.push('compact=0');
    if (verdict.numwant >= 0) tags.push(verdict.numwant > NUMWANT_MAX ? 'numwant above the maximum' : 'numwant');
  } else tags.push(verdict.hashes.length === 0 ? 'full scrape' : verdict.hashes.length === MAX_SCRAPE ? 'scrape of the most hashes' : 'scrape');
  for (const tag of tags) verdictTally.set(tag, (verdictTally.get(tag) ?? 0) + 1);
}

/** Rules every HTTP fuzz run must reach (a raw non-ASCII byte cannot go through node's HTTP client: see the tests below). */
const HTTP_RULES = [
  ...(
    [
      'malformed percent-encoding',
      'missing info_hash',
      'duplicate info_hash',
      'info_hash not 20 bytes',
      'missing peer_id',
      'peer_id not 20 bytes',
      'missing port',
      'invalid port',
      'invalid event',
      'too many info_hash',
    ] satisfies HttpFailure[]
  ).map((why) => `failure: ${why}`),
  ...(['none', 'started', 'completed', 'stopped'] satisfies AnnounceEvent[]).map((event) => `event ${event}`),
  'seeder',
  'leecher',
  'compact=0',
  'numwant',
  'numwant above the maximum',
  'scrape',
  'scrape of the most hashes',
  'full scrape',
];

/** Checks an HTTP reply against the reference decoder's verdict on the query and the model. */
function checkHttp(kind: 'announce' | 'scrape', query: string, status: number, body: Buffer, context: string): HttpVerdict {
  assert.equal(status, 200, `${context}: status`);
  let reply: BDict;
  try {
    reply = decodeStrictDict(body);
  } catch (error) {
    assert.fail(`${context}: not a canonical bencoded dictionary (${(error as Error).message}): ${body.toString('latin1').slice(0, 300)}`);
  }
  const verdict = httpVerdict(kind, query);
  tallyVerdict(verdict);
  const failure = reply.has('failure reason') ? reply.bytes('failure reason').toString('latin1') : null;
  if (verdict.kind === 'failure') {
    assert.ok(failure !== null, `${context}: expected a failure (${verdict.why}), got keys ${reply.keys.join(', ')}`);
    assert.deepEqual(reply.keys, ['failure reason'], `${context}: a failure carries only its reason`);
    assert.ok(failure.length > 0, `${context}: empty failure reason`);
    return verdict;
  }
  assert.equal(failure, null, `${context}: unexpected failure "${failure}"`);
  if (verdict.kind === 'announce') {
    const expected = model.announce(verdict.infoHash, verdict.port, verdict.event, verdict.seeder, effectiveNumwant(verdict.numwant, Infinity));
    assert.deepEqual(reply.keys, ['complete', 'incomplete', 'interval', 'min interval', 'peers'], `${context}: keys`);
    assert.equal(reply.int('complete'), expected.complete, `${context}: complete`);
    assert.equal(reply.int('incomplete'), expected.incomplete, `${context}: incomplete`);
    const interval = reply.int('interval');
    assert.ok(interval >= INTERVAL && interval < INTERVAL * 1.1 + 1, `${context}: interval ${interval}`);
    assert.equal(reply.int('min interval'), MIN_INTERVAL, `${context}: min interval`);
    if (verdict.compact) {
      checkPeers(reply.bytes('peers'), expected, context);
    } else {
      const compact = Buffer.concat(
        reply.list('peers').map((entry) => {
          assert.ok(entry instanceof BDict, `${context}: dictionary peer`);
          assert.deepEqual(entry.keys, ['ip', 'port'], `${context}: dictionary peer keys`);
          const ip = entry.bytes('ip').toString();
          assert.equal(ip, '127.0.0.1', `${context}: peer ip`);
          const port = entry.int('port');
          return Buffer.from([127, 0, 0, 1, port >> 8, port & 0xff]);
        }),
      );
      checkPeers(compact, expected, context);
    }
    return verdict;
  }
  const hashes = verdict.hashes.length > 0 ? verdict.hashes : [...model.swarms.keys()]; // empty: a full scrape
  assert.deepEqual(reply.keys, ['files'], `${context}: keys`);
  const files = reply.dict('files');
  assert.deepEqual(new Set(files.keys), new Set(hashes), `${context}: scraped hashes`);
  assert.equal(files.keys.length, hashes.length, `${context}: every hash once`);
  for (const hash of hashes) {
    const entry = files.dict(hash);
    assert.deepEqual(entry.keys, ['complete', 'downloaded', 'incomplete'], `${context}: keys of a scrape entry`);
    assert.deepEqual(
      { complete: entry.int('complete'), downloaded: entry.int('downloaded'), incomplete: entry.int('incomplete') },
      model.counts(hash),
      `${context}: counts of ${Buffer.from(hash, 'latin1').toString('hex')}`,
    );
  }
  return verdict;
}

/** Full scrape over HTTP: every swarm with its counts. */
async function fullScrape(): Promise<Map<string, Counts>> {
  const { status, body } = await httpGet('/scrape');
  assert.equal(status, 200, `full scrape ${where}`);
  const files = decodeStrictDict(body).dict('files');
  const out = new Map<string, Counts>();
  for (const hash of files.keys) {
    const e = files.dict(hash);
    out.set(hash, { complete: e.int('complete'), incomplete: e.int('incomplete'), downloaded: e.int('downloaded') });
  }
  return out;
}

async function knownSwarmAnnounce(port: number, left: number, event = 'started'): Promise<void> {
  const query = `info_hash=${percentEncodeAll(Buffer.from(KNOWN, 'latin1'))}&peer_id=${percentEncodeAll(rng.bytes(20))}&port=${port}&left=${left}&event=${event}`;
  const { status, body } = await httpGet(`/announce?${query}`);
  checkHttp('announce', query, status, body, `known swarm announce ${where}`);
}

// ---------------------------------------------------------------------------------------------------------------

describe(`fuzzing a live tracker ${where}`, () => {
  const probe = new UdpProbe();

  before(async () => {
    await probe.open();
    // A known swarm the fuzz never names: two seeders (one of them completed here) and two leechers.
    await knownSwarmAnnounce(50001, 0);
    await knownSwarmAnnounce(50002, 10);
    await knownSwarmAnnounce(50003, 0, 'completed');
    await knownSwarmAnnounce(50004, 5);
    assert.deepEqual(model.counts(KNOWN), { complete: 2, incomplete: 2, downloaded: 1 }, `known swarm set-up ${where}`);
  });

  after(async () => {
    await probe.close();
    agent.destroy();
  });

  it(`UDP: ${UDP_PACKETS} random and mutated datagrams`, async () => {
    const validCid = Buffer.from(await probe.connect(rng.u32()));
    const tally = emptyTally();
    const before = await udpMetrics();
    let tid = rng.u32();
    let sent = 0;
    let answered = 0;
    let amplificationChecks = 0;
    while (sent < UDP_PACKETS) {
      const batch: { packet: Buffer; expected: UdpExpect; tid: number }[] = [];
      for (let i = 0; i < WINDOW && sent < UDP_PACKETS; i++, sent++) {
        const packet = randomDatagram(validCid);
        tid = (tid + 1) >>> 0;
        if (packet.length >= 16) packet.writeUInt32BE(tid, 12);
        const expected = expectUdp(packet, validCid, tally);
        batch.push({ packet, expected, tid });
        probe.send(packet);
      }
      const awaited = batch.filter((b) => b.expected.kind !== 'none');
      await probe.until(() => awaited.every((b) => probe.replies.has(b.tid)), `replies to datagrams ${sent - batch.length}..${sent - 1}`);
      for (const { packet, expected, tid: id } of awaited) {
        const replies = probe.replies.get(id)!;
        const context = `datagram tid=${id} len=${packet.length} head=${packet.subarray(0, 40).toString('hex')} ${where}`;
        assert.equal(replies.length, 1, `${context}: ${replies.length} replies`);
        checkUdpReply(packet, replies[0]!, expected, context);
        if (expected.kind !== 'announce' && expected.kind !== 'scrape') amplificationChecks++;
        probe.replies.delete(id);
        answered++;
      }
    }
    // Nothing arrived for the packets that cannot be answered (a last round trip flushes what was in flight).
    await probe.connect(rng.u32());
    tally.connects++;
    assert.deepEqual([...probe.replies.keys()], [], `replies to unanswerable packets ${where}`);
    assert.deepEqual(probe.stray, [], `datagrams shorter than 8 bytes ${where}`);
    assert.ok(answered > UDP_PACKETS * 0.8 && amplificationChecks > 1000, `${answered} answered, ${amplificationChecks} unauthenticated ${where}`);

    // Every reply the oracle expected was seen, so every request has been counted by now.
    const after = await udpMetrics();
    const delta = (key: keyof typeof after): number => after[key] - before[key];
    assert.equal(delta('malformed'), tally.malformed, `redswarm_requests_total{protocol="udp",action="unknown",outcome="error"} ${where}`);
    assert.equal(delta('invalidCid'), tally.invalidCid, `redswarm_udp_invalid_connection_ids_total ${where}`);
    assert.equal(delta('rejected'), tally.invalidCid, `redswarm_requests_total{protocol="udp",outcome="rejected"} ${where}`);
    assert.equal(delta('connects'), tally.connects, `redswarm_requests_total{protocol="udp",action="connect",outcome="ok"} ${where}`);
    assert.equal(delta('announces'), tally.announces, `redswarm_requests_total{protocol="udp",action="announce",outcome="ok"} ${where}`);
    assert.equal(delta('scrapes'), tally.scrapes, `redswarm_requests_total{protocol="udp",action="scrape",outcome="ok"} ${where}`);
    assert.ok(tally.malformed > 100 && tally.invalidCid > 100, `the mix is off: ${JSON.stringify(tally)} ${where}`);
  });

  it('UDP: a valid connect + announce + scrape still work afterwards', async () => {
    const cid = await probe.connect(rng.u32());
    const hash = rng.bytes(20);
    const packet = udpAnnouncePacket({
      connectionId: cid, transactionId: rng.u32(), infoHash: hash, peerId: rng.bytes(20),
      downloaded: 0n, left: 0n, uploaded: 0n, event: 2, ip: 0, key: 0, numwant: -1, port: 6881,
    });
    const expected = expectUdp(packet, cid, emptyTally());
    assert.equal(expected.kind, 'announce', `final announce ${where}`);
    checkUdpReply(packet, await probe.request(packet), expected, `final announce ${where}`);
    const scrape = udpScrapePacket(cid, rng.u32(), [hash, Buffer.from(KNOWN, 'latin1')]);
    const reply = await probe.request(scrape);
    checkUdpReply(scrape, reply, expectUdp(scrape, cid, emptyTally()), `final scrape ${where}`);
  });

  it('UDP: unauthenticated replies are never larger than the request (targeted)', async () => {
    // The smallest packets that get an answer, for every action, with wrong connection ids.
    for (let action = 0; action < 6; action++) {
      for (const length of [16, 17, 20, 36, 97, 98, 99, 116]) {
        const packet = rng.bytes(length);
        packet.writeUInt32BE(action, 8);
        const tid = rng.u32();
        packet.writeUInt32BE(tid, 12);
        const reply = await probe.request(packet);
        assert.ok(reply.length <= length, `action ${action}, ${length} bytes -> ${reply.length}-byte reply ${where}`);
        assert.equal(reply.readUInt32BE(4), tid, `action ${action}, ${length} bytes: transaction id ${where}`);
      }
    }
  });

  it(`HTTP: ${HTTP_REQUESTS} random and mutated announce and scrape queries over keep-alive`, async () => {
    verdictTally.clear();
    let failures = 0;
    for (let i = 0; i < HTTP_REQUESTS; i++) {
      const { path, kind, query } = randomHttpPath();
      const { status, body } = await httpGet(path);
      const verdict = checkHttp(kind, query, status, body, `request #${i} ${path.slice(0, 300)} ${where}`);
      if (verdict.kind === 'failure') failures++;
    }
    const seen = JSON.stringify(Object.fromEntries([...verdictTally].sort()));
    assert.ok(failures > HTTP_REQUESTS * 0.1 && failures < HTTP_REQUESTS * 0.9, `${failures} failures: the mix is off ${seen} ${where}`);
    const missed = HTTP_RULES.filter((rule) => !verdictTally.has(rule));
    assert.deepEqual(missed, [], `rules no request reached; reached: ${seen} ${where}`);
  });

  it('HTTP: the known swarm is untouched and a normal announce still works', async () => {
    assert.deepEqual(model.counts(KNOWN), { complete: 2, incomplete: 2, downloaded: 1 }, `known swarm ${where}`);
    const query = `info_hash=${percentEncodeAll(Buffer.from(KNOWN, 'latin1'))}`;
    const { status, body } = await httpGet(`/scrape?${query}`);
    checkHttp('scrape', query, status, body, `known swarm scrape ${where}`);
    await knownSwarmAnnounce(50005, 7);
    assert.deepEqual(model.counts(KNOWN), { complete: 2, incomplete: 3, downloaded: 1 }, `known swarm ${where}`);
  });

  it('the store agrees with a full scrape and with the model', async () => {
    const scraped = await fullScrape();
    const stats = await t.store.stats();
    let seeders = 0;
    let leechers = 0;
    for (const c of scraped.values()) {
      seeders += c.complete;
      leechers += c.incomplete;
      assert.ok(c.complete + c.incomplete > 0, `a listed swarm is never empty ${where}`);
    }
    assert.deepEqual(stats, { swarms: scraped.size, seeders, leechers }, `store stats vs full scrape ${where}`);
    assert.deepEqual(stats, model.totals(), `store stats vs model ${where}`);
    assert.deepEqual(new Map([...model.swarms.keys()].map((h) => [h, model.counts(h)])), scraped, `every swarm ${where}`);
    assert.deepEqual(scraped.get(KNOWN), { complete: 2, incomplete: 3, downloaded: 1 }, `known swarm ${where}`);
    assert.ok(model.largest > NUMWANT_MAX + 1, `largest swarm ${model.largest}: numwant caps not exercised ${where}`);
  });
});

describe('raw (unescaped) bytes in an HTTP query', () => {
  /** Sends a request with bytes as given (no client-side encoding) on its own connection. */
  function rawGet(target: Buffer): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(t.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.setTimeout(REPLY_WAIT_MS, () => socket.destroy(new Error('raw request timed out')));
      socket.on('close', () => {
        const text = Buffer.concat(chunks);
        const split = text.indexOf('\r\n\r\n');
        const head = text.subarray(0, split).toString('latin1');
        resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), body: text.subarray(split + 4) });
      });
      socket.end(Buffer.concat([Buffer.from('GET '), target, Buffer.from(' HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')]));
    });
  }

  // uWebSockets.js hands the query over decoded as UTF-8: raw bytes C3 A9 become the one character U+00E9, E2 82 AC
  // becomes U+20AC. Neither is the byte the client sent, so a raw non-ASCII byte can never be part of an info_hash.
  for (const [name, raw] of [
    ['U+00E9 (C3 A9)', Buffer.from('\u00e9', 'utf8')],
    ['U+20AC (E2 82 AC)', Buffer.from('\u20ac', 'utf8')],
  ] as const) {
    it(`an info_hash with raw ${name} is refused`, async () => {
      const target = Buffer.concat([
        Buffer.from('/announce?info_hash='),
        raw,
        Buffer.from(`${'A'.repeat(19)}&peer_id=${'P'.repeat(20)}&port=1111&left=5`),
      ]);
      const { status, body } = await rawGet(target);
      assert.equal(status, 200);
      const reply = decodeStrictDict(body);
      assert.ok(reply.has('failure reason'), `accepted as a 20-byte info_hash: ${body.toString('latin1')}`);
    });
  }

  it('a full scrape stays canonical bencode whatever was announced', async () => {
    // The latin1 byte a binary write keeps of U+20AC is 0xAC: announce that hash properly too.
    const escaped = await rawGet(Buffer.from(`/announce?info_hash=%AC${'A'.repeat(19)}&peer_id=${'Q'.repeat(20)}&port=2222&left=5`));
    assert.ok(!decodeStrictDict(escaped.body).has('failure reason'));
    const full = await rawGet(Buffer.from('/scrape'));
    assert.equal(full.status, 200);
    assert.doesNotThrow(() => decodeStrictDict(full.body), `full scrape: ${full.body.toString('latin1').slice(0, 200)}`);
  });
});
