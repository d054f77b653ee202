/**
 * The `bittorrent-tracker` npm Server as a WebSocket tracker only, for bench/compare-ws.sh: no HTTP or UDP
 * tracker, and no `/stats` page (it walks every swarm). Loopback only.
 *
 *   node --import tsx bench/bittorrent-tracker-ws.ts --port N
 */
import { parseArgs } from 'node:util';
import { Server } from 'bittorrent-tracker';
import { assertLoopback } from './load-common.js';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('--port N is required');
assertLoopback(values.host!);

const server = new Server({ http: false, udp: false, ws: true, stats: false });
// Protocol warnings (a client's bad message) are part of the load, not failures of the server.
server.on('warning', () => undefined);
server.on('error', (error: Error) => {
  console.error(`bittorrent-tracker: ${error.message}`);
  process.exit(1);
});
server.listen(port, values.host!, () => console.log(`bittorrent-tracker ws://${values.host}:${port}`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
