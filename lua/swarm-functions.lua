#!lua name=redswarm_$V
--[[
The Redis store's swarms, as one Redis Functions library (FCALL). The store loads it on a node when a call
there answers "Function not found", with `$V` replaced by a hash of this file, so that trackers running
different versions can share one Redis without replacing each other's functions.

All keys of a swarm carry the same hash tag (src/store/redis/swarm-keys.ts): one function sees all of them in
one slot, atomically. A swarm is:

  header key  STRING  HEADER_SIZE bytes of counters (HEADER below), followed by the packed entries of list 1
  list-2 key  STRING  the packed entries of list 2
  one ZSET per list   member = the peer's key, score = (expiry - EPOCH) * 2^23 + position * 4 + flags

HTTP/UDP swarms have two lists: IPv4 peers (6-byte compact entries, in the header key) and IPv6 peers
(18-byte entries); WebSocket swarms have one: peer_id length (1 byte), peer_id, route length (1 byte), route,
zero-padded to the swarm's entry width (a multiple of 8 that grows with the longest entry). An entry's
position is its index in its packed string. A removal moves the last entries into the holes (and fixes their
positions in the ZSET), so the live entries always fill positions 0 .. n-1 and a sample of peers is a window
of them at a random position: one GETRANGE, returned as it is.

The header (little endian): n1, n2 (entries per list), cap1, cap2 (entries each packed string has room for),
lb1, lb2 (a lower bound of each list's earliest expiry), seeders, keys_until (when the keys' TTL runs out),
width (WebSocket entry size), all uint32; downloaded (double).

The announce functions reply with the swarm's header as it is after the call (its first HEADER_SIZE bytes;
more may follow, to be ignored) and the sampled entries: the tracker reads the counts off the header.

Flags: 1 = seeder, 2 = this peer's `completed` has been counted. A peer is expired when expiry <= now. Every
call first drops its swarm's expired peers, at most `limit` per list, but only once `now` reaches the list's
`lb` (a lower bound of its earliest expiry), so most calls skip that step. The keys get a TTL of 2 × the peer
TTL whenever less than the peer TTL is left of it (`keys_until`), so they outlive their peers and an
abandoned swarm disappears by itself.
]]

local SHIFT = 8388608          -- 2^23: position (21 bits) and flags (2 bits) under the expiry
local EPOCH = 2673741824       -- 1.6e9 + 2^30: expiries from 2020-09 to 2088-10 keep |score| < 2^53, exact
local MAX_ENTRIES = 2097152    -- 2^21 positions per list
local HEADER = '<I4I4I4I4I4I4I4I4I4d'
local HEADER_SIZE = 44
-- ARGV[1] of the announce functions: now, ttl, numwant, random, expiry limit, event, seeder; then the peer
-- (HTTP/UDP: its compact address; WebSocket: peer_id then route).
local ANNOUNCE_ARGS = '<I4I4I4I4I4BB'
local ANNOUNCE_ARGS_SIZE = 22
local COMPLETED, STOPPED = 1, 3
local WS_GUESS_STRIDE = 48     -- a WebSocket entry's usual size, for reading the first entries with the header

-- Static shapes of the lists: packed string key and ZSET key indexes in KEYS, byte offset, entry size, and
-- how many leading bytes of an entry are its ZSET member (0: a WebSocket entry, whose peer_id has a length).
local WIRE_LISTS = {
  { array = 1, zset = 2, offset = HEADER_SIZE, stride = 6, member = 6 },
  { array = 3, zset = 4, offset = 0, stride = 18, member = 18 },
}

