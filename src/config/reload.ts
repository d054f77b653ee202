/** Live reload: what a new configuration may change in a running process, applied all at once or not at all. */
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, validate } from './load.js';
import { OPTIONS, type TrackerConfig } from './options.js';

export interface ReloadResult {
  /** Flags of the options that took their new value. */
  readonly applied: string[];
  /** Flags of the options whose new value waits for a restart. */
  readonly needRestart: string[];
}

/**
 * Takes into `running` (in place, so every holder of it sees the new values at once) the reloadable options
 * that `next` changes. Throws a ConfigError and changes nothing when the result would be invalid, e.g. a new
 * interval beyond the peer TTL the store keeps until a restart.
 */
export function applyReload(running: TrackerConfig, next: TrackerConfig, file: string | null): ReloadResult {
  const merged: TrackerConfig = { ...running };
  const target = merged as unknown as Record<keyof TrackerConfig, unknown>;
  const applied: string[] = [];
  const needRestart: string[] = [];
  for (const spec of OPTIONS) {
    if (isDeepStrictEqual(running[spec.key], next[spec.key])) continue;
    if (spec.reload) {
      target[spec.key] = next[spec.key];
      applied.push(spec.flag);
    } else {
      needRestart.push(spec.flag);
    }
  }
  try {
    validate(merged);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`${error.message} (${file ?? 'the environment and flags'}, with the running values of the options that need a restart)`);
  }
  Object.assign(running, merged);
  return { applied, needRestart };
}
