import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bencode from 'bencode';
import {
  bytesLength,
  digitCount,
  encodeFailure,
  intLength,
  writeBinaryString,
  writeBytes,
  writeInt,
} from '../../src/protocol/bencode-writer.js';
import { decodeStrictDict } from '../helpers/wire.js';

describe('encodeFailure', () => {
  it('is a one-key dictionary with the failure reason', () => {
    const body = encodeFailure('invalid port');
    assert.equal(body.toString('latin1'), 'd14:failure reason12:invalid porte');
    const decoded = bencode.decode(body);
    assert.deepEqual(Object.keys(decoded), ['failure reason']);
    assert.equal(Buffer.from(decoded['failure reason']).toString(), 'invalid port');
  });

  it('counts UTF-8 bytes, not characters, in the length prefix', () => {
    const message = 'naïve – 🚀 déjà';
    const body = encodeFailure(message);
    const d = decodeStrictDict(body);
    assert.equal(d.bytes('failure reason').toString('utf8'), message);
    assert.equal(body.length, 'd14:failure reason'.length + bytesLength(Buffer.byteLength(message)) + 1);
  });

  it('empty and long messages', () => {
    assert.equal(encodeFailure('').toString('latin1'), 'd14:failure reason0:e');
    const long = 'x'.repeat(12345);
    assert.equal(decodeStrictDict(encodeFailure(long)).bytes('failure reason').toString(), long);
  });
});

describe('bencode writer primitives', () => {
  it('digitCount and intLength', () => {
    for (const n of [0, 1, 9, 10, 99, 100, 12345, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      assert.equal(digitCount(n), String(n).length, `digitCount(${n})`);
      assert.equal(intLength(n), `i${n}e`.length);
    }
  });

  it('writeInt, writeBytes and writeBinaryString write exactly what they measure', () => {
    for (const n of [0, 7, 10, 4294967296, Number.MAX_SAFE_INTEGER]) {
      const out = Buffer.alloc(intLength(n) + 2, 0x2e);
      const end = writeInt(out, 1, n);
      assert.equal(end, 1 + intLength(n));
      assert.equal(out.toString('latin1'), `.i${n}e.`);
    }
    const bytes = Uint8Array.of(0, 255, 58, 101);
    const out = Buffer.alloc(bytesLength(bytes.length));
    assert.equal(writeBytes(out, 0, bytes), out.length);
    assert.deepEqual(out, Buffer.concat([Buffer.from('4:'), bytes]));
    const text = '\x00\xff\x80abc';
    const out2 = Buffer.alloc(bytesLength(text.length));
    assert.equal(writeBinaryString(out2, 0, text), out2.length);
    assert.deepEqual(out2, Buffer.from('6:' + text, 'latin1'));
  });
});