-- A swarm's state from its header (`raw`: what GETRANGE read from the header key, maybe more than the header).
local function load_swarm(keys, ws, raw)
  local n1, n2, cap1, cap2, lb1, lb2, seeders, keys_until, width, downloaded = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  if #raw >= HEADER_SIZE then
    n1, n2, cap1, cap2, lb1, lb2, seeders, keys_until, width, downloaded = struct.unpack(HEADER, raw)
  end
  local sw = { keys = keys, seeders = seeders, keys_until = keys_until, width = width, downloaded = downloaded,
               exists = #raw > 0, dirty = false, refresh = false, removed = 0 }
  if ws then
    sw[1] = { n = n1, cap = cap1, lb = lb1, array = keys[1], zset = keys[2], offset = HEADER_SIZE,
              stride = width, member = 0 }
    sw.lists = 1
  else
    for i = 1, 2 do
      local shape = WIRE_LISTS[i]
      sw[i] = { array = keys[shape.array], zset = keys[shape.zset], offset = shape.offset, stride = shape.stride,
                member = shape.member }
    end
    sw[1].n, sw[1].cap, sw[1].lb = n1, cap1, lb1
    sw[2].n, sw[2].cap, sw[2].lb = n2, cap2, lb2
    sw.lists = 2
  end
  return sw
end

local function read_header(keys, extra)
  return redis.call('GETRANGE', keys[1], 0, HEADER_SIZE - 1 + extra)
end

local function total(sw)
  if sw.lists == 1 then return sw[1].n end
  return sw[1].n + sw[2].n
end

-- The ZSET member of an entry.
local function member_of(list, entry)
  if list.member > 0 then return string.sub(entry, 1, list.member) end
  return string.sub(entry, 2, 1 + string.byte(entry, 1))
end

-- Position and flags in a score.
local function decode(score)
  local low = tonumber(score) % SHIFT
  local flags = low % 4
  return (low - flags) / 4, flags
end

-- Removes the entries at positions `gone` from a list: the live entries behind the new end fill the holes
-- before it (their ZSET positions follow), and a string more than half garbage is cut down.
local function remove_positions(sw, list, gone)
  local n = list.n
  local m = n - #gone
  local stride, key, offset = list.stride, list.array, list.offset
  local holes, leaving = {}, {}
  for _, p in ipairs(gone) do
    if p >= m then leaving[p] = true else holes[#holes + 1] = p end
  end
  if #holes > 0 then
    local tail = redis.call('GETRANGE', key, offset + m * stride, offset + n * stride - 1)
    local h = 0
    for p = m, n - 1 do
      if not leaving[p] then
        h = h + 1
        local to = holes[h]
        local entry = string.sub(tail, (p - m) * stride + 1, (p - m + 1) * stride)
        redis.call('SETRANGE', key, offset + to * stride, entry)
        redis.call('ZINCRBY', list.zset, (to - p) * 4, member_of(list, entry))
      end
    end
  end
  list.n = m
  list.changed = true
  sw.dirty = true
  if m == 0 or list.cap > 2 * m + 32 then
    if offset == 0 and m == 0 then
      redis.call('DEL', key)
    else
      redis.call('SET', key, redis.call('GETRANGE', key, 0, offset + m * stride - 1), 'KEEPTTL')
    end
    list.cap = m
  end
end

-- Drops up to `limit` expired peers of a list once `now` has reached its lower bound of expiries. Returns
-- true when expired peers may remain (more than one call removes).
local function drop_expired(sw, list, now, limit)
  if list.n == 0 or list.lb > now then return false end
  local expired = redis.call('ZRANGE', list.zset, '-inf', (now - EPOCH + 1) * SHIFT - 1, 'BYSCORE',
                             'LIMIT', 0, limit, 'WITHSCORES')
  local k = #expired / 2
  if k > 0 then
    local members, gone, seeders = {}, {}, 0
    for j = 1, k do
      members[j] = expired[2 * j - 1]
      local position, flags = decode(expired[2 * j])
      gone[j] = position
      seeders = seeders + flags % 2
    end
    redis.call('ZREM', list.zset, unpack(members))
    remove_positions(sw, list, gone)
    sw.seeders = sw.seeders - seeders
    sw.removed = sw.removed + k
  end
  if k == limit then return true end
  if list.n > 0 then
    local first = redis.call('ZRANGE', list.zset, 0, 0, 'WITHSCORES')
    list.lb = math.floor(tonumber(first[2]) / SHIFT) + EPOCH
  end
  sw.dirty = true
  return false
end

-- A WebSocket entry, zero-padded to `width` bytes.
local function ws_entry(peer_id, route, width)
  local entry = string.char(#peer_id) .. peer_id .. string.char(#route) .. route
  return entry .. string.rep('\0', width - #entry)
end

-- The route in the WebSocket entry at `position`.
local function route_at(list, position)
  local at = list.offset + position * list.stride
  local entry = redis.call('GETRANGE', list.array, at, at + list.stride - 1)
  local route_at = 2 + string.byte(entry, 1)
  return string.sub(entry, route_at + 1, route_at + string.byte(entry, route_at))
end

-- Makes room for WebSocket entries of `size` bytes: every entry is rewritten at the new width.
local function widen(sw, list, size)
  local old = list.stride
  local stride = 8 * math.ceil(size / 8)
  local parts = { string.rep('\0', HEADER_SIZE) } -- the header is written at the end of the call
  if list.n > 0 then
    local entries = redis.call('GETRANGE', list.array, list.offset, list.offset + list.n * old - 1)
    local pad = string.rep('\0', stride - old)
    for j = 0, list.n - 1 do parts[j + 2] = string.sub(entries, j * old + 1, (j + 1) * old) .. pad end
  end
  if sw.exists then redis.call('SET', list.array, table.concat(parts), 'KEEPTTL') end
  list.cap = list.n
  list.stride = stride
  list.changed = true
  sw.width = stride
  sw.dirty = true
end

-- Applies one announce of a peer (ZSET member `member`, packed entry `entry`) to a list; `route` only for
-- WebSocket peers: an announce from a new route takes the peer over, and a stop only counts from the route
-- that holds the peer. `old`: the peer's score if the caller read it (false: absent). Returns the peer's
-- position afterwards, -1 if it is not in the list.
local function update(sw, list, member, entry, event, seeder, now, ttl, route, old)
  if old == nil then old = redis.call('ZSCORE', list.zset, member) end
  local position, flags = -1, 0
  if old then position, flags = decode(old) end
  if event == STOPPED then
    if old and (route == nil or route_at(list, position) == route) then
      redis.call('ZREM', list.zset, member)
      remove_positions(sw, list, { position })
      sw.seeders = sw.seeders - flags % 2
    end
    return -1
  end
  if not old and list.n >= MAX_ENTRIES then return -1 end
  local expiry = now + ttl
  local new_flags = seeder
  if flags >= 2 then new_flags = new_flags + 2 end
  if event == COMPLETED and new_flags < 2 then
    new_flags = new_flags + 2
    sw.downloaded = sw.downloaded + 1
    sw.dirty = true
  end
  if old then
    -- A WebSocket peer may announce from a new route.
    if route then redis.call('SETRANGE', list.array, list.offset + position * list.stride, entry) end
  else
    -- (A sample may still read the position from the caller's first read: it is the requester's, left out.)
    position = list.n
    redis.call('SETRANGE', list.array, list.offset + position * list.stride, entry)
    list.n = position + 1
    if list.n > list.cap then list.cap = list.n end
    if position == 0 or expiry < list.lb then list.lb = expiry end
    if position == 0 then sw.refresh = true end
    sw.dirty = true
  end
  redis.call('ZADD', list.zset, (expiry - EPOCH) * SHIFT + position * 4 + new_flags, member)
  local delta = seeder - flags % 2
  if delta ~= 0 then
    sw.seeders = sw.seeders + delta
    sw.dirty = true
  end
  return position
end

-- `count` entries of a list (packed string `array` from byte `offset`, `n` entries of `stride` bytes) from
-- position `first`, wrapping around its end; from `pre` (what the header read returned: the header, then the
-- first entries of list 1) when it holds them.
local function read_entries(array, offset, stride, n, first, count, pre)
  local last = first + count
  if last > n then
    return read_entries(array, offset, stride, n, first, n - first, pre) .. read_entries(array, offset, stride, n, 0, last - n, pre)
  end
  if pre and #pre >= HEADER_SIZE + last * stride then
    return string.sub(pre, HEADER_SIZE + first * stride + 1, HEADER_SIZE + last * stride)
  end
  return redis.call('GETRANGE', array, offset + first * stride, offset + last * stride - 1)
end

-- Up to `want` entries of a list other than the one at position `self` (-1: none): a window at a random
-- position, or every entry when there are no more than `want` others.
local function sample(array, offset, stride, n, self, want, random, pre)
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
  local entries = read_entries(array, offset, stride, n, first, count, pre)
  if at < 0 then return entries end
  return string.sub(entries, 1, at * stride) .. string.sub(entries, (at + 1) * stride + 1)
end

local function sample_list(list, self, want, random, pre)
  if list.changed then pre = nil end
  return sample(list.array, list.offset, list.stride, list.n, self, want, random, pre)
end

-- While expired peers remain (a backlog), the sample comes from the ZSET by score: live peers only.
local function sample_live(list, self, want, now)
  local got = redis.call('ZRANGE', list.zset, (now - EPOCH + 1) * SHIFT, '+inf', 'BYSCORE', 'LIMIT', 0, want + 1,
                         'WITHSCORES')
  local out = {}
  for j = 1, #got / 2 do
    local position = decode(got[2 * j])
    if #out < want and position ~= self then
      if list.member > 0 then
        out[#out + 1] = got[2 * j - 1]
      else
        local at = list.offset + position * list.stride
        out[#out + 1] = redis.call('GETRANGE', list.array, at, at + list.stride - 1)
      end
    end
  end
  return table.concat(out)
end

-- Writes the header and refreshes the keys' TTL (`ttl` nil: never), or deletes a swarm with no peer and no
-- download to remember. Returns the header.
local function finish(sw, now, ttl)
  local l1, l2 = sw[1], sw[2] or { n = 0, cap = 0, lb = 0 }
  if total(sw) == 0 and sw.downloaded == 0 then
    if sw.exists or sw.dirty then redis.call('DEL', sw.keys[1]) end
    return struct.pack(HEADER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  end
  if ttl and (sw.refresh or sw.keys_until < now + ttl) then
    sw.keys_until = now + 2 * ttl
    sw.dirty = true
  else
    ttl = nil
  end
  local header = struct.pack(HEADER, l1.n, l2.n, l1.cap, l2.cap, l1.lb, l2.lb, sw.seeders, sw.keys_until, sw.width,
                             sw.downloaded)
  if sw.dirty then redis.call('SETRANGE', sw.keys[1], 0, header) end
  if ttl then
    for _, key in ipairs(sw.keys) do redis.call('EXPIRE', key, 2 * ttl) end
  end
  return header
end

-- The common announce, in as few commands as possible: a peer already in the swarm, not stopping, not
-- completing, not changing between seeder and leecher, nothing to expire, keys far from their TTL. `raw`: the
-- header read; the peer's list is `n` entries of `stride` bytes in `array` from `offset`, its ZSET `zset`.
-- Returns the reply, or nil and the peer's score (false: not in the list) when the call needs the general
-- path. `entry`: the peer's entry to write (WebSocket peers: its route may be new), nil to leave it.
local function fast_announce(raw, array, offset, stride, n, zset, member, entry, now, ttl, want, random, seeder, pre)
  local old = redis.call('ZSCORE', zset, member)
  if not old then return nil, false end
  local current = tonumber(old)
  local low = current % SHIFT
  local flags = low % 4
  if flags % 2 ~= seeder then return nil, old end
  local position = (low - flags) / 4
  local score = (now + ttl - EPOCH) * SHIFT + low
  if score ~= current then redis.call('ZADD', zset, score, member) end
  if entry then redis.call('SETRANGE', array, offset + position * stride, entry) end
  return { string.sub(raw, 1, HEADER_SIZE), sample(array, offset, stride, n, position, want, random, pre) }
end

-- Whether the header `raw` allows fast_announce: a swarm, no list with an expiry due, keys far from their TTL.
-- Returns n1, n2, width when it does.
local function fast_header(raw, now, ttl)
  if #raw < HEADER_SIZE then return nil end
  local n1, n2, _, _, lb1, lb2, _, keys_until, width = struct.unpack(HEADER, raw)
  if (n1 > 0 and lb1 <= now) or (n2 > 0 and lb2 <= now) or keys_until < now + ttl then return nil end
  return n1, n2, width
end

-- HTTP/UDP announce. KEYS: header + IPv4 entries, IPv4 ZSET, IPv6 entries, IPv6 ZSET. ARGV[1]: ANNOUNCE_ARGS
-- then the compact peer (6 or 18 bytes). Replies { header, sampled compact peers of the requester's family }.
redis.register_function('announce_$V', function(keys, args)
  local a = args[1]
  local now, ttl, want, random, limit, event, seeder = struct.unpack(ANNOUNCE_ARGS, a)
  local peer = string.sub(a, ANNOUNCE_ARGS_SIZE + 1)
  local i = 1
  if #peer == 18 then i = 2 end
  -- IPv4: the header read brings the first entries too, enough for the whole sample of a small swarm.
  local raw = read_header(keys, i == 1 and (want + 1) * 6 or 0)
  local pre = i == 1 and raw or nil
  local old
  if event ~= STOPPED and event ~= COMPLETED then
    local n1, n2 = fast_header(raw, now, ttl)
    if n1 then
      local reply
      if i == 1 then
        reply, old = fast_announce(raw, keys[1], HEADER_SIZE, 6, n1, keys[2], peer, nil, now, ttl, want, random, seeder, pre)
      else
        reply, old = fast_announce(raw, keys[3], 0, 18, n2, keys[4], peer, nil, now, ttl, want, random, seeder, nil)
      end
      if reply then return reply end
    end
  end
  local sw = load_swarm(keys, false, raw)
  local list = sw[i]
  local backlog = drop_expired(sw, list, now, limit)
  drop_expired(sw, sw[3 - i], now, limit)
  if list.changed then old = nil end
  local self = update(sw, list, peer, peer, event, seeder, now, ttl, nil, old)
  local peers = ''
  if event ~= STOPPED then
    if backlog then peers = sample_live(list, self, want, now) else peers = sample_list(list, self, want, random, pre) end
  end
  return { finish(sw, now, ttl), peers }
end)

-- WebSocket announce. KEYS: header + entries, ZSET. ARGV[1]: ANNOUNCE_ARGS, peer_id length (1 byte), peer_id,
-- route. Replies { header (its `width` is the entry size), sampled entries }.
redis.register_function('announce_ws_$V', function(keys, args)
  local a = args[1]
  local now, ttl, want, random, limit, event, seeder = struct.unpack(ANNOUNCE_ARGS, a)
  local id_length = string.byte(a, ANNOUNCE_ARGS_SIZE + 1)
  local peer_id = string.sub(a, ANNOUNCE_ARGS_SIZE + 2, ANNOUNCE_ARGS_SIZE + 1 + id_length)
  local route = string.sub(a, ANNOUNCE_ARGS_SIZE + 2 + id_length)
  local size = 2 + #peer_id + #route
  local raw = read_header(keys, (want + 1) * WS_GUESS_STRIDE)
  local old
  if event ~= STOPPED and event ~= COMPLETED then
    local n1, _, width = fast_header(raw, now, ttl)
    if n1 and size <= width then
      local reply
      reply, old = fast_announce(raw, keys[1], HEADER_SIZE, width, n1, keys[2], peer_id, ws_entry(peer_id, route, width),
                                 now, ttl, want, random, seeder, raw)
      if reply then return reply end
    end
  end
  local sw = load_swarm(keys, true, raw)
  local list = sw[1]
  local backlog = drop_expired(sw, list, now, limit)
  if list.changed then old = nil end
  if event ~= STOPPED and size > list.stride then widen(sw, list, size) end
  local self = update(sw, list, peer_id, ws_entry(peer_id, route, list.stride), event, seeder, now, ttl, route, old)
  local peers = ''
  if event ~= STOPPED then
    if backlog then peers = sample_live(list, self, want, now) else peers = sample_list(list, self, want, random, raw) end
  end
  return { finish(sw, now, ttl), peers }
end)

-- Scrape of one swarm, which also expires it (scrapes and the maintenance sweep). KEYS: as the announce of its
-- kind. ARGV[1]: now, expiry limit (uint32 LE). Replies { header (empty: no such swarm), peers removed as
-- expired }.
local function scrape(keys, args, ws)
  local now, limit = struct.unpack('<I4I4', args[1])
  local raw = read_header(keys, 0)
  if #raw < HEADER_SIZE then return { raw, 0 } end
  local n1, n2, _, _, lb1, lb2 = struct.unpack(HEADER, raw)
  if (n1 == 0 or lb1 > now) and (n2 == 0 or lb2 > now) then return { raw, 0 } end
  local sw = load_swarm(keys, ws, raw)
  for i = 1, sw.lists do drop_expired(sw, sw[i], now, limit) end
  return { finish(sw, now, nil), sw.removed }
end

redis.register_function('scrape_$V', function(keys, args) return scrape(keys, args, false) end)
redis.register_function('scrape_ws_$V', function(keys, args) return scrape(keys, args, true) end)
