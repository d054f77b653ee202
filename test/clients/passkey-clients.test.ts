// Private tracker end-to-end: real BitTorrent programs announce to
// `/KEY/announce` of a redswarm started with --private, the key added (and
// revoked) with `redswarm keys`, as an operator does. With a known key they
// find each other and move a file; with a revoked key both are refused and the
// tracker lists neither. Same namespace harness as real-clients.test.ts; see
// docs/real-clients.md for which clients can send a passkey over UDP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientName } from './clients.js';
import { netnsUnavailable, reportRun, runScenario } from './netns.js';
import type { Proto, StoreKind } from './tracker.js';
import { missingPrerequisite } from '../helpers/prerequisites.js';

interface Scenario {
  seeder: ClientName;
  proto: Proto;
  leecher: ClientName;
  leechProto: Proto;
  store: StoreKind;
  passkey: 'valid' | 'revoked';
}

// Few runs, since each takes 15-30 s. Over UDP only qBittorrent (libtorrent)
// sends the key (BEP 41 URL data); aria2, transmission and rtorrent send none,
// so each UDP announce of qBittorrent meets an HTTP one of another program.
const SCENARIOS: Scenario[] = [
  // The usual private-tracker set-up: HTTP both ways (transmission only seeds: it drops loopback peers).
  { seeder: 'transmission', proto: 'http', leecher: 'aria2', leechProto: 'http', store: 'memory', passkey: 'valid' },
  // The key over UDP; the key list shared in Redis, edited with the CLI there.
  { seeder: 'rtorrent', proto: 'http', leecher: 'qbittorrent', leechProto: 'udp', store: 'redis-cluster', passkey: 'valid' },
  // A revoked key, over both protocols: both refused, neither listed, nothing moves.
  { seeder: 'qbittorrent', proto: 'udp', leecher: 'aria2', leechProto: 'http', store: 'memory', passkey: 'revoked' },
];

const TIMEOUTS = { trackerReadyMs: 20_000, seederRegisteredMs: 20_000, downloadMs: 25_000 };
// Runner budget, the CLI's key edits, start-up and shutdown slack; the namespace is killed past it.
const HARD_TIMEOUT_MS = TIMEOUTS.trackerReadyMs + TIMEOUTS.seederRegisteredMs + TIMEOUTS.downloadMs + 30_000;

const unavailable = netnsUnavailable();

describe('real clients with passkeys (redswarm --private)', { concurrency: 2 }, () => {
  for (const s of SCENARIOS) {
    const name = `${s.passkey} key: ${s.seeder} seeds over ${s.proto}, ${s.leecher} leeches over ${s.leechProto} (${s.store} store)`;
    test(name, { timeout: HARD_TIMEOUT_MS + 10_000 }, async (t) => {
      if (unavailable !== undefined) {
        missingPrerequisite(t, unavailable);
        return;
      }
      const run = await runScenario(
        { ...s, tracker: 'redswarm', fileSize: 512 * 1024 + 4321, pieceLength: 32 * 1024, timeouts: TIMEOUTS },
        HARD_TIMEOUT_MS,
      );
      reportRun(t, name, run);
      const r = run.result;
      assert.ok(r, `runner produced no result (${run.exit}); see the output above`);
      assert.ok(r.ok, `scenario failed in phase ${r.phase}: ${r.error}`);
      if (s.passkey === 'valid') assert.equal(r.leechSha256, r.seedSha256, 'downloaded file SHA-256 differs from the seeded file');
      else assert.notEqual(r.leechSha256, r.seedSha256, 'the leecher got the file with a revoked passkey');
    });
  }
});
