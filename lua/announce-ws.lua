-- WebSocket announce. KEYS: WebSocket swarm HASH (counters and peer_id -> route), its peer ZSET.
-- ARGV: peer_id, route, event (0 none, 1 completed, 2 started, 3 stopped), seeder (0/1), now, ttl, numwant,
--       random, expiry limit.
-- Returns { complete, incomplete, downloaded, { peer_id, route, peer_id, route, ... } }.
local h, z = KEYS[1], KEYS[2]
local peer, route, event, seeder = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now, ttl, numwant = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local random, limit = tonumber(ARGV[8]), tonumber(ARGV[9])

local backlog = drop_expired(h, z, now, limit, true) == limit
update_peer(h, z, peer, route, event, seeder, now, ttl)
local n = redis.call('ZCARD', z)
local targets = {}
if event ~= 3 then
  local peers = sample_peers(z, n, peer, numwant, now, random, backlog)
  if #peers > 0 then
    local routes = redis.call('HMGET', h, unpack(peers))
    for i = 1, #peers do
      targets[2 * i - 1] = peers[i]
      targets[2 * i] = routes[i]
    end
  end
end
local complete, incomplete, downloaded = swarm_counts(h, n)
return { complete, incomplete, downloaded, targets }
