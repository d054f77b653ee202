/**
 * uWebSockets.js, imported in one place so the build can be swapped in one line (the `uWebSockets.js` package
 * name is an npm alias). The package silently falls back to a slow pure-JS shim when its native addon does not
 * load; `usingNativeUws()` tells which one runs.
 */
import { createRequire } from 'node:module';
import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

export { uWS };
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

/** Listens on `port` of every host, or on none (and throws). */
export async function listenOnHosts(app: TemplatedApp, hosts: readonly string[], port: number): Promise<us_listen_socket[]> {
  const sockets: us_listen_socket[] = [];
  for (const host of hosts) {
    const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(host, port, resolve));
    if (socket === false) {
      for (const open of sockets) uWS.us_listen_socket_close(open);
      throw new Error(`cannot listen on TCP ${host} port ${port}`);
    }
    sockets.push(socket);
  }
  return sockets;
}

/** Closes every HTTP and WebSocket connection, idle keep-alive ones included (in this build, not in its type declarations). */
export function closeConnections(app: TemplatedApp): void {
  (app as TemplatedApp & { close(): void }).close();
}

export function usingNativeUws(): boolean {
  const cache = createRequire(import.meta.url).cache;
  return Object.keys(cache).some((path) => path.endsWith('.node') && path.includes('uws_'));
}
