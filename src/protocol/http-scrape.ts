/** HTTP scrape (BEP 48): query parsing and reply encoding. */
import { bytesLength, intLength, writeAscii, writeBinaryString, writeInt } from './bencode-writer.js';
import { forEachQueryParam, isParam, percentDecodeBinary } from './query-string.js';
import { RequestError, type InfoHash, type ScrapeCounts } from './types.js';

/**
 * Parses the raw query of `GET /scrape` into distinct info hashes, in first-seen order.
 * An empty list means a full scrape, which the server allows only when configured to.
 */
export function parseHttpScrapeQuery(query: string, maxHashes: number): InfoHash[] {
  const hashes: InfoHash[] = [];
  forEachQueryParam(query, (name, start, end) => {
    if (!isParam(query, name, start, 'info_hash')) return;
    const hash = percentDecodeBinary(query, start, end);
    if (hash.length !== 20) throw new RequestError('info_hash must be 20 bytes');
    if (hashes.includes(hash)) return;
    if (hashes.length === maxHashes) throw new RequestError(`too many info_hash values (at most ${maxHashes})`);
    hashes.push(hash);
  });
  return hashes;
}

/** `d5:filesd<ih>d8:complete…10:downloaded…10:incomplete…e…ee`, hashes sorted as bencode requires. */
export function encodeHttpScrapeReply(hashes: readonly InfoHash[], counts: readonly ScrapeCounts[]): Buffer {
  const order = hashes.map((_, i) => i).sort((a, b) => (hashes[a]! < hashes[b]! ? -1 : 1));
  let length = 'd5:filesd'.length + 2;
  for (const i of order) {
    const c = counts[i]!;
    length +=
      bytesLength(hashes[i]!.length) +
      'd8:complete10:downloaded10:incompletee'.length +
      intLength(c.complete) +
      intLength(c.downloaded) +
      intLength(c.incomplete);
  }
  const out = Buffer.allocUnsafe(length);
  let at = writeAscii(out, 0, 'd5:filesd');
  for (const i of order) {
    const c = counts[i]!;
    at = writeBinaryString(out, at, hashes[i]!);
    at = writeAscii(out, at, 'd8:complete');
    at = writeInt(out, at, c.complete);
    at = writeAscii(out, at, '10:downloaded');
    at = writeInt(out, at, c.downloaded);
    at = writeAscii(out, at, '10:incomplete');
    at = writeInt(out, at, c.incomplete);
    out[at++] = 101; // e
  }
  writeAscii(out, at, 'ee');
  return out;
}
