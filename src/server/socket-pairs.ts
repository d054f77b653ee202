/**
 * The (swarm, peer_id) pairs of every WebSocket, packed: a tracker holds ~100k sockets in ~5 swarms each, and a
 * JS array per socket costs ~100 bytes (array object, backing store header, a pointer a swarm) where a block
 * here costs ~40. A socket's pairs are a chain of blocks, each one peer_id (a string slot) and up to
 * SWARMS_PER_BLOCK swarm numbers (Int32), in one growable Int32Array shared by all sockets; a socket keeps
 * only the number of its first block. Swarms are numbers the caller gives (see SharedHashes). Freed blocks are
 * reused, never returned: the array keeps the size of the most blocks in use at once (32 bytes each).
 */

/** Ints a block: next block, swarm count, swarms. */
const BLOCK = 8;
const NEXT = 0;
const COUNT = 1;
const SWARMS_PER_BLOCK = BLOCK - 2;
/** No block: an empty chain, or the end of one. */
export const NO_PAIRS = -1;

export class SocketPairs {
  private ints = new Int32Array(BLOCK * 64);
  /** The peer_id of each block (undefined when free). */
  private readonly peerIds: (string | undefined)[] = [];
  private freeBlocks = NO_PAIRS;
  private blocks = 0;

  /** The chain `head` with the pair (swarm, peerId) added (the caller checks it is not there); returns its head. */
  add(head: number, peerId: string, swarm: number): number {
    for (let block = head; block !== NO_PAIRS; block = this.ints[block * BLOCK + NEXT]!) {
      const count = this.ints[block * BLOCK + COUNT]!;
      if (count < SWARMS_PER_BLOCK && this.peerIds[block] === peerId) {
        this.ints[block * BLOCK + 2 + count] = swarm;
        this.ints[block * BLOCK + COUNT] = count + 1;
        return head;
      }
    }
    const block = this.allocate();
    this.peerIds[block] = peerId;
    this.ints[block * BLOCK + NEXT] = head;
    this.ints[block * BLOCK + COUNT] = 1;
    this.ints[block * BLOCK + 2] = swarm;
    return block;
  }

  /** Where the pair (swarm, peerId) is in the chain `head` (for `remove`), or -1. */
  find(head: number, peerId: string, swarm: number): number {
    for (let block = head; block !== NO_PAIRS; block = this.ints[block * BLOCK + NEXT]!) {
      if (this.peerIds[block] !== peerId) continue;
      const count = this.ints[block * BLOCK + COUNT]!;
      for (let i = 0; i < count; i++) if (this.ints[block * BLOCK + 2 + i] === swarm) return block * BLOCK + 2 + i;
    }
    return -1;
  }

  /** The swarm of the pair at `at` (from `find`). */
  swarmAt(at: number): number {
    return this.ints[at]!;
  }

  /** The chain `head` without the pair at `at` (from `find`); returns its head. */
  remove(head: number, at: number): number {
    const block = Math.floor(at / BLOCK);
    const base = block * BLOCK;
    const count = this.ints[base + COUNT]! - 1;
    this.ints[at] = this.ints[base + 2 + count]!;
    this.ints[base + COUNT] = count;
    if (count > 0) return head;
    const next = this.ints[base + NEXT]!;
    this.release(block);
    if (block === head) return next;
    let previous = head;
    while (this.ints[previous * BLOCK + NEXT] !== block) previous = this.ints[previous * BLOCK + NEXT]!;
    this.ints[previous * BLOCK + NEXT] = next;
    return head;
  }

  /** How many pairs the chain holds. */
  count(head: number): number {
    let count = 0;
    for (let block = head; block !== NO_PAIRS; block = this.ints[block * BLOCK + NEXT]!) count += this.ints[block * BLOCK + COUNT]!;
    return count;
  }

  /** The chain's own string equal to `peerId` if it has one (so that a socket keeps one copy), else `peerId`. */
  peerIdOf(head: number, peerId: string): string {
    for (let block = head; block !== NO_PAIRS; block = this.ints[block * BLOCK + NEXT]!) {
      const own = this.peerIds[block]!;
      if (own === peerId) return own;
    }
    return peerId;
  }

  /** Hands every pair of the chain to `each` and frees the chain. */
  drain(head: number, each: (swarm: number, peerId: string) => void): void {
    for (let block = head; block !== NO_PAIRS; ) {
      const base = block * BLOCK;
      const peerId = this.peerIds[block]!;
      for (let i = 0; i < this.ints[base + COUNT]!; i++) each(this.ints[base + 2 + i]!, peerId);
      const next = this.ints[base + NEXT]!;
      this.release(block);
      block = next;
    }
  }

  private allocate(): number {
    if (this.freeBlocks !== NO_PAIRS) {
      const block = this.freeBlocks;
      this.freeBlocks = this.ints[block * BLOCK + NEXT]!;
      return block;
    }
    if ((this.blocks + 1) * BLOCK > this.ints.length) {
      // Grown by a quarter: the slack is paid per socket.
      const grown = new Int32Array(Math.ceil((this.ints.length * 1.25) / BLOCK) * BLOCK);
      grown.set(this.ints);
      this.ints = grown;
    }
    this.peerIds.push(undefined);
    return this.blocks++;
  }

  private release(block: number): void {
    this.peerIds[block] = undefined;
    this.ints[block * BLOCK + NEXT] = this.freeBlocks;
    this.freeBlocks = block;
  }
}
