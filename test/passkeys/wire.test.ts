/**
 * Passkeys on the wire, on the embedded store: `/KEY/announce` and `/KEY/scrape` over HTTP, BEP 41 URL data over
 * UDP, the upgrade path over WebSocket; missing, unknown, revoked and malformed keys, with and without --private;
 * a known key reaches the store with the announce; --private is taken on SIGHUP.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { storeOptions } from '../../src/store/create-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { WsAnnounceRequest } from '../../src/store/store.js';
import type { AnnounceRequest, AnnounceResult } from '../../src/protocol/types.js';
import { PASSKEY_REQUIRED, PASSKEY_UNKNOWN } from '../../src/server/passkeys.js';
import { startInstance } from '../helpers/instance.js';
import type { TestTracker } from '../helpers/tracker.js';
import { until } from '../access/clients.js';
import { PROTOCOLS, httpRequest, startKeyedTracker, udpRequest, wsOpen, wsRequest, type Kind, type Outcome } from './clients.js';

const KEY = 'k3y-for.tests_0123456789';
const OTHER_KEY = 'another-known-key-42';
const UNKNOWN = 'never-added-key-0001';

/** The passkeys the store was handed with each announce (but the `stopped` of a WebSocket's close). */
class RecordingStore extends MemoryStore {
  readonly passkeys: (string | undefined)[] = [];

  override announce(request: AnnounceRequest): Promise<AnnounceResult> {
    this.passkeys.push(request.passkey);
    return super.announce(request);
  }

  // A WebSocket announce comes through announceWsNow (answered at once), the close's `stopped` through announceWs.
  override announceWsNow(request: WsAnnounceRequest): ReturnType<MemoryStore['announceWsNow']> {
    this.passkeys.push(request.passkey);
    return super.announceWsNow(request);
  }
}

interface Running {
  t: TestTracker;
  store: RecordingStore;
}

/** A tracker following the key file `keys`, private or not, on a store that records passkeys. */
async function start(keys: string, privateMode: boolean): Promise<Running> {
  let store: RecordingStore | undefined;
  const t = await startKeyedTracker(keys, privateMode, (config) => (store = new RecordingStore(storeOptions(config))));
  return { t, store: store! };
}

/** The tracker of a describe block's tests: started before them, stopped after them. */
function trackerFor(privateMode: boolean): () => Running {
  let running: Running | undefined;
  before(async () => {
    running = await start(keys, privateMode);
  });
  after(() => running?.t.stop());
  return () => running!;
}

const ok = (outcome: Outcome): boolean => 'seeders' in outcome;
const failure = (outcome: Outcome): string | undefined => ('failure' in outcome ? outcome.failure : undefined);

