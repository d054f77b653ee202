/**
 * A test whose prerequisite (root, network namespaces, Chromium, a torrent client) is missing: skipped with its
 * reason on a developer's machine, failed under CI=true, where .ci/run installs everything the suite needs and a
 * silent skip would hide a missing install step.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

export function missingPrerequisite(t: TestContext, reason: string): void {
  if (process.env.CI === 'true') assert.fail(`prerequisite missing under CI=true: ${reason}`);
  t.skip(reason);
}
