import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { siphash24, sipKeyFromBytes } from '../../src/protocol/siphash.js';

/**
 * The 64 SipHash-2-4 reference vectors (vectors_sip64 of the reference implementation): key 00..0f,
 * message 00..(n-1) for n = 0..63, output as 8 little-endian bytes.
 */
const VECTORS_SIP64_LE = [
  '310e0edd47db6f72', 'fd67dc93c539f874', '5a4fa9d909806c0d', '2d7efbd796666785',
  'b7877127e09427cf', '8da699cd64557618', 'cee3fe586e46c9cb', '37d1018bf50002ab',
  '6224939a79f5f593', 'b0e4a90bdf82009e', 'f3b9dd94c5bb5d7a', 'a7ad6b22462fb3f4',
  'fbe50e86bc8f1e75', '903d84c02756ea14', 'eef27a8e90ca23f7', 'e545be4961ca29a1',
  'db9bc2577fcc2a3f', '9447be2cf5e99a69', '9cd38d96f0b3c14b', 'bd6179a71dc96dbb',
  '98eea21af25cd6be', 'c7673b2eb0cbf2d0', '883ea3e395675393', 'c8ce5ccd8c030ca8',
  '94af49f6c650adb8', 'eab8858ade92e1bc', 'f315bb5bb835d817', 'adcf6b0763612e2f',
  'a5c91da7acaa4dde', '716595876650a2a6', '28ef495c53a387ad', '42c341d8fa92d832',
  'ce7cf2722f512771', 'e37859f94623f3a7', '381205bb1ab0e012', 'ae97a10fd434e015',
  'b4a31508beff4d31', '81396229f0907902', '4d0cf49ee5d4dcca', '5c73336a76d8bf9a',
  'd0a704536ba93e0e', '925958fcd6420cad', 'a915c29bc8067318', '952b79f3bc0aa6d4',
  'f21df2e41d4535f9', '87577519048f53a9', '10a56cf5dfcd9adb', 'eb75095ccd986cd0',
  '51a9cb9ecba312e6', '96afadfc2ce666c7', '72fe52975a4364ee', '5a1645b276d592a1',
  'b274cb8ebf87870a', '6f9bb4203de7b381', 'eaecb2a30b22a87f', '9924a43cc1315724',
  'bd838d3aafbf8db7', '0b1a2a3265d51aea', '135079a3231ce660', '932b2846e4d70666',
  'e1915f5cb1eca46c', 'f325965ca16d629f', '575ff28e60381be5', '724506eb4c328a95',
];

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const MESSAGE = Uint8Array.from({ length: 64 }, (_, i) => i);

/** The 64-bit result as a BigInt from the [low, high] halves siphash24 writes. */
function sip(key: Uint8Array, message: Uint8Array, length = message.length): bigint {
  const out = new Uint32Array(2);
  siphash24(sipKeyFromBytes(key), message, length, out);
  return (BigInt(out[1]!) << 32n) | BigInt(out[0]!);
}

function vector(n: number): bigint {
  return Buffer.from(VECTORS_SIP64_LE[n]!, 'hex').readBigUInt64LE(0);
}

/** A plain BigInt SipHash-2-4, written from the paper, to compare against on random inputs. */
function referenceSipHash(key: Uint8Array, message: Uint8Array): bigint {
  const mask = (1n << 64n) - 1n;
  const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & mask;
  const k = Buffer.from(key);
  const k0 = k.readBigUInt64LE(0);
  const k1 = k.readBigUInt64LE(8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & mask; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & mask; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & mask; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & mask; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const padded = Buffer.alloc(message.length - (message.length % 8) + 8);
  padded.set(message);
  padded[padded.length - 1] = message.length & 0xff;
  for (let at = 0; at < padded.length; at += 8) {
    const m = padded.readBigUInt64LE(at);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return (v0 ^ v1 ^ v2 ^ v3) & mask;
}

describe('siphash24', () => {
  it('matches the examples of the brief: n=0 and n=15', () => {
    assert.equal(sip(KEY, MESSAGE.subarray(0, 0)), 0x726fdb47dd0e0e31n);
    assert.equal(sip(KEY, MESSAGE.subarray(0, 15)), 0xa129ca6149be45e5n);
  });

  it('matches all 64 reference vectors (n = 0..63, incl. 7, 8, 15, 63)', () => {
    for (let n = 0; n < 64; n++) {
      assert.equal(sip(KEY, MESSAGE.subarray(0, n)).toString(16), vector(n).toString(16), `n=${n}`);
    }
  });

  it('reads only message[0..length) of a longer buffer', () => {
    for (const n of [0, 1, 7, 8, 9, 15, 16, 20, 63]) {
      assert.equal(sip(KEY, MESSAGE, n), vector(n), `n=${n}`);
    }
  });

  it('the BigInt reference reproduces the vectors (checks the oracle)', () => {
    for (let n = 0; n < 64; n++) assert.equal(referenceSipHash(KEY, MESSAGE.subarray(0, n)), vector(n), `n=${n}`);
  });

  it('agrees with the reference on random keys and messages', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 0, maxLength: 100 }),
        (key, message) => sip(key, message) === referenceSipHash(key, message),
      ),
      { numRuns: 2000 },
    );
  });

  it('sipKeyFromBytes needs exactly 16 bytes', () => {
    assert.throws(() => sipKeyFromBytes(new Uint8Array(15)), RangeError);
    assert.throws(() => sipKeyFromBytes(new Uint8Array(17)), RangeError);
  });
});
