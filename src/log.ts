/**
 * The process logger: pino JSON lines on stdout. Per-request events stay at debug level or below, and warn/error
 * lines are rate-limited per process, so a flood of bad requests or a dead Redis cannot fill a disk.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const WARN = 40;

export function createLogger(level: string, options: { bindings?: Record<string, unknown>; maxWarningsPerSecond?: number } = {}): Logger {
  const limit = options.maxWarningsPerSecond ?? 50;
  let second = 0;
  let written = 0;
  let dropped = 0;
  return pino({
    level,
    name: 'redswarm',
    base: { pid: process.pid, ...options.bindings },
    hooks: {
      logMethod(args, method, levelValue) {
        if (levelValue < WARN) return method.apply(this, args);
        const now = Math.floor(Date.now() / 1000);
        if (now !== second) {
          if (dropped > 0) method.call(this, { dropped }, 'log lines dropped by the rate limit');
          second = now;
          written = 0;
          dropped = 0;
        }
        if (written++ < limit) method.apply(this, args);
        else dropped++;
      },
    },
  });
}

/**
 * A warning that repeats for as long as something stays broken (ioredis reports every failed reconnect, a few
 * times a second): written at most once per `intervalMs` with the line's `fields`, and with how many were left
 * out since the last line.
 */
export function throttledLog(log: Logger, message: string, intervalMs = 5000): (fields: Record<string, unknown>) => void {
  let lastWritten = -Infinity;
  let suppressed = 0;
  return (fields) => {
    const now = Date.now();
    if (now - lastWritten < intervalMs) {
      suppressed++;
      return;
    }
    log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, message);
    lastWritten = now;
    suppressed = 0;
  };
}

/** throttledLog of an error (its `err` field). */
export function throttledWarning(log: Logger, message: string, intervalMs = 5000): (error: unknown) => void {
  const warn = throttledLog(log, message, intervalMs);
  return (error) => warn({ err: error });
}
