/**
 * Passkeys in announce URLs (private trackers): `/KEY/announce` and `/KEY/scrape` over HTTP, the same path in a
 * WebSocket upgrade, and in BEP 41 URL data over UDP. One shape everywhere, validated here once.
 */
import { RequestError } from './types.js';

/**
 * The passkey format: 8 to 128 of the characters a URL never escapes (`A–Z a–z 0–9 . _ ~ -`), so a key reads the
 * same in a URL, a log line, a file and Redis; 8 at least, so that no short key is guessed.
 */
export const PASSKEY_MIN_LENGTH = 8;
export const PASSKEY_MAX_LENGTH = 128;
const PASSKEY = new RegExp(`^[A-Za-z0-9._~-]{${PASSKEY_MIN_LENGTH},${PASSKEY_MAX_LENGTH}}$`);

export function isPasskey(text: string): boolean {
  return PASSKEY.test(text);
}

/** The key of a `/:key/announce` or `/:key/scrape` route, validated. */
export function passkeyOfSegment(segment: string): string {
  if (!PASSKEY.test(segment)) throw new RequestError('invalid passkey');
  return segment;
}

/** `/KEY/announce`, the key's only place in a path. */
const KEYED_ANNOUNCE = /^\/([^/]*)\/announce$/;

/**
 * The passkey in an announce path (a WebSocket upgrade's path, or the path and query of BEP 41 URL data), or
 * undefined when the path has none. Other paths carry no key and are served as before (WebTorrent announces to
 * `/` or `/announce`); a `/KEY/announce` with a malformed key is refused rather than taken as keyless.
 */
export function passkeyOfAnnouncePath(pathAndQuery: string): string | undefined {
  const query = pathAndQuery.indexOf('?');
  const match = KEYED_ANNOUNCE.exec(query < 0 ? pathAndQuery : pathAndQuery.slice(0, query));
  return match === null ? undefined : passkeyOfSegment(match[1]!);
}

/** How a (valid) passkey appears in logs: its first 4 characters, then `…`; enough to tell keys apart, too little to use one. */
export function maskPasskey(key: string): string {
  return `${key.slice(0, 4)}…`;
}
