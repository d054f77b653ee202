// The tracker under test (redswarm; opentracker only for developing the harness)
// plus a tiny HTTP / UDP (BEP 15) scrape client used to see when the seeder
// has registered.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { BDict, decodeStrictDict } from '../helpers/wire.js';
import { Proc, tailFile, waitFor } from './proc.js';

export type TrackerKind = 'redswarm' | 'opentracker';
/** Where redswarm keeps its swarms. */
export type StoreKind = 'memory' | 'redis-cluster';
export type Proto = 'http' | 'udp';

/**
 * Which tracker the test drives. Always redswarm unless a developer explicitly
 * sets REDSWARM_E2E_TRACKER=opentracker to debug the harness itself.
 */
export function trackerKindFromEnv(): TrackerKind {
  const v = process.env.REDSWARM_E2E_TRACKER ?? 'redswarm';
  if (v !== 'redswarm' && v !== 'opentracker') {
    throw new Error(`REDSWARM_E2E_TRACKER must be redswarm or opentracker, got ${v}`);
  }
  return v;
}

export interface RunningTracker {
  kind: TrackerKind;
  proc: Proc;
  host: string;
  port: number;
  announceUrl(proto: Proto): string;
}

export async function startTracker(opts: {
  kind: TrackerKind;
  dir: string;
  repoRoot: string;
  host: string;
  port: number;
  infoHashHex: string;
  readyTimeoutMs: number;
  /** Seed nodes of a Redis Cluster to keep swarms in (redswarm only); none: the embedded store. */
  redisCluster?: string;
  /** More redswarm flags (e.g. private mode). */
  args?: string[];
}): Promise<RunningTracker> {
  const { kind, dir, host, port } = opts;
  const logPath = join(dir, `${kind}.log`);
  let proc: Proc;
  if (kind === 'redswarm') {
    proc = Proc.start(
      'redswarm',
      process.execPath,
      [
        '--import', 'tsx', 'src/cli.ts', '--host', host, '--port', String(port),
        ...(opts.redisCluster ? ['--redis-cluster', opts.redisCluster] : []),
        ...(opts.args ?? []),
      ],
      { logPath, cwd: opts.repoRoot, env: withoutRedswarmSettings(process.env) },
    );
  } else {
    // Debian's opentracker is built whitelist-only: list our info hash.
    // It also drops privileges to `nobody`: make the whitelist reachable.
    const wl = join(dir, 'whitelist');
    writeFileSync(wl, `${opts.infoHashHex}\n`, { mode: 0o644 });
    chmodSync(dir, 0o755);
    // opentracker chroot()s into its working directory: run it from `dir`.
    proc = Proc.start('opentracker', 'opentracker', ['-i', host, '-p', String(port), '-P', String(port), '-w', wl], {
      logPath,
      cwd: dir,
    });
  }

  const ready = await waitFor(async () => {
    if (!proc.running) return 'exited';
    if (kind === 'redswarm') {
      let log = '';
      try {
        log = readFileSync(logPath, 'utf8');
      } catch {
        /* not yet */
      }
      return /"msg"\s*:\s*"listening"/.test(log) ? 'ready' : undefined;
    }
    return (await tcpConnects(host, port)) ? 'ready' : undefined;
  }, opts.readyTimeoutMs, 100);

  if (ready !== 'ready') {
    const why = ready === 'exited' ? `exited early (${proc.describeExit()})` : `not ready after ${opts.readyTimeoutMs} ms`;
    await proc.stop();
    throw new Error(`tracker ${kind} ${why}\n--- ${logPath} ---\n${tailFile(logPath, 40)}`);
  }
  return {
    kind,
    proc,
    host,
    port,
    announceUrl: (proto) => `${proto}://${host}:${port}/announce`,
  };
}

/** The tracker gets only its flags: drop REDSWARM_* settings a developer may have exported. */
function withoutRedswarmSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('REDSWARM_')));
}

