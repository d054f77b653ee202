#!lua name=redswarm_$V
--[[
The Redis store's swarms, as one Redis Functions library (FCALL). The store loads it on a node when a call
there answers "Function not found", with `$V` replaced by a hash of this file, so that trackers running
different versions can share one Redis without replacing each other's functions.

All keys of a swarm carry the same hash tag (src/store/redis/swarm-keys.ts): one function sees all of them in
one slot, atomically. A swarm is:

  peers key   HASH    field 'h': the swarm's header (HEADER below); field <peer>: position * 4 + flags
  one packed STRING per list: `cap` entries of `stride` bytes, then `cap` generation bytes

HTTP/UDP swarms have two lists: IPv4 peers (6-byte compact entries; hash field = the entry) and IPv6 peers
(18 bytes). WebSocket swarms have one: peer_id length (1 byte), peer_id, route length (1 byte), route,
zero-padded to the swarm's entry width (a multiple of 8 that grows with the longest entry); hash field = the
peer_id. Peers live at positions 0 .. n-1 of their list: a removal moves the last entries into the holes, so a
sample of peers is a window of entries at a random position, one GETRANGE, returned as it is.

Expiry counts in generations of `g` seconds (g = ttl / 80, at least 1 s; a swarm converts its bytes once
when the TTL changes g): the generation
byte of a peer is the generation of its last announce, mod 256. A peer is live while its age (the current
generation minus its own, mod 256) is below K = ceil(ttl / g), i.e. it expires at the end of the K-th
generation: less than one generation away from its TTL, before or after. A re-announce rewrites one byte: nothing is
re-sorted. Expired peers are found by plain finds (memchr) of the expired byte values in a list's generation
bytes; that happens only once the current generation has reached a list's `old` (a lower bound of its oldest
generation) plus K, so mostly for a single byte value. Ages never wrap around: every announce leaves only peers younger than K, the keys' TTL
runs out at most 2 × ttl after the last one, and a swarm whose keys should have expired by then (Redis' clock
and the tracker's disagree, or a test's clock jumped) is emptied at once; so no age reaches 3K + 2 <= 256.

The header (little endian): n1, n2 (entries per list), cap1, cap2 (entries each packed string has room for),
old1, old2 (a lower bound of each list's oldest generation), seeders, keys_until (when the keys' TTL runs
out), width (WebSocket entry size), all uint32; downloaded (double); g (uint32).

The announce functions reply with the swarm's header as it is after the call and the sampled entries: the
tracker reads the counts off the header. Flags: 1 = seeder, 2 = this peer's `completed` has been counted.
Every call first drops its swarm's expired peers, at most `limit` per list. The keys get a TTL of 2 × ttl
whenever less than ttl is left of it (`keys_until`), so they outlive their peers and an abandoned swarm
disappears by itself.

A WebSocket peer belongs to the route (its socket) that announced it first, until that route stops it or the
peer expires: its entry's route never changes, and an announce of it from any other route, whatever the event,
changes nothing and replies with a third element, 1 (a conflict).
]]

local HEADER = '<I4I4I4I4I4I4I4I4I4dI4'
local HEADER_FIELD = 'h'
local GENERATIONS = 80         -- generations per ttl: 3 * 80 + 2 <= 256, so ages never wrap around (see above)
-- ARGV[1] of the announce functions: now, ttl, numwant, random, expiry limit, event, seeder; then the peer
-- (HTTP/UDP: its compact address; WebSocket: peer_id length, peer_id, route).
local ANNOUNCE_ARGS = '<I4I4I4I4I4BB'
local ANNOUNCE_ARGS_SIZE = 22
local COMPLETED, STOPPED = 1, 3

