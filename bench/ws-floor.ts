/**
 * The floor under any WebSocket tracker in Node on this machine: a uWebSockets.js server that answers every
 * message with a fixed announce reply, parsing and storing nothing. What bench/ws-load.ts measures against it
 * (`--offers 0`) is the CPU per reply that the socket work alone costs (most of it in the kernel): no tracker
 * can go below it, so it bounds any ratio between two trackers. Loopback only.
 *
 *   node --import tsx bench/ws-floor.ts --port N
 */
import { parseArgs } from 'node:util';
import { uWS } from '../src/server/uws.js';
import { assertLoopback } from './load-common.js';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('--port N is required');
assertLoopback(values.host!);

const reply = JSON.stringify({ action: 'announce', interval: 120, info_hash: 'x'.repeat(20), complete: 0, incomplete: 1 });
uWS
  .App()
  .ws('/*', { compression: uWS.DISABLED, maxPayloadLength: 64 * 1024, message: (ws) => void ws.send(reply, false) })
  .listen(values.host!, port, (token) => {
    if (token === false) {
      console.error(`ws-floor: cannot listen on ${values.host}:${port}`);
      process.exit(1);
    }
    console.log(`ws-floor ws://${values.host}:${port}`);
  });
