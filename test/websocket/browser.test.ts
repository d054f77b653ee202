/**
 * The real thing: two WebTorrent 2 clients in headless Chromium (Debian's `chromium`, driven by playwright-core;
 * no browser is downloaded) meet only through redswarm's ws:// URL and move a random file over WebRTC; the
 * SHA-256 must match. Everything runs in a private network + PID namespace with only `lo`
 * (test/websocket/browser-runner.ts), which the kernel tears down with every process in it when the run ends
 * or overruns.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { netnsUnavailable } from '../clients/netns.js';
import type { BrowserResult } from './browser-runner.js';
import { runInNamespace } from '../helpers/namespace-run.js';
import { missingPrerequisite } from '../helpers/prerequisites.js';

const RUNNER = fileURLToPath(new URL('./browser-runner.ts', import.meta.url));
const CHROMIUM = process.env.REDSWARM_CHROMIUM ?? '/usr/bin/chromium';
const HARD_TIMEOUT_MS = 120_000;

function unavailable(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found (apt-get install -y chromium; test/install-deps.sh does it as root)`;
  return netnsUnavailable();
}

describe('WebTorrent in headless Chromium through redswarm', () => {
  it('two browsers meet only through ws:// and transfer a file over WebRTC with matching SHA-256', { timeout: HARD_TIMEOUT_MS + 10_000 }, async (t) => {
    const reason = unavailable();
    if (reason !== undefined) {
      missingPrerequisite(t, reason);
      return;
    }
    const { result, output, exit } = await runInNamespace<BrowserResult>(RUNNER, {}, HARD_TIMEOUT_MS);
    const report = `runner ${exit}\n${output}\n${result ? result.diagnostics.join('\n') : ''}`;
    assert.ok(result, `no result from the runner\n${report}`);
    assert.equal(result.error, undefined, `failed at ${result.step}: ${result.error}\n${report}`);
    assert.equal(result.step, 'done', report);
    assert.match(result.seedSha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(result.leechSha256, result.seedSha256, report);
    assert.ok(result.ok, report);
    // The browsers met through redswarm: the leecher's offer went to the seeder and the answer came back.
    assert.ok((result.counters?.offersRelayed ?? 0) >= 1 && (result.counters?.answersRelayed ?? 0) >= 1, JSON.stringify(result.counters));
    t.diagnostic(`${result.bytes} bytes in ${((result.timings.done! - result.timings.download!) / 1000).toFixed(1)} s; ${JSON.stringify(result.counters)}`);
  });
});
