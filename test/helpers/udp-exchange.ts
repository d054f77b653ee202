/** One UDP tracker exchange on a socket of its own: connect, then one request with the connection ID it got. */
import dgram from 'node:dgram';
import { udpConnectPacket } from './wire.js';

/** Resolves with the reply to `packet(connectionId)` from the tracker on 127.0.0.1:`port` (5 s at most per reply). */
export async function udpConnectedRequest(port: number, packet: (connectionId: Buffer) => Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  const exchange = (out: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP reply within 5 s')), 5000);
      socket.once('message', (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      socket.send(out, port, '127.0.0.1');
    });
  try {
    const connect = await exchange(udpConnectPacket(1));
    return await exchange(packet(connect.subarray(8, 16)));
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
