/** Free loopback ports for tests: one number free for both TCP and UDP, as the tracker binds both. */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';

function tcpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
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
 * Where ports are drawn from: just below the kernel's ephemeral range, which outgoing connections take ports from
 * (a port found free there can be taken by a client socket before the tracker binds it, and a load of many client
 * sockets leaves the kernel's own choice for `listen(0)` few free ports, so it hands out the same ones again),
 * and above the test Redis nodes and their cluster-bus ports (7000-29999, deploy/redis-cluster.sh).
 */
const RANGE = ((): [number, number] => {
  let ephemeral = 32_768;
  try {
    ephemeral = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    /* not Linux: Linux's default */
  }
  return ephemeral > 30_500 ? [Math.max(30_000, ephemeral - 4_000), ephemeral] : [20_000, 30_000];
})();

/** Ports this process handed out: free until whoever asked binds them, so never handed out twice. */
const given = new Set<number>();

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = RANGE;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (given.has(port) || !(await tcpFree(host, port)) || !(await udpFree(host, port))) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no port free for both TCP and UDP in ${low}-${high - 1}`);
}
