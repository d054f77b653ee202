/**
 * The seed of a fuzz run: FUZZ_SEED=<n> if given (to replay a run), else a fixed seed under CI (CI=true), so that
 * CI runs are reproducible and a red CI run is red again on the next try, else a random one, so that runs on
 * developers' machines keep exploring. It is printed once when the test file loads, and every failure message of
 * the fuzzers carries it (`where`).
 */
import { randomInt } from 'node:crypto';

/** The seed CI uses unless FUZZ_SEED says otherwise. */
export const CI_FUZZ_SEED = 1;

export interface FuzzSeed {
  readonly seed: number;
  /** `(FUZZ_SEED=<n>)`, to put in every failure message: the command prefix that replays the run. */
  readonly where: string;
}

/** Reads (and prints) the seed of the fuzz in `file`. An unusable FUZZ_SEED stops the run rather than being ignored. */
export function fuzzSeed(file: string): FuzzSeed {
  const given = process.env.FUZZ_SEED;
  let seed: number;
  let source: string;
  if (given !== undefined && given.trim() !== '') {
    seed = Number(given);
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
      throw new Error(`FUZZ_SEED must be an integer in 0..4294967295, not ${JSON.stringify(given)}`);
    }
    source = 'from FUZZ_SEED';
  } else if (process.env.CI === 'true') {
    seed = CI_FUZZ_SEED;
    source = 'fixed under CI=true';
  } else {
    seed = randomInt(2 ** 31);
    source = 'random; FUZZ_SEED=<n> replays a run';
  }
  const where = `(FUZZ_SEED=${seed})`;
  console.log(`${file}: fuzz seed ${seed} (${source})`);
  return { seed, where };
}
