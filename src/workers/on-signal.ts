/**
 * Process signals: the first SIGINT or SIGTERM runs a graceful `shutdown` once, then the process exits; SIGHUP
 * reloads the configuration.
 */
import { applyReload, loadConfig, type TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';

export function stopOnSignal(log: Logger, shutdown: (signal: string) => Promise<unknown>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    shutdown(signal).then(
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

/**
 * On SIGHUP, reads the configuration again from the same command line, environment and file, and applies what
 * a running process can take (config/reload.ts); `reloaded` runs after a successful reload. A file that does
 * not load, or a result that is invalid, changes nothing and is logged. Requests in flight are not touched.
 */
export function reloadOnSignal(log: Logger, config: TrackerConfig, reloaded?: () => void): void {
  process.on('SIGHUP', () => {
    try {
      const invocation = loadConfig(process.argv.slice(2), process.env);
      if (invocation.kind !== 'run') return;
      const { applied, needRestart } = applyReload(config, invocation.config, invocation.file);
      log.level = config.logLevel;
      log.info({ file: invocation.file, applied }, 'configuration reloaded');
      if (needRestart.length > 0) {
        log.warn({ options: needRestart }, `changed options need a restart to take effect: ${needRestart.join(', ')}`);
      }
      reloaded?.();
    } catch (error) {
      log.error({ err: error }, `configuration not reloaded, the running one stays: ${(error as Error).message}`);
    }
  });
}
