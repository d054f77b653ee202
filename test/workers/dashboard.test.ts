/** The Grafana dashboard in deploy/ only charts metrics that a running redswarm really exports. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { startInstance, type Instance } from '../helpers/instance.js';
import { parseExposition } from '../helpers/prometheus.js';

let instance: Instance;
before(async () => {
  instance = await startInstance([], { workers: 1 });
});
after(() => instance.stop());

it('every metric the dashboard queries is exported', async () => {
  const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  const queried = new Set(
    dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\bredswarm_[a-z_]+/g)].map((m) => m[0]))),
  );
  const text = await instance.metrics();
  const exported = new Set(parseExposition(text).map((s) => s.name));
  // Counters and histograms without samples yet still announce themselves with # TYPE.
  for (const match of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    exported.add(match[1]!);
    if (match[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(match[1]! + suffix);
  }
  assert.ok(queried.size >= 10);
  for (const name of queried) assert.ok(exported.has(name), `${name} is exported`);
});
