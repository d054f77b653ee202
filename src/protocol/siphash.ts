/**
 * SipHash-2-4 (Aumasson & Bernstein), a keyed PRF for short inputs. Used to mint and check UDP connection IDs
 * on every UDP request: node:crypto's HMAC costs ~3 µs a call here, this costs a small fraction of that.
 * 64-bit lanes are held as pairs of unsigned 32-bit halves.
 */

function le32(m: Uint8Array, at: number): number {
  return m[at]! | (m[at + 1]! << 8) | (m[at + 2]! << 16) | (m[at + 3]! << 24);
}

/** A 128-bit SipHash key as four little-endian 32-bit words: k0 low, k0 high, k1 low, k1 high. */
export type SipKey = Uint32Array;

export function sipKeyFromBytes(key: Uint8Array): SipKey {
  if (key.length !== 16) throw new RangeError('SipHash key must be 16 bytes');
  return Uint32Array.of(le32(key, 0), le32(key, 4), le32(key, 8), le32(key, 12));
}

/**
 * SipHash-2-4 of message[0..length); writes the 64-bit result to out as [low 32 bits, high 32 bits].
 * One function with int32 locals: V8 keeps them in registers, where module-level or uint32 state would box.
 */
export function siphash24(key: SipKey, message: Uint8Array, length: number, out: Uint32Array): void {
  const k0l = key[0]! | 0, k0h = key[1]! | 0, k1l = key[2]! | 0, k1h = key[3]! | 0;
  let v0h = k0h ^ 0x736f6d65, v0l = k0l ^ 0x70736575;
  let v1h = k1h ^ 0x646f7261, v1l = k1l ^ 0x6e646f6d;
  let v2h = k0h ^ 0x6c796765, v2l = k0l ^ 0x6e657261;
  let v3h = k1h ^ 0x74656462, v3l = k1l ^ 0x79746573;
  const whole = length - (length & 7);
  // Blocks 0..whole/8-1 are message words, the next is the padded tail, the last is finalization.
  for (let at = 0; at <= whole + 8; at += 8) {
    let mh = 0, ml = 0, rounds = 2;
    if (at < whole) {
      ml = le32(message, at);
      mh = le32(message, at + 4);
    } else if (at === whole) {
      mh = (length & 0xff) << 24;
      for (let i = length - 1; i >= whole; i--) {
        const shift = (i - whole) * 8;
        if (shift < 32) ml |= message[i]! << shift;
        else mh |= message[i]! << (shift - 32);
      }
    } else {
      v2l ^= 0xff;
      rounds = 4;
    }
    v3h ^= mh;
    v3l ^= ml;
    for (let r = 0; r < rounds; r++) {
      let lo: number, hi: number, t: number;
      // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
      lo = (v0l + v1l) | 0;
      v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
      v0l = lo;
      hi = (v1h << 13) | (v1l >>> 19);
      lo = (v1l << 13) | (v1h >>> 19);
      v1h = hi ^ v0h;
      v1l = lo ^ v0l;
      t = v0h; v0h = v0l; v0l = t;
      // v2 += v3; v3 = rotl(v3, 16) ^ v2
      lo = (v2l + v3l) | 0;
      v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
      v2l = lo;
      hi = (v3h << 16) | (v3l >>> 16);
      lo = (v3l << 16) | (v3h >>> 16);
      v3h = hi ^ v2h;
      v3l = lo ^ v2l;
      // v0 += v3; v3 = rotl(v3, 21) ^ v0
      lo = (v0l + v3l) | 0;
      v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
      v0l = lo;
      hi = (v3h << 21) | (v3l >>> 11);
      lo = (v3l << 21) | (v3h >>> 11);
      v3h = hi ^ v0h;
      v3l = lo ^ v0l;
      // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
      lo = (v2l + v1l) | 0;
      v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
      v2l = lo;
      hi = (v1h << 17) | (v1l >>> 15);
      lo = (v1l << 17) | (v1h >>> 15);
      v1h = hi ^ v2h;
      v1l = lo ^ v2l;
      t = v2h; v2h = v2l; v2l = t;
    }
    v0h ^= mh;
    v0l ^= ml;
  }
  out[0] = v0l ^ v1l ^ v2l ^ v3l;
  out[1] = v0h ^ v1h ^ v2h ^ v3h;
}
