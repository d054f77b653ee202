// Minimal .torrent creation for the real-client end-to-end test.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import bencode from 'bencode';

export interface MadeTorrent {
  /** The bencoded .torrent file. */
  torrent: Buffer;
  /** Info hash, 40 lowercase hex chars. */
  infoHashHex: string;
  /** Info hash, 20 raw bytes. */
  infoHash: Buffer;
}

/**
 * Single-file, private (BEP 27) torrent for `filePath` announcing to `announce`.
 * Private keeps DHT and PEX out of the picture for every client.
 */
export async function makeTorrent(
  filePath: string,
  announce: string,
  pieceLength = 64 * 1024,
): Promise<MadeTorrent> {
  const data = await readFile(filePath);
  const hashes: Buffer[] = [];
  for (let off = 0; off < data.length; off += pieceLength) {
    hashes.push(createHash('sha1').update(data.subarray(off, off + pieceLength)).digest());
  }
  const info = {
    length: data.length,
    name: basename(filePath),
    'piece length': pieceLength,
    pieces: Buffer.concat(hashes),
    private: 1,
  };
  const infoBuf = bencode.encode(info);
  const infoHash = createHash('sha1').update(infoBuf).digest();
  const torrent = Buffer.from(bencode.encode({
    announce,
    'created by': 'redswarm real-client e2e test',
    'creation date': Math.floor(Date.now() / 1000),
    info,
  }));
  return { torrent, infoHashHex: infoHash.toString('hex'), infoHash };
}
