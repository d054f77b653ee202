/**
 * Where the embedded store sends its swarm events (the Redis store appends them in its own function calls):
 * the partition streams of a Redis used only for them, or JSON lines. A swarm's events are appended in the
 * order the swarm applied them: one connection per Redis node, commands in order on it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import type { InfoHash } from '../protocol/types.js';
import { connectStore, type OwnedTopology, type RedisTarget } from '../store/redis/connection.js';
import { functionLibrary } from '../store/redis/function-contract.js';
import type { Reply } from '../store/redis/resp.js';
import { ScriptClient } from '../store/redis/script-client.js';
import { EventPartitions } from '../store/redis/swarm-keys.js';
import { EventsMaintenance } from './maintenance.js';
import { eventsAppended, eventAppendFailures } from './metrics.js';
import { decimalDigits, entryFields, jsonLine, writeDecimal, writeLatin1, type EventValues } from './schema.js';
import type { EventsOptions } from './store-events.js';

export interface EventSink {
  /** Appends one event of the swarm of `infoHash`; settles when the sink has it (Redis: acknowledged). */
  append(infoHash: InfoHash, event: EventValues): Promise<void>;
  close(): Promise<void>;
}

/**
 * The events of the partition streams, from the embedded store: XADD commands written as bytes and sent on the
 * Redis store's own client (script-client.ts: one connection per node, the commands of one event-loop turn in
 * one write, routed by slot and redirected like the store's calls).
 */
export class RedisStreamSink implements EventSink {
  private readonly partitions: EventPartitions;
  private readonly heads: readonly (readonly string[])[];
  private readonly maintenance: EventsMaintenance;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly client: ScriptClient,
    private readonly topology: OwnedTopology,
    options: EventsOptions,
  ) {
    this.partitions = new EventPartitions(options.partitions);
    this.heads = this.partitions.streams.map((stream) => ['XADD', stream, 'MAXLEN', '~', String(options.maxlen), '*']);
    this.maintenance = new EventsMaintenance(redis, this.partitions.streams, () => true);
  }

  /** `onError`: connection problems, for the log (connections are reopened by themselves). */
  static async connect(target: RedisTarget, options: EventsOptions, timeoutMs: number, onError: (error: Error) => void = () => {}): Promise<RedisStreamSink> {
    // The store's library is loaded too (the client loads it where a call needs it): harmless, never called here.
    const { source } = functionLibrary();
    const { redis, topology, settings } = await connectStore({ target, timeoutMs, onError }, source);
    const client = new ScriptClient({ topology, connection: settings, library: source, timeoutMs, onError });
    return new RedisStreamSink(redis, client, topology, options);
  }

  append(infoHash: InfoHash, event: EventValues): Promise<void> {
    const partition = this.partitions.partitionOf(infoHash);
    return this.client.call(this.partitions.slotOf(partition), xaddCommand(this.heads[partition]!, event), checkAdded).then(
      () => eventsAppended.inc(),
      (error: unknown) => {
        eventAppendFailures.inc();
        throw error;
      },
    );
  }

  async close(): Promise<void> {
    await this.maintenance.close();
    this.client.close();
    this.topology.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** `XADD <stream> MAXLEN ~ <n> * <field> <value> …` as RESP. */
function xaddCommand(head: readonly string[], event: EventValues): Buffer {
  const args = head.concat(entryFields(event));
  const count = `*${args.length}\r\n`;
  const out = Buffer.allocUnsafe(count.length + bulksBytes(args));
  out.write(count, 0, 'latin1');
  writeBulks(out, count.length, args);
  return out;
}

/** Bytes of latin1 values as RESP bulk strings. */
function bulksBytes(values: readonly string[]): number {
  let bytes = 0;
  for (const value of values) bytes += value.length + decimalDigits(value.length) + 5; // $<len>\r\n<value>\r\n
  return bytes;
}

/** Writes latin1 values as RESP bulk strings at `at`. */
function writeBulks(out: Buffer, at: number, values: readonly string[]): void {
  for (const value of values) {
    out[at] = 0x24; // $
    at = writeDecimal(out, at + 1, value.length);
    out[at++] = 13;
    out[at++] = 10;
    at = writeLatin1(out, at, value);
    out[at++] = 13;
    out[at++] = 10;
  }
}

/** XADD answers the new entry's ID. */
function checkAdded(reply: Reply): void {
  if (!Buffer.isBuffer(reply) && typeof reply !== 'string') throw new Error('Redis: unexpected reply to XADD');
}

const DONE = Promise.resolve();

/**
 * One JSON object a line, to a file (appended) or standard output, the lines of one event-loop turn in one
 * write. Settles at once: a line is the process's once handed over (a crash can lose the lines not yet written;
 * docs/events.md).
 */
export class JsonLinesSink implements EventSink {
  private readonly out: WriteStream | NodeJS.WriteStream;
  private lines = '';
  private scheduled: NodeJS.Immediate | undefined;
  private readonly flush = () => {
    this.scheduled = undefined;
    this.writeOut();
  };

  constructor(file: string) {
    this.out = file === '-' ? process.stdout : createWriteStream(file, { flags: 'a' });
  }

  append(_infoHash: InfoHash, event: EventValues): Promise<void> {
    this.lines += `${jsonLine(event)}\n`;
    // At the end of the turn, or at 64 KiB when a turn has many (resolved promises chain within one).
    if (this.lines.length >= 65536) this.writeOut();
    else this.scheduled ??= setImmediate(this.flush);
    eventsAppended.inc();
    return DONE;
  }

  private writeOut(): void {
    if (this.lines === '') return;
    this.out.write(this.lines);
    this.lines = '';
  }

  close(): Promise<void> {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.writeOut();
    if (this.out === process.stdout) return DONE;
    return new Promise((resolve) => (this.out as WriteStream).end(resolve));
  }
}
