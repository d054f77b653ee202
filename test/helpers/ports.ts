/** Free loopback ports for tests: one number free for both TCP and UDP, as the tracker binds both. */
import dgram from 'node:dgram';
import net from 'node:net';

function tcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

/**
 * Ports this process handed out: a port is free again once the probe closes it, and the kernel may give the same
 * one to the next probe, before whoever asked first binds it (an instance's tracker and metrics ports clashed so).
 */
const given = new Set<number>();

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await tcpPort(host);
    if (given.has(port) || !(await udpFree(host, port))) continue;
    given.add(port);
    return port;
  }
  throw new Error('no port free for both TCP and UDP');
}
