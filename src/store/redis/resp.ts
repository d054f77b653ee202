/**
 * RESP2, the parts the store's own connections need (script-client.ts): encoding a command of strings and
 * buffers, and parsing replies incrementally out of socket chunks.
 */

/** An error reply (`-ERR …`, `-MOVED …`). */
export class ReplyError {
  constructor(readonly message: string) {}
}

/** Bulk strings come back as Buffers (views into the received bytes), simple strings as strings. */
export type Reply = Buffer | string | number | null | ReplyError | Reply[];

/** A command as RESP bytes. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`, 'latin1'), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n', 'latin1');
const CR = 13;

/**
 * Parses one reply at a time. `parse(bytes, at)` returns the offset after the reply that starts at `at` and
 * leaves it in `value`, or returns -1 when the bytes end before the reply does.
 */
export class ReplyParser {
  value: Reply = null;

  parse(bytes: Buffer, at: number): number {
    if (at >= bytes.length) return -1;
    const type = bytes[at]!;
    // The header line: type byte, then a number or text, then CRLF.
    let end = at + 1;
    while (end < bytes.length && bytes[end] !== CR) end++;
    if (end + 1 >= bytes.length) return -1;
    const next = end + 2;
    switch (type) {
      case 0x24: {
        // $ bulk string
        const length = integer(bytes, at + 1, end);
        if (length < 0) {
          this.value = null;
          return next;
        }
        if (next + length + 2 > bytes.length) return -1;
        this.value = bytes.subarray(next, next + length);
        return next + length + 2;
      }
      case 0x2b: // + simple string
        this.value = bytes.toString('latin1', at + 1, end);
        return next;
      case 0x2d: // - error
        this.value = new ReplyError(bytes.toString('utf8', at + 1, end));
        return next;
      case 0x3a: // : integer
        this.value = integer(bytes, at + 1, end);
        return next;
      case 0x2a: {
        // * array
        const length = integer(bytes, at + 1, end);
        if (length < 0) {
          this.value = null;
          return next;
        }
        const items: Reply[] = [];
        let offset = next;
        for (let i = 0; i < length; i++) {
          offset = this.parse(bytes, offset);
          if (offset < 0) return -1;
          items.push(this.value);
        }
        this.value = items;
        return offset;
      }
      default:
        throw new Error(`unexpected RESP type byte 0x${type.toString(16)}`);
    }
  }
}

function integer(bytes: Buffer, from: number, to: number): number {
  let negative = false;
  if (bytes[from] === 0x2d) {
    negative = true;
    from++;
  }
  let value = 0;
  for (let i = from; i < to; i++) value = value * 10 + (bytes[i]! - 0x30);
  return negative ? -value : value;
}
