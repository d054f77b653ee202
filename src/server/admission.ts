/**
 * Whether a request may go on, asked alike by the HTTP, UDP and WebSocket servers in one order: the passkey
 * (at every request: keys get revoked), then for an announce the access lists, then the abuse limits. A refusal
 * is counted (in its own metric and as a rejected request) and returned for the server to answer in its own
 * protocol. Admitting costs no allocation: this runs on every announce.
 */
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { AbuseLimits } from '../abuse/abuse-limits.js';
import type { AccessControl } from '../access/access-control.js';
import type { Protocol, RequestMeter } from '../metrics/tracker-metrics.js';
import type { CompactPeer, InfoHash } from '../protocol/types.js';
import { PasskeyGate } from './passkeys.js';

/** Why a request is refused, and, when the abuse limits refused it, the seconds to wait before announcing again. */
export interface Refusal {
  readonly reason: string;
  readonly retryAfter?: number;
}

export interface AdmissionDeps {
  config: TrackerConfig;
  log: Logger;
  access: AccessControl;
  abuse: AbuseLimits;
}

/**
 * The admission of one server. `clientAddress(a, b)` names the client in the log line of a refused passkey, from
 * what the server passes along (its request objects): read only then, so that admitting formats nothing.
 */
export class Admission<A, B = void> {
  private readonly passkeys: PasskeyGate<A, B>;
  private readonly access: AccessControl;
  private readonly abuse: AbuseLimits;

  constructor({ config, log, access, abuse }: AdmissionDeps, private readonly protocol: Protocol, clientAddress: (a: A, b: B) => string) {
    this.passkeys = new PasskeyGate(config, access, log, protocol, clientAddress);
    this.access = access;
    this.abuse = abuse;
  }

  /** An announce's or a scrape's refusal for its passkey (undefined: none given), or undefined. */
  passkeyRefusal(passkey: string | undefined, meter: RequestMeter, a: A, b: B): Refusal | undefined {
    const reason = this.passkeys.refusal(passkey, a, b);
    if (reason === undefined) return undefined;
    meter.count('rejected');
    return { reason };
  }

  /** An announce's refusal by the access lists, else by the abuse limits (for `peer`'s source), or undefined. */
  announceRefusal(infoHash: InfoHash, peerId: string, peer: CompactPeer, meter: RequestMeter): Refusal | undefined {
    const { access, abuse, protocol } = this;
    const listed = access.announceRefusal(infoHash, peerId, protocol);
    if (listed !== null) {
      meter.count('rejected');
      return { reason: listed };
    }
    if (abuse.announceAllowed(peer, infoHash, protocol)) return undefined;
    meter.count('rejected');
    return { reason: abuse.rateLimitedReason, retryAfter: abuse.retryAfter };
  }
}
