/**
 * What every generator's load is made of: the bench's info hashes (the same set in every tool and in
 * opentracker's whitelist) and a seeded random number generator.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The bench's info hashes: SHA-1 of a seeded label, so every tool derives the same set. */
export function makeInfoHashes(count: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(count * 20);
  for (let i = 0; i < count; i++) {
    createHash('sha1').update(`redswarm-bench:${seed}:${i}`).digest().copy(out, i * 20);
  }
  return out;
}

export function hashesToHexLines(hashes: Buffer): string {
  const lines: string[] = [];
  for (let off = 0; off < hashes.length; off += 20) lines.push(hashes.toString('hex', off, off + 20));
  return lines.join('\n') + '\n';
}

export function readHashesFile(path: string): Buffer {
  const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-fA-F]{40}$/.test(l));
  if (lines.length === 0) throw new Error(`${path}: no 40-hex-digit info hashes found`);
  return Buffer.from(lines.join(''), 'hex');
}

/** The info hashes the options ask for (`--hashes-file`, or `--hashes` of `--seed`), 20 bytes each. */
export function loadHashes(opts: { hashes: number; hashesFile: string; seed: number }): Buffer {
  return opts.hashesFile ? readHashesFile(opts.hashesFile) : makeInfoHashes(opts.hashes, opts.seed);
}

/** How a summary names the info hashes and their popularity: `hashes=100000 zipf=1`, `hashes=file:F zipf=1`. */
export function hashesLabel(opts: { hashes: number; hashesFile: string; zipf: number }): string {
  return `hashes=${opts.hashesFile ? `file:${opts.hashesFile}` : opts.hashes} zipf=${opts.zipf}`;
}

/** mulberry32: small, fast, allocation-free PRNG returning [0, 1). */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