-- Calls visit(position) for each byte of `gens` (a list's generation bytes) whose age at generation G is
-- within lo .. hi, one byte value at a time: a plain find is memchr in C, where a pattern set costs ~1 µs a
-- byte. Stops when visit returns true; returns true then.
local function find_ages(gens, G, lo, hi, visit)
  for age = lo, hi do
    local byte = string.char((G - age) % 256)
    local at = string.find(gens, byte, 1, true)
    while at do
      if visit(at - 1) then return true end
      at = string.find(gens, byte, at + 1, true)
    end
  end
  return false
end

-- The oldest age below K among `gens`: exact for a short list (so a small swarm is not scanned again before
-- a peer of it can expire), else K - 1 (a long list is scanned again next generation, for one byte value).
local function oldest_age(gens, G, K)
  if #gens > 64 then return K - 1 end
  local oldest = 0
  for j = 1, #gens do
    local age = (G - string.byte(gens, j)) % 256
    if age < K and age > oldest then oldest = age end
  end
  return oldest
end

-- A list's generation bytes (after its `cap` entries).
local function read_gens(list)
  local base = list.cap * list.stride
  return redis.call('GETRANGE', list.key, base, base + list.n - 1)
end

local function generation_length(ttl)
  return math.max(1, math.ceil(ttl / GENERATIONS))
end

-- Converts a swarm's generation bytes to generations of `g` seconds, of which a peer lives K (a changed TTL
-- changes the length): a map of the 256 byte values, applied by string.gsub in C, once. An age that would
-- reach K or more becomes K (expired, and too young to wrap around); the lists are scanned next.
local function regenerate(sw, g, K, now)
  local old_g, old_G, G = sw.g, math.floor(now / sw.g), math.floor(now / g)
  local map = {}
  for b = 0, 255 do
    local age = G - math.floor((old_G - (old_G - b) % 256) * old_g / g)
    map[string.char(b)] = string.char((G - math.min(age, K)) % 256)
  end
  for i = 1, sw.lists do
    local list = sw[i]
    if list.n > 0 then
      redis.call('SETRANGE', list.key, list.cap * list.stride, (string.gsub(read_gens(list), '.', map)))
      list.old = G - K
    end
  end
  sw.g = g
  sw.G = G
  sw.dirty = true
end

-- A swarm's state from its header (`raw`: false when there is none).
local function load_swarm(keys, ws, raw, now, ttl)
  local n1, n2, cap1, cap2, old1, old2, seeders, keys_until, width, downloaded, g = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  local length = generation_length(ttl)
  if raw then
    n1, n2, cap1, cap2, old1, old2, seeders, keys_until, width, downloaded, g = struct.unpack(HEADER, raw)
  else
    g = length
  end
  local sw = { hash = keys[1], keys = keys, seeders = seeders, keys_until = keys_until, width = width,
               downloaded = downloaded, g = g, G = math.floor(now / g), K = math.ceil(ttl / length),
               exists = raw and true or false, dirty = false, refresh = false, removed = 0 }
  if ws then
    sw[1] = { key = keys[2], n = n1, cap = cap1, old = old1, stride = width, member = 0 }
    sw.lists = 1
  else
    sw[1] = { key = keys[2], n = n1, cap = cap1, old = old1, stride = 6, member = 6 }
    sw[2] = { key = keys[3], n = n2, cap = cap2, old = old2, stride = 18, member = 18 }
    sw.lists = 2
  end
  if g ~= length then regenerate(sw, length, sw.K, now) end
  return sw
end

local function total(sw)
  if sw.lists == 1 then return sw[1].n end
  return sw[1].n + sw[2].n
end

-- The hash field of an entry.
local function member_of(list, entry)
  if list.member > 0 then return string.sub(entry, 1, list.member) end
  return string.sub(entry, 2, 1 + string.byte(entry, 1))
end

-- Position and flags in a hash value.
local function decode(value)
  local v = tonumber(value)
  local flags = v % 4
  return (v - flags) / 4, flags
end

-- Rewrites a list's string with room for `cap` entries of `stride` bytes (a WebSocket list widens its
-- entries); its n entries and generations keep their positions.
local function rewrite(list, cap, stride)
  local n, key = list.n, list.key
  local entries, gens = '', ''
  if n > 0 then
    entries = redis.call('GETRANGE', key, 0, n * list.stride - 1)
    gens = read_gens(list)
    if stride ~= list.stride then
      local pad, parts = string.rep('\0', stride - list.stride), {}
      for j = 0, n - 1 do parts[j + 1] = string.sub(entries, j * list.stride + 1, (j + 1) * list.stride) .. pad end
      entries = table.concat(parts)
    end
  end
  if cap == 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, entries .. string.rep('\0', (cap - n) * stride) .. gens .. string.rep('\0', cap - n), 'KEEPTTL')
  end
  list.cap = cap
  list.stride = stride
