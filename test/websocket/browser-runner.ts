/**
 * Inside a private network + PID namespace (started by browser.test.ts; only `lo` exists): a redswarm tracker,
 * a page server and headless Chromium with two WebTorrent clients in separate browser contexts. One seeds a
 * random file announced only to redswarm's ws:// URL, the other downloads it by magnet link; both SHA-256s are
 * reported. Prints one JSON line (BrowserResult) on stdout; progress goes to stderr.
 *
 * Why the namespace: Chromium pairs ICE candidates by address family and interface, and on a machine with other
 * interfaces a local non-loopback candidate meets a loopback remote one and never connects. With only `lo`,
 * every candidate is 127.0.0.1.
 *
 * Usage (internal): node --import tsx test/websocket/browser-runner.ts
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireLoopbackOnly } from '../helpers/loopback-only.js';
import { freePort } from '../helpers/ports.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';
import { metricValue } from '../helpers/prometheus.js';

export interface BrowserResult {
  ok: boolean;
  step: string;
  error?: string;
  seedSha256?: string;
  leechSha256?: string;
  bytes?: number;
  /** The tracker's metrics at the end: offers and answers relayed. */
  counters?: Record<string, number>;
  /** Browser console lines and page state, for a failure. */
  diagnostics: string[];
  timings: Record<string, number>;
}

const CHROMIUM = process.env.REDSWARM_CHROMIUM ?? '/usr/bin/chromium';
/**
 * `cert.pem,key.pem` (test/tls): the tracker serves WSS with that certificate, the torrent announces to its
 * wss:// URL, and Chromium, which cannot be handed the test CA, is told to accept the certificate.
 */
const TLS_FILES = process.env.REDSWARM_BROWSER_TLS?.split(',');
const FILE_BYTES = 1024 * 1024 + 4321;
const TRANSFER_TIMEOUT_MS = 60_000;

/**
 * Chromium flags: headless and quiet (no network of its own), and WebRTC on loopback: mDNS would hide the
 * host candidates, loopback candidates are off unless allowed, and they are only gathered once the page has a
 * media permission (fake devices, granted without a prompt).
 */
