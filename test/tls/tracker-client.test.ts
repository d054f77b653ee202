/**
 * The `bittorrent-tracker` npm Client over https:// and wss:// (tracker-client-child.ts, in a child process that
 * trusts the test CA through NODE_EXTRA_CA_CERTS): announces, peers, scrapes and a WebRTC exchange over TLS.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { TestCa } from './certificates.js';

const CHILD = fileURLToPath(new URL('./tracker-client-child.ts', import.meta.url));

function runChild(mode: 'https' | 'wss', url: string, caFile: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, url], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('bittorrent-tracker Client over TLS', () => {
  let ca: TestCa;
  let t: TestTracker;
  let tlsPort: number;

  before(async () => {
    ca = TestCa.create();
    const issued = ca.issue('server');
    tlsPort = await freePort();
    t = await startTestTracker({ tlsPort, tlsCert: issued.cert, tlsKey: issued.key });
  });
  after(async () => {
    await t.stop();
    ca.remove();
  });

  it('announces and scrapes over https://', async () => {
    const { code, output } = await runChild('https', `https://localhost:${tlsPort}/announce`, ca.caFile);
    assert.equal(code, 0, output);
    assert.match(output, /https ok/);
  });

  it('exchanges an offer and its answer over wss:// and opens a WebRTC data channel', async () => {
    const { code, output } = await runChild('wss', `wss://localhost:${tlsPort}`, ca.caFile);
    assert.equal(code, 0, output);
    assert.match(output, /wss ok/);
  });
});
