/**
 * The limits as the servers ask for them, over a running configuration the test changes as a reload would
 * (in place): a new value applies to the next call, 0 turns a limit off. Also the refusal replies' encodings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbuseLimits } from '../../src/abuse/abuse-limits.js';
import { defaultConfig, type TrackerConfig } from '../../src/config/index.js';
import { encodeFailure } from '../../src/protocol/bencode-writer.js';
import { compactPeerFromText } from '../../src/protocol/ip-address.js';
import { encodeWsFailure } from '../../src/protocol/websocket.js';
import { decodeStrictDict } from '../helpers/wire.js';

function limits(overrides: Partial<TrackerConfig>): { abuse: AbuseLimits; config: TrackerConfig; clock: { now: number } } {
  const config = { ...defaultConfig(), ...overrides };
  const clock = { now: 0 };
  return { abuse: new AbuseLimits({ config, clockMs: () => clock.now, secret: new Uint8Array(16) }), config, clock };
}

const peer = (text: string): Uint8Array => compactPeerFromText(text, 6881)!;
const IH = 'i'.repeat(20);

function allowedFrom(abuse: AbuseLimits, from: Uint8Array, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (abuse.announceAllowed(from, IH, 'http')) ok++;
  return ok;
}

const allowed = (abuse: AbuseLimits, n: number): number => allowedFrom(abuse, peer('192.0.2.1'), n);

describe('AbuseLimits', () => {
  it('--announce-rate-limit: a reloaded value applies to the next announce; 0 turns it off', () => {
    const { abuse, config } = limits({ announceRateLimit: 2, announceRateWindow: 60 });
    assert.equal(allowed(abuse, 5), 2);
    config.announceRateLimit = 4;
    assert.equal(allowed(abuse, 5), 2);
    config.announceRateLimit = 0;
    assert.equal(allowed(abuse, 100), 100);
    config.announceRateWindow = 45;
    assert.equal(abuse.retryAfter, 45);
    assert.match(abuse.rateLimitedReason, /retry in 45 s$/);
  });

  it('--udp-ban-threshold: bans by source whatever the address form (v4-mapped is IPv4); 0 bans nobody', () => {
    const { abuse, config, clock } = limits({ udpBanThreshold: 2, udpBanWindow: 60, udpBanDuration: 5 });
    assert.equal(abuse.udpBanned('192.0.2.1'), false);
    assert.deepEqual([1, 2, 3].map(() => abuse.udpInvalidConnectionId(peer('192.0.2.1'))), [false, false, true]);
    assert.equal(abuse.udpBanned('192.0.2.1'), true);
    assert.equal(abuse.udpBanned('::ffff:192.0.2.1'), true);
    assert.equal(abuse.udpBanned('192.0.2.2'), false);
    clock.now += 5000;
    assert.equal(abuse.udpBanned('192.0.2.1'), false);
    config.udpBanThreshold = 0;
    assert.deepEqual([1, 2, 3, 4].map(() => abuse.udpInvalidConnectionId(peer('2001:db8::1'))), [false, false, false, false]);
  });

  it('--ws-max-sockets-per-ip: counts opens and closes per source; a reloaded cap applies to the next upgrade', () => {
    const { abuse, config } = limits({ wsMaxSocketsPerIp: 1 });
    const a = peer('2001:db8:0:1::1');
    assert.equal(abuse.wsAdmits(a), true);
    abuse.wsOpened(a);
    assert.equal(abuse.wsAdmits(peer('2001:db8:0:1::2')), false, 'the same /64');
    assert.equal(abuse.wsAdmits(peer('2001:db8:0:2::1')), true, 'another /64');
    config.wsMaxSocketsPerIp = 2;
    assert.equal(abuse.wsAdmits(a), true);
    config.wsMaxSocketsPerIp = 1;
    abuse.wsClosed(a);
    assert.equal(abuse.wsAdmits(a), true);
  });
});

describe('--exempt-loopback', () => {
  it('exempts 127.0.0.0/8, v4-mapped loopback and ::1 from every limit; false applies the limits to them too', () => {
    const { abuse, config } = limits({ announceRateLimit: 1, udpBanThreshold: 1, wsMaxSocketsPerIp: 1 });
    for (const address of ['127.0.0.1', '127.1.2.3', '::ffff:127.0.0.1', '::1']) {
      const loopback = peer(address);
      assert.equal(allowedFrom(abuse, loopback, 3), 3, address);
      assert.deepEqual([1, 2, 3].map(() => abuse.udpInvalidConnectionId(loopback)), [false, false, false], address);
      abuse.wsOpened(loopback);
      assert.equal(abuse.wsAdmits(loopback), true, address);
    }
    assert.equal(allowedFrom(abuse, peer('::2'), 3), 1, '::2 is not loopback');
    config.exemptLoopback = false;
    assert.equal(allowedFrom(abuse, peer('127.0.0.9'), 3), 1);
    assert.equal(abuse.wsAdmits(peer('::1')), false);
  });
});

describe('refusal replies', () => {
  it('HTTP: `failure reason` and `min interval` in canonical bencode', () => {
    const reply = decodeStrictDict(encodeFailure('slow down', 60));
    assert.deepEqual(reply.keys, ['failure reason', 'min interval']);
    assert.equal(reply.bytes('failure reason').toString(), 'slow down');
    assert.equal(reply.int('min interval'), 60);
    assert.deepEqual(decodeStrictDict(encodeFailure('é', 0)).int('min interval'), 0);
  });

  it('WebSocket: `min interval` beside the failure reason', () => {
    assert.deepEqual(JSON.parse(encodeWsFailure('announce', 'slow down', IH, 60)), {
      action: 'announce',
      'failure reason': 'slow down',
      info_hash: IH,
      'min interval': 60,
    });
    assert.equal(encodeWsFailure('scrape', 'no'), '{"action":"scrape","failure reason":"no"}');
  });
});
