-- HTTP/UDP announce. KEYS: swarm HASH, the requester's family's peer ZSET, the other family's peer ZSET.
-- ARGV: peer (compact ip:port), event (0 none, 1 completed, 2 started, 3 stopped), seeder (0/1), now, ttl,
--       numwant, random, expiry limit.
-- Returns { complete, incomplete, downloaded, peers }: peers are concatenated compact peers of the requester's
-- family, ready to send.
local h, z, other = KEYS[1], KEYS[2], KEYS[3]
local peer, event, seeder = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now, ttl, numwant = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local random, limit = tonumber(ARGV[7]), tonumber(ARGV[8])

local backlog = drop_expired(h, z, now, limit, false) == limit
drop_expired(h, other, now, limit, false)
update_peer(h, z, peer, '', event, seeder, now, ttl)
local n = redis.call('ZCARD', z)
local peers = ''
if event ~= 3 then peers = table.concat(sample_peers(z, n, peer, numwant, now, random, backlog)) end
local complete, incomplete, downloaded = swarm_counts(h, n + redis.call('ZCARD', other))
return { complete, incomplete, downloaded, peers }
