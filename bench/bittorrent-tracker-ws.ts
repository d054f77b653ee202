/**
 * The `bittorrent-tracker` npm Server as a WebSocket tracker only, for bench/compare-ws.sh: no HTTP or UDP
 * tracker, and no `/stats` page (it walks every swarm). Loopback only.
 *
 *   node --import tsx bench/bittorrent-tracker-ws.ts --port N
 */
import { Server } from 'bittorrent-tracker';
import { assertLoopback, parseOptions, targetOptions } from './harness/options.js';

const usage = 'usage: node --import tsx bench/bittorrent-tracker-ws.ts --port N';
const { host, port } = parseOptions(targetOptions('port to listen on', 'address to listen on (loopback only)'), process.argv.slice(2), usage);
assertLoopback(host);

const server = new Server({ http: false, udp: false, ws: true, stats: false });
// Protocol warnings (a client's bad message) are part of the load, not failures of the server.
server.on('warning', () => undefined);
server.on('error', (error: Error) => {
  console.error(`bittorrent-tracker: ${error.message}`);
  process.exit(1);
});
server.listen(port, host, () => console.log(`bittorrent-tracker ws://${host}:${port}`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
