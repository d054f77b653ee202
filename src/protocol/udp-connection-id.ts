/**
 * Stateless, unforgeable UDP connection IDs (BEP 15), in the manner of SYN cookies:
 *   id = issuedAt (u32 seconds, big-endian) ‖ low 32 bits of SipHash(key(epoch), issuedAt ‖ client IP).
 * Nothing is stored per client. The key rotates every `rotateSeconds` and is derived from one master secret,
 * so every worker (and every machine given the same secret) accepts the IDs any other one issued.
 * The client's port is left out so a NAT rebinding between connect and announce does not cost a round trip.
 */
import { siphash24, sipKeyFromBytes, type SipKey } from './siphash.js';

export interface ConnectionIdOptions {
  /** 16 or more random bytes shared by every process that must accept the same IDs. */
  masterSecret: Uint8Array;
  /** How long an ID is accepted: BEP 15 says 2 minutes; real clients reuse IDs longer, hence a grace. */
  lifetimeSeconds: number;
  /** How often the MAC key changes; at least lifetimeSeconds. */
  rotateSeconds: number;
  /** Current time in whole seconds. */
  now: () => number;
}

/** IDs stamped this far in the future still pass, for clocks of different machines that disagree a little. */
const CLOCK_SKEW_SECONDS = 5;

export class ConnectionIds {
  private readonly master: SipKey;
  private readonly lifetime: number;
  private readonly rotate: number;
  private readonly now: () => number;
  private readonly message = new Uint8Array(20);
  private readonly digest = new Uint32Array(2);
  private cachedEpoch = -1;
  private cachedKey: SipKey = new Uint32Array(4);
  private previousEpoch = -1;
  private previousKey: SipKey = new Uint32Array(4);

  constructor(options: ConnectionIdOptions) {
    if (options.masterSecret.length < 16) throw new RangeError('connection-id secret must be at least 16 bytes');
    this.master = sipKeyFromBytes(options.masterSecret.subarray(0, 16));
    this.lifetime = options.lifetimeSeconds;
    this.rotate = Math.max(options.rotateSeconds, options.lifetimeSeconds);
    this.now = options.now;
  }

  /** Writes a fresh 8-byte ID for a client IP (4 or 16 bytes) at out[at..at+8]. */
  issue(ip: Uint8Array, out: Uint8Array, at: number): void {
    const issuedAt = this.now() >>> 0;
    const mac = this.mac(issuedAt, ip);
    out[at] = issuedAt >>> 24;
    out[at + 1] = issuedAt >>> 16;
    out[at + 2] = issuedAt >>> 8;
    out[at + 3] = issuedAt;
    out[at + 4] = mac >>> 24;
    out[at + 5] = mac >>> 16;
    out[at + 6] = mac >>> 8;
    out[at + 7] = mac;
  }

  /** True if id[at..at+8] was issued to this IP and is still within its lifetime. */
  verify(id: Uint8Array, at: number, ip: Uint8Array): boolean {
    const issuedAt = ((id[at]! << 24) | (id[at + 1]! << 16) | (id[at + 2]! << 8) | id[at + 3]!) >>> 0;
    const age = this.now() - issuedAt;
    if (age > this.lifetime || age < -CLOCK_SKEW_SECONDS) return false;
    const mac = ((id[at + 4]! << 24) | (id[at + 5]! << 16) | (id[at + 6]! << 8) | id[at + 7]!) >>> 0;
    return this.mac(issuedAt, ip) === mac;
  }

  private mac(issuedAt: number, ip: Uint8Array): number {
    const m = this.message;
    m[0] = issuedAt;
    m[1] = issuedAt >>> 8;
    m[2] = issuedAt >>> 16;
    m[3] = issuedAt >>> 24;
    m.set(ip, 4);
    siphash24(this.keyFor(Math.floor(issuedAt / this.rotate)), m, 4 + ip.length, this.digest);
    return this.digest[0]!;
  }

  /** The MAC key of an epoch: SipHash(master, epoch ‖ i) for its two halves. Two epochs are kept at a time. */
  private keyFor(epoch: number): SipKey {
    if (epoch === this.cachedEpoch) return this.cachedKey;
    if (epoch === this.previousEpoch) return this.previousKey;
    const key = new Uint32Array(4);
    const input = new Uint8Array(5);
    new DataView(input.buffer).setUint32(0, epoch >>> 0, true);
    const half = new Uint32Array(2);
    for (let i = 0; i < 2; i++) {
      input[4] = i;
      siphash24(this.master, input, 5, half);
      key[2 * i] = half[0]!;
      key[2 * i + 1] = half[1]!;
    }
    if (epoch > this.cachedEpoch) {
      this.previousEpoch = this.cachedEpoch;
      this.previousKey = this.cachedKey;
      this.cachedEpoch = epoch;
      this.cachedKey = key;
    }
    return key;
  }
}
