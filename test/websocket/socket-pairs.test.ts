/**
 * SocketPairs (the packed (swarm, peer_id) pairs of every WebSocket) against a plain model: any sequence of adds,
 * removals and drains over several sockets keeps each socket's pairs exactly, and freed blocks are reused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NO_PAIRS, SocketPairs } from '../../src/server/socket-pairs.js';

const SOCKETS = 4;
const op = fc.record({
  kind: fc.constantFrom('add', 'add', 'add', 'remove', 'drain'),
  socket: fc.nat({ max: SOCKETS - 1 }),
  peer: fc.nat({ max: 1 }),
  swarm: fc.nat({ max: 9 }),
});

/** A socket's pairs as sorted "swarm/peer" keys. */
const sorted = (pairs: Iterable<string>): string[] => [...pairs].sort();

describe('SocketPairs', () => {
  it('keeps every socket\'s pairs through any sequence of adds, removals and drains', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200, size: 'max' }), (ops) => {
        const pairs = new SocketPairs();
        const heads = new Array<number>(SOCKETS).fill(NO_PAIRS);
        const model = Array.from({ length: SOCKETS }, () => new Set<string>());
        for (const { kind, socket, peer, swarm } of ops) {
          const peerId = `peer-${peer}`;
          const key = `${swarm}/${peerId}`;
          const at = pairs.find(heads[socket]!, peerId, swarm);
          assert.equal(at >= 0, model[socket]!.has(key), `find ${key}`);
          if (kind === 'add' && at < 0) {
            heads[socket] = pairs.add(heads[socket]!, peerId, swarm);
            model[socket]!.add(key);
          } else if (kind === 'remove' && at >= 0) {
            assert.equal(pairs.swarmAt(at), swarm);
            heads[socket] = pairs.remove(heads[socket]!, at);
            model[socket]!.delete(key);
          } else if (kind === 'drain') {
            const drained: string[] = [];
            pairs.drain(heads[socket]!, (s, p) => drained.push(`${s}/${p}`));
            heads[socket] = NO_PAIRS;
            assert.deepEqual(sorted(drained), sorted(model[socket]!));
            model[socket]!.clear();
          }
          assert.equal(pairs.count(heads[socket]!), model[socket]!.size);
        }
        for (let socket = 0; socket < SOCKETS; socket++) {
          const drained: string[] = [];
          pairs.drain(heads[socket]!, (s, p) => drained.push(`${s}/${p}`));
          assert.deepEqual(sorted(drained), sorted(model[socket]!));
        }
      }),
      { numRuns: 300 },
    );
  });

  // (That the string is the socket's own object, not an equal copy, is not observable here: === compares text.)
  it('finds the socket\'s peer_id from any copy of its text, and hands back another peer_id as it is', () => {
    const pairs = new SocketPairs();
    const own = 'x'.repeat(20);
    let head = pairs.add(NO_PAIRS, own, 1);
    const copy = Buffer.from(own, 'latin1').toString('latin1');
    assert.equal(pairs.peerIdOf(head, copy), own);
    head = pairs.add(head, pairs.peerIdOf(head, copy), 2);
    assert.equal(pairs.peerIdOf(head, 'y'.repeat(20)), 'y'.repeat(20), 'another peer_id is its own');
    assert.equal(pairs.count(head), 2);
  });
});
