import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachQueryParam, isParam, parseDecimal, percentDecodeBinary } from '../../src/protocol/query-string.js';
import { RequestError } from '../../src/protocol/types.js';

/** The pairs forEachQueryParam reports, as [name, value] text. */
function pairs(query: string): [string, string][] {
  const out: [string, string][] = [];
  forEachQueryParam(query, (name, start, end) => {
    const eq = query.indexOf('=', name);
    const nameEnd = eq >= 0 && eq < start ? eq : Math.min(start - 1, query.length);
    out.push([query.slice(name, nameEnd), start <= end ? query.slice(start, end) : '']);
  });
  return out;
}

describe('forEachQueryParam and isParam', () => {
  it('visits each pair, skipping empty ones', () => {
    assert.deepEqual(pairs('a=1&bb=22&&c=&d&=e'), [
      ['a', '1'],
      ['bb', '22'],
      ['c', ''],
      ['d', ''],
      ['', 'e'],
    ]);
    assert.deepEqual(pairs(''), []);
    assert.deepEqual(pairs('&&'), []);
    assert.deepEqual(pairs('x=a=b'), [['x', 'a=b']]);
  });

  it('isParam matches whole names only', () => {
    const query = 'port=1&portx=2&por=3&port';
    const seen: string[] = [];
    forEachQueryParam(query, (name, start) => {
      seen.push(isParam(query, name, start, 'port') ? 'port' : '-');
    });
    assert.deepEqual(seen, ['port', '-', '-', 'port']);
  });
});

describe('percentDecodeBinary', () => {
  const decode = (text: string): string => percentDecodeBinary(text, 0, text.length);

  it('decodes escapes byte for byte, any case, and leaves the rest', () => {
    assert.equal(decode('%00%ff%FF%7f+a%2B'), '\x00\xff\xff\x7f+a+');
    assert.equal(decode('abc'), 'abc');
    assert.equal(decode(''), '');
  });

  it('decodes only within [start, end)', () => {
    const q = 'x=%41%42&y=%43';
    assert.equal(percentDecodeBinary(q, 2, 8), 'AB');
    assert.equal(percentDecodeBinary(q, 11, 14), 'C');
    assert.equal(percentDecodeBinary(q, 2, 5), 'A');
  });

  it('longer than its scratch buffer', () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const text = [...bytes].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
    assert.equal(decode(text), bytes.toString('latin1'));
  });

  it('rejects truncated or invalid escapes', () => {
    for (const text of ['%', '%4', 'ab%', 'ab%4', '%g0', '%0g', '%%41']) {
      assert.throws(() => decode(text), RequestError, JSON.stringify(text));
    }
    // an escape cut by `end` is truncated even if the string goes on
    assert.throws(() => percentDecodeBinary('%41', 0, 2), RequestError);
  });
});

describe('parseDecimal', () => {
  const parse = (text: string): number => parseDecimal(text, 0, text.length);

  it('parses unsigned decimals and returns -1 for anything else', () => {
    assert.equal(parse('0'), 0);
    assert.equal(parse('007'), 7);
    assert.equal(parse('65535'), 65535);
    assert.equal(parse('9007199254740991'), Number.MAX_SAFE_INTEGER);
    for (const text of ['', '-1', '+1', '1.5', '1e3', ' 1', '0x10', 'abc', '1'.repeat(21)]) {
      assert.equal(parse(text), -1, JSON.stringify(text));
    }
  });
});
