-- Scrape of one swarm, which also expires it: HTTP/UDP scrape, WebSocket scrape and the maintenance sweep.
-- KEYS: swarm HASH, then its peer ZSETs (IPv4 and IPv6 for HTTP/UDP swarms, one for WebSocket swarms).
-- ARGV: now, expiry limit, 1 if the HASH holds routes (WebSocket swarms).
-- Returns { complete, incomplete, downloaded, peers removed as expired }.
local now, limit, routed = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local h = KEYS[1]
local removed, total = 0, 0
for i = 2, #KEYS do
  removed = removed + drop_expired(h, KEYS[i], now, limit, routed)
  total = total + redis.call('ZCARD', KEYS[i])
end
local complete, incomplete, downloaded = swarm_counts(h, total)
return { complete, incomplete, downloaded, removed }
