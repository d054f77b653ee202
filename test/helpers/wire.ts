/**
 * Test-side wire helpers, written independently of src/: percent-encoding, a strict bencode reader that checks
 * canonical form (sorted unique keys, no leading zeros, no trailing bytes), and BEP 15 packet builders.
 */

// ---------------------------------------------------------------------------------------------------------------
// Percent-encoding

const UNRESERVED = /^[A-Za-z0-9._~-]$/;

/** Every byte as `%XX` (upper-case hex). */
export function percentEncodeAll(bytes: Uint8Array, lowerCase = false): string {
  let out = '';
  for (const b of bytes) {
    const hex = b.toString(16).padStart(2, '0');
    out += '%' + (lowerCase ? hex : hex.toUpperCase());
  }
  return out;
}

/**
 * Encodes bytes the way different clients do: unreserved bytes literally or escaped, as `escape(i)` says
 * (true = escape), hex case by `lower(i)`.
 */
export function percentEncodeMixed(
  bytes: Uint8Array,
  escape: (i: number) => boolean,
  lower: (i: number) => boolean = () => false,
): string {
  let out = '';
  bytes.forEach((b, i) => {
    const ch = String.fromCharCode(b);
    if (UNRESERVED.test(ch) && !escape(i)) {
      out += ch;
    } else {
      const hex = b.toString(16).padStart(2, '0');
      out += '%' + (lower(i) ? hex : hex.toUpperCase());
    }
  });
  return out;
}

/** A byte array as the binary (latin1) string the codecs use for info hashes and peer ids. */
export function binary(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

/** Bytes of a binary string. */
export function bytesOf(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

// ---------------------------------------------------------------------------------------------------------------
// Strict bencode

export type BValue = number | Buffer | BValue[] | BDict;

/** A decoded dictionary with its raw keys (as latin1 strings) in wire order. */
export class BDict {
  constructor(readonly entries: Map<string, BValue>) {}

  get keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  int(key: string): number {
    const v = this.entries.get(key);
    if (typeof v !== 'number') throw new Error(`${key}: expected an integer`);
    return v;
  }

  bytes(key: string): Buffer {
    const v = this.entries.get(key);
    if (!Buffer.isBuffer(v)) throw new Error(`${key}: expected a byte string`);
    return v;
  }

  dict(key: string): BDict {
    const v = this.entries.get(key);
    if (!(v instanceof BDict)) throw new Error(`${key}: expected a dictionary`);
    return v;
  }

  list(key: string): BValue[] {
    const v = this.entries.get(key);
    if (!Array.isArray(v)) throw new Error(`${key}: expected a list`);
    return v;
  }
}

/** Decodes canonical bencode; throws on anything a strict reader must refuse. */
export function decodeStrict(data: Uint8Array): BValue {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`invalid bencode at byte ${at}: ${why}`);
  };
  const readDigits = (stop: number): { value: number; negative: boolean } => {
    let negative = false;
    if (buf[at] === 45 /* - */) {
      negative = true;
      at++;
    }
    const start = at;
    while (at < buf.length && buf[at] !== stop) {
      const c = buf[at]!;
      if (c < 48 || c > 57) fail(`unexpected byte ${c}`);
      at++;
    }
    if (at >= buf.length) fail('unterminated number');
    if (at === start) fail('empty number');
    if (buf[start] === 48 && at - start > 1) fail('leading zero');
    if (negative && buf[start] === 48) fail('negative zero');
    const value = Number(buf.toString('latin1', start, at));
    if (!Number.isSafeInteger(value)) fail('integer out of range');
    at++; // the stop byte
    return { value, negative };
  };
  const readString = (): Buffer => {
    const { value: length, negative } = readDigits(58 /* : */);
    if (negative) fail('negative string length');
    if (at + length > buf.length) fail('string runs past the end');
    const out = buf.subarray(at, at + length);
    at += length;
    return out;
  };
  const next = (depth: number): BValue => {
    if (depth > 64) fail('nested too deep');
    const c = buf[at];
    if (c === undefined) return fail('unexpected end');
    if (c === 105 /* i */) {
      at++;
      const { value, negative } = readDigits(101);
      return negative ? -value : value;
    }
    if (c === 108 /* l */) {
      at++;
      const list: BValue[] = [];
      while (buf[at] !== 101) {
        if (at >= buf.length) fail('unterminated list');
        list.push(next(depth + 1));
      }
      at++;
      return list;
    }
    if (c === 100 /* d */) {
      at++;
      const entries = new Map<string, BValue>();
      let previous: Buffer | null = null;
      while (buf[at] !== 101) {
        if (at >= buf.length) fail('unterminated dictionary');
        if (buf[at]! < 48 || buf[at]! > 57) fail('dictionary key is not a string');
        const key = readString();
        if (previous !== null && Buffer.compare(previous, key) >= 0) fail('dictionary keys not sorted or repeated');
        previous = key;
        entries.set(key.toString('latin1'), next(depth + 1));
      }
      at++;
      return new BDict(entries);
    }
    if (c >= 48 && c <= 57) return readString();
    return fail(`unexpected byte ${c}`);
  };
  const value = next(0);
  if (at !== buf.length) fail('trailing bytes');
  return value;
}

