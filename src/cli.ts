#!/usr/bin/env node
/** `redswarm`: parse the configuration, open the store, serve until SIGINT/SIGTERM. */
import { ConfigError, helpText, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { startTracker } from './server/tracker.js';
import { createStore } from './store/create-store.js';

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
  const log = createLogger(config.logLevel);
  const store = await createStore(config, log);
  const tracker = await startTracker(config, store, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    tracker
      .close()
      .then(() => store.close())
      .then(
        () => {
          log.info('stopped');
          log.flush();
          process.exit(0);
        },
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`redswarm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