/** Runs a `redswarm` subcommand (e.g. `keys add`) to completion, as an operator would; throws if it fails. */
export function redswarmCommand(repoRoot: string, args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: repoRoot,
    env: withoutRedswarmSettings(process.env),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function tcpConnects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

export interface ScrapeResult {
  complete: number;
  incomplete: number;
  downloaded: number;
}

/**
 * Scrape one info hash over HTTP (`/scrape`, or `/KEY/scrape` with a passkey) or UDP (BEP 15, which has no
 * place for a passkey). Throws on any failure.
 */
export async function scrape(proto: Proto, host: string, port: number, infoHash: Buffer, passkey?: string): Promise<ScrapeResult> {
  if (proto === 'http') return httpScrape(host, port, infoHash, passkey);
  if (passkey !== undefined) throw new Error('a UDP scrape cannot carry a passkey');
  return udpScrape(host, port, infoHash);
}

function percentEncodeBytes(b: Buffer): string {
  return [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');
}

async function httpScrape(host: string, port: number, infoHash: Buffer, passkey?: string): Promise<ScrapeResult> {
  const path = passkey === undefined ? '/scrape' : `/${passkey}/scrape`;
  const url = `http://${host}:${port}${path}?info_hash=${percentEncodeBytes(infoHash)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) throw new Error(`HTTP scrape: status ${res.status}: ${body.toString('latin1').slice(0, 200)}`);
  const top = decodeStrictDict(body);
  if (top.has('failure reason')) throw new Error(`HTTP scrape: failure reason: ${top.bytes('failure reason').toString()}`);
  const entry = top.dict('files').entries.get(infoHash.toString('latin1'));
  if (!(entry instanceof BDict)) return { complete: 0, incomplete: 0, downloaded: 0 }; // unknown torrent yet
  return { complete: entry.int('complete'), incomplete: entry.int('incomplete'), downloaded: entry.int('downloaded') };
}

async function udpScrape(host: string, port: number, infoHash: Buffer): Promise<ScrapeResult> {
  const sock = createSocket('udp4');
  try {
    const request = (msg: Buffer, action: number, minLen: number): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const tx = msg.readUInt32BE(12);
        const timer = setTimeout(() => {
          sock.off('message', onMsg);
          reject(new Error(`UDP ${action === 0 ? 'connect' : 'scrape'}: no reply within 1000 ms`));
        }, 1000);
        const onMsg = (m: Buffer): void => {
          if (m.length < 8 || m.readUInt32BE(4) !== tx) return;
          clearTimeout(timer);
          sock.off('message', onMsg);
          const act = m.readUInt32BE(0);
          if (act === 3) reject(new Error(`UDP tracker error: ${m.subarray(8).toString()}`));
          else if (act !== action || m.length < minLen) reject(new Error(`UDP: unexpected reply action=${act} len=${m.length}`));
          else resolve(m);
        };
        sock.on('message', onMsg);
        sock.send(msg, port, host, (err) => {
          if (err) {
            clearTimeout(timer);
            sock.off('message', onMsg);
            reject(err);
          }
        });
      });

    const connect = Buffer.alloc(16);
    connect.writeBigUInt64BE(0x41727101980n, 0);
    connect.writeUInt32BE(0, 8);
    randomBytes(4).copy(connect, 12);
    const cr = await request(connect, 0, 16);

    const scrapeMsg = Buffer.alloc(36);
    cr.copy(scrapeMsg, 0, 8, 16); // connection id
    scrapeMsg.writeUInt32BE(2, 8);
    randomBytes(4).copy(scrapeMsg, 12);
    infoHash.copy(scrapeMsg, 16);
    const sr = await request(scrapeMsg, 2, 20);
    return { complete: sr.readUInt32BE(8), downloaded: sr.readUInt32BE(12), incomplete: sr.readUInt32BE(16) };
  } finally {
    sock.close();
  }
}