end

-- Removes the entries at positions `gone` (their hash fields already deleted): the live entries behind the
-- new end fill the holes before it (their hash values follow), and a string more than half empty is cut
-- down. `entries`, `gens`: the list's entries and generations if the caller read them.
local function remove_positions(sw, list, gone, entries, gens)
  local n = list.n
  local m = n - #gone
  local stride, key, base = list.stride, list.key, list.cap * list.stride
  local holes, leaving = {}, {}
  for _, p in ipairs(gone) do
    if p >= m then leaving[p] = true else holes[#holes + 1] = p end
  end
  if #holes > 0 then
    local from = 0
    if not entries then
      from = m
      entries = redis.call('GETRANGE', key, m * stride, n * stride - 1)
      gens = redis.call('GETRANGE', key, base + m, base + n - 1)
    end
    local h = 0
    for p = m, n - 1 do
      if not leaving[p] then
        h = h + 1
        local to = holes[h]
        local entry = string.sub(entries, (p - from) * stride + 1, (p - from + 1) * stride)
        redis.call('SETRANGE', key, to * stride, entry)
        redis.call('SETRANGE', key, base + to, string.sub(gens, p - from + 1, p - from + 1))
        redis.call('HINCRBY', sw.hash, member_of(list, entry), (to - p) * 4)
      end
    end
  end
  list.n = m
  list.changed = true
  sw.dirty = true
  if m == 0 or list.cap > 2 * m + 32 then rewrite(list, m, stride) end
end

-- Drops up to `limit` expired peers of a list once its oldest generation may have expired. Returns true when
-- expired peers may remain (more than one call removes).
local function drop_expired(sw, list, limit)
  local G, K = sw.G, sw.K
  if list.n == 0 or G - list.old < K then return false end
  local gens = read_gens(list)
  local gone = {}
  -- No byte is older than G - old.
  find_ages(gens, G, K, math.min(G - list.old, 255), function(position)
    gone[#gone + 1] = position
    return #gone == limit
  end)
  local k = #gone
  if k > 0 then
    -- A few entries one by one, many in one read of the whole list.
    local stride, entries = list.stride, nil
    if k * 64 >= list.n then entries = redis.call('GETRANGE', list.key, 0, list.n * stride - 1) end
    local members = {}
    for j, p in ipairs(gone) do
      local entry
      if entries then
        entry = string.sub(entries, p * stride + 1, (p + 1) * stride)
      else
        entry = redis.call('GETRANGE', list.key, p * stride, (p + 1) * stride - 1)
      end
      members[j] = member_of(list, entry)
    end
    local seeders = 0
    for _, value in ipairs(redis.call('HMGET', sw.hash, unpack(members))) do
      local _, flags = decode(value)
      seeders = seeders + flags % 2
    end
    redis.call('HDEL', sw.hash, unpack(members))
    remove_positions(sw, list, gone, entries, entries and gens)
    sw.seeders = sw.seeders - seeders
    sw.removed = sw.removed + k
  end
  if k == limit then return true end
  -- The expired bytes are not of an age below K: the old string serves.
  if list.n > 0 then list.old = G - oldest_age(gens, G, K) end
  sw.dirty = true
  return false
end

-- Empties a swarm whose keys should have expired (no announce for ttl + g: every peer has expired), keeping
-- its downloads. UNLINK frees large lists in the background.
local function drop_abandoned(sw, now)
  local n = total(sw)
  if n == 0 or now < sw.keys_until + sw.g then return end
  local keys = { sw.hash }
  for i = 1, sw.lists do
    keys[i + 1] = sw[i].key
    sw[i].n, sw[i].cap, sw[i].changed = 0, 0, true
  end
  redis.call('UNLINK', unpack(keys))
  sw.seeders = 0
  sw.removed = sw.removed + n
  sw.refresh = true
  sw.dirty = true
end

-- A WebSocket entry, zero-padded to `width` bytes.
local function ws_entry(peer_id, route, width)
  local entry = string.char(#peer_id) .. peer_id .. string.char(#route) .. route
  return entry .. string.rep('\0', width - #entry)
end

-- The route in the WebSocket entry at `position` of the string `key` (entries of `stride` bytes).
local function route_at(key, stride, position)
  local entry = redis.call('GETRANGE', key, position * stride, (position + 1) * stride - 1)
  local at = 2 + string.byte(entry, 1)
  return string.sub(entry, at + 1, at + string.byte(entry, at))
end

-- Removes the peer `member` (hash value: `position`, `flags`) from a list.
local function remove_peer(sw, list, member, position, flags)
  redis.call('HDEL', sw.hash, member)
  remove_positions(sw, list, { position })
  sw.seeders = sw.seeders - flags % 2
end

-- Applies one announce of a peer (hash field `member`, packed entry `entry`) to a list. `old`: the peer's
-- hash value if the caller read it (false: absent). Returns the peer's position afterwards, -1 if it is not
-- in the list.
local function update(sw, list, member, entry, event, seeder, old)
  if old == nil then old = redis.call('HGET', sw.hash, member) end
  local position, flags = -1, 0
  if old then position, flags = decode(old) end
  if event == STOPPED then
    if old then remove_peer(sw, list, member, position, flags) end
    return -1
  end
  local new_flags = seeder
  if flags >= 2 then new_flags = new_flags + 2 end
  if event == COMPLETED and new_flags < 2 then
    new_flags = new_flags + 2
    sw.downloaded = sw.downloaded + 1
    sw.dirty = true
  end
  if old then
    if new_flags ~= flags then redis.call('HSET', sw.hash, member, position * 4 + new_flags) end
  else
    position = list.n
    if position == list.cap then rewrite(list, math.max(1, 2 * position), list.stride) end
    redis.call('SETRANGE', list.key, position * list.stride, entry)
    redis.call('HSET', sw.hash, member, position * 4 + new_flags)
    list.n = position + 1
    if position == 0 then
      list.old = sw.G
      sw.refresh = true
    end
    sw.dirty = true
  end
  redis.call('SETRANGE', list.key, list.cap * list.stride + position, string.char(sw.G % 256))
  local delta = seeder - flags % 2
  if delta ~= 0 then
    sw.seeders = sw.seeders + delta
    sw.dirty = true
  end
  return position
end

-- `count` entries of a list (`n` entries of `stride` bytes in the string `key`) from position `first`,
-- wrapping around its end.
local function read_entries(key, stride, n, first, count)
  local last = first + count
  if last > n then
    return read_entries(key, stride, n, first, n - first) .. read_entries(key, stride, n, 0, last - n)
  end
  return redis.call('GETRANGE', key, first * stride, last * stride - 1)
end

-- Up to `want` entries of a list other than the one at position `self` (-1: none): a window at a random
-- position, or every entry when there are no more than `want` others.
local function sample(key, stride, n, self, want, random)
  local others = n
  if self >= 0 then others = n - 1 end
  if want <= 0 or others <= 0 then return '' end
  local first, count, at = 0, n, self
  if others > want then
    first = random % n
    count = want
    if self >= 0 then
      at = (self - first) % n
      if at < want then count = want + 1 else at = -1 end
    end
  end
  local entries = read_entries(key, stride, n, first, count)
  if at < 0 then return entries end
  return string.sub(entries, 1, at * stride) .. string.sub(entries, (at + 1) * stride + 1)
end

-- While expired peers remain (a backlog), the sample takes live peers only, by their generation bytes.
local function sample_live(sw, list, self, want)
  if want <= 0 then return '' end
  local gens = read_gens(list)
  local out = {}
  find_ages(gens, sw.G, 0, sw.K - 1, function(p)
    if p == self then return false end
    out[#out + 1] = redis.call('GETRANGE', list.key, p * list.stride, (p + 1) * list.stride - 1)
    return #out == want
  end)
  return table.concat(out)
end

-- Writes the header and refreshes the keys' TTL (`ttl` nil: never), or deletes a swarm with no peer and no
-- download to remember. Returns the header.
local function finish(sw, now, ttl)
  local l1, l2 = sw[1], sw[2] or { n = 0, cap = 0, old = 0 }
  if total(sw) == 0 and sw.downloaded == 0 then
    if sw.exists or sw.dirty then redis.call('DEL', sw.hash) end
    return struct.pack(HEADER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  end
  if ttl and (sw.refresh or sw.keys_until < now + ttl) then
    sw.keys_until = now + 2 * ttl
    sw.dirty = true
  else
    ttl = nil
  end
  local header = struct.pack(HEADER, l1.n, l2.n, l1.cap, l2.cap, l1.old, l2.old, sw.seeders, sw.keys_until,
                             sw.width, sw.downloaded, sw.g)
  if sw.dirty then redis.call('HSET', sw.hash, HEADER_FIELD, header) end
  if ttl then
    for _, key in ipairs(sw.keys) do redis.call('EXPIRE', key, 2 * ttl) end
  end
  return header
end

-- Whether no list of the header `raw` is due for an expiry scan (nor for other generations: the TTL
-- changed). Returns the current generation, when the keys' TTL runs out and the lists' shapes when none is.
local function not_due(raw, now, ttl)
  local n1, n2, cap1, cap2, old1, old2, _, keys_until, width, _, g = struct.unpack(HEADER, raw)
  if g ~= generation_length(ttl) then return nil end
  local G = math.floor(now / g)
  local K = math.ceil(ttl / g)
  if (n1 > 0 and G - old1 >= K) or (n2 > 0 and G - old2 >= K) then return nil end
  if n1 + n2 > 0 and now >= keys_until + g then return nil end
  return G, keys_until, n1, n2, cap1, cap2, width
end

-- Whether an announce may take the common path: the peer is in the swarm (`old`: its hash value), it is
-- neither stopping nor completing, no list is due, the keys are far from their TTL. Returns what not_due does
-- but `keys_until`.
local function fast_allowed(raw, old, event, now, ttl)
  if not old or event == STOPPED or event == COMPLETED then return nil end
  local G, keys_until, n1, n2, cap1, cap2, width = not_due(raw, now, ttl)
  if not G or keys_until < now + ttl then return nil end
  return G, n1, n2, cap1, cap2, width
end

-- The common announce, in three commands with the caller's HMGET (WebSocket: four): a peer already in the
-- swarm, not stopping, not completing, not changing between seeder and leecher. `value`: its hash value; its
-- list is `n` entries of `stride` bytes in `key`, with room for `cap`. `route`: the requester's (WebSocket),
-- nil for HTTP/UDP. Returns the reply, or nil when the call needs the general path.
local function fast_announce(raw, value, key, stride, n, cap, G, route, want, random, seeder)
  local position, flags = decode(value)
  -- No peer is expired here (fast_allowed): another route's peer is live, so refused.
  if route and route_at(key, stride, position) ~= route then return { raw, '', 1 } end
  if flags % 2 ~= seeder then return nil end
  redis.call('SETRANGE', key, cap * stride + position, string.char(G % 256))
  return { raw, sample(key, stride, n, position, want, random) }
end

-- The general path's reply: the header after the call, and the sample for the peer at position `self` (none
-- for a stop; live peers only while the list has a backlog of expired ones).
local function general_reply(sw, list, self, event, backlog, want, random, now, ttl)
  local peers = ''
  if event ~= STOPPED then
    if backlog then
      peers = sample_live(sw, list, self, want)
    else
      peers = sample(list.key, list.stride, list.n, self, want, random)
    end
  end
  return { finish(sw, now, ttl), peers }
end

-- HTTP/UDP announce. KEYS: peers hash, IPv4 string, IPv6 string. ARGV[1]: ANNOUNCE_ARGS then the compact
-- peer (6 or 18 bytes). Replies { header, sampled compact peers of the requester's family }.
redis.register_function('announce_$V', function(keys, args)
  local a = args[1]
  local now, ttl, want, random, limit, event, seeder = struct.unpack(ANNOUNCE_ARGS, a)
  local peer = string.sub(a, ANNOUNCE_ARGS_SIZE + 1)
  local i = 1
  if #peer == 18 then i = 2 end
  local got = redis.call('HMGET', keys[1], HEADER_FIELD, peer)
  local raw, old = got[1], got[2]
  local G, n1, n2, cap1, cap2 = fast_allowed(raw, old, event, now, ttl)
  if G then
    local reply
    if i == 1 then
      reply = fast_announce(raw, old, keys[2], 6, n1, cap1, G, nil, want, random, seeder)
    else
      reply = fast_announce(raw, old, keys[3], 18, n2, cap2, G, nil, want, random, seeder)
    end
    if reply then return reply end
  end
  local sw = load_swarm(keys, false, raw, now, ttl)
  drop_abandoned(sw, now)
  local list = sw[i]
  local backlog = drop_expired(sw, list, limit)
  drop_expired(sw, sw[3 - i], limit)
  if list.changed then old = nil end
  local self = update(sw, list, peer, peer, event, seeder, old)
  return general_reply(sw, list, self, event, backlog, want, random, now, ttl)
end)

-- WebSocket announce. KEYS: peers hash, entries string. ARGV[1]: ANNOUNCE_ARGS, peer_id length (1 byte),
-- peer_id, route. Replies { header (its `width` is the entry size), sampled entries }, or { header, '', 1 } when
-- another route holds the peer.
redis.register_function('announce_ws_$V', function(keys, args)
  local a = args[1]
  local now, ttl, want, random, limit, event, seeder = struct.unpack(ANNOUNCE_ARGS, a)
  local id_length = string.byte(a, ANNOUNCE_ARGS_SIZE + 1)
  local peer_id = string.sub(a, ANNOUNCE_ARGS_SIZE + 2, ANNOUNCE_ARGS_SIZE + 1 + id_length)
  local route = string.sub(a, ANNOUNCE_ARGS_SIZE + 2 + id_length)
  local size = 2 + #peer_id + #route
  local got = redis.call('HMGET', keys[1], HEADER_FIELD, peer_id)
  local raw, old = got[1], got[2]
  local G, n1, _, cap1, _, width = fast_allowed(raw, old, event, now, ttl)
  if G then
    local reply = fast_announce(raw, old, keys[2], width, n1, cap1, G, route, want, random, seeder)
    if reply then return reply end
  end
  local sw = load_swarm(keys, true, raw, now, ttl)
  drop_abandoned(sw, now)
  local list = sw[1]
  local backlog = drop_expired(sw, list, limit)
  if list.changed then old = redis.call('HGET', sw.hash, peer_id) end
  if old then
    local position, flags = decode(old)
    if route_at(list.key, list.stride, position) ~= route then
      -- Another route's peer: refused while it lives; expired (left behind by a backlog), nobody's.
      local at = list.cap * list.stride + position
      local age = (sw.G - string.byte(redis.call('GETRANGE', list.key, at, at))) % 256
      if age < sw.K then return { finish(sw, now, ttl), '', 1 } end
      remove_peer(sw, list, peer_id, position, flags)
      old = false
    end
  end
  if event ~= STOPPED and size > list.stride then
    rewrite(list, list.cap, 8 * math.ceil(size / 8))
    sw.width = list.stride
    sw.dirty = true
  end
  local self = update(sw, list, peer_id, ws_entry(peer_id, route, list.stride), event, seeder, old)
  return general_reply(sw, list, self, event, backlog, want, random, now, ttl)
end)

-- Scrape of one swarm, which also expires it (scrapes and the maintenance sweep). KEYS: as the announce of its
-- kind. ARGV[1]: now, expiry limit, ttl (uint32 LE). Replies { header (empty: no such swarm), peers removed as
-- expired }.
local function scrape(keys, args, ws)
  local now, limit, ttl = struct.unpack('<I4I4I4', args[1])
  local raw = redis.call('HGET', keys[1], HEADER_FIELD)
  if not raw then return { '', 0 } end
  if not_due(raw, now, ttl) then return { raw, 0 } end
  local sw = load_swarm(keys, ws, raw, now, ttl)
  drop_abandoned(sw, now)
  for i = 1, sw.lists do drop_expired(sw, sw[i], limit) end
  return { finish(sw, now, nil), sw.removed }
end

redis.register_function('scrape_$V', function(keys, args) return scrape(keys, args, false) end)
redis.register_function('scrape_ws_$V', function(keys, args) return scrape(keys, args, true) end)
