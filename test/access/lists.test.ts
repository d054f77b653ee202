/** The access lists' pure parts: the info-hash table against a Set, entry syntax, and file parsing. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { InfoHashTable } from '../../src/access/info-hash-table.js';
import { LIST_KINDS, ListSyntaxError, parseList } from '../../src/access/lists.js';

const hash = (): string => randomBytes(20).toString('latin1');

describe('InfoHashTable', () => {
  it('holds exactly its hashes, whatever their size', async () => {
    for (const count of [0, 1, 12, 13, 5000]) {
      const listed = Array.from({ length: count }, hash);
      const table = await InfoHashTable.from(Buffer.from([...listed, ...listed.slice(0, 3)].join(''), 'latin1'));
      assert.equal(table.size, count, 'duplicates count once');
      for (const h of listed) assert.ok(table.matches(h));
      for (let i = 0; i < 2000; i++) assert.equal(table.matches(hash()), false);
    }
  });

  it('tells apart hashes that share a slot, a tag, or all but one byte', async () => {
    const base = Buffer.alloc(20); // bytes 8..12 zero: the tag that stands in for zero
    const near = Array.from({ length: 20 }, (_, i) => {
      const b = Buffer.from(base);
      b[i] = 1;
      return b.toString('latin1');
    });
    const table = await InfoHashTable.from(Buffer.from([base.toString('latin1'), ...near.slice(0, 10)].join(''), 'latin1'));
    assert.ok(table.matches(base.toString('latin1')));
    near.forEach((h, i) => assert.equal(table.matches(h), i < 10, `byte ${i}`));
    assert.equal(table.matches('short'), false);
  });
});

describe('list entries', () => {
  it('normalizes what operators write and refuses the rest', () => {
    const ih = LIST_KINDS['info-hash'];
    assert.equal(ih.normalize('AB'.repeat(20)), 'ab'.repeat(20));
    assert.equal(ih.normalize('ab'.repeat(19)), null);
    assert.equal(ih.normalize('zz'.repeat(20)), null);
    const peerId = LIST_KINDS['peer-id'];
    assert.equal(peerId.normalize('-XL0012-'), '-XL0012-');
    assert.equal(peerId.normalize('%00%ff'), '%00%ff');
    assert.equal(peerId.normalize('%zz'), null);
    assert.equal(peerId.normalize('a,b'), null);
    assert.equal(peerId.normalize('x'.repeat(21)), null);
    const origin = LIST_KINDS.origin;
    assert.equal(origin.normalize('HTTPS://Example.COM:8443'), 'https://example.com:8443');
    assert.equal(origin.normalize('https://example.com/path'), null);
    assert.equal(LIST_KINDS.passkey.normalize('0123456789abcdef0123456789abcdef'), '0123456789abcdef0123456789abcdef');
    assert.equal(LIST_KINDS.passkey.normalize('a/b?c=12345'), null);
  });

  it('matches peer_id prefixes, escaped bytes included', async () => {
    const matcher = await LIST_KINDS['peer-id'].build(['-XL0012-', '%00%FF']);
    assert.ok(matcher.matches('-XL0012-abcdefghijkl'));
    assert.ok(matcher.matches('\x00\xffabcdefghijklmnopqr'));
    assert.equal(matcher.matches('-XL0013-abcdefghijkl'), false);
  });

  it('parses a file with comments and names the first malformed line', async () => {
    const text = `# allowed torrents\n${'a'.repeat(40)}  # one\n\n${'B'.repeat(40)}\n`;
    assert.deepEqual(await parseList(LIST_KINDS['info-hash'], text, 'list.txt'), ['a'.repeat(40), 'b'.repeat(40)]);
    await assert.rejects(
      parseList(LIST_KINDS['info-hash'], `${text}oops\n`, 'list.txt'),
      (error: unknown) => error instanceof ListSyntaxError && error.message.startsWith('list.txt:5: not an info hash'),
    );
  });
});
