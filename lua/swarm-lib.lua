-- Functions shared by every swarm script; the store loads this file in front of each script.
--
-- A swarm is a HASH plus one ZSET per peer list, all under the info hash as hash tag, so one script sees them
-- all in one slot:
--   ZSET  member = peer key (compact ip:port, or a WebSocket peer_id)
--         score  = expiry time (whole seconds) × 4 + flags, flags: 1 = seeder, 2 = its `completed` was counted.
--         Keeping the flags in the score spares every peer a HASH entry: one structure per peer, not two.
--   HASH  's' = seeders, 'd' = completed downloads; for WebSocket swarms also peer_id -> route.
-- Expired means expiry <= now, i.e. score <= now × 4 + 3.

local function expired_bound(now) return now * 4 + 3 end

-- Removes up to `limit` expired peers of `z`, keeping the seeder count right (and routes, when `routed`).
-- Returns how many went.
local function drop_expired(h, z, now, limit, routed)
  local expired = redis.call('ZRANGE', z, '-inf', expired_bound(now), 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
  local n = #expired / 2
  if n == 0 then return 0 end
  local members, seeders = {}, 0
  for i = 1, n do
    members[i] = expired[2 * i - 1]
    if tonumber(expired[2 * i]) % 2 == 1 then seeders = seeders + 1 end
  end
  redis.call('ZREM', z, unpack(members))
  if routed then redis.call('HDEL', h, unpack(members)) end
  if seeders > 0 then redis.call('HINCRBY', h, 's', -seeders) end
  return n
end

-- Applies one announce of `peer`; event 3 (stopped) removes it. With a `route` (WebSocket peers), an announce
-- from a new route takes the peer over, and a stop only counts from the route that holds the peer, so a closing
-- old socket cannot remove a peer that has reconnected.
local function update_peer(h, z, peer, route, event, seeder, now, ttl)
  local old = redis.call('ZSCORE', z, peer)
  local old_flags = old and tonumber(old) % 4 or -1
  local seeders_delta = 0
  if event == 3 then
    if old and (route == '' or redis.call('HGET', h, peer) == route) then
      redis.call('ZREM', z, peer)
      if route ~= '' then redis.call('HDEL', h, peer) end
      seeders_delta = -(old_flags % 2)
    end
  else
    local flags = seeder
    if old_flags >= 2 then flags = flags + 2 end
    if event == 1 and flags < 2 then
      flags = flags + 2
      redis.call('HINCRBY', h, 'd', 1)
    end
    redis.call('ZADD', z, (now + ttl) * 4 + flags, peer)
    if route ~= '' then redis.call('HSET', h, peer, route) end
    -- The keys must outlive every peer (expiry <= now + ttl): whenever fewer than ttl seconds are left, they get
    -- 2 × ttl. One TTL read per announce instead of two EXPIRE writes; idle swarms vanish within 2 × ttl.
    if redis.call('TTL', z) < ttl then
      redis.call('EXPIRE', h, 2 * ttl)
      redis.call('EXPIRE', z, 2 * ttl)
    end
    seeders_delta = seeder - (old and old_flags % 2 or 0)
  end
  if seeders_delta ~= 0 then redis.call('HINCRBY', h, 's', seeders_delta) end
end

-- complete, incomplete, downloaded of a swarm with `total` peers. A swarm with no peer and no download to
-- remember is deleted.
local function swarm_counts(h, total)
  local meta = redis.call('HMGET', h, 's', 'd')
  local complete = tonumber(meta[1]) or 0
  local downloaded = tonumber(meta[2]) or 0
  if total == 0 and downloaded == 0 and meta[1] then redis.call('DEL', h) end
  return complete, total - complete, downloaded
end

-- Up to `want` members of `z` (which has `n` members) other than `self`, from a window of want + 1 ranks at a
-- random offset: O(log n + want), and no scores, whose formatting costs several times the window itself.
-- `backlog`: expired members may remain (more expired than one call removes), so take live ones by score.
local function sample_peers(z, n, self, want, now, random, backlog)
  local out = {}
  if want <= 0 or n <= 1 then return out end
  local members
  if backlog then
    members = redis.call('ZRANGE', z, '(' .. expired_bound(now), '+inf', 'BYSCORE', 'LIMIT', 0, want + 1)
  elseif n <= want + 1 then
    members = redis.call('ZRANGE', z, 0, -1)
  else
    local start = random % (n - want)
    members = redis.call('ZRANGE', z, start, start + want)
  end
  local k = 0
  for i = 1, #members do
    if k < want and members[i] ~= self then
      k = k + 1
      out[k] = members[i]
    end
  end
  return out
end
