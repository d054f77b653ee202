/**
 * The store's hot path to Redis: one connection per node carrying only FCALLs of the swarm functions, each
 * command pre-encoded by the caller, batched into one write per connection per event-loop turn, and answered
 * by a small RESP parser. It exists because ioredis spends ~35 µs of CPU per such call (Command objects,
 * argument conversion, key-slot hashing, auto-pipeline bookkeeping), more than the rest of an announce
 * (docs/performance.md, "Redis store"); ioredis still does everything else: the cluster topology this client
 * routes by, SCANs, and connection settings.
 *
 * What it handles itself:
 * - routing by slot (the caller computes it) through a Topology, MOVED (follow, and tell the topology) and
 *   ASK (ASKING + the call on the named node), at most MAX_REDIRECTS; TRYAGAIN and READONLY (retried every
 *   RETRY_DELAY_MS within the call's timeout);
 * - "Function not found" (a restarted, flushed or new node): FUNCTION LOAD on that connection, then the call
 *   again; the load goes once per connection however many calls were in flight;
 * - timeouts: every call fails after `timeoutMs`, and a connection whose oldest call has waited twice that is
 *   closed;
 * - failures: a lost connection fails its calls at once; calls to that node then fail at once until the next
 *   attempt (backoff 100 ms × failures, at most 2 s), made by the next call after it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { hostPort } from './nodes.js';
import { ReplyError, ReplyParser, encodeCommand, type Reply } from './resp.js';

/** Where slots live. */
export interface Topology {
  /** The node (`host:port`) that serves a slot, if known. */
  nodeFor(slot: number): string | undefined;
  /** A node answered MOVED: the slot lives at `node` now. */
  moved(slot: number, node: string): void;
  /** Something suggests the topology changed (a node failed, a replica answered). */
  refresh(): void;
}

/** Settings of every connection, from the ioredis client's own. */
export interface ConnectionSettings {
  username?: string | null | undefined;
  password?: string | null | undefined;
  /** A database to SELECT (single node only). */
  db?: number | undefined;
  /** TLS options; absent: plain TCP. */
  tls?: tls.ConnectionOptions | undefined;
}

export interface ScriptClientOptions {
  topology: Topology;
  connection: ConnectionSettings;
  /** The function library, loaded on a node that does not have it yet. */
  library: string;
  timeoutMs: number;
  /** Connection problems, for the log. */
  onError: (error: Error) => void;
}

const MAX_REDIRECTS = 5;
const RETRY_DELAY_MS = 50;

/** Something waiting for a reply on a connection. */
interface Pending {
  deadline: number;
  done: boolean;
  reply(connection: Connection, value: Reply): void;
  fail(error: Error): void;
}

/** A command routed by slot: what redirections, retries and loads need of it. */
interface Routed extends Pending {
  readonly slot: number;
  readonly command: Buffer;
  redirects: number;
  loads: number;
}

/**
 * A command routed by slot whose final reply settles something: error replies (redirections, retries, loads)
 * are the client's to handle, and a call settles once, by its reply or by a failure.
 */
abstract class RoutedCall implements Routed {
  done = false;
  /** MOVED and ASK answers followed, and functions loaded, for this call since its last retry. */
  redirects = 0;
  /** The connection's library loads when this call was last sent. */
  loads = 0;

  constructor(
    readonly client: ScriptClient,
    readonly slot: number,
    readonly command: Buffer,
    public deadline: number,
  ) {}

  reply(connection: Connection, value: Reply): void {
    if (this.done) return;
    if (value instanceof ReplyError) {
      this.client.replyError(this, connection, value.message);
      return;
    }
    this.done = true;
    this.settle(value);
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.settleFailed(error);
  }

  protected abstract settle(value: Reply): void;
  protected abstract settleFailed(error: Error): void;
}

/** A call of the caller's, decoded with `decode` when its reply comes; `failed` is told when it fails. */
class Call<T> extends RoutedCall {
  resolve!: (value: T) => void;
  reject!: (error: Error) => void;
  readonly promise: Promise<T>;

