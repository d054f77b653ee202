/**
 * Minimal bencode writing into preallocated Buffers, for the replies on the hot path. Cold replies (dict peers,
 * errors) use the same helpers so there is one spelling of each bencode form.
 */

/** Number of ASCII digits of a non-negative integer. */
export function digitCount(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/** Bytes taken by `i<n>e`. */
export function intLength(n: number): number {
  return 2 + digitCount(n);
}

/** Bytes taken by `<len>:<bytes>`. */
export function bytesLength(length: number): number {
  return digitCount(length) + 1 + length;
}

export function writeAscii(out: Buffer, at: number, text: string): number {
  return at + out.write(text, at, 'latin1');
}

/** Copies pre-encoded bytes; for the few bytes of a dictionary key a loop beats a native call. */
export function writeConst(out: Buffer, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

export function writeDigits(out: Buffer, at: number, n: number): number {
  const end = at + digitCount(n);
  let i = end;
  do {
    out[--i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return end;
}

/** Writes `i<n>e`. */
export function writeInt(out: Buffer, at: number, n: number): number {
  out[at] = 105; // i
  at = writeDigits(out, at + 1, n);
  out[at] = 101; // e
  return at + 1;
}

/** Writes `<len>:` followed by the bytes. */
export function writeBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  at = writeDigits(out, at, bytes.length);
  out[at++] = 58; // :
  out.set(bytes, at);
  return at + bytes.length;
}

/** Writes `<len>:` followed by a binary (latin1) string. */
export function writeBinaryString(out: Buffer, at: number, text: string): number {
  at = writeDigits(out, at, text.length);
  out[at++] = 58; // :
  return at + out.write(text, at, 'latin1');
}

/**
 * `d14:failure reason<len>:<msg>e`, sent with HTTP 200 because many clients ignore status codes (BEP 31); with
 * `minInterval`, also `12:min intervali<n>e`, which clients such as libtorrent wait before retrying.
 */
export function encodeFailure(reason: string, minInterval?: number): Buffer {
  const message = Buffer.from(reason, 'utf8');
  const wait = minInterval === undefined ? 0 : 15 + intLength(minInterval);
  const out = Buffer.allocUnsafe(19 + bytesLength(message.length) + wait);
  let at = writeAscii(out, 0, 'd14:failure reason');
  at = writeBytes(out, at, message);
  if (minInterval !== undefined) at = writeInt(out, writeAscii(out, at, '12:min interval'), minInterval);
  out[at] = 101; // e
  return out;
}
