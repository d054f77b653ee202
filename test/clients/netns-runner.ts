// One seeder → tracker → leecher scenario. This script runs INSIDE a fresh
// network + PID namespace created by netns.ts (`unshare --net --pid ...`), so
// the only interface is `lo` and every process started here dies with it.
//
// Usage (internal): node --import tsx test/clients/netns-runner.ts '<ScenarioConfig JSON>'
// Writes <workDir>/result.json (ScenarioResult) and progress lines to stderr.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLoopbackOnly } from '../helpers/loopback-only.js';
import { CLIENTS, type ClientName, type RunningClient } from './clients.js';
import { tailFile, waitFor } from './proc.js';
import { makeTorrent } from './torrent.js';
import {
  redswarmCommand,
  scrape,
  startTracker,
  type Proto,
  type RunningTracker,
  type ScrapeResult,
  type StoreKind,
  type TrackerKind,
} from './tracker.js';

export interface ScenarioConfig {
  proto: Proto;
  seeder: ClientName;
  leecher: ClientName;
  tracker: TrackerKind;
  store: StoreKind;
  workDir: string;
  repoRoot: string;
  fileSize: number;
  pieceLength: number;
  timeouts: { trackerReadyMs: number; seederRegisteredMs: number; downloadMs: number };
  /** The leecher's announce protocol when not `proto` (over UDP only some clients can send a passkey). */
  leechProto?: Proto;
  /**
   * A private tracker (--private): both clients announce with one passkey, known to the tracker (`valid`), or
   * added and then revoked with `redswarm keys` before they start (`revoked`: both must be refused).
   */
  passkey?: 'valid' | 'revoked';
}

export type Phase = 'setup' | 'tracker' | 'seeder' | 'leecher' | 'done';

export interface ScenarioResult {
  ok: boolean;
  /** The phase that failed (or 'done'). */
  phase: Phase;
  error?: string;
  seedSha256: string;
  leechSha256?: string;
  infoHashHex: string;
  announceUrl: string;
  /** ms from scenario start at which each step finished. */
  timings: Record<string, number>;
  diagnostics: string;
}

const TRACKER_HOST = '127.0.0.1';
const TRACKER_PORT = 6969;
const SEED_PORT = 51413;
const LEECH_PORT = 51414;
const SEED_AUX_PORT = 52413;
const LEECH_AUX_PORT = 52414;

