/**
 * The reference consumer (`redswarm events account`): per key (passkey, or the announce's `key`) the bytes
 * uploaded and downloaded and the `completed` events, and per info hash the `completed` events, kept in Redis.
 *
 * Announces carry a session's running totals, so a peer's bytes count as the difference from its previous
 * announce (a `started`, or a count that went down, starts from zero). Each event is applied by one script, in
 * the slot of its partition stream, that also moves the partition's high-water mark (the last applied entry
 * ID): an entry at or below the mark is skipped. So a re-delivered entry (a consumer that died between applying
 * and acknowledging) is never applied twice, and the totals, the peers' last counts and the mark change
 * together or not at all. Every key lives beside its stream: `<stream tag>:<name>:{applied,keys,torrents,peers}`.
 */
import type { Cluster, Redis } from 'ioredis';
import type { StreamEvent } from './consumer.js';

const APPLY = `
local function parse(id)
  local ms, n = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(n)
end
local id, event, key, ih, peer = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local last = redis.call('GET', KEYS[1])
if last then
  local lm, ln = parse(last)
  local m, n = parse(id)
  if m < lm or (m == lm and n <= ln) then return 0 end
end
local up, down = tonumber(ARGV[6]), tonumber(ARGV[7])
if up and down then
  local du, dd = up, down
  local prev = redis.call('HGET', KEYS[4], peer)
  if prev and event ~= 'started' then
    local pu, pd = string.match(prev, '^(%d+),(%d+)$')
    du, dd = up - tonumber(pu), down - tonumber(pd)
    if du < 0 then du = up end
    if dd < 0 then dd = down end
  end
  if key ~= '' then
    redis.call('HINCRBY', KEYS[2], key .. ':uploaded', string.format('%.0f', du))
    redis.call('HINCRBY', KEYS[2], key .. ':downloaded', string.format('%.0f', dd))
  end
  redis.call('HSET', KEYS[4], peer, string.format('%.0f,%.0f', up, down))
end
if event == 'stopped' or event == 'expired' or event == 'removed' then redis.call('HDEL', KEYS[4], peer) end
if event == 'completed' then
  if key ~= '' then redis.call('HINCRBY', KEYS[2], key .. ':completed', 1) end
  redis.call('HINCRBY', KEYS[3], ih, 1)
end
redis.call('SET', KEYS[1], id)
return 1
`;

/** The keys of one partition's totals: beside its stream, in its slot. */
function keysOf(stream: string, name: string): [string, string, string, string] {
  const tag = stream.slice(0, stream.indexOf('}') + 1);
  return [`${tag}:${name}:applied`, `${tag}:${name}:keys`, `${tag}:${name}:torrents`, `${tag}:${name}:peers`];
}

export interface KeyTotals {
  uploaded: number;
  downloaded: number;
  completed: number;
}

export interface AccountTotals {
  readonly keys: Map<string, KeyTotals>;
  /** Info hash (hex) → completed events. */
  readonly torrents: Map<string, number>;
}

export class Accounting {
  constructor(
    private readonly redis: Redis | Cluster,
    /** Names the totals, so that several accountings can share the streams. */
    private readonly name = 'accounting',
  ) {}

  /** Applies one entry unless its partition already has it; true when applied. */
  async apply({ stream, id, event }: StreamEvent): Promise<boolean> {
    const args = [id, event.event, event.key ?? '', event.ih, `${event.ih}|${event.swarm}|${event.peer}`, event.uploaded ?? '', event.downloaded ?? ''];
    return (await this.redis.eval(APPLY, 4, ...keysOf(stream, this.name), ...args.map(String))) === 1;
  }

  /** The totals of every partition, summed. */
  async totals(streams: readonly string[]): Promise<AccountTotals> {
    const keys = new Map<string, KeyTotals>();
    const torrents = new Map<string, number>();
    for (const stream of streams) {
      const [, keysKey, torrentsKey] = keysOf(stream, this.name);
      for (const [field, value] of Object.entries(await this.redis.hgetall(keysKey))) {
        const at = field.lastIndexOf(':');
        const key = field.slice(0, at);
        const totals = keys.get(key) ?? { uploaded: 0, downloaded: 0, completed: 0 };
        totals[field.slice(at + 1) as keyof KeyTotals] += Number(value);
        keys.set(key, totals);
      }
      for (const [ih, value] of Object.entries(await this.redis.hgetall(torrentsKey))) torrents.set(ih, (torrents.get(ih) ?? 0) + Number(value));
    }
    return { keys, torrents };
  }
}
