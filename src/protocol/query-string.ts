/**
 * Raw query-string access for tracker requests. Values are percent-decoded byte for byte into "binary"
 * (latin1) strings, never as UTF-8, because info_hash and peer_id are arbitrary bytes.
 */
import { RequestError } from './types.js';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 0x20;
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/** Decoding goes through one reusable buffer: string concatenation per byte would allocate per byte. */
const scratch = Buffer.allocUnsafe(256);

/**
 * Percent-decodes query[start..end) into a binary string; `+` stays literal as BitTorrent clients escape it.
 * A raw character above 0x7f is refused: the HTTP layer has already read such bytes as UTF-8, so the bytes the
 * client meant can no longer be known.
 */
export function percentDecodeBinary(query: string, start: number, end: number): string {
  const out = end - start <= scratch.length ? scratch : Buffer.allocUnsafe(end - start);
  let length = 0;
  for (let i = start; i < end; i++) {
    let c = query.charCodeAt(i);
    if (c === 37 /* % */) {
      const hi = i + 2 < end ? hexValue(query.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(query.charCodeAt(i + 2)) : -1;
      if (lo < 0) throw new RequestError('malformed percent-encoding');
      c = (hi << 4) | lo;
      i += 2;
    } else if (c > 0x7f) {
      throw new RequestError('unescaped non-ASCII byte in query');
    }
    out[length++] = c;
  }
  return out.toString('latin1', 0, length);
}

/**
 * Calls visit(name, valueStart, valueEnd) for each `name=value` pair of a raw query string, where `name` is
 * the position of the pair; `isParam(query, name, valueStart, 'port')` tests it without slicing a string.
 * Names are compared undecoded: every tracker parameter name is plain ASCII.
 */
export function forEachQueryParam(
  query: string,
  visit: (name: number, valueStart: number, valueEnd: number) => void,
): void {
  let start = 0;
  const length = query.length;
  while (start < length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      if (eq < 0 || eq > end) visit(start, end + 1, end);
      else visit(start, eq + 1, end);
    }
    start = end + 1;
  }
}

/** True if the parameter at `name` (whose value starts at valueStart, after its `=`) is called `expected`. */
export function isParam(query: string, name: number, valueStart: number, expected: string): boolean {
  return valueStart - 1 - name === expected.length && query.startsWith(expected, name);
}

/** Parses an unsigned decimal integer in query[start..end); -1 if it is empty or not digits. */
export function parseDecimal(query: string, start: number, end: number): number {
  if (end <= start || end - start > 20) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = query.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