export function decodeStrictDict(data: Uint8Array): BDict {
  const v = decodeStrict(data);
  if (!(v instanceof BDict)) throw new Error('expected a bencoded dictionary');
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// BEP 15 packets

export const PROTOCOL_ID = Buffer.from('0000041727101980', 'hex');

export function udpConnectPacket(transactionId: number, extra = 0): Buffer {
  const out = Buffer.alloc(16 + extra);
  PROTOCOL_ID.copy(out, 0);
  out.writeUInt32BE(0, 8);
  out.writeUInt32BE(transactionId >>> 0, 12);
  return out;
}

export interface UdpAnnounceFields {
  connectionId: Uint8Array;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Default 0. */
  downloaded?: bigint;
  /** Default 0 (a seeder). */
  left?: bigint;
  /** Default 0. */
  uploaded?: bigint;
  /** 0 none (the default), 1 completed, 2 started, 3 stopped. */
  event?: number;
  /** Default 0: the sender's address. */
  ip?: number;
  /** Default 0. */
  key?: number;
  /** Default -1: the tracker's default. */
  numwant?: number;
  port: number;
  /** BEP 41 option bytes appended after the 98-byte announce. */
  options?: Uint8Array;
}

export function udpAnnouncePacket(f: UdpAnnounceFields): Buffer {
  const options = f.options ?? new Uint8Array(0);
  const out = Buffer.alloc(98 + options.length);
  Buffer.from(f.connectionId).copy(out, 0, 0, 8);
  out.writeUInt32BE(1, 8);
  out.writeUInt32BE(f.transactionId >>> 0, 12);
  Buffer.from(f.infoHash).copy(out, 16, 0, 20);
  Buffer.from(f.peerId).copy(out, 36, 0, 20);
  out.writeBigUInt64BE(f.downloaded ?? 0n, 56);
  out.writeBigUInt64BE(f.left ?? 0n, 64);
  out.writeBigUInt64BE(f.uploaded ?? 0n, 72);
  out.writeUInt32BE((f.event ?? 0) >>> 0, 80);
  out.writeUInt32BE((f.ip ?? 0) >>> 0, 84);
  out.writeUInt32BE((f.key ?? 0) >>> 0, 88);
  out.writeInt32BE((f.numwant ?? -1) | 0, 92);
  out.writeUInt16BE(f.port, 96);
  out.set(options, 98);
  return out;
}

export function udpScrapePacket(connectionId: Uint8Array, transactionId: number, hashes: readonly Uint8Array[]): Buffer {
  const out = Buffer.alloc(16 + 20 * hashes.length);
  Buffer.from(connectionId).copy(out, 0, 0, 8);
  out.writeUInt32BE(2, 8);
  out.writeUInt32BE(transactionId >>> 0, 12);
  hashes.forEach((h, i) => Buffer.from(h).copy(out, 16 + 20 * i, 0, 20));
  return out;
}

/** BEP 41 option bytes. */
export const bep41 = {
  end: (): Buffer => Buffer.from([0]),
  nop: (): Buffer => Buffer.from([1]),
  urlData: (chunk: string): Buffer => {
    const bytes = Buffer.from(chunk, 'latin1');
    if (bytes.length > 255) throw new RangeError('URLData chunk longer than 255 bytes');
    return Buffer.concat([Buffer.from([2, bytes.length]), bytes]);
  },
  other: (type: number, payload: Uint8Array): Buffer => Buffer.concat([Buffer.from([type, payload.length]), payload]),
};

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness for the fuzzers (seed printed on failure so a run can be replayed)

export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** mulberry32 */
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor((this.u32() / 0x1_0000_0000) * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}
