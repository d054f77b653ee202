// The image's HEALTHCHECK: GET /healthz on the metrics port that the configuration names (the config file and
// REDSWARM_* variables, as the tracker reads them; a HEALTHCHECK does not see the command's flags). Exit 0 when
// it answers 200 within 2 s, 1 otherwise. With the metrics port off (0) there is nothing to ask: exit 0.
import { loadConfig } from '/app/dist/src/config/index.js';

const invocation = loadConfig([], process.env);
if (invocation.kind !== 'run') process.exit(0);
const { metricsHost, metricsPort } = invocation.config;
if (metricsPort === 0) process.exit(0);
const host = metricsHost === '::' || metricsHost === '0.0.0.0' || metricsHost === '' ? '127.0.0.1' : metricsHost;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${metricsPort}/healthz`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  process.exit(0);
} catch (error) {
  console.error(`${url}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
