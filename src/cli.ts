#!/usr/bin/env node
/** `redswarm`: parse the configuration, then run one tracker process, or a primary with its workers. */
import cluster from 'node:cluster';
import { ConfigError, helpText, loadConfig, printConfig, type Invocation } from './config/index.js';
import { runPrimary } from './workers/primary.js';
import { runTrackerProcess } from './workers/tracker-process.js';

async function main(): Promise<void> {
  let invocation: Invocation;
  try {
    invocation = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`redswarm: ${error.message}\nTry 'redswarm --help'.\n`);
    process.exit(2);
  }
  if (invocation.kind === 'help') process.stdout.write(helpText());
  else if (invocation.kind === 'print-config') process.stdout.write(printConfig());
  else if (cluster.isPrimary && invocation.config.workers > 1) await runPrimary(invocation.config);
  else await runTrackerProcess(invocation.config);
}

main().catch((error: unknown) => {
  process.stderr.write(`redswarm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
