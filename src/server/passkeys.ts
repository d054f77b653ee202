/**
 * Passkeys at the servers' edge, alike for HTTP, UDP and WebSocket: a request with a known key goes on; a
 * request with an unknown (never added, or revoked) key is refused, private tracker or not, so that a mistyped
 * key fails loudly instead of working unaccounted; a request without a key is refused only with --private.
 */
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { passkeysRefused, type Protocol } from '../metrics/tracker-metrics.js';
import { maskPasskey } from '../protocol/announce-path.js';

/** What the gate asks of the key list (AccessControl, kept current from the key file or Redis). */
export interface PasskeyList {
  passkeyKnown(key: string): boolean;
}

export const PASSKEY_REQUIRED = 'passkey required: announce to /KEY/announce';
export const PASSKEY_UNKNOWN = 'unknown passkey';

/** `clientAddress(a, b)` names the client in the log line of a refusal, from what the server passes to `refusal`. */
export class PasskeyGate<A, B = void> {
  private readonly missing;
  private readonly unknown;

  constructor(
    private readonly config: TrackerConfig,
    private readonly keys: PasskeyList,
    private readonly log: Logger,
    private readonly protocol: Protocol,
    private readonly clientAddress: (a: A, b: B) => string,
  ) {
    this.missing = passkeysRefused.labels(protocol, 'missing');
    this.unknown = passkeysRefused.labels(protocol, 'unknown');
  }

  /**
   * The failure reason to send back, or undefined when the request may go on. The client's address (for the log
   * line) is formatted only for a refusal: the common case allocates nothing.
   */
  refusal(passkey: string | undefined, a: A, b: B): string | undefined {
    if (passkey === undefined) {
      if (!this.config.privateMode) return undefined;
      this.missing.inc();
      this.log.debug({ protocol: this.protocol, from: this.clientAddress(a, b) }, 'passkey missing');
      return PASSKEY_REQUIRED;
    }
    if (this.keys.passkeyKnown(passkey)) return undefined;
    this.unknown.inc();
    // Never the whole key in a log: logs are read by more people than the key list.
    this.log.debug({ protocol: this.protocol, from: this.clientAddress(a, b), passkey: maskPasskey(passkey) }, 'passkey unknown');
    return PASSKEY_UNKNOWN;
  }
}