let dir: string;
let keys: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'redswarm-passkeys-'));
  keys = join(dir, 'passkeys');
  await writeFile(keys, `# test keys\n${KEY}\n${OTHER_KEY}\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('passkeys on a public tracker (no --private)', () => {
  const r = trackerFor(false);

  for (const [protocol, request] of Object.entries(PROTOCOLS)) {
    it(`${protocol}: a keyless or known-key announce is served, an unknown key is refused`, async () => {
      const infoHash = randomBytes(20);
      assert.ok(ok(await request(r().t.port, 'announce', undefined, infoHash)));
      assert.ok(ok(await request(r().t.port, 'announce', KEY, infoHash)));
      assert.equal(failure(await request(r().t.port, 'announce', UNKNOWN, infoHash)), PASSKEY_UNKNOWN);
    });
  }

  it('a known key reaches the store with the announce; none without a key', async () => {
    r().store.passkeys.length = 0;
    const infoHash = randomBytes(20);
    for (const request of Object.values(PROTOCOLS)) {
      await request(r().t.port, 'announce', KEY, infoHash);
      await request(r().t.port, 'announce', undefined, infoHash);
    }
    assert.deepEqual(r().store.passkeys, [KEY, undefined, KEY, undefined, KEY, undefined]);
  });

  it('scrapes: an unknown key is refused over HTTP and WebSocket; a UDP scrape (no key) is served', async () => {
    const infoHash = randomBytes(20);
    assert.equal(failure(await httpRequest(r().t.port, 'scrape', UNKNOWN, infoHash)), PASSKEY_UNKNOWN);
    assert.equal(failure(await PROTOCOLS.ws(r().t.port, 'scrape', UNKNOWN, infoHash)), PASSKEY_UNKNOWN);
    assert.ok(ok(await httpRequest(r().t.port, 'scrape', KEY, infoHash)));
    assert.ok(ok(await udpRequest(r().t.port, 'scrape', undefined, infoHash)));
  });

  it('a malformed key is refused: HTTP and UDP with "invalid passkey", a WebSocket upgrade with 400', async () => {
    const infoHash = randomBytes(20);
    for (const bad of ['short', 'has+plus', 'x'.repeat(129)]) {
      assert.equal(failure(await httpRequest(r().t.port, 'announce', bad, infoHash)), 'invalid passkey', bad);
      assert.equal(failure(await httpRequest(r().t.port, 'scrape', bad, infoHash)), 'invalid passkey', bad);
      assert.equal(failure(await udpRequest(r().t.port, 'announce', `/${bad}/announce?x=1`, infoHash)), 'invalid passkey', bad);
      await assert.rejects(wsOpen(r().t.port, bad), /HTTP 400/);
    }
    // Only `/KEY/announce` names a key: other URL data is a keyless announce, as before.
    assert.ok(ok(await udpRequest(r().t.port, 'announce', '/some/where/else', infoHash)));
  });
});

describe('passkeys on a private tracker (--private)', () => {
  const r = trackerFor(true);

  for (const [protocol, request] of Object.entries(PROTOCOLS)) {
    for (const kind of ['announce', 'scrape'] as Kind[]) {
      it(`${protocol} ${kind}: refused without a key or with an unknown one`, async () => {
        const infoHash = randomBytes(20);
        assert.equal(failure(await request(r().t.port, kind, undefined, infoHash)), PASSKEY_REQUIRED);
        // A UDP scrape has no place for a key: it stays refused.
        const withUnknown = failure(await request(r().t.port, kind, UNKNOWN, infoHash));
        assert.equal(withUnknown, protocol === 'udp' && kind === 'scrape' ? PASSKEY_REQUIRED : PASSKEY_UNKNOWN);
      });
    }
  }

  it('a known key announces and scrapes over HTTP, UDP (URL data) and WebSocket, in one swarm', async () => {
    const infoHash = randomBytes(20);
    assert.deepEqual(await httpRequest(r().t.port, 'announce', KEY, infoHash), { seeders: 1 });
    assert.deepEqual(await PROTOCOLS.udp(r().t.port, 'announce', OTHER_KEY, infoHash), { seeders: 1 });
    assert.deepEqual(await httpRequest(r().t.port, 'scrape', OTHER_KEY, infoHash), { seeders: 1 });
    const socket = await wsOpen(r().t.port, KEY);
    try {
      assert.deepEqual(await wsRequest(socket, 'announce', infoHash), { seeders: 1 });
      assert.deepEqual(await wsRequest(socket, 'scrape', infoHash), { seeders: 1 });
    } finally {
      await socket.close();
    }
  });

  it('a revoked key stops working on every protocol, an open WebSocket included', async () => {
    const revoked = 'revoked-soon-000000';
    await writeFile(keys, `${KEY}\n${OTHER_KEY}\n${revoked}\n`);
    const infoHash = randomBytes(20);
    await until('the added key to work', async () => ok(await httpRequest(r().t.port, 'announce', revoked, infoHash)));
    const socket = await wsOpen(r().t.port, revoked);
    try {
      assert.ok(ok(await wsRequest(socket, 'announce', infoHash)));
      await writeFile(keys, `${KEY}\n${OTHER_KEY}\n`);
      await until('the revoked key to be refused', async () => failure(await httpRequest(r().t.port, 'announce', revoked, infoHash)) === PASSKEY_UNKNOWN);
      assert.equal(failure(await PROTOCOLS.udp(r().t.port, 'announce', revoked, infoHash)), PASSKEY_UNKNOWN);
      assert.equal(failure(await httpRequest(r().t.port, 'scrape', revoked, infoHash)), PASSKEY_UNKNOWN);
      assert.equal(failure(await wsRequest(socket, 'announce', infoHash)), PASSKEY_UNKNOWN);
      assert.equal(failure(await wsRequest(socket, 'scrape', infoHash)), PASSKEY_UNKNOWN);
      // The other keys are untouched.
      assert.ok(ok(await httpRequest(r().t.port, 'announce', KEY, infoHash)));
    } finally {
      await socket.close();
    }
  });
});

describe('--private is taken live on SIGHUP', () => {
  it('a running tracker turns private, and public again, without a restart', async () => {
    const infoHash = randomBytes(20);
    const configFile = join(dir, 'redswarm.toml');
    const write = (privateMode: boolean): Promise<void> =>
      writeFile(configFile, `[access]\nprivate = ${privateMode}\npasskey-file = "${keys}"\n`);
    await write(false);
    const instance = await startInstance(['--config', configFile], { workers: 1 });
    try {
      assert.ok(ok(await httpRequest(instance.port, 'announce', undefined, infoHash)));
      await write(true);
      instance.process.kill('SIGHUP');
      await until('keyless announces to be refused', async () => failure(await httpRequest(instance.port, 'announce', undefined, infoHash)) === PASSKEY_REQUIRED);
      assert.ok(ok(await httpRequest(instance.port, 'announce', KEY, infoHash)));
      await write(false);
      instance.process.kill('SIGHUP');
      await until('keyless announces to be served again', async () => ok(await httpRequest(instance.port, 'announce', undefined, infoHash)));
    } finally {
      await instance.stop();
    }
  });
});
