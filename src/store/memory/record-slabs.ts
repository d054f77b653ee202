/**
 * Memory for peer records. A typed array costs V8 ~250 bytes of objects before its first element, more than a
 * whole small swarm's records, so small tables share big fixed chunks: capacities of 1, 2, 4 … MAX_SLAB_RECORDS
 * records are blocks in per-size-class chunks that never move, recycled through free lists. Larger tables get a
 * typed array of their own, whose overhead is then small next to its contents.
 */
export const MAX_SLAB_RECORDS = 64;
const CHUNK_WORDS = 1 << 16;
const CLASSES = Math.log2(MAX_SLAB_RECORDS) + 1;

/** Where a block lives: its array and the word offset of its first record. Reused to avoid allocation. */
export interface Block {
  array: Uint32Array;
  base: number;
}

class SizeClass {
  readonly chunks: Uint32Array[] = [];
  /** Free blocks, each as chunk number × CHUNK_WORDS + offset. */
  readonly free: number[] = [];
  /** Next never-used offset in the last chunk. */
  next = CHUNK_WORDS;

  constructor(readonly blockWords: number) {}
}

export class RecordSlabs {
  private readonly classes: SizeClass[] = [];

  constructor(readonly stride: number) {
    for (let k = 0; k < CLASSES; k++) this.classes.push(new SizeClass((1 << k) * stride));
  }

  /** The capacity (in records) that allocate() really gives for a wanted one. */
  static capacityFor(records: number): number {
    if (records > MAX_SLAB_RECORDS) return records;
    let capacity = 1;
    while (capacity < records) capacity <<= 1;
    return capacity;
  }

  /** Points `into` at a zeroed-or-stale block for `capacity` records (a value capacityFor() returned). */
  allocate(capacity: number, into: Block): void {
    if (capacity > MAX_SLAB_RECORDS) {
      into.array = new Uint32Array(capacity * this.stride);
      into.base = 0;
      return;
    }
    const sizeClass = this.classes[Math.log2(capacity)]!;
    const recycled = sizeClass.free.pop();
    if (recycled !== undefined) {
      into.array = sizeClass.chunks[Math.floor(recycled / CHUNK_WORDS)]!;
      into.base = recycled % CHUNK_WORDS;
      return;
    }
    if (sizeClass.next + sizeClass.blockWords > CHUNK_WORDS) {
      sizeClass.chunks.push(new Uint32Array(CHUNK_WORDS));
      sizeClass.next = 0;
    }
    into.array = sizeClass.chunks[sizeClass.chunks.length - 1]!;
    into.base = sizeClass.next;
    sizeClass.next += sizeClass.blockWords;
  }

  /** Returns a block that allocate() gave for `capacity` records. */
  release(capacity: number, block: Block): void {
    if (capacity > MAX_SLAB_RECORDS) return; // its own array: the garbage collector takes it
    const sizeClass = this.classes[Math.log2(capacity)]!;
    sizeClass.free.push(sizeClass.chunks.indexOf(block.array) * CHUNK_WORDS + block.base);
  }
}
