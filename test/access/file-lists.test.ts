/**
 * Access lists from files and the config, on a real tracker process: refusals over HTTP, UDP and WebSocket,
 * scrapes that answer refused info hashes as unknown, a file changed on disk (in place and by rename) or
 * broken, SIGHUP, peer_id prefixes, Origins, and the metrics that count refusals.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INFO_HASH_REFUSED, PEER_ID_REFUSED } from '../../src/access/access-control.js';
import { startInstance, type Instance } from '../helpers/instance.js';
import { parseExposition, total } from '../helpers/prometheus.js';
import { fullScrapeHashes, httpAnnounce, httpScrape, udpAnnounce, udpScrapeSeeders, until, wsAnnounce, wsOpens } from './clients.js';

const A = 'a1'.repeat(20);
const B = 'b2'.repeat(20);
const C = 'c3'.repeat(20);

function config(mode: 'allow' | 'deny', dir: string, origin = 'https://evil.example'): string {
  return [
    '[access]',
    `access-mode = "${mode}"`,
    `access-file = "${join(dir, 'torrents.txt')}"`,
    'peer-id-mode = "deny"',
    `peer-id-file = "${join(dir, 'clients.txt')}"`,
    'ws-origins-mode = "deny"',
    `ws-origins = ["${origin}"]`,
    '',
  ].join('\n');
}

describe('access lists from files', () => {
  let dir: string;
  let list: string;
  let instance: Instance;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redswarm-access-'));
    list = join(dir, 'torrents.txt');
    await writeFile(list, `# torrents served here\n${A}\n${B.toUpperCase()}  # upper case is fine\n`);
    await writeFile(join(dir, 'clients.txt'), '-XL0012-   # broken client\n');
    await writeFile(join(dir, 'redswarm.toml'), config('allow', dir));
    // The tests poll one torrent from one address until a change shows: no per-address announce limit.
    instance = await startInstance(['--config', join(dir, 'redswarm.toml'), '--announce-rate-limit', '0', '--full-scrape-limit', '100'], { workers: 1 });
  });

  after(async () => {
    await instance?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves listed info hashes and refuses others over HTTP, UDP and WebSocket', async () => {
    for (const announce of [httpAnnounce, udpAnnounce, wsAnnounce]) {
      assert.equal(await announce(instance.port, A), null, announce.name);
      assert.equal(await announce(instance.port, B), null, announce.name);
      assert.equal(await announce(instance.port, C), INFO_HASH_REFUSED, announce.name);
    }
  });

  it('refuses a denied peer_id prefix over every protocol', async () => {
    for (const announce of [httpAnnounce, udpAnnounce, wsAnnounce]) {
      assert.equal(await announce(instance.port, A, '-XL0012-abcdefghijkl'), PEER_ID_REFUSED, announce.name);
      assert.equal(await announce(instance.port, A, '-XL0013-abcdefghijkl'), null, announce.name);
    }
  });

  it('refuses the upgrade of a denied Origin with 403, and lets others (and none) in', async () => {
    assert.equal(await wsOpens(instance.port, 'https://evil.example'), 'HTTP 403');
    assert.equal(await wsOpens(instance.port, 'HTTPS://EVIL.example'), 'HTTP 403');
    assert.equal(await wsOpens(instance.port, 'https://good.example'), true);
    assert.equal(await wsOpens(instance.port, undefined), true);
  });

  it('follows the file as it changes, without a signal; refused hashes scrape as unknown', async () => {
    assert.equal((await httpScrape(instance.port, B)).complete, 1, 'B has its seeder');
    await writeFile(list, `${A}\n${C}\n`);
    await until('C allowed', async () => (await httpAnnounce(instance.port, C)) === null);
    assert.equal(await httpAnnounce(instance.port, B), INFO_HASH_REFUSED);
    assert.deepEqual(await httpScrape(instance.port, B), { complete: 0, incomplete: 0, downloaded: 0 });
    assert.equal(await udpScrapeSeeders(instance.port, B), 0);
    assert.equal(await udpScrapeSeeders(instance.port, A), 1, 'allowed hashes keep their counts');
    assert.deepEqual(await fullScrapeHashes(instance.port), [A, C], 'a full scrape lists no refused swarm (B)');
    assert.equal(instance.process.exitCode, null);
  });

  it('follows an editor that saves by renaming a new file over the list', async () => {
    const temporary = join(dir, '.torrents.txt.swp');
    await writeFile(temporary, `${A}\n${B}\n`);
    await rename(temporary, list);
    await until('B allowed again', async () => (await httpAnnounce(instance.port, B)) === null);
    assert.equal(await httpAnnounce(instance.port, C), INFO_HASH_REFUSED);
  });

  it('keeps the old list when a line is malformed, and logs the file and line', async () => {
    await writeFile(list, `${A}\nnot-a-hash\n${C}\n`);
    await until('the error', () => instance.output().includes(`${list}:2: not an info hash`));
    assert.equal(await httpAnnounce(instance.port, B), null, 'the old list is still in force');
    assert.equal(await httpAnnounce(instance.port, C), INFO_HASH_REFUSED);
  });

  it('takes a new mode and a new origin list on SIGHUP', async () => {
    await writeFile(list, `${A}\n`);
    await until('B refused', async () => (await httpAnnounce(instance.port, B)) !== null);
    await writeFile(join(dir, 'redswarm.toml'), config('deny', dir, 'https://other.example'));
    instance.process.kill('SIGHUP');
    await until('A refused (deny mode)', async () => (await httpAnnounce(instance.port, A)) !== null);
    assert.equal(await httpAnnounce(instance.port, B), null);
    assert.equal(await wsOpens(instance.port, 'https://other.example'), 'HTTP 403');
    assert.equal(await wsOpens(instance.port, 'https://evil.example'), true);
  });

  it('counts refusals by list and protocol', async () => {
    const samples = parseExposition(await instance.metrics());
    for (const protocol of ['http', 'udp', 'ws']) {
      assert.ok(total(samples, 'redswarm_access_refused_total', { list: 'info-hash', protocol }) > 0, protocol);
      assert.ok(total(samples, 'redswarm_access_refused_total', { list: 'peer-id', protocol }) > 0, protocol);
    }
    assert.ok(total(samples, 'redswarm_access_refused_total', { list: 'origin', protocol: 'ws' }) >= 2);
    assert.ok(total(samples, 'redswarm_access_list_reload_failures_total', { list: 'info-hash', source: 'file' }) >= 1);
  });
});

describe('a list that does not load at start', () => {
  it('stops the tracker with the file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'redswarm-access-'));
    try {
      await writeFile(join(dir, 'torrents.txt'), `${A}\n\nxyz\n`);
      await assert.rejects(
        startInstance(['--access-mode', 'allow', '--access-file', join(dir, 'torrents.txt')], { workers: 1, readyTimeoutMs: 15_000 }),
        (error: Error) => error.message.includes(`torrents.txt:3: not an info hash`),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
