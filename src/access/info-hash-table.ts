/**
 * A set of info hashes for access lists of up to millions of entries, off the V8 heap: open addressing (linear
 * probing, load ≤ 0.75) over typed arrays. A Set<string> of 1M info hashes costs ~61 bytes an entry of heap,
 * 1M strings that every major GC traces, and a slower lookup (bench/access-list.ts, docs/performance.md); this
 * costs 24 bytes a slot (~50 an entry at 1M) and no objects.
 *
 * Each slot is six 32-bit words side by side: a tag (bytes 8..12 of the hash, 0 = empty), then the hash's five
 * words, so that a lookup's tag and hash share a cache line (two arrays cost a second DRAM miss per listed hash).
 * The slot index mixes bytes 0..8 with a per-process random seed, so that nobody who can get info
 * hashes onto a list (by grinding their prefixes) can choose which slots they fill. A lookup reads one tag for
 * most absent hashes; only a tag match compares the whole hash, read from the same place. Filled once (in slices, before anyone sees
 * it), never changed: a new list is a new table swapped in by reference.
 */
import { randomBytes } from 'node:crypto';
import type { InfoHash } from '../protocol/types.js';
import type { Matcher } from './lists.js';
import { nextTurn, SLICE } from './slices.js';

/** A slot's words: the tag, then the hash's five. */
const SLOT_WORDS = 6;

const SEED = randomBytes(8);
const SEED0 = SEED.readUInt32LE(0);
const SEED1 = SEED.readUInt32LE(4);

/** Little-endian word `at` (0..4) of a 20-character latin1 string. */
function word(hash: string, at: number): number {
  const i = at * 4;
  return hash.charCodeAt(i) | (hash.charCodeAt(i + 1) << 8) | (hash.charCodeAt(i + 2) << 16) | (hash.charCodeAt(i + 3) << 24);
}

/** A zero tag marks an empty slot: a hash whose bytes 8..12 are zero gets tag 1 (its words still tell it apart). */
function tagOf(w2: number): number {
  return w2 === 0 ? 1 : w2;
}

function slotOf(w0: number, w1: number, shift: number): number {
  let h = Math.imul(w0 ^ SEED0, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ w1 ^ SEED1, 0x1b873593);
  h ^= h >>> 16;
  return Math.imul(h, 0x85ebca6b) >>> shift;
}

export class InfoHashTable implements Matcher {
  private readonly slots: Uint32Array;
  private readonly shift: number;
  private readonly mask: number;
  private count = 0;

  private constructor(count: number) {
    let bits = 4;
    while (1 << bits < count / 0.75) bits++;
    this.slots = new Uint32Array(SLOT_WORDS << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
  }

  /** A table of `hashes`, 20 bytes each one after the other (a hash given twice is held once), filled in slices. */
  static async from(hashes: Buffer): Promise<InfoHashTable> {
    const count = Math.floor(hashes.length / 20);
    const table = new InfoHashTable(count);
    for (let i = 0; i < count; i++) {
      table.insert(hashes, 20 * i);
      if (i % SLICE === SLICE - 1) await nextTurn();
    }
    return table;
  }

  /** Distinct hashes in the table. */
  get size(): number {
    return this.count;
  }

  /** Bytes of its arrays, for the bench and the docs. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  matches(hash: InfoHash): boolean {
    if (hash.length !== 20) return false;
    const w0 = word(hash, 0);
    const w1 = word(hash, 1);
    const tag = tagOf(word(hash, 2)) >>> 0;
    const { slots, mask } = this;
    for (let slot = slotOf(w0, w1, this.shift); ; slot = (slot + 1) & mask) {
      const at = slot * SLOT_WORDS;
      const seen = slots[at]!;
      if (seen === 0) return false;
      if (seen !== tag) continue;
      if (slots[at + 1] === w0 >>> 0 && slots[at + 2] === w1 >>> 0 && slots[at + 3] === word(hash, 2) >>> 0 && slots[at + 4] === word(hash, 3) >>> 0 && slots[at + 5] === word(hash, 4) >>> 0) {
        return true;
      }
    }
  }

  private insert(hashes: Buffer, at: number): void {
    const w0 = hashes.readUInt32LE(at);
    const w1 = hashes.readUInt32LE(at + 4);
    const tag = tagOf(hashes.readUInt32LE(at + 8));
    let slot = slotOf(w0, w1, this.shift);
    for (; this.slots[slot * SLOT_WORDS] !== 0; slot = (slot + 1) & this.mask) {
      if (this.slots[slot * SLOT_WORDS] === tag && this.holdsAt(slot, hashes, at)) return;
    }
    this.slots[slot * SLOT_WORDS] = tag;
    for (let i = 0; i < 5; i++) this.slots[slot * SLOT_WORDS + 1 + i] = hashes.readUInt32LE(at + 4 * i);
    this.count++;
  }

  private holdsAt(slot: number, hashes: Buffer, at: number): boolean {
    for (let i = 0; i < 5; i++) if (this.slots[slot * SLOT_WORDS + 1 + i] !== hashes.readUInt32LE(at + 4 * i)) return false;
    return true;
  }
}