const t0 = Date.now();
const log = (msg: string): void => {
  process.stderr.write(`[runner +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
};

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '') as ScenarioConfig;
  const timings: Record<string, number> = {};
  const mark = (name: string): void => {
    timings[name] = Date.now() - t0;
    log(name);
  };
  let phase: Phase = 'setup';
  let tracker: RunningTracker | undefined;
  let seeder: RunningClient | undefined;
  let leecher: RunningClient | undefined;
  let lastScrape: ScrapeResult | string = '(no scrape yet)';
  const seedSpec = CLIENTS[cfg.seeder];
  const leechSpec = CLIENTS[cfg.leecher];

  const fileName = 'payload.bin';
  const seedData = join(cfg.workDir, 'seed-data');
  const leechData = join(cfg.workDir, 'leech-data');
  const seedDir = join(cfg.workDir, `seeder-${cfg.seeder}`);
  const leechDir = join(cfg.workDir, `leecher-${cfg.leecher}`);
  for (const d of [seedData, leechData, seedDir, leechDir]) mkdirSync(d, { recursive: true });
  const seedFile = join(seedData, fileName);
  const leechFile = join(leechData, fileName);

  // Random payload; an odd size so the last piece is short.
  writeFileSync(seedFile, randomBytes(cfg.fileSize));
  const seedSha256 = sha256File(seedFile);
  // Private tracker: the clients' passkey, and the runner's own for its scrapes (over HTTP: UDP has no place for it).
  const clientKey = cfg.passkey === undefined ? undefined : randomBytes(16).toString('hex');
  const observerKey = cfg.passkey === undefined ? undefined : randomBytes(16).toString('hex');
  const leechProto = cfg.leechProto ?? cfg.proto;
  const urlOf = (proto: Proto): string =>
    `${proto}://${TRACKER_HOST}:${TRACKER_PORT}${clientKey === undefined ? '' : `/${clientKey}`}/announce`;
  const announceUrl = urlOf(cfg.proto);
  const made = await makeTorrent(seedFile, announceUrl, cfg.pieceLength);
  const torrentPath = join(cfg.workDir, 'payload.torrent');
  writeFileSync(torrentPath, made.torrent);
  // A leecher on another protocol gets a torrent of its own: another announce URL, the same info (hash).
  const leechTorrentPath = leechProto === cfg.proto ? torrentPath : join(cfg.workDir, 'payload-leech.torrent');
  if (leechProto !== cfg.proto) writeFileSync(leechTorrentPath, (await makeTorrent(seedFile, urlOf(leechProto), cfg.pieceLength)).torrent);
  const scrapeNow = (): Promise<ScrapeResult> =>
    observerKey === undefined
      ? scrape(cfg.proto, TRACKER_HOST, TRACKER_PORT, made.infoHash)
      : scrape('http', TRACKER_HOST, TRACKER_PORT, made.infoHash, observerKey);
  const trackerLog = join(cfg.workDir, `${cfg.tracker}.log`);
  /** Waits for the tracker's (debug) line saying it refused the passkey of a request from `ip`. */
  const refusedFrom = async (ip: string, who: string): Promise<void> => {
    const refusal = (line: string): boolean => {
      try {
        const entry = JSON.parse(line) as { msg?: string; from?: string };
        return entry.msg === 'passkey unknown' && entry.from === ip;
      } catch {
        return false;
      }
    };
    const seen = await waitFor(() => readFileSync(trackerLog, 'utf8').split('\n').some(refusal), cfg.timeouts.seederRegisteredMs, 300);
    if (!seen) throw new Error(`no refusal of ${who}'s revoked passkey in the tracker log after ${cfg.timeouts.seederRegisteredMs} ms`);
    mark(`tracker refused ${who}'s revoked passkey`);
  };

  const result: ScenarioResult = {
    ok: false,
    phase,
    seedSha256,
    infoHashHex: made.infoHashHex,
    announceUrl,
    timings,
    diagnostics: '',
  };

  const leechSha = (): string | undefined => {
    try {
      if (statSync(leechFile).size !== cfg.fileSize) return undefined;
      return sha256File(leechFile);
    } catch {
      return undefined;
    }
  };

  try {
    requireLoopbackOnly();
    for (const [spec, role] of [[seedSpec, 'seed'], [leechSpec, 'leech']] as const) {
      const why = spec.cannot?.(role);
      if (why) throw new Error(`${spec.name} cannot ${role}: ${why}`);
    }
    if (cfg.seeder === cfg.leecher) throw new Error('seeder and leecher must be different programs');
    mark('setup');

    phase = 'tracker';
    let redisCluster: string | undefined;
    if (cfg.store === 'redis-cluster') {
      // Inside the namespace too: it dies with the namespace like everything else started here.
      const script = join(cfg.repoRoot, 'deploy/redis-cluster.sh');
      redisCluster = execFileSync('bash', [script, 'start', join(cfg.workDir, 'redis')], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop();
      mark(`redis cluster ${redisCluster} ready`);
    }
    // The key list: the shared one in Redis, or a file; edited with the CLI, as an operator does.
    const keyList = redisCluster === undefined ? ['--passkey-file', join(cfg.workDir, 'passkeys')] : ['--redis-cluster', redisCluster];
    if (clientKey !== undefined) redswarmCommand(cfg.repoRoot, ['keys', 'add', clientKey, observerKey!, ...keyList]);
    tracker = await startTracker({
      redisCluster,
      // Debug: the tracker logs each refused passkey (masked) with the client's address.
      args: clientKey === undefined ? [] : ['--private', 'true', '--log-level', 'debug', ...(redisCluster === undefined ? keyList : [])],
      kind: cfg.tracker,
      dir: cfg.workDir,
      repoRoot: cfg.repoRoot,
      host: TRACKER_HOST,
      port: TRACKER_PORT,
      infoHashHex: made.infoHashHex,
      readyTimeoutMs: cfg.timeouts.trackerReadyMs,
    });
    mark(`tracker ${cfg.tracker} ready`);
    if (cfg.passkey === 'revoked') {
      redswarmCommand(cfg.repoRoot, ['keys', 'revoke', clientKey!, ...keyList]);
      const refused = await waitFor(async () => {
        try {
          await scrape('http', TRACKER_HOST, TRACKER_PORT, made.infoHash, clientKey);
          return undefined;
        } catch (err) {
          return /unknown passkey/.test((err as Error).message);
        }
      }, 5000, 100);
      if (!refused) throw new Error('the tracker still takes the client key 5 s after `redswarm keys revoke`');
      mark('client key revoked: the tracker refuses it');
    }

    phase = 'seeder';
    seeder = await seedSpec.start({
      role: 'seed',
      proto: cfg.proto,
      dir: seedDir,
      dataDir: seedData,
      torrentPath,
      infoHashHex: made.infoHashHex,
      ip: seedSpec.ip,
      port: SEED_PORT,
      auxPort: SEED_AUX_PORT,
    });
    mark(`seeder ${cfg.seeder} started on ${seedSpec.ip}:${SEED_PORT} (pid ${seeder.proc.pid})`);
    if (cfg.passkey === 'revoked') await refusedFrom(seedSpec.ip, 'the seeder');
    // The leecher only gets peers in reply to its first announce, so wait until
    // the tracker knows the seeder (scrape over the same protocol, or HTTP with a passkey).
    const registered = cfg.passkey === 'revoked' ? 'refused' : await waitFor(async () => {
      if (!seeder?.proc.running) return 'exited';
      try {
        lastScrape = await scrapeNow();
        return lastScrape.complete >= 1 ? 'ok' : undefined;
      } catch (err) {
        lastScrape = `scrape failed: ${(err as Error).message}`;
        return undefined;
      }
    }, cfg.timeouts.seederRegisteredMs, 300);
    if (registered === 'exited') throw new Error(`seeder ${cfg.seeder} ${seeder.proc.describeExit()} before registering`);
    if (registered !== 'ok' && registered !== 'refused') {
      throw new Error(
        `seeder ${cfg.seeder} not registered as complete at the tracker after ${cfg.timeouts.seederRegisteredMs} ms (last scrape: ${JSON.stringify(lastScrape)})`,
      );
    }
    if (registered === 'ok') mark(`seeder registered (scrape ${JSON.stringify(lastScrape)})`);

    phase = 'leecher';
    leecher = await leechSpec.start({
      role: 'leech',
      proto: leechProto,
      dir: leechDir,
      dataDir: leechData,
      torrentPath: leechTorrentPath,
      infoHashHex: made.infoHashHex,
      ip: leechSpec.ip,
      port: LEECH_PORT,
      auxPort: LEECH_AUX_PORT,
    });
    mark(`leecher ${cfg.leecher} started on ${leechSpec.ip}:${LEECH_PORT} (pid ${leecher.proc.pid})`);
    if (cfg.passkey === 'revoked') {
      // Both were refused, so the tracker lists neither, and it is their only way to meet (private torrent).
      await refusedFrom(leechSpec.ip, 'the leecher');
      lastScrape = await scrapeNow();
      if (lastScrape.complete + lastScrape.incomplete !== 0) throw new Error(`the tracker lists peers of revoked keys: ${JSON.stringify(lastScrape)}`);
      result.leechSha256 = leechSha();
      if (result.leechSha256 === seedSha256) throw new Error('the leecher downloaded the file with a revoked passkey');
      mark(`neither is listed (scrape ${JSON.stringify(lastScrape)}), nothing downloaded`);
      phase = 'done';
      result.ok = true;
      return;
    }
    const outcome = await waitFor(async () => {
      const sha = leechSha();
      if (sha === seedSha256) return 'complete';
      if (!seeder?.proc.running) return 'seeder-exited';
      if (!leecher?.proc.running) {
        // aria2 exits by itself once complete; give the filesystem one more look.
        return leechSha() === seedSha256 ? 'complete' : 'leecher-exited';
      }
      return undefined;
    }, cfg.timeouts.downloadMs, 300);
    result.leechSha256 = leechSha();
    if (outcome === 'seeder-exited') throw new Error(`seeder ${cfg.seeder} ${seeder.proc.describeExit()} during the download`);
    if (outcome === 'leecher-exited') {
      throw new Error(`leecher ${cfg.leecher} ${leecher.proc.describeExit()} without a complete, matching file`);
    }
    if (outcome !== 'complete') {
      throw new Error(`download by ${cfg.leecher} did not complete with a matching SHA-256 within ${cfg.timeouts.downloadMs} ms`);
    }
    mark('download complete, SHA-256 matches');
    phase = 'done';
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message;
    log(`FAILED in phase ${phase}: ${result.error}`);
  } finally {
    result.phase = phase;
    if (!result.ok) {
      result.leechSha256 ??= leechSha();
      result.diagnostics = await collectDiagnostics();
    }
    await Promise.allSettled([leecher?.stop(), seeder?.stop()]);
    await tracker?.proc.stop();
    mark('all processes stopped');
    writeFileSync(join(cfg.workDir, 'result.json'), JSON.stringify(result, null, 2));
  }

  async function collectDiagnostics(): Promise<string> {
    const parts: string[] = [];
    const section = (title: string, body: string): void => {
      parts.push(`===== ${title} =====\n${body}`);
    };
    let scrapeText: string;
    try {
      scrapeText = JSON.stringify(await scrapeNow());
    } catch (err) {
      scrapeText = `scrape failed: ${(err as Error).message}`;
    }
    section('summary', [
      `scenario: ${cfg.proto} ${cfg.seeder} (seed) -> ${leechProto} ${cfg.leecher} (leech) via ${cfg.tracker} ${announceUrl}`,
      `info hash: ${made.infoHashHex}, size ${cfg.fileSize}`,
      `seed sha256:  ${seedSha256}`,
      `leech sha256: ${result.leechSha256 ?? '(file missing or incomplete)'}`,
      `leech file size: ${(() => {
        try {
          return String(statSync(leechFile).size);
        } catch {
          return 'missing';
        }
      })()}`,
      `scrape now: ${scrapeText}`,
      `tracker: ${tracker ? tracker.proc.describeExit() : 'not started'}`,
      `timings: ${JSON.stringify(timings)}`,
    ].join('\n'));
    for (const [label, c] of [['seeder', seeder], ['leecher', leecher]] as const) {
      if (!c) continue;
      section(`${label} ${c.name} status`, await c.status().catch((e: Error) => `status failed: ${e.message}`));
      for (const f of c.logs) section(`${label} ${c.name} log ${f}`, tailFile(f, 40));
    }
    if (tracker) section(`tracker ${tracker.kind} log`, tailFile(join(cfg.workDir, `${tracker.kind}.log`), 40));
    return parts.join('\n');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`runner crashed: ${(err as Error).stack ?? String(err)}`);
    process.exit(2);
  },
);
