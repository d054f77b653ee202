/** Loading a big list (a million entries) takes seconds of CPU: it yields to requests between slices of it. */
import { setImmediate } from 'node:timers/promises';

/** Entries per slice, about 10 ms of work, so that loading a list never stalls requests for long. */
export const SLICE = 16_384;

/** Resolves in a later turn of the event loop, after the I/O that waits. */
export function nextTurn(): Promise<void> {
  return setImmediate();
}

/** The items that `keep` keeps, checked in slices. */
export async function filterInSlices<T>(items: readonly T[], keep: (item: T) => boolean): Promise<T[]> {
  const kept: T[] = [];
  for (let i = 0; i < items.length; i++) {
    if (keep(items[i]!)) kept.push(items[i]!);
    if (i % SLICE === SLICE - 1) await nextTurn();
  }
  return kept;
}
