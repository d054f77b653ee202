/**
 * Loads the `bittorrent-tracker` Client without WebRTC. Its ESM entry imports `webrtc-polyfill`, which loads the
 * `node-datachannel` native addon at import time; that addon is only used by WebSocket/WebRTC trackers (none
 * here) and its install step downloads a prebuilt binary, which this machine and CI cannot do. A module hook
 * resolves `webrtc-polyfill` to an empty stub for this process; the HTTP and UDP tracker code is untouched.
 */
import { register } from 'node:module';
import type TrackerClient from 'bittorrent-tracker';

const STUB =
  'export const RTCPeerConnection = undefined; export const RTCSessionDescription = undefined; ' +
  'export const RTCIceCandidate = undefined; export default {};';

const HOOKS = `
export async function resolve(specifier, context, next) {
  if (specifier === 'webrtc-polyfill') {
    return { url: 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(STUB)}), shortCircuit: true };
  }
  return next(specifier, context);
}`;

register(`data:text/javascript,${encodeURIComponent(HOOKS)}`);

const { default: Client } = await import('bittorrent-tracker');
type Client = TrackerClient;
export default Client;
export type { ScrapeData, UpdateData } from 'bittorrent-tracker';