  constructor(client: ScriptClient, slot: number, command: Buffer, readonly decode: (reply: Reply) => T, deadline: number, readonly failed?: () => void) {
    super(client, slot, command, deadline);
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  protected settle(value: Reply): void {
    let decoded: T;
    try {
      decoded = this.decode(value);
    } catch (error) {
      this.settleFailed(error as Error);
      return;
    }
    this.resolve(decoded);
  }

  protected settleFailed(error: Error): void {
    this.failed?.();
    this.reject(error);
  }
}

/** Calls of every kind share the queues. */
type AnyCall = Routed;

/** Commands sent together by callMany: one promise for all of them, settled by the last reply. */
class Batch {
  waiting: number;
  error: Error | null = null;
  constructor(
    size: number,
    readonly decode: (slot: number, reply: Reply) => void,
    readonly resolve: () => void,
    readonly reject: (error: Error) => void,
  ) {
    this.waiting = size;
    if (size === 0) resolve();
  }

  settled(slot: number, reply: Reply | undefined, error: Error | null): void {
    if (error === null && this.error === null) {
      try {
        this.decode(slot, reply as Reply);
      } catch (decodeError) {
        error = decodeError as Error;
      }
    }
    if (error !== null && this.error === null) this.error = error;
    if (--this.waiting === 0) {
      if (this.error === null) this.resolve();
      else this.reject(this.error);
    }
  }
}

/** One command of a Batch: routed, redirected and retried like a Call, without a promise of its own. */
class BatchCall extends RoutedCall {
  constructor(client: ScriptClient, readonly batch: Batch, slot: number, command: Buffer, deadline: number) {
    super(client, slot, command, deadline);
  }

  protected settle(value: Reply): void {
    this.batch.settled(this.slot, value, null);
  }

  protected settleFailed(error: Error): void {
    this.batch.settled(this.slot, undefined, error);
  }
}

/** Replies to the connection's own commands (AUTH, SELECT, ASKING, FUNCTION LOAD). */
class Internal implements Pending {
  done = false;
  constructor(
    public deadline: number,
    /** Called with an error reply or a failure; null: ignore them. */
    readonly onError: ((message: string) => void) | null,
  ) {}

  reply(_connection: Connection, value: Reply): void {
    this.done = true;
    if (value instanceof ReplyError && this.onError) this.onError(value.message);
  }

  fail(): void {
    this.done = true;
  }
}

const ASKING = encodeCommand(['ASKING']);

/** One node's connection, reopened on demand after a failure. */
class Connection {
  private socket: net.Socket | null = null;
  private queue: Pending[] = [];
  private head = 0;
  private out: Buffer[] = [];
  private outBytes = 0;
  flushQueued = false;
  private rest: Buffer | null = null;
  private readonly parser = new ReplyParser();
  private failures = 0;
  private retryAt = 0;
  private lastError: Error | null = null;
  /** FUNCTION LOADs sent on this connection. */
  loads = 0;

  constructor(
    private readonly client: ScriptClient,
    readonly node: string,
  ) {}

  send(call: AnyCall, asking: boolean): void {
    if (this.socket === null && !this.open()) {
      call.fail(this.lastError ?? new Error(`Redis ${this.node} unavailable`));
      return;
    }
    if (asking) this.enqueue(new Internal(call.deadline, null), ASKING);
    call.loads = this.loads;
    this.enqueue(call, call.command);
  }

  /** Sends FUNCTION LOAD unless one was sent since `loads` (the call's count when it was sent). */
  loadLibrary(loads: number): void {
    if (loads !== this.loads) return;
    this.loads++;
    this.enqueue(
      new Internal(Date.now() + this.client.timeoutMs, (message) => {
        if (!message.includes('already exists')) this.client.onError(new Error(`Redis ${this.node}: FUNCTION LOAD failed: ${message}`));
      }),
      this.client.loadCommand,
    );
  }

  private enqueue(pending: Pending, bytes: Buffer): void {
    this.queue.push(pending);
    this.out.push(bytes);
    this.outBytes += bytes.length;
    this.client.queueFlush(this);
  }

  flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket === null) return;
    const bytes = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    this.socket.write(bytes);
  }

  /** Opens the socket, unless the last failure is too recent. */
  private open(): boolean {
    if (this.client.closed || Date.now() < this.retryAt) return false;
    const { host, port } = hostPort(this.node);
    const settings = this.client.connection;
    const socket = settings.tls ? tls.connect({ ...settings.tls, host, port }) : net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(this.client.timeoutMs, () => socket.destroy(new Error(`Redis ${this.node}: connect timeout`)));
    socket.once(settings.tls ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      this.failures = 0;
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => {
      this.lastError = new Error(`Redis ${this.node}: ${error.message}`);
    });
    socket.on('close', () => this.closed(socket));
    const setup = (message: string) => socket.destroy(new Error(`Redis ${this.node}: ${message}`));
    const deadline = Date.now() + this.client.timeoutMs;
    if (settings.password) {
      const auth = settings.username ? ['AUTH', settings.username, settings.password] : ['AUTH', settings.password];
      this.enqueue(new Internal(deadline, setup), encodeCommand(auth));
    }
    if (settings.db) this.enqueue(new Internal(deadline, setup), encodeCommand(['SELECT', String(settings.db)]));
    return true;
  }

  private closed(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.rest = null;
    this.out = [];
    this.outBytes = 0;
    const error = this.lastError ?? new Error(`Redis ${this.node}: connection closed`);
    const pending = this.queue;
    const from = this.head;
    this.queue = [];
    this.head = 0;
    let waiting = false;
    for (let i = from; i < pending.length; i++) {
      if (!pending[i]!.done) waiting = true;
      pending[i]!.fail(error);
    }
    // An idle connection the server closed may reopen at once; one that failed calls backs off.
    if (waiting || this.failures > 0 || this.lastError !== null) {
      this.failures++;
      this.retryAt = Date.now() + Math.min(100 * this.failures, 2000);
      this.client.connectionFailed(this, error);
    }
    this.lastError = null;
  }

  private receive(chunk: Buffer): void {
    let bytes = chunk;
    if (this.rest !== null) {
      bytes = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let at = 0;
    const parser = this.parser;
    while (at < bytes.length) {
      let next: number;
      try {
        next = parser.parse(bytes, at);
      } catch (error) {
        this.socket?.destroy(error as Error);
        return;
      }
      if (next < 0) break;
      at = next;
      const pending = this.queue[this.head];
      if (pending === undefined) {
        this.socket?.destroy(new Error(`Redis ${this.node}: a reply nobody asked for`));
        return;
      }
      this.queue[this.head++] = undefined as unknown as Pending;
      pending.reply(this, parser.value);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (at < bytes.length) this.rest = bytes.subarray(at);
  }

  /** Fails calls past their deadline; closes the connection when its oldest call has waited far too long. */
  expire(now: number): void {
    const queue = this.queue;
    for (let i = this.head; i < queue.length; i++) {
      const pending = queue[i]!;
      if (pending.done) continue;
      if (pending.deadline > now) break;
      pending.fail(new Error(`Redis ${this.node}: no reply within ${this.client.timeoutMs} ms`));
    }
    const oldest = queue[this.head];
    if (oldest !== undefined && this.socket !== null && oldest.deadline + this.client.timeoutMs < now) {
      this.socket.destroy(new Error(`Redis ${this.node}: no reply for ${2 * this.client.timeoutMs} ms`));
    }
  }

  close(): void {
    this.socket?.destroy(new Error('Redis store closed'));
  }
}

export class ScriptClient {
  closed = false;
  readonly timeoutMs: number;
  readonly connection: ConnectionSettings;
  readonly loadCommand: Buffer;
  private readonly topology: Topology;
  private readonly connections = new Map<string, Connection>();
  private toFlush: Connection[] = [];
  private flushScheduled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly flushAll = () => {
    this.flushScheduled = false;
    const connections = this.toFlush;
    this.toFlush = [];
    for (const connection of connections) connection.flush();
  };

  constructor(private readonly options: ScriptClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.connection = options.connection;
    this.topology = options.topology;
    this.loadCommand = encodeCommand(['FUNCTION', 'LOAD', options.library]);
    const tick = Math.max(10, Math.min(250, Math.floor(options.timeoutMs / 10)));
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const connection of this.connections.values()) connection.expire(now);
    }, tick);
    this.timer.unref();
  }

  /**
   * Sends `command` (a complete FCALL, every key in `slot`) and resolves with its decoded reply; `decode`
   * throws on a reply of the wrong shape. `failed`: told when the call fails (a counter: no promise more for it).
   */
  call<T>(slot: number, command: Buffer, decode: (reply: Reply) => T, failed?: () => void): Promise<T> {
    const call = new Call(this, slot, command, decode, Date.now() + this.timeoutMs, failed);
    this.dispatch(call, undefined, false);
    return call.promise;
  }

  /**
   * Sends `command(slot)` for each of `slots` (single-key reads), all in one event-loop turn, and calls
   * `decode(slot, reply)` with each reply; resolves once every one has come, rejects with the first failure
   * (after the others settled). For many small reads: no promise per command.
   */
  callMany(slots: readonly number[], command: (slot: number) => Buffer, decode: (slot: number, reply: Reply) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const batch = new Batch(slots.length, decode, resolve, reject);
      const deadline = Date.now() + this.timeoutMs;
      for (const slot of slots) this.dispatch(new BatchCall(this, batch, slot, command(slot), deadline), undefined, false);
    });
  }

  onError(error: Error): void {
    this.options.onError(error);
  }

  queueFlush(connection: Connection): void {
    if (connection.flushQueued) return;
    connection.flushQueued = true;
    this.toFlush.push(connection);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /**
   * Handles an error reply to a call: redirections and missing functions are followed (MAX_REDIRECTS at
   * most); TRYAGAIN (a multi-key call in a slot being migrated, while some of its keys are missing, e.g. the
   * IPv6 keys of a swarm without IPv6 peers) and READONLY (a demoted master) are retried every
   * RETRY_DELAY_MS until the call's deadline. Anything else fails the call.
   */
  replyError(call: AnyCall, connection: Connection, message: string): void {
    const inTime = Date.now() + RETRY_DELAY_MS < call.deadline;
    // A node that serves no such slot and knows no owner has left the cluster (CLUSTER RESET after del-node)
    // and was reached by a stale slot map: like READONLY, the map is refreshed and the call retried.
    const unserved = message.startsWith('CLUSTERDOWN Hash slot not served');
    if (inTime && (message.startsWith('TRYAGAIN') || message.startsWith('READONLY') || unserved)) {
      if (!message.startsWith('TRYAGAIN')) this.topology.refresh();
      // (An ASK may have led here: the importing node lacks some keys too. Redirections count afresh.)
      call.redirects = 0;
      setTimeout(() => this.dispatch(call, undefined, false), RETRY_DELAY_MS);
      return;
    }
    const retry = inTime && ++call.redirects <= MAX_REDIRECTS;
    if (retry && (message.startsWith('MOVED ') || message.startsWith('ASK '))) {
      const [kind, slot, endpoint] = message.split(' ');
      // An empty host (`:port`) means the host of the node that answered.
      const node = endpoint!.startsWith(':') ? connection.node.slice(0, connection.node.lastIndexOf(':')) + endpoint : endpoint!;
      if (kind === 'MOVED') this.topology.moved(Number(slot), node);
      this.dispatch(call, node, kind === 'ASK');
      return;
    }
    if (retry && message.includes('Function not found')) {
      connection.loadLibrary(call.loads);
      connection.send(call, false);
      return;
    }
    call.fail(new Error(inTime ? `Redis ${connection.node}: ${message}` : `Redis ${connection.node}: no answer within ${this.timeoutMs} ms but ${message}`));
  }

  connectionFailed(_connection: Connection, error: Error): void {
    if (this.closed) return;
    this.options.onError(error);
    this.topology.refresh();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }

  private dispatch(call: AnyCall, node: string | undefined, asking: boolean): void {
    if (call.done) return;
    if (this.closed) {
      call.fail(new Error('Redis store closed'));
      return;
    }
    const target = node ?? this.topology.nodeFor(call.slot);
    if (target === undefined) {
      this.topology.refresh();
      call.fail(new Error(`Redis: no node known for slot ${call.slot}`));
      return;
    }
    let connection = this.connections.get(target);
    if (connection === undefined) {
      connection = new Connection(this, target);
      this.connections.set(target, connection);
    }
    connection.send(call, asking);
  }
}
