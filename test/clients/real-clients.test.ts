// End-to-end: real BitTorrent programs from Debian find each other only
// through redswarm and move a random file; the SHA-256 must match.
//
// Each scenario runs in its own private network + PID namespace (only `lo`),
// with DHT, PEX and local peer discovery off and a private (BEP 27) torrent,
// so the tracker under test is the only way the two programs can meet.
// See docs/real-clients.md.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientName } from './clients.js';
import { netnsUnavailable, reportRun, runScenario } from './netns.js';
import { trackerKindFromEnv, type Proto, type StoreKind } from './tracker.js';
import { missingPrerequisite } from '../helpers/prerequisites.js';

interface Scenario {
  proto: Proto;
  seeder: ClientName;
  leecher: ClientName;
}

// Seeder and leecher are always different programs. transmission 3.00 only
// seeds (it discards loopback peers from tracker replies).
// Together: every program uses both announce protocols, each one seeds at least
// once, and each of the three that can download does so over http and udp.
// The two transmission scenarios come first: they are the slow ones
// (transmission unchokes a new peer only at its 10 s rechoke).
const SCENARIOS: Scenario[] = [
  { proto: 'http', seeder: 'transmission', leecher: 'aria2' },
  { proto: 'udp', seeder: 'transmission', leecher: 'rtorrent' },
  { proto: 'http', seeder: 'qbittorrent', leecher: 'rtorrent' },
  { proto: 'udp', seeder: 'rtorrent', leecher: 'qbittorrent' },
  { proto: 'http', seeder: 'aria2', leecher: 'qbittorrent' },
  { proto: 'udp', seeder: 'qbittorrent', leecher: 'aria2' },
];

// Scenarios are independent (each has its own namespace, so the same ports
// can be reused), so two run at a time. REDSWARM_E2E_CONCURRENCY overrides.
const CONCURRENCY = Number(process.env.REDSWARM_E2E_CONCURRENCY ?? 2) || 1;

const TIMEOUTS = { trackerReadyMs: 20_000, seederRegisteredMs: 20_000, downloadMs: 25_000 };
// Runner budget plus start-up and shutdown slack; the namespace is killed past it.
const HARD_TIMEOUT_MS = TIMEOUTS.trackerReadyMs + TIMEOUTS.seederRegisteredMs + TIMEOUTS.downloadMs + 20_000;

const unavailable = netnsUnavailable();
const tracker = trackerKindFromEnv();

// REDSWARM_E2E_ONLY=<substring> runs only the matching scenarios (for debugging).
const only = process.env.REDSWARM_E2E_ONLY;

// redswarm runs each scenario twice: on its embedded store and on a 3-master Redis Cluster started inside the
// scenario's namespace.
const STORES: StoreKind[] = tracker === 'redswarm' ? ['memory', 'redis-cluster'] : ['memory'];

describe(`real clients via ${tracker}`, { concurrency: CONCURRENCY }, () => {
  for (const [s, store] of STORES.flatMap((store) => SCENARIOS.map((s) => [s, store] as const))) {
    const name = `${s.proto}:// ${s.seeder} seeds, ${s.leecher} downloads (${store} store)`;
    if (only && !name.includes(only)) continue;
    test(name, { timeout: HARD_TIMEOUT_MS + 10_000 }, async (t) => {
      if (unavailable !== undefined) {
        missingPrerequisite(t, unavailable);
        return;
      }
      assert.notEqual(s.seeder, s.leecher, 'seeder and leecher must be different programs');
      const run = await runScenario(
        { ...s, tracker, store, fileSize: 1024 * 1024 + 12_345, pieceLength: 32 * 1024, timeouts: TIMEOUTS },
        HARD_TIMEOUT_MS,
      );
      reportRun(t, `${name} via ${tracker}`, run);
      const r = run.result;
      assert.ok(r, `runner produced no result (${run.exit}); see the output above`);
      assert.ok(r.ok, `scenario failed in phase ${r.phase}: ${r.error}`);
      assert.equal(r.leechSha256, r.seedSha256, 'downloaded file SHA-256 differs from the seeded file');
    });
  }
});
