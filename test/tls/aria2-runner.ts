/**
 * Inside a private network namespace (aria2.test.ts): redswarm with HTTPS only (--plain-http false, a
 * certificate from a throw-away CA), and aria2 seeding a private torrent whose announce URL is https://, trusting
 * the CA with --ca-certificate. Resolves once redswarm lists aria2 as the swarm's seeder (scraped over HTTPS, and
 * given out to an announce at aria2's address and port). Prints one JSON line (Aria2Result).
 *
 * Usage (internal): node --import tsx test/tls/aria2-runner.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { Proc, tailFile, waitFor } from '../clients/proc.js';
import { makeTorrent } from '../clients/torrent.js';
import { requireLoopbackOnly } from '../helpers/loopback-only.js';
import { freePort } from '../helpers/ports.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { TestCa } from './certificates.js';

export interface Aria2Result {
  ok: boolean;
  step: string;
  error?: string;
  /** complete, incomplete of the swarm, scraped over HTTPS. */
  counts?: number[];
  /** Peers an HTTPS announce got, as ip:port. */
  peers?: string[];
  diagnostics: string;
}

const ARIA2_IP = '127.0.0.12';
const ARIA2_PORT = 51413;

function get(url: string, ca: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks)));
      })
      .once('error', reject);
  });
}

async function main(): Promise<Aria2Result> {
  const result: Aria2Result = { ok: false, step: 'namespace', diagnostics: '' };
  const ca = TestCa.create();
  let tracker: TestTracker | undefined;
  let aria2: Proc | undefined;
  const out = join(ca.dir, 'aria2.out');
  try {
    requireLoopbackOnly();
    result.step = 'tracker';
    const issued = ca.issue('tracker');
    const tlsPort = await freePort();
    tracker = await startTestTracker({ hosts: ['127.0.0.1'], plainHttp: false, tlsPort, tlsCert: issued.cert, tlsKey: issued.key });
    const base = `https://127.0.0.1:${tlsPort}`;

    result.step = 'aria2';
    const data = join(ca.dir, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'payload.bin'), randomBytes(256 * 1024 + 17));
    const made = await makeTorrent(join(data, 'payload.bin'), `${base}/announce`, 32 * 1024);
    const torrentPath = join(ca.dir, 'payload.torrent');
    writeFileSync(torrentPath, made.torrent);
    aria2 = Proc.start(
      'aria2c',
      'aria2c',
      [
        '--no-conf', `--dir=${data}`, '--console-log-level=notice', '--enable-color=false', '--enable-dht=false', '--enable-dht6=false',
        '--enable-peer-exchange=false', '--bt-enable-lpd=false', `--listen-port=${ARIA2_PORT}`, `--interface=${ARIA2_IP}`,
        '--check-integrity=true', '--bt-seed-unverified=false', '--seed-ratio=0.0', '--bt-tracker-connect-timeout=5',
        `--ca-certificate=${ca.caFile}`, '--check-certificate=true', `--stop-with-process=${process.pid}`, torrentPath,
      ],
      { logPath: out },
    );

    result.step = 'announced';
    const caPem = readFileSync(ca.caFile);
    const escaped = escape(made.infoHash.toString('latin1'));
    const counts = await waitFor(async () => {
      const body = (await get(`${base}/scrape?info_hash=${escaped}`, caPem)).toString('latin1');
      const match = /8:completei(\d+)e10:downloadedi\d+e10:incompletei(\d+)e/.exec(body);
      return match && match[1] === '1' ? [Number(match[1]), Number(match[2])] : undefined;
    }, 30_000, 200);
    if (counts === undefined) throw new Error('aria2 never showed up in the swarm');
    result.counts = counts;
    const reply = await get(`${base}/announce?info_hash=${escaped}&peer_id=${escape(randomBytes(20).toString('latin1'))}&port=6881&left=1&compact=1`, caPem);
    const peersAt = reply.indexOf('5:peers');
    const length = Number(/^5:peers(\d+):/.exec(reply.subarray(peersAt).toString('latin1'))![1]);
    const compact = reply.subarray(reply.indexOf(':', peersAt + 7) + 1).subarray(0, length);
    result.peers = [];
    for (let at = 0; at + 6 <= compact.length; at += 6) result.peers.push(`${compact.subarray(at, at + 4).join('.')}:${compact.readUInt16BE(at + 4)}`);
    result.step = 'done';
    result.ok = result.peers.includes(`${ARIA2_IP}:${ARIA2_PORT}`);
  } catch (error) {
    result.error = (error as Error).message;
  } finally {
    result.diagnostics = tailFile(out, 30);
    await aria2?.stop();
    await tracker?.stop();
    ca.remove();
  }
  return result;
}

const result = await main();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