const CHROMIUM_ARGS = [
  '--no-sandbox', // runs as root
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

const started = Date.now();
const log = (message: string): void => {
  process.stderr.write(`[browser-runner +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
};

/** The page and the WebTorrent 2 browser bundle (an ES module), from loopback. */
async function servePage(): Promise<{ url: string; close: () => void }> {
  const bundle = readFileSync(new URL('../../node_modules/webtorrent/dist/webtorrent.min.js', import.meta.url));
  const server = http.createServer((req, res) => {
    if (req.url === '/webtorrent.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><title>redswarm</title>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

/** Runs in both pages: a media permission (for loopback ICE candidates), then WebTorrent with no STUN. */
const SETUP_CLIENT = `
  (async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((track) => track.stop());
    const { default: WebTorrent } = await import('/webtorrent.min.js');
    globalThis.WEBTORRENT_ANNOUNCE = []; // no default public trackers: redswarm is the only way to meet
    globalThis.client = new WebTorrent({ tracker: { rtcConfig: { iceServers: [] } }, dht: false, lsd: false, utPex: false });
    globalThis.client.on('error', (error) => console.error('webtorrent error: ' + error.message));
    return WebTorrent.WEBRTC_SUPPORT;
  })()`;

async function main(): Promise<BrowserResult> {
  const result: BrowserResult = { ok: false, step: 'namespace', diagnostics: [], timings: {} };
  const mark = (step: string): void => {
    result.step = step;
    result.timings[step] = Date.now() - started;
    log(step);
  };
  let tracker: TestTracker | undefined;
  let page: { url: string; close: () => void } | undefined;
  let browser: Browser | undefined;
  const pages: Page[] = [];
  try {
    requireLoopbackOnly();
    mark('tracker');
    const tlsPort = TLS_FILES === undefined ? 0 : await freePort();
    tracker = await startTestTracker({ hosts: ['127.0.0.1'], ...(TLS_FILES && { tlsPort, tlsCert: TLS_FILES[0], tlsKey: TLS_FILES[1] }) });
    const trackerUrl = TLS_FILES === undefined ? `ws://127.0.0.1:${tracker.port}` : `wss://127.0.0.1:${tlsPort}`;
    page = await servePage();
    mark('chromium');
    const args = TLS_FILES === undefined ? CHROMIUM_ARGS : [...CHROMIUM_ARGS, '--ignore-certificate-errors'];
    browser = await chromium.launch({ executablePath: CHROMIUM, args, headless: true, timeout: 30_000 });
    for (const name of ['seeder', 'leecher']) {
      const context = await browser.newContext();
      const p = await context.newPage();
      p.on('console', (message) => result.diagnostics.push(`${name} console.${message.type()}: ${message.text()}`));
      p.on('pageerror', (error) => result.diagnostics.push(`${name} page error: ${error.message}`));
      await p.goto(page.url);
      const webrtc = await p.evaluate(SETUP_CLIENT);
      if (webrtc !== true) throw new Error(`${name}: WebTorrent reports no WebRTC support`);
      pages.push(p);
    }
    const [seeder, leecher] = pages as [Page, Page];

    mark('seed');
    const seeded = await seeder.evaluate(
      async ({ bytes, trackerUrl }) => {
        const data = new Uint8Array(bytes);
        for (let at = 0; at < bytes; at += 65536) crypto.getRandomValues(data.subarray(at, Math.min(at + 65536, bytes)));
        const file = new File([data], 'payload.bin');
        const client = (globalThis as unknown as { client: { seed: Function } }).client;
        const torrent = await new Promise<{ magnetURI: string; announce: string[] }>((resolve) =>
          client.seed(file, { announce: [trackerUrl] }, resolve),
        );
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
        return {
          magnetURI: torrent.magnetURI,
          announce: torrent.announce,
          sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
        };
      },
      { bytes: FILE_BYTES, trackerUrl },
    );
    result.seedSha256 = seeded.sha256;
    if (seeded.announce.join(',') !== trackerUrl) throw new Error(`the torrent announces to ${seeded.announce.join(', ')}`);

    mark('download');
    const downloaded = await leecher.evaluate(
      async ({ magnetURI, timeoutMs }) => {
        const client = (globalThis as unknown as { client: { add: Function } }).client;
        const torrent = client.add(magnetURI);
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no download after ${timeoutMs} ms: ${torrent.numPeers} peers, ${torrent.downloaded} bytes`)),
            timeoutMs,
          );
          torrent.on('done', () => {
            clearTimeout(timer);
            resolve();
          });
          torrent.on('error', (error: Error) => reject(error));
        });
        const buffer = await (await torrent.files[0].blob()).arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
        return { bytes: buffer.byteLength, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
      },
      { magnetURI: seeded.magnetURI, timeoutMs: TRANSFER_TIMEOUT_MS },
    );
    result.leechSha256 = downloaded.sha256;
    result.bytes = downloaded.bytes;
    mark('done');
    result.ok = result.leechSha256 === result.seedSha256 && downloaded.bytes === FILE_BYTES;
  } catch (error) {
    result.error = (error as Error).message;
    for (const [i, p] of pages.entries()) {
      const state = await p
        .evaluate(() => {
          const client = (globalThis as unknown as { client?: { torrents: { numPeers: number; downloaded: number; wires: unknown[] }[] } }).client;
          return JSON.stringify(client?.torrents.map((t) => ({ peers: t.numPeers, wires: t.wires.length, downloaded: t.downloaded })));
        })
        .catch((e: Error) => `unavailable: ${e.message}`);
      result.diagnostics.push(`${i === 0 ? 'seeder' : 'leecher'} torrents: ${state}`);
    }
  } finally {
    result.counters = tracker
      ? {
          offersRelayed: await metricValue('redswarm_ws_offers_relayed_total', { kind: 'offer' }),
          answersRelayed: await metricValue('redswarm_ws_offers_relayed_total', { kind: 'answer' }),
        }
      : undefined;
    await browser?.close().catch(() => undefined);
    page?.close();
    await tracker?.stop();
  }
  return result;
}

const result = await main();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
