/**
 * uWebSockets.js, imported in one place so the build can be swapped in one line (the `uWebSockets.js` package
 * name is an npm alias). The package silently falls back to a slow pure-JS shim when its native addon does not
 * load; `usingNativeUws()` tells which one runs.
 */
import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

export { uWS };
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

export function usingNativeUws(): boolean {
  const cache = createRequire(import.meta.url).cache;
  return Object.keys(cache).some((path) => path.endsWith('.node') && path.includes('uws_'));
}
