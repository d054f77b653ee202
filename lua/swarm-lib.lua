-- Functions shared by every swarm script; the store loads this file in front of each script.
--
-- A swarm is a HASH (peers and counters) plus one expiry ZSET per kind of peer list, all under the info hash as
-- hash tag, so that one script sees them all in one slot:
--   HASH   field = peer key (compact ip:port, or a WebSocket peer_id) -> value = flags digit [.. route]
--          field 's' = seeders, field 'd' = completed downloads (one byte: never a peer key)
--   ZSET   member = peer key -> score = expiry time in whole seconds
-- Flags: 1 = seeder, 2 = its `completed` was counted.

-- Removes up to `limit` peers of ZSET `z` whose expiry is at or before `now`, keeping the seeder count right.
local function drop_expired(h, z, now, limit)
  local expired = redis.call('ZRANGE', z, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
  local n = #expired
  if n == 0 then return 0 end
  local values = redis.call('HMGET', h, unpack(expired))
  local seeders = 0
  for i = 1, n do
    local v = values[i]
    if v and string.byte(v, 1) % 2 == 1 then seeders = seeders + 1 end
  end
  redis.call('HDEL', h, unpack(expired))
  redis.call('ZREM', z, unpack(expired))
  if seeders > 0 then redis.call('HINCRBY', h, 's', -seeders) end
  return n
end

-- Applies one announce of `peer` to the swarm. `route` ('' for none) is kept after the flags digit; an announce
-- from a new route takes the peer over, and event 3 (stopped) removes it only from the route that holds it, so a
-- closing old socket cannot remove a peer that reconnected. Keys get the peer TTL, so a swarm nobody announces
-- to vanishes by itself.
local function update_peer(h, z, peer, route, event, seeder, now, ttl)
  local old = redis.call('HGET', h, peer)
  local old_flags = old and (string.byte(old, 1) - 48) or -1
  local seeders_delta = 0
  if event == 3 then
    if old and string.sub(old, 2) == route then
      redis.call('HDEL', h, peer)
      redis.call('ZREM', z, peer)
      seeders_delta = -(old_flags % 2)
    end
  else
    local flags = seeder
    if old_flags >= 2 then flags = flags + 2 end
    if event == 1 and flags < 2 then
      flags = flags + 2
      redis.call('HINCRBY', h, 'd', 1)
    end
    local value = flags .. route
    if value ~= old then redis.call('HSET', h, peer, value) end
    redis.call('ZADD', z, now + ttl, peer)
    redis.call('EXPIRE', h, ttl)
    redis.call('EXPIRE', z, ttl)
    seeders_delta = seeder - (old and old_flags % 2 or 0)
  end
  if seeders_delta ~= 0 then redis.call('HINCRBY', h, 's', seeders_delta) end
end

-- complete, incomplete, downloaded of a swarm whose peers are the members of the given ZSETs.
-- A swarm with no peer and no download to remember is deleted.
local function swarm_counts(h, z1, z2)
  local total = redis.call('ZCARD', z1)
  if z2 then total = total + redis.call('ZCARD', z2) end
  local meta = redis.call('HMGET', h, 's', 'd')
  local complete = tonumber(meta[1]) or 0
  local downloaded = tonumber(meta[2]) or 0
  if total == 0 and downloaded == 0 and meta[1] then redis.call('DEL', h) end
  return complete, total - complete, downloaded
end

-- Up to `want` live members of `z` other than `self`, from a window of want + 1 ranks at a random offset
-- (a rank window costs O(log n + want); ZRANDMEMBER costs several times more here).
local function sample_peers(z, self, want, now, random)
  local out = {}
  if want <= 0 then return out end
  local n = redis.call('ZCARD', z)
  local members
  if n <= want + 1 then
    members = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
  else
    local start = random % (n - want)
    members = redis.call('ZRANGE', z, start, start + want, 'WITHSCORES')
  end
  local k = 0
  for i = 1, #members, 2 do
    if k < want and members[i] ~= self and tonumber(members[i + 1]) > now then
      k = k + 1
      out[k] = members[i]
    end
  end
  return out
end
