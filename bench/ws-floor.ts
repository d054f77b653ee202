/**
 * The floor under any WebSocket tracker in Node on this machine: a uWebSockets.js server that answers every
 * message with a fixed announce reply, parsing and storing nothing. What bench/ws-load.ts measures against it
 * (`--offers 0`) is the CPU per reply that the socket work alone costs (most of it in the kernel): no tracker
 * can go below it, so it bounds any ratio between two trackers. Loopback only.
 *
 *   node --import tsx bench/ws-floor.ts --port N
 */
import { uWS } from '../src/server/uws.js';
import { assertLoopback, parseOptions, targetOptions } from './harness/options.js';

const usage = 'usage: node --import tsx bench/ws-floor.ts --port N';
const { host, port } = parseOptions(targetOptions('port to listen on', 'address to listen on (loopback only)'), process.argv.slice(2), usage);
assertLoopback(host);

const reply = JSON.stringify({ action: 'announce', interval: 120, info_hash: 'x'.repeat(20), complete: 0, incomplete: 1 });
uWS
  .App()
  .ws('/*', { compression: uWS.DISABLED, maxPayloadLength: 64 * 1024, message: (ws) => void ws.send(reply, false) })
  .listen(host, port, (token) => {
    if (token === false) {
      console.error(`ws-floor: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    console.log(`ws-floor ws://${host}:${port}`);
  });
