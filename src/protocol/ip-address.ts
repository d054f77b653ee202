/** Text and binary forms of IP addresses and compact peers, with v4-mapped IPv6 folded to IPv4. */
import { COMPACT_V4_LENGTH, COMPACT_V6_LENGTH, type CompactPeer } from './types.js';

/** Parses dotted-quad IPv4 into out[at..at+4]; false if it is not one. */
function parseIPv4Into(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = -1;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (value < 0 || part === 3) return false;
      out[at + part++] = value;
      value = -1;
    } else if (c >= 48 && c <= 57) {
      if (value === 0) return false; // a leading zero (octal to some parsers): refused, as inet_pton does
      value = value < 0 ? c - 48 : value * 10 + (c - 48);
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  if (value < 0 || part !== 3) return false;
  out[at + 3] = value;
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 0x20;
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/** Parses IPv6 text (with `::`, an embedded IPv4 tail, and an ignored `%zone`) into 16 bytes. */
function parseIPv6(text: string): Uint8Array | null {
  let end = text.indexOf('%');
  if (end < 0) end = text.length;
  const out = new Uint8Array(16);
  let pos = 0; // next byte to fill
  let gap = -1; // byte position of '::'
  let i = 0;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
    if (end === 2) return out;
  }
  while (i < end) {
    if (pos >= 16) return null;
    let groupEnd = i;
    let value = 0;
    while (groupEnd < end) {
      const d = hexDigit(text.charCodeAt(groupEnd));
      if (d < 0) break;
      value = value * 16 + d;
      groupEnd++;
    }
    if (groupEnd < end && text.charCodeAt(groupEnd) === 46 /* . */) {
      // IPv4 tail, e.g. ::ffff:1.2.3.4
      if (pos > 12 || !parseIPv4Into(text, i, end, out, pos)) return null;
      pos += 4;
      i = end;
      break;
    }
    if (groupEnd === i || groupEnd - i > 4) return null;
    out[pos++] = value >> 8;
    out[pos++] = value & 0xff;
    i = groupEnd;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58 /* : */) return null;
    i++;
    if (i < end && text.charCodeAt(i) === 58) {
      if (gap >= 0) return null;
      gap = pos;
      i++;
    } else if (i === end) {
      return null; // trailing single ':'
    }
  }
  if (gap >= 0) {
    if (pos === 16) return null; // `::` must stand for at least one zero group
    const tail = pos - gap;
    out.copyWithin(16 - tail, gap, pos);
    out.fill(0, gap, 16 - tail);
  } else if (pos !== 16) {
    return null;
  }
  return out;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** True if the 16 bytes at ip[0..16] are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isV4Mapped(ip: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (ip[i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/**
 * Builds the compact peer for a source address given as text (as Node's dgram reports it) and a port.
 * IPv4-mapped IPv6 sources become IPv4 peers. Returns null for text that is not an IP address.
 */
export function compactPeerFromText(address: string, port: number): CompactPeer | null {
  if (address.indexOf(':') < 0) {
    const out = Buffer.allocUnsafe(COMPACT_V4_LENGTH);
    if (!parseIPv4Into(address, 0, address.length, out, 0)) return null;
    out[4] = port >> 8;
    out[5] = port & 0xff;
    return out;
  }
  const ip = parseIPv6(address);
  return ip === null ? null : compactPeerFromBytes(ip, port);
}

/** Builds the compact peer for a 4- or 16-byte binary address (as uWebSockets.js reports it). */
export function compactPeerFromBytes(ip: Uint8Array, port: number): CompactPeer {
  if (ip.length === 16 && !isV4Mapped(ip)) {
    const out = Buffer.allocUnsafe(COMPACT_V6_LENGTH);
    out.set(ip, 0);
    out[16] = port >> 8;
    out[17] = port & 0xff;
    return out;
  }
  const out = Buffer.allocUnsafe(COMPACT_V4_LENGTH);
  const at = ip.length === 16 ? 12 : 0;
  out[0] = ip[at]!;
  out[1] = ip[at + 1]!;
  out[2] = ip[at + 2]!;
  out[3] = ip[at + 3]!;
  out[4] = port >> 8;
  out[5] = port & 0xff;
  return out;
}

/** The text form of a compact peer's address, for dictionary-model replies and logs. */
export function compactPeerAddressText(peer: Uint8Array, at = 0, length = peer.length - at): string {
  if (length === COMPACT_V4_LENGTH) return `${peer[at]}.${peer[at + 1]}.${peer[at + 2]}.${peer[at + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((peer[at + i]! << 8) | peer[at + i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export function compactPeerPort(peer: Uint8Array, at = 0, length = peer.length - at): number {
  return (peer[at + length - 2]! << 8) | peer[at + length - 1]!;
}
