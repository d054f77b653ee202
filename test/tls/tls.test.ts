/**
 * HTTPS and WSS on the TLS port: the same announce, scrape and WebSocket tracker as the plain port; a changed
 * certificate reaches new handshakes while connections opened before keep working (checked by the serial
 * number each connection was served); a certificate that does not load stops the start, or leaves the running
 * one in place at a reload; each worker listens on the TLS port itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { register } from 'prom-client';
import WebSocket from 'ws';
import { startInstance, type Instance } from '../helpers/instance.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { TestCa, type Issued } from './certificates.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WAIT_MS = 15_000;

let ca: TestCa;
before(() => {
  ca = TestCa.create();
});
after(() => ca.remove());

/** Bounded wait for a condition; fails with what it waited for. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The serial number of the certificate a new TLS handshake gets. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(ca.caFile) }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function announceQuery(infoHash: Buffer, port: number): string {
  return `info_hash=${escape(infoHash.toString('latin1'))}&peer_id=${escape(randomBytes(20).toString('latin1'))}&port=${port}&left=0&compact=1`;
}

/**
 * An agent that trusts the test CA; `keepAlive`: one connection, kept open. No TLS session resumption: a resumed
 * session shows no certificate.
 */
function trustingAgent(keepAlive: boolean): https.Agent {
  return new https.Agent({ ca: readFileSync(ca.caFile), keepAlive, maxSockets: keepAlive ? 1 : Infinity, maxCachedSessions: 0 });
}

/** A GET over HTTPS: the body, the serial of the connection's certificate, and whether the connection was an open one. */
function httpsGet(agent: https.Agent, port: number, path: string): Promise<{ body: string; serial: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    let serial = '';
    const request = https.get({ host: '127.0.0.1', port, path, agent }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ body, serial, reused: request.reusedSocket }));
    });
    // Read at the handshake: a connection the server closes after its reply may be gone by the reply's end.
    request.once('socket', (socket: tls.TLSSocket) => {
      const read = (): void => void (serial = socket.getPeerCertificate().serialNumber);
      if (request.reusedSocket) read();
      else socket.once('secureConnect', read);
    });
    request.once('error', reject);
  });
}

/** A WebSocket client that announces and waits for the tracker's reply. */
class WsPeer {
  private readonly socket: WebSocket;
  readonly opened: Promise<void>;
  /** The serial of the certificate this socket was served. */
  serial = '';

  constructor(url: string) {
    this.socket = new WebSocket(url, { ca: readFileSync(ca.caFile) });
    this.socket.once('upgrade', (response) => (this.serial = (response.socket as tls.TLSSocket).getPeerCertificate().serialNumber));
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
  }

