-- Scrape of one swarm, which also expires it: HTTP/UDP scrape, WebSocket scrape and the maintenance sweep.
-- KEYS: swarm HASH, then its expiry ZSETs (IPv4 and IPv6 for HTTP/UDP swarms, one for WebSocket swarms).
-- ARGV: now, expiry limit.
-- Returns { complete, incomplete, downloaded, peers removed as expired }.
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = KEYS[1]
local removed = 0
for i = 2, #KEYS do removed = removed + drop_expired(h, KEYS[i], now, limit) end
local complete, incomplete, downloaded = swarm_counts(h, KEYS[2], KEYS[3])
return { complete, incomplete, downloaded, removed }
