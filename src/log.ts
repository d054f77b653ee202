/** The process logger: pino JSON lines on stdout. Per-request events stay at debug level or below. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, name: 'redswarm' });
}
