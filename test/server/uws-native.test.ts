/** The uWebSockets.js in use must be its native addon, not the slow pure-JS fallback the package drops to silently. */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { usingNativeUws } from '../../src/server/uws.js';
import { startTestTracker, type TestTracker } from '../helpers/tracker.js';

describe('uWebSockets.js', () => {
  let t: TestTracker;

  before(async () => {
    t = await startTestTracker();
  });

  after(async () => {
    await t.stop();
  });

  it('runs on its native addon once a tracker is up', async () => {
    assert.equal(usingNativeUws(), true);
    const response = await fetch(`http://127.0.0.1:${t.port}/scrape?info_hash=${'%00'.repeat(20)}`, {
      headers: { connection: 'close' },
    });
    assert.equal(response.status, 200);
    // uWebSockets.js stamps its replies; the JS fallback would not.
    assert.match(response.headers.get('uwebsockets') ?? '', /^\d+$/);
    await response.arrayBuffer();
  });

  it('the loaded addon is the one built for this platform, architecture and Node ABI', () => {
    const expected = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => path.endsWith('.node'));
    assert.ok(
      loaded.some((path) => path.endsWith(expected)),
      `expected ${expected} among loaded addons: ${JSON.stringify(loaded)}`,
    );
  });
});
