#!/usr/bin/env node
/** `redswarm`: parse the configuration, then run one tracker process, or a primary with its workers. */
import cluster from 'node:cluster';
import { ConfigError, helpText, loadConfig } from './config.js';
import { runPrimary } from './workers/primary.js';
import { runTrackerProcess } from './workers/tracker-process.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`redswarm: ${error.message}\nTry 'redswarm --help'.\n`);
    process.exit(2);
  }
  if (config === 'help') {
    process.stdout.write(helpText());
    return;
  }
  if (cluster.isPrimary && config.workers > 1) await runPrimary(config);
  else await runTrackerProcess(config);
}

main().catch((error: unknown) => {
  process.stderr.write(`redswarm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
