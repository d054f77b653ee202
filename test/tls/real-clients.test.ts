/**
 * Real clients over TLS, each in a private network namespace with only `lo`: aria2 announcing to an https://
 * URL (trusting the test CA with --ca-certificate) of a redswarm that serves HTTPS only; two WebTorrent clients
 * in headless Chromium meeting through redswarm's wss:// URL and moving a file (test/websocket/browser-runner.ts,
 * whose REDSWARM_BROWSER_TLS makes it serve and announce wss://).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { netnsUnavailable } from '../clients/netns.js';
import { missingPrerequisite } from '../helpers/prerequisites.js';
import type { BrowserResult } from '../websocket/browser-runner.js';
import type { Aria2Result } from './aria2-runner.js';
import { TestCa } from './certificates.js';
import { runInNamespace } from '../helpers/namespace-run.js';

const ARIA2_RUNNER = fileURLToPath(new URL('./aria2-runner.ts', import.meta.url));
const BROWSER_RUNNER = fileURLToPath(new URL('../websocket/browser-runner.ts', import.meta.url));
const CHROMIUM = process.env.REDSWARM_CHROMIUM ?? '/usr/bin/chromium';
const HARD_TIMEOUT_MS = 120_000;

describe('real clients over TLS', () => {
  let ca: TestCa;
  before(() => {
    ca = TestCa.create();
  });
  after(() => ca.remove());

  it('aria2 announces over https:// and is listed as the seeder', { timeout: HARD_TIMEOUT_MS + 10_000 }, async (t) => {
    const unavailable = netnsUnavailable();
    if (unavailable !== undefined) return missingPrerequisite(t, unavailable);
    const { result, output, exit } = await runInNamespace<Aria2Result>(ARIA2_RUNNER, {}, HARD_TIMEOUT_MS);
    const report = `runner ${exit}\n${output}\n${result?.diagnostics ?? ''}`;
    assert.ok(result, `no result from the runner\n${report}`);
    assert.equal(result.error, undefined, `failed at ${result.step}: ${result.error}\n${report}`);
    assert.deepEqual(result.counts, [1, 0], report);
    assert.ok(result.ok, `aria2's address not among the peers ${JSON.stringify(result.peers)}\n${report}`);
  });

  it('two browsers meet only through wss:// and transfer a file over WebRTC with matching SHA-256', { timeout: HARD_TIMEOUT_MS + 10_000 }, async (t) => {
    const unavailable = existsSync(CHROMIUM) ? netnsUnavailable() : `${CHROMIUM} not found (test/install-deps.sh installs it as root)`;
    if (unavailable !== undefined) return missingPrerequisite(t, unavailable);
    const issued = ca.issue('browser');
    const env = { REDSWARM_BROWSER_TLS: `${issued.cert},${issued.key}` };
    const { result, output, exit } = await runInNamespace<BrowserResult>(BROWSER_RUNNER, env, HARD_TIMEOUT_MS);
    const report = `runner ${exit}\n${output}\n${result ? result.diagnostics.join('\n') : ''}`;
    assert.ok(result, `no result from the runner\n${report}`);
    assert.equal(result.error, undefined, `failed at ${result.step}: ${result.error}\n${report}`);
    assert.match(result.seedSha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(result.leechSha256, result.seedSha256, report);
    assert.ok(result.ok, report);
    assert.ok((result.counters?.offersRelayed ?? 0) >= 1 && (result.counters?.answersRelayed ?? 0) >= 1, JSON.stringify(result.counters));
  });
});