  announce(infoHash: Buffer): Promise<Record<string, unknown>> {
    const binary = infoHash.toString('latin1');
    return new Promise((resolve) => {
      const onMessage = (data: Buffer): void => {
        const message = JSON.parse(data.toString()) as Record<string, unknown>;
        if (message.info_hash !== binary) return;
        this.socket.off('message', onMessage);
        resolve(message);
      };
      this.socket.on('message', onMessage);
      this.socket.send(JSON.stringify({ action: 'announce', info_hash: binary, peer_id: randomBytes(20).toString('latin1'), numwant: 0, offers: [], left: 0, event: 'started' }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** The certificate expiry the tracker (in this process) exports, and the one of a certificate file. */
async function exportedExpiry(): Promise<number | undefined> {
  return (await register.getSingleMetric('redswarm_tls_certificate_expiry_timestamp_seconds')?.get())?.values[0]?.value;
}
const expiryOf = (issued: Issued): number => Date.parse(new X509Certificate(readFileSync(issued.cert)).validTo) / 1000;

/** Puts a certificate's files where the tracker reads them, each replaced at once (written aside, then renamed). */
function install(issued: Issued, at: { cert: string; key: string }): void {
  for (const [from, to] of [[issued.key, at.key], [issued.cert, at.cert]] as const) {
    copyFileSync(from, `${to}.new`);
    renameSync(`${to}.new`, to);
  }
}

describe('HTTPS and WSS on the TLS port', () => {
  let t: TestTracker;
  let tlsPort: number;
  let served: { cert: string; key: string };
  let first: Issued;

  before(async () => {
    first = ca.issue('first');
    served = { cert: join(ca.dir, 'served.pem'), key: join(ca.dir, 'served.key') };
    install(first, served);
    tlsPort = await freePort();
    t = await startTestTracker({ tlsPort, tlsCert: served.cert, tlsKey: served.key });
  });
  after(() => t.stop());

  it('serves announce, scrape and WebSocket announces on the TLS port, and HTTP on the plain port', async () => {
    const agent = trustingAgent(false);
    const infoHash = randomBytes(20);
    const announced = await httpsGet(agent, tlsPort, `/announce?${announceQuery(infoHash, 6881)}`);
    assert.match(announced.body, /^d8:completei1e10:incompletei0e8:intervali\d+e/);
    const scraped = await httpsGet(agent, tlsPort, `/scrape?info_hash=${escape(infoHash.toString('latin1'))}`);
    assert.match(scraped.body, /d8:completei1e10:downloadedi0e10:incompletei0ee/);
    const plain = await fetch(`http://127.0.0.1:${t.port}/scrape?info_hash=${escape(infoHash.toString('latin1'))}`);
    assert.match(await plain.text(), /d8:completei1e/);
    const peer = new WsPeer(`wss://localhost:${tlsPort}/announce`);
    await peer.opened;
    const reply = await peer.announce(randomBytes(20));
    assert.equal(reply.complete, 1);
    peer.close();
    agent.destroy();
  });

  it('serves a changed certificate to new handshakes; connections opened before keep working', async () => {
    const agent = trustingAgent(true);
    const before = await httpsGet(agent, tlsPort, `/announce?${announceQuery(randomBytes(20), 6881)}`);
    assert.equal(before.serial, first.serial);
    const ws = new WsPeer(`wss://localhost:${tlsPort}`);
    await ws.opened;
    assert.equal(ws.serial, first.serial);

    assert.equal(await exportedExpiry(), expiryOf(first));
    const second = ca.issue('second', { days: 30 });
    install(second, served);
    // The files' directory is watched: no signal needed.
    await until('the new certificate on a new handshake', async () => ((await servedSerial(tlsPort)) === second.serial ? true : undefined));
    assert.equal(await exportedExpiry(), expiryOf(second), 'the expiry of the certificate now served');
    assert.ok(expiryOf(second) > expiryOf(first) + 20 * 86400);

    const again = await httpsGet(agent, tlsPort, `/announce?${announceQuery(randomBytes(20), 6881)}`);
    assert.deepEqual([again.reused, again.serial], [true, first.serial], 'the keep-alive connection of before, still answering');
    assert.match(again.body, /^d8:complete/);
    assert.equal((await ws.announce(randomBytes(20))).complete, 1, 'the WebSocket of before, still answering');
    assert.equal(ws.serial, first.serial);
    const fresh = new WsPeer(`wss://localhost:${tlsPort}`);
    await fresh.opened;
    assert.equal(fresh.serial, second.serial);
    ws.close();
    fresh.close();
    agent.destroy();
  });

  it('a certificate that does not load at a reload leaves the running one in place', async () => {
    const running = await servedSerial(tlsPort);
    const other = ca.issue('other');
    const cases: [string, () => void][] = [
      ['a key of another certificate', () => copyFileSync(other.key, served.key)],
      ['no certificate file', () => rmSync(served.cert)],
      ['a certificate file that is not PEM', () => writeFileSync(served.cert, 'not a certificate\n')],
    ];
    const good = { cert: readFileSync(served.cert), key: readFileSync(served.key) };
    for (const [what, breakIt] of cases) {
      breakIt();
      assert.equal(await t.tracker.tls!.reload('test'), false, what);
      assert.equal(await servedSerial(tlsPort), running, what);
      writeFileSync(served.cert, good.cert);
      writeFileSync(served.key, good.key);
    }
    // Unchanged files: nothing to do.
    assert.equal(await t.tracker.tls!.reload('test'), false);
  });
});

describe('--plain-http false', () => {
  it('leaves only UDP on the port, HTTPS on the TLS port', async () => {
    const issued = ca.issue('udp-only');
    const tlsPort = await freePort();
    const t = await startTestTracker({ plainHttp: false, tlsPort, tlsCert: issued.cert, tlsKey: issued.key });
    try {
      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect(t.port, '127.0.0.1', () => resolve('connected'));
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      assert.equal(refused, 'ECONNREFUSED');
      // A BEP 15 connect request gets its 16-byte reply.
      const udp = createSocket('udp4');
      const connect = Buffer.from('0000041727101980000000000000002a', 'hex');
      const reply = await new Promise<Buffer>((resolve) => {
        udp.once('message', resolve);
        udp.send(connect, t.port, '127.0.0.1');
      });
      udp.close();
      assert.equal(reply.length, 16);
      assert.equal(await servedSerial(tlsPort), issued.serial);
    } finally {
      await t.stop();
    }
  });
});

/** Runs `src/cli.ts` to its exit: the exit code and what it wrote to stderr. */
function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--host', '127.0.0.1', '--metrics-port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('a certificate that does not load at start', () => {
  it('stops the start with an error that names the file, and a non-zero exit', async () => {
    const good = ca.issue('start-good');
    const encrypted = ca.issue('start-encrypted', { passphrase: 'right horse' });
    const other = ca.issue('start-other');
    const missing = join(ca.dir, 'missing.pem');
    const cases: [string, string[], string | RegExp][] = [
      ['a missing certificate', ['--tls-cert', missing, '--tls-key', good.key], missing],
      ['a key of another certificate', ['--tls-cert', good.cert, '--tls-key', other.key], `TLS key file ${other.key} is not the key of the certificate in ${good.cert}`],
      ['a wrong passphrase', ['--tls-cert', encrypted.cert, '--tls-key', encrypted.key, '--tls-passphrase', 'wrong'], `TLS key file ${encrypted.key}: wrong passphrase`],
      ['no passphrase for an encrypted key', ['--tls-cert', encrypted.cert, '--tls-key', encrypted.key], `TLS key file ${encrypted.key}: the key is encrypted`],
    ];
    for (const workers of ['1', '2']) {
      for (const [what, args, message] of cases) {
        const port = await freePort();
        const tlsPort = await freePort();
        const store = workers === '2' ? ['--redis', 'redis://127.0.0.1:1'] : [];
        const { code, stderr } = await runCli(['--port', String(port), '--tls-port', String(tlsPort), '--workers', workers, ...store, ...args]);
        assert.notEqual(code, 0, `${what} (workers ${workers}): exit code`);
        assert.ok(stderr.includes(message as string), `${what} (workers ${workers}): ${stderr}`);
      }
    }
  });
});

describe('TLS with two workers (Redis store)', () => {
  let redis: TestRedis;
  let instance: Instance;
  let tlsPort: number;
  let served: { cert: string; key: string };
  let first: Issued;
  const passphrase = 'correct horse';

  before(async () => {
    redis = await startRedis('single');
    first = ca.issue('workers-first', { passphrase });
    // Symlinks to files in another directory: changing those files is seen by SIGHUP only, not by the watch of
    // the symlinks' directory.
    const links = mkdtempSync(join(ca.dir, 'links-'));
    served = { cert: join(ca.dir, 'workers.pem'), key: join(ca.dir, 'workers.key') };
    install(first, served);
    symlinkSync(served.cert, join(links, 'cert.pem'));
    symlinkSync(served.key, join(links, 'key.pem'));
    served = { cert: join(links, 'cert.pem'), key: join(links, 'key.pem') };
    tlsPort = await freePort();
    const url = (redis.target as { url: string }).url;
    const args = ['--redis', url, '--tls-port', String(tlsPort), '--tls-cert', served.cert, '--tls-key', served.key, '--tls-passphrase', passphrase];
    instance = await startInstance([...args, '--log-level', 'info'], { workers: 2 });
  });
  after(async () => {
    await instance?.stop();
    await redis?.stop();
  });

  it('each worker serves HTTPS on the TLS port', async () => {
    assert.equal((instance.output().match(/"msg":"TLS listening"/g) ?? []).length, 2);
    // New connections spread over the workers' listen sockets (SO_REUSEPORT): both answer some.
    const agent = trustingAgent(false);
    for (let i = 0; i < 40; i++) {
      const { body, serial } = await httpsGet(agent, tlsPort, `/announce?${announceQuery(randomBytes(20), 6881)}`);
      assert.match(body, /^d8:complete/);
      assert.equal(serial, first.serial);
    }
    const metrics = await instance.metrics();
    for (const worker of ['1', '2']) {
      const line = metrics.split('\n').find((l) => l.startsWith('redswarm_requests_total') && l.includes('protocol="http"') && l.includes('outcome="ok"') && l.includes(`worker="${worker}"`));
      assert.ok(line !== undefined && Number(line.split(' ').pop()) > 0, `worker ${worker} answered HTTPS announces:\n${metrics}`);
    }
  });

  it('SIGHUP reloads the certificate in every worker; a bad one is logged and the old one stays', async () => {
    const targets = { cert: join(ca.dir, 'workers.pem'), key: join(ca.dir, 'workers.key') };
    const agent = trustingAgent(true);
    assert.equal((await httpsGet(agent, tlsPort, `/announce?${announceQuery(randomBytes(20), 6881)}`)).serial, first.serial);

    // A key that does not belong to the certificate: every worker logs it and keeps serving the old one.
    const other = ca.issue('workers-other', { passphrase });
    install({ ...first, cert: other.cert }, targets);
    instance.process.kill('SIGHUP');
    await until('both workers reporting the bad certificate', async () =>
      (instance.output().match(/TLS certificate not reloaded, the running one stays/g) ?? []).length >= 2 ? true : undefined,
    );
    assert.equal(await servedSerial(tlsPort), first.serial);

    const second = ca.issue('workers-second', { passphrase });
    install(second, targets);
    instance.process.kill('SIGHUP');
    await until('both workers serving the new certificate', async () =>
      (instance.output().match(/"msg":"TLS certificate reloaded"/g) ?? []).length >= 2 ? true : undefined,
    );
    for (let i = 0; i < 10; i++) assert.equal(await servedSerial(tlsPort), second.serial);
    const again = await httpsGet(agent, tlsPort, `/announce?${announceQuery(randomBytes(20), 6881)}`);
    assert.deepEqual([again.reused, again.serial], [true, first.serial]);
    assert.equal(instance.process.exitCode, null);
    agent.destroy();
  });
});
