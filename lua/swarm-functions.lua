#!lua name=redswarm_$V
--[[
The Redis store's swarms, as one Redis Functions library (FCALL). The store loads it on a node when a call
there answers "Function not found". It loads this file with the constants of src/store/redis/function-contract.ts
inserted after the first line, and with `$V` replaced by a hash of the result, so that trackers running
different versions can share one Redis without replacing each other's functions.

All keys of a swarm carry the same hash tag (src/store/redis/swarm-keys.ts): one function sees all of them in
one slot, atomically. A swarm is:

  peers key   HASH    field HEADER_FIELD: the swarm's header (HEADER); field <peer>: position * POSITION_STEP + flags
  one packed STRING per list: `capacity` entries of `stride` bytes, then `capacity` generation bytes

HTTP/UDP swarms have two lists: IPv4 peers first (6-byte compact entries; hash field = the entry) and IPv6
peers second (18 bytes). WebSocket swarms have one: peer_id length (1 byte), peer_id, route length (1 byte),
route, zero-padded to the swarm's entry width (a multiple of 8 that grows with the longest entry); hash field =
the peer_id. Peers live at positions 0 .. count-1 of their list: a removal moves the last entries into the
holes, so a sample of peers is a window of entries at a random position, one GETRANGE, returned as it is.

Expiry counts in generations of `generation_seconds` (ceil(ttl / GENERATIONS), at least 1 s; a swarm converts
its bytes once when a new TTL changes that length): the generation byte of a peer is the generation of its
last announce, mod 256. A peer is live while its age (the current generation minus its own, mod 256) is below
`live_generations` = ceil(ttl / generation_seconds), i.e. it expires at the end of that many generations: less
than one generation away from its TTL, before or after. A re-announce rewrites one byte: nothing is re-sorted.
Expired peers are found by plain finds (memchr) of the expired byte values in a list's generation bytes; that
happens only once the current generation has reached a list's `oldest` (a lower bound of its oldest
generation) plus live_generations, so mostly for a single byte value. Ages never wrap around: every announce
leaves only live peers, the keys' TTL runs out at most 2 × ttl after the last one, and a swarm whose keys
should have expired by then (Redis' clock and the tracker's disagree, or a test's clock jumped) is emptied at
once; so no age reaches 3 × live_generations + 2 <= 256.

The header holds, per list, its entry count, the entries its string has room for (capacity) and the lower
bound of its oldest generation; then the seeders, when the keys' TTL runs out (keys_until), the WebSocket
entry width, downloaded, generation_seconds, the second list's seeders, and the end and position of the
bucket of its slot's totals that counts the swarm (HEADER: the order and types). A header of the previous
layout lacks the last three: the first general call counts its IPv6 seeders once and the swarm into its slot's
totals.

Totals per slot (STATS_COUNTS: swarms, seeders and leechers by family and of WebSocket swarms) live in the
slot's stats key, the last of every function's KEYS, and change in the same calls as the swarms: a swarm with
peers is counted in the bucket ending at its keys_until rounded up to STATS_BUCKET_SECONDS. When its counts
change, its share changes in place in its bucket; when its keys_until moves to another bucket, the value is
rewritten; when nobody touches it, its keys expire by their TTL and its bucket ends at most
STATS_BUCKET_SECONDS later, after which readers skip it (and the next rewrite of the slot frees it). The
common announce changes neither, so it never touches that key.

The announce functions reply with the swarm's header as it is after the call and the sampled entries: the
tracker reads the counts off the header. Flags: FLAG_SEEDER, and FLAG_COUNTED once this peer's `completed`
has been counted; the seeder flag is the low bit, so `flags % FLAG_COUNTED` is it. Every call first drops its
swarm's expired peers, at most `limit` per list. The keys get a TTL of 2 × ttl whenever less than ttl is left
of it (`keys_until`), so they outlive their peers and an abandoned swarm disappears by itself.

A WebSocket peer belongs to the route (its socket) that announced it first, until that route stops it or the
peer expires: its entry's route never changes, and an announce of it from any other route, whatever the event,
changes nothing and replies with a third element, WS_CONFLICT.
]]

-- HEADER, HEADER_FIELD, ANNOUNCE_ARGS, SCRAPE_ARGS (+ _SIZE), EVENT_*, FLAG_*, POSITION_STEP, WS_CONFLICT and
-- GENERATIONS are not defined here: they are generated from src/store/redis/function-contract.ts, above this
-- comment.

-- Calls visit(position) for each byte of `gens` (a list's generation bytes) whose age at `generation` is
-- within lo .. hi, one byte value at a time: a plain find is memchr in C, where a pattern set costs ~1 µs a
-- byte. Stops when visit returns true; returns true then.
local function find_ages(gens, generation, lo, hi, visit)
  for age = lo, hi do
    local byte = string.char((generation - age) % 256)
    local at = string.find(gens, byte, 1, true)
    while at do
      if visit(at - 1) then return true end
      at = string.find(gens, byte, at + 1, true)
    end
  end
  return false
end

-- The oldest live age among `gens`: exact for a short list (so a small swarm is not scanned again before a
-- peer of it can expire), else live_generations - 1 (a long list is scanned again next generation, for one
-- byte value).
local function oldest_age(gens, generation, live_generations)
  if #gens > 64 then return live_generations - 1 end
  local oldest = 0
  for j = 1, #gens do
    local age = (generation - string.byte(gens, j)) % 256
    if age < live_generations and age > oldest then oldest = age end
  end
  return oldest
end

-- A list's generation bytes (after its `capacity` entries).
local function read_gens(list)
  local base = list.capacity * list.stride
  return redis.call('GETRANGE', list.key, base, base + list.count - 1)
end

local function generation_length(ttl)
  return math.max(1, math.ceil(ttl / GENERATIONS))
end

-- Converts a swarm's generation bytes to generations of `seconds`, of which a peer lives `live_generations`
-- (a changed TTL changes the length): a map of the 256 byte values, applied by string.gsub in C, once. An age
-- that would reach live_generations or more becomes live_generations (expired, and too young to wrap around);
-- the lists are scanned next.
local function regenerate(swarm, seconds, live_generations, now)
  local old_seconds = swarm.generation_seconds
  local old_generation, generation = math.floor(now / old_seconds), math.floor(now / seconds)
  local byte_map = {}
  for b = 0, 255 do
    local age = generation - math.floor((old_generation - (old_generation - b) % 256) * old_seconds / seconds)
    byte_map[string.char(b)] = string.char((generation - math.min(age, live_generations)) % 256)
  end
  for i = 1, swarm.lists do
    local list = swarm[i]
    if list.count > 0 then
      redis.call('SETRANGE', list.key, list.capacity * list.stride, (string.gsub(read_gens(list), '.', byte_map)))
      list.oldest = generation - live_generations
    end
  end
  swarm.generation_seconds = seconds
  swarm.generation = generation
  swarm.dirty = true
end

local function total(swarm)
  if swarm.lists == 1 then return swarm[1].count end
  return swarm[1].count + swarm[2].count
end

-- The hash field of an entry.
local function member_of(list, entry)
  if list.member > 0 then return string.sub(entry, 1, list.member) end
  return string.sub(entry, 2, 1 + string.byte(entry, 1))
end

-- Position and flags in a hash value.
local function decode(value)
  local number = tonumber(value)
  local flags = number % POSITION_STEP
  return (number - flags) / POSITION_STEP, flags
end

-- The seeders among a list's peers, read from their flags: for a header of the previous layout, which does not
-- say which list its seeders are in. Once per swarm, one HMGET per 1000 peers.
local function list_seeders(swarm, list)
  local seeders, stride = 0, list.stride
  if list.count == 0 then return 0 end
  local entries = redis.call('GETRANGE', list.key, 0, list.count * stride - 1)
  for from = 0, list.count - 1, 1000 do
    local members = {}
    for p = from, math.min(from + 999, list.count - 1) do
      members[#members + 1] = member_of(list, string.sub(entries, p * stride + 1, (p + 1) * stride))
    end
    for _, value in ipairs(redis.call('HMGET', swarm.hash, unpack(members))) do
      if value then
        local _, flags = decode(value)
        seeders = seeders + flags % FLAG_COUNTED
      end
    end
  end
  return seeders
end

local NO_COUNTS = { count = 0, seeders = 0 }

-- A swarm's share of its slot's totals (STATS_COUNTS, in order) from its lists' counts and seeders (c1, s1,
-- c2, s2); nil without peers.
local function share_of(ws, c1, s1, c2, s2)
  if c1 + c2 == 0 then return nil end
  if ws then return { 0, 0, 0, 0, 0, 1, s1, c1 - s1 } end
  return { 1, s1, c1 - s1, s2, c2 - s2, 0, 0, 0 }
end

-- A swarm's state from its header (`raw`: false when there is none). KEYS: the swarm's keys, then its slot's
-- stats key.
local function load_swarm(keys, ws, raw, now, ttl)
  local first_count, second_count, first_capacity, second_capacity, first_oldest, second_oldest = 0, 0, 0, 0, 0, 0
  local seeders, keys_until, width, downloaded, generation_seconds = 0, 0, 0, 0, 0
  local second_seeders, counted_until, counted_at = 0, 0, 0
  local seconds = generation_length(ttl)
  local previous = raw and #raw < HEADER_SIZE
  -- The previous layout's header is this one's without its last fields: they read as 0 (not counted).
  if previous then raw = raw .. string.rep('\0', HEADER_SIZE - #raw) end
  if raw then
    first_count, second_count, first_capacity, second_capacity, first_oldest, second_oldest, seeders, keys_until,
      width, downloaded, generation_seconds, second_seeders, counted_until, counted_at = struct.unpack(HEADER, raw)
  else
    generation_seconds = seconds
  end
  -- Every field in the constructor: one added later makes Lua resize the table.
  local lists = ws and 1 or 2
  local swarm = { hash = keys[1], keys_until = keys_until, width = width,
                  downloaded = downloaded, generation_seconds = generation_seconds,
                  generation = math.floor(now / generation_seconds), live_generations = math.ceil(ttl / seconds),
                  exists = raw and true or false, dirty = previous or false, refresh = false, removed = 0,
                  lists = lists, keys = keys, stats_key = keys[lists + 2], seeders = 0, counted_until = counted_until,
                  counted_at = counted_at,
                  counted_c1 = first_count, counted_s1 = 0, counted_c2 = second_count, counted_s2 = 0 }
  if ws then
    swarm[1] = { key = keys[2], count = first_count, capacity = first_capacity, oldest = first_oldest, stride = width,
                 member = 0, seeders = seeders }
  else
    swarm[1] = { key = keys[2], count = first_count, capacity = first_capacity, oldest = first_oldest, stride = 6,
                 member = 6, seeders = seeders - second_seeders }
    swarm[2] = { key = keys[3], count = second_count, capacity = second_capacity, oldest = second_oldest, stride = 18,
                 member = 18, seeders = second_seeders }
    if previous and first_count > 0 and second_count > 0 then
      -- Only a swarm with both families needs its peers' flags: from the smaller family's.
      if second_count <= first_count then
        swarm[2].seeders = list_seeders(swarm, swarm[2])
      else
        swarm[2].seeders = seeders - list_seeders(swarm, swarm[1])
      end
      swarm[1].seeders = seeders - swarm[2].seeders
    elseif previous and first_count == 0 then
      swarm[1].seeders, swarm[2].seeders = 0, seeders
    end
  end
  -- The counts its slot's totals hold for the swarm (in the bucket ending at counted_until), for finish.
  swarm.counted_s1, swarm.counted_s2 = swarm[1].seeders, (swarm[2] or NO_COUNTS).seeders
  if generation_seconds ~= seconds then regenerate(swarm, seconds, swarm.live_generations, now) end
  return swarm
end

-- Rewrites a list's string with room for `capacity` entries of `stride` bytes (a WebSocket list widens its
-- entries); its entries and generations keep their positions.
local function rewrite(list, capacity, stride)
  local count, key = list.count, list.key
  local entries, gens = '', ''
  if count > 0 then
    entries = redis.call('GETRANGE', key, 0, count * list.stride - 1)
    gens = read_gens(list)
    if stride ~= list.stride then
      local pad, parts = string.rep('\0', stride - list.stride), {}
      for j = 0, count - 1 do parts[j + 1] = string.sub(entries, j * list.stride + 1, (j + 1) * list.stride) .. pad end
      entries = table.concat(parts)
    end
  end
  if capacity == 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, entries .. string.rep('\0', (capacity - count) * stride) .. gens .. string.rep('\0', capacity - count), 'KEEPTTL')
  end
  list.capacity = capacity
  list.stride = stride
end

-- Removes the entries at positions `gone` (their hash fields already deleted): the live entries behind the
-- new end fill the holes before it (their hash values follow), and a string more than half empty is cut
-- down. `entries`, `gens`: the list's entries and generations if the caller read them.
local function remove_positions(swarm, list, gone, entries, gens)
  local count = list.count
  local remaining = count - #gone
  local stride, key, base = list.stride, list.key, list.capacity * list.stride
  local holes, leaving = {}, {}
  for _, p in ipairs(gone) do
    if p >= remaining then leaving[p] = true else holes[#holes + 1] = p end
  end
  if #holes > 0 then
    local from = 0
    if not entries then
      from = remaining
      entries = redis.call('GETRANGE', key, remaining * stride, count * stride - 1)
      gens = redis.call('GETRANGE', key, base + remaining, base + count - 1)
    end
    local filled = 0
    for p = remaining, count - 1 do
      if not leaving[p] then
        filled = filled + 1
        local to = holes[filled]
        local entry = string.sub(entries, (p - from) * stride + 1, (p - from + 1) * stride)
        redis.call('SETRANGE', key, to * stride, entry)
        redis.call('SETRANGE', key, base + to, string.sub(gens, p - from + 1, p - from + 1))
        redis.call('HINCRBY', swarm.hash, member_of(list, entry), (to - p) * POSITION_STEP)
      end
    end
  end
  list.count = remaining
  list.changed = true
  swarm.dirty = true
  if remaining == 0 or list.capacity > 2 * remaining + 32 then rewrite(list, remaining, stride) end
end

-- ===== Swarm events (docs/events.md; src/events/) =====
-- With events on, every function takes two more keys after the stats key, its event partition's stream and
-- expiry index, and event arguments after its own (function-contract.ts EVENT_ARGS): ARGV[2] the stream's
-- MAXLEN (approximate trim), then for an announce ARGV[3] its facts packed as field `a` (ih swarm time event
-- proto peer uploaded downloaded left seeder key), for a scrape ARGV[3] the swarm (`<ih> <swarm>`, as `a`
-- starts) and ARGV[4] `sweep` when it is the coordinator's expiry sweep. Every change appends one entry with the
-- fields of src/events/schema.ts EVENT_FIELDS in the same call (`n`: seq complete incomplete), numbered by the
-- swarm's next sequence number: field EVENT_SEQ_FIELD of its peers hash, which goes with the hash (a swarm
-- forgotten starts again at 1).
-- The expiry index (a sorted set, member `<kind>:<info hash hex>`, score: when the swarm's keys expire) lets
-- the coordinator visit the swarms whose keys are about to expire unannounced: its sweep reports their expired
-- peers and keeps the keys of those with live peers (finish), so no peer vanishes unreported with its keys.
-- Off, none of this runs.

-- The events context of a call, or nil with events off. (The announces' common path does without it.)
local function events_of(keys, args, lists, now)
  local stream = keys[lists + 3]
  if not stream then return nil end
  return { stream = stream, index = keys[lists + 4], args = args, now = now }
end

-- `<ih> <swarm>`: the start of the facts of the call's swarm (ARGV[3] begins with it).
local function swarm_text(events)
  return string.sub(events.args[3], 1, SWARM_TEXT_LENGTH)
end

-- Puts the swarm in its partition's expiry index at `keys_until`, or takes it out (nil).
local function index_swarm(events, keys_until)
  local swarm = events.args[3] -- `<ih> <kind>`, the kind 2 characters
  local member = string.sub(swarm, SWARM_TEXT_LENGTH - 1, SWARM_TEXT_LENGTH) .. ':' .. string.sub(swarm, 1, SWARM_TEXT_LENGTH - 3)
  if keys_until then
    redis.call('ZADD', events.index, keys_until, member)
  else
    redis.call('ZREM', events.index, member)
  end
end

-- Appends an event to `stream` with the swarm's next sequence number: the facts (field `a`), the swarm's counts
-- after the change; `args`: the call's, with the event arguments. Strings, not numbers, to redis.call, and `n`
-- by string.format('%d'): Lua and Redis turn a number into text as a float (%.14g, %.17g), which costs more.
local function emit(stream, args, hash, facts, complete, incomplete)
  local seq = redis.call('HINCRBY', hash, EVENT_SEQ_FIELD, '1')
  redis.call('XADD', stream, 'MAXLEN', '~', args[2], '*', 'v', EVENT_VERSION,
    'n', string.format('%d %d %d', seq, complete, incomplete), 'a', facts)
end

-- The announce's own event, its facts as the tracker sent them.
local function emit_announce(events, hash, seeders, peers)
  emit(events.stream, events.args, hash, events.args[3], seeders, peers - seeders)
end

-- The swarm's seeders and peers, from its lists.
local function swarm_counts(swarm)
  local seeders, peers = swarm[1].seeders, swarm[1].count
  if swarm[2] then seeders, peers = seeders + swarm[2].seeders, peers + swarm[2].count end
  return seeders, peers
end

-- The announce's event after the swarm changed.
local function emit_change(swarm)
  local seeders, peers = swarm_counts(swarm)
  emit_announce(swarm.events, swarm.hash, seeders, peers)
end

-- A peer as src/events/schema.ts peerText writes it: ip:port, [8 hex groups]:port, or a peer_id in hex.
local function peer_text(member, ws)
  if ws then return (string.gsub(member, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
  local b = { string.byte(member, 1, -1) }
  if #b == 6 then return string.format('%d.%d.%d.%d:%d', b[1], b[2], b[3], b[4], b[5] * 256 + b[6]) end
  local groups = {}
  for i = 1, 16, 2 do groups[#groups + 1] = string.format('%x', b[i] * 256 + b[i + 1]) end
  return '[' .. table.concat(groups, ':') .. ']:' .. (b[17] * 256 + b[18])
end

-- `expired` events of peers leaving the swarm (hash fields `members`, seeder bits `seeder`), each with the
-- counts after it, falling from `seeders`, `peers` (default: the lists' before they change). Returns the counts.
local function emit_expired(swarm, members, seeder, seeders, peers)
  local events, ws = swarm.events, swarm.lists == 1
  local proto, time = ws and 'ws' or '', string.format('%.0f', events.now * 1000)
  local head = swarm_text(events) .. ' ' .. time .. ' expired ' .. proto .. ' '
  if not seeders then seeders, peers = swarm_counts(swarm) end
  for j, member in ipairs(members) do
    peers = peers - 1
    seeders = seeders - seeder[j]
    -- schema.ts expiredFacts: no byte counts, no key.
    emit(events.stream, events.args, swarm.hash, head .. peer_text(member, ws) .. '    ' .. seeder[j] .. ' ', seeders, peers - seeders)
  end
  return seeders, peers
end

-- `expired` events of every peer of an abandoned swarm (drop_abandoned), 1000 peers a read.
local function emit_abandoned(swarm)
  local seeders, peers = swarm_counts(swarm)
  for i = 1, swarm.lists do
    local list = swarm[i]
    local stride = list.stride
    for from = 0, list.count - 1, 1000 do
      local last = math.min(from + 999, list.count - 1)
      local entries = redis.call('GETRANGE', list.key, from * stride, (last + 1) * stride - 1)
      local members, seeder = {}, {}
      for p = 0, last - from do members[p + 1] = member_of(list, string.sub(entries, p * stride + 1, (p + 1) * stride)) end
      for j, value in ipairs(redis.call('HMGET', swarm.hash, unpack(members))) do
        local _, flags = decode(value)
        seeder[j] = flags % FLAG_COUNTED
      end
      seeders, peers = emit_expired(swarm, members, seeder, seeders, peers)
    end
  end
end
-- ===== end of swarm events =====

-- Drops up to `limit` expired peers of a list once its oldest generation may have expired. Returns true when
-- expired peers may remain (more than one call removes).
local function drop_expired(swarm, list, limit)
  local generation, live_generations = swarm.generation, swarm.live_generations
  if list.count == 0 or generation - list.oldest < live_generations then return false end
  local gens = read_gens(list)
  local gone = {}
  -- No byte is older than generation - oldest.
  find_ages(gens, generation, live_generations, math.min(generation - list.oldest, 255), function(position)
    gone[#gone + 1] = position
    return #gone == limit
  end)
  local found = #gone
  if found > 0 then
    -- A few entries one by one, many in one read of the whole list.
    local stride, entries = list.stride, nil
    if found * 64 >= list.count then entries = redis.call('GETRANGE', list.key, 0, list.count * stride - 1) end
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
    local seeder = swarm.events and {} -- events: each peer's seeder bit
    for j, value in ipairs(redis.call('HMGET', swarm.hash, unpack(members))) do
      local _, flags = decode(value)
      seeders = seeders + flags % FLAG_COUNTED
      if seeder then seeder[j] = flags % FLAG_COUNTED end
    end
    if seeder then emit_expired(swarm, members, seeder) end
    redis.call('HDEL', swarm.hash, unpack(members))
    remove_positions(swarm, list, gone, entries, entries and gens)
    list.seeders = list.seeders - seeders
    swarm.removed = swarm.removed + found
  end
  if found == limit then return true end
  -- The expired bytes are not of a live age: the old string serves.
  if list.count > 0 then list.oldest = generation - oldest_age(gens, generation, live_generations) end
  swarm.dirty = true
  return false
end

-- Empties a swarm whose keys should have expired (no announce for ttl + one generation: every peer has
-- expired), keeping its downloads. UNLINK frees large lists in the background.
local function drop_abandoned(swarm, now)
  local peers = total(swarm)
  if peers == 0 or now < swarm.keys_until + swarm.generation_seconds then return end
  if swarm.events then emit_abandoned(swarm) end
  local keys = { swarm.hash }
  for i = 1, swarm.lists do
    keys[i + 1] = swarm[i].key
    swarm[i].count, swarm[i].capacity, swarm[i].seeders, swarm[i].changed = 0, 0, 0, true
  end
  redis.call('UNLINK', unpack(keys))
  swarm.removed = swarm.removed + peers
  swarm.refresh = true
  swarm.dirty = true
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
local function remove_peer(swarm, list, member, position, flags)
  redis.call('HDEL', swarm.hash, member)
  remove_positions(swarm, list, { position })
  list.seeders = list.seeders - flags % FLAG_COUNTED
end

-- Applies one announce of a peer (hash field `member`, packed entry `entry`) to a list. `peer_value`: the
-- peer's hash value if the caller read it (false: absent). Returns the peer's position afterwards, -1 if it
-- is not in the list.
local function update(swarm, list, member, entry, event, seeder, peer_value)
  if peer_value == nil then peer_value = redis.call('HGET', swarm.hash, member) end
  local position, flags = -1, 0
  if peer_value then position, flags = decode(peer_value) end
  if event == EVENT_STOPPED then
    if peer_value then remove_peer(swarm, list, member, position, flags) end
    return -1
  end
  local new_flags = seeder
  if flags >= FLAG_COUNTED then new_flags = new_flags + FLAG_COUNTED end
  if event == EVENT_COMPLETED and new_flags < FLAG_COUNTED then
    new_flags = new_flags + FLAG_COUNTED
    swarm.downloaded = swarm.downloaded + 1
    swarm.dirty = true
  end
  if peer_value then
    if new_flags ~= flags then redis.call('HSET', swarm.hash, member, position * POSITION_STEP + new_flags) end
  else
    position = list.count
    if position == list.capacity then rewrite(list, math.max(1, 2 * position), list.stride) end
    redis.call('SETRANGE', list.key, position * list.stride, entry)
    redis.call('HSET', swarm.hash, member, position * POSITION_STEP + new_flags)
    list.count = position + 1
    if position == 0 then
      list.oldest = swarm.generation
      swarm.refresh = true
    end
    swarm.dirty = true
  end
  redis.call('SETRANGE', list.key, list.capacity * list.stride + position, string.char(swarm.generation % 256))
  local delta = seeder - flags % FLAG_COUNTED
  if delta ~= 0 then
    list.seeders = list.seeders + delta
    swarm.dirty = true
  end
  return position
end

-- `count` entries of a list (`list_count` entries of `stride` bytes in the string `key`) from position
-- `first`, wrapping around its end.
local function read_entries(key, stride, list_count, first, count)
  local last = first + count
  if last > list_count then
    return read_entries(key, stride, list_count, first, list_count - first) .. read_entries(key, stride, list_count, 0, last - list_count)
  end
  return redis.call('GETRANGE', key, first * stride, last * stride - 1)
end

-- Up to `want` entries of a list (`list_count` entries) other than the one at position `self` (-1: none): a
-- window at a random position, or every entry when there are no more than `want` others.
local function sample(key, stride, list_count, self, want, random)
  local others = list_count
  if self >= 0 then others = list_count - 1 end
  if want <= 0 or others <= 0 then return '' end
  local first, count, at = 0, list_count, self
  if others > want then
    first = random % list_count
    count = want
    if self >= 0 then
      at = (self - first) % list_count
      if at < want then count = want + 1 else at = -1 end
    end
  end
  local entries = read_entries(key, stride, list_count, first, count)
  if at < 0 then return entries end
  return string.sub(entries, 1, at * stride) .. string.sub(entries, (at + 1) * stride + 1)
end

-- While expired peers remain (a backlog), the sample takes live peers only, by their generation bytes.
local function sample_live(swarm, list, self, want)
  if want <= 0 then return '' end
  local gens = read_gens(list)
  local out = {}
  find_ages(gens, swarm.generation, 0, swarm.live_generations - 1, function(position)
    if position == self then return false end
    out[#out + 1] = redis.call('GETRANGE', list.key, position * list.stride, (position + 1) * list.stride - 1)
    return #out == want
  end)
  return table.concat(out)
end

-- Where a bucket's counts start: after its end.
local BUCKET_COUNTS_AT = STATS_BUCKET_SIZE - STATS_COUNTS_SIZE
-- The value in 4-byte fields, as BITFIELD counts them (`i32 #k`): the totals' field f (from 1) at f - 1, the
-- earliest end after them, then bucket p's (from 0) end at BUCKETS_AT + p * BUCKET_FIELDS and its field f
-- f places after that.
local BUCKET_FIELDS = STATS_BUCKET_SIZE / 4
local BUCKETS_AT = STATS_HEAD_SIZE / 4

-- BITFIELD's `#k` offsets as strings, made once.
local FIELD_AT = {}
for k = 0, BUCKETS_AT + 128 * BUCKET_FIELDS do FIELD_AT[k] = '#' .. k end
local function field_at(k)
  return FIELD_AT[k] or ('#' .. k)
end

-- Appends BITFIELD INCRBY of `change` to field k.
local function incrby(args, k, change)
  local n = #args
  args[n + 1], args[n + 2], args[n + 3], args[n + 4] = 'INCRBY', 'i32', field_at(k), change
end

-- The end of the bucket at position p (from 0) of a slot's stats value.
local function bucket_end_at(value, p)
  return (struct.unpack(STATS_BUCKET_END, value, STATS_HEAD_SIZE + p * STATS_BUCKET_SIZE + 1))
end

-- The counts packed (STATS_COUNTS) at byte `at` of `value`, as a list.
local function counts_at(value, at)
  local counts = { struct.unpack(STATS_COUNTS, value, at) }
  counts[STATS_FIELDS + 1] = nil -- the position after them
  return counts
end

-- Changes a swarm's share in the bucket ending at `bucket_end` at position `at`, where its header says it is
-- counted, from `was_share` to `share` (nil: the swarm leaves): the fields that change, in place, in the
-- bucket and in the totals, in one BITFIELD that also reads the bucket's end. Returns false, having undone the
-- change, when that bucket is not there (the key was lost, or an older version changed the swarm); BITFIELD
-- then may have made the key, zero-filled.
local function change_in_place(key, bucket_end, at, was_share, share)
  local base = BUCKETS_AT + at * BUCKET_FIELDS
  local args = { 'BITFIELD', key, 'GET', 'u32', field_at(base) }
  for f = 1, STATS_FIELDS do
    local change = -was_share[f]
    if share then change = change + share[f] end
    if change ~= 0 then
      incrby(args, base + f, change)
      incrby(args, f - 1, change)
    end
  end
  -- When the swarm leaves: is any swarm left in the slot?
  if share == nil then
    local n = #args
    args[n + 1], args[n + 2], args[n + 3] = 'GET', 'i32', field_at(STATS_WIRE_SWARMS - 1)
    args[n + 4], args[n + 5], args[n + 6] = 'GET', 'i32', field_at(STATS_WS_SWARMS - 1)
  end
  local got = redis.call(unpack(args))
  if got[1] == bucket_end then
    if share == nil and got[#got] == 0 and got[#got - 1] == 0 then redis.call('DEL', key) end
    return true
  end
  local undo = { 'BITFIELD', key }
  for i = 6, #args - 3, 4 do
    if args[i] == 'INCRBY' then incrby(undo, tonumber(string.sub(args[i + 2], 2)), -args[i + 3]) end
  end
  redis.call(unpack(undo))
  return false
end

-- Rewrites a slot's stats value: frees the buckets that have ended (their counts out of the totals), moves a
-- swarm's share out of the bucket ending at `was` at position `was_at` (was_share; 0: none; a bucket not there
-- never held it) and a bucket emptied by that, and into the bucket ending at `ends` (share; 0: none), made in
-- the first free position or at the end. Returns that bucket's position. The key lasts as long as its last
-- bucket and one bucket more (the tracker's and Redis' clocks may differ), so an idle slot's totals go.
local function rewrite_stats(key, now, was, was_at, was_share, ends, share)
  local value = redis.call('GET', key)
  local totals, buckets, latest_before = { 0, 0, 0, 0, 0, 0, 0, 0 }, {}, 0
  if value then
    totals = counts_at(value, 1)
    for p = 0, math.floor((#value - STATS_HEAD_SIZE) / STATS_BUCKET_SIZE) - 1 do
      local bucket_end = bucket_end_at(value, p)
      local counts = nil
      if bucket_end > latest_before then latest_before = bucket_end end
      if bucket_end > 0 then
        counts = counts_at(value, STATS_HEAD_SIZE + p * STATS_BUCKET_SIZE + BUCKET_COUNTS_AT + 1)
        if bucket_end <= now then
          for f = 1, STATS_FIELDS do totals[f] = totals[f] - counts[f] end
          bucket_end, counts = 0, nil
        end
      end
      buckets[p + 1] = { bucket_end, counts }
    end
  end
  local old = buckets[was_at + 1]
  if was > 0 and was_share and old and old[1] == was then
    local empty = true
    for f = 1, STATS_FIELDS do
      old[2][f] = old[2][f] - was_share[f]
      totals[f] = totals[f] - was_share[f]
      if old[2][f] ~= 0 then empty = false end
    end
    if empty then old[1], old[2] = 0, nil end
  end
  local at = 0
  if ends > 0 then
    local free = nil
    at = nil
    for p, bucket in ipairs(buckets) do
      if bucket[1] == ends then
        at = p - 1
        break
      end
      if bucket[1] == 0 and free == nil then free = p - 1 end
    end
    if at == nil then
      at = free or #buckets
      buckets[at + 1] = { ends, { 0, 0, 0, 0, 0, 0, 0, 0 } }
    end
    local counts = buckets[at + 1][2]
    for f = 1, STATS_FIELDS do
      counts[f] = counts[f] + share[f]
      totals[f] = totals[f] + share[f]
    end
  end
  while #buckets > 0 and buckets[#buckets][1] == 0 do buckets[#buckets] = nil end
  if #buckets == 0 then
    if value then redis.call('DEL', key) end
    return 0
  end
  local parts, earliest, latest = {}, 0, 0
  for p, bucket in ipairs(buckets) do
    local bucket_end = bucket[1]
    if bucket_end > 0 then
      if earliest == 0 or bucket_end < earliest then earliest = bucket_end end
      if bucket_end > latest then latest = bucket_end end
      parts[p] = struct.pack(STATS_BUCKET, bucket_end, unpack(bucket[2]))
    else
      parts[p] = string.rep('\0', STATS_BUCKET_SIZE) -- free: ends at 0, counts 0
    end
  end
  totals[STATS_FIELDS + 1] = earliest
  value = struct.pack(STATS_HEAD, unpack(totals)) .. table.concat(parts)
  if latest > latest_before then
    redis.call('SET', key, value, 'EX', latest - now + STATS_BUCKET_SECONDS)
  else
    redis.call('SET', key, value, 'KEEPTTL')
  end
  return at
end

-- Keeps the swarm's share of its slot's totals right after a call: counted (while it has peers) in the bucket
-- its keys expire in, rounded up; a bucket that has ended counts nobody. Touches the stats key only when the
-- counts or the bucket changed: in place when the bucket stays (or the swarm leaves), else rewritten.
local function account(swarm, now)
  local first, second = swarm[1], swarm[2] or NO_COUNTS
  local c1, s1, c2, s2 = first.count, first.seeders, second.count, second.seeders
  local ends = 0
  if c1 + c2 > 0 then
    ends = math.ceil(swarm.keys_until / STATS_BUCKET_SECONDS) * STATS_BUCKET_SECONDS
    if ends <= now then ends = 0 end
  end
  local was = swarm.counted_until
  if was <= now then was = 0 end
  if ends ~= swarm.counted_until then
    swarm.counted_until = ends
    swarm.dirty = true
  end
  local o1, p1, o2, p2 = swarm.counted_c1, swarm.counted_s1, swarm.counted_c2, swarm.counted_s2
  if was == ends and (ends == 0 or (c1 == o1 and s1 == p1 and c2 == o2 and s2 == p2)) then return end
  local ws = swarm.lists == 1
  local was_share, share = nil, nil
  if was > 0 then was_share = share_of(ws, o1, p1, o2, p2) end
  if ends > 0 then share = share_of(ws, c1, s1, c2, s2) end
  if was_share and (ends == was or ends == 0) then
    if change_in_place(swarm.stats_key, was, swarm.counted_at, was_share, share) then return end
    -- Not where its header says: counted afresh, and a key the check made (zeros, no TTL) goes again.
    was, was_share = 0, nil
  end
  local at = rewrite_stats(swarm.stats_key, now, was, swarm.counted_at, was_share, ends, share)
  if at ~= swarm.counted_at then
    swarm.counted_at = at
    swarm.dirty = true
  end
end

local NO_LIST = { count = 0, capacity = 0, oldest = 0, seeders = 0 }

-- Writes the header and refreshes the keys' TTL (`ttl` nil: never), or deletes a swarm with no peer and no
-- download to remember; keeps its slot's totals. Returns the header.
local function finish(swarm, now, ttl)
  local first, second = swarm[1], swarm[2] or NO_LIST
  if total(swarm) == 0 and swarm.downloaded == 0 then
    account(swarm, now)
    if swarm.exists or swarm.dirty then redis.call('DEL', swarm.hash) end
    if swarm.events then index_swarm(swarm.events, nil) end
    return struct.pack(HEADER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  end
  if ttl and (swarm.refresh or swarm.keys_until < now + ttl) then
    swarm.keys_until = now + 2 * ttl
    swarm.dirty = true
  else
    ttl = nil
  end
  account(swarm, now)
  swarm.seeders = first.seeders + second.seeders
  local header = struct.pack(HEADER, first.count, second.count, first.capacity, second.capacity, first.oldest,
                             second.oldest, swarm.seeders, swarm.keys_until, swarm.width, swarm.downloaded,
                             swarm.generation_seconds, second.seeders, swarm.counted_until, swarm.counted_at)
  if swarm.dirty then redis.call('HSET', swarm.hash, HEADER_FIELD, header) end
  if ttl then
    for i = 1, swarm.lists + 1 do redis.call('EXPIRE', swarm.keys[i], 2 * ttl) end
    if swarm.events then index_swarm(swarm.events, swarm.keys_until) end
  end
  return header
end

-- Whether no list of the header `raw` is due for an expiry scan (nor for other generations: the TTL
-- changed). Returns the current generation, when the keys' TTL runs out, the lists' shapes and the seeders when
-- none is.
local function not_due(raw, now, ttl)
  if #raw < HEADER_SIZE then return nil end -- the previous layout: the general path counts it first
  local first_count, second_count, first_capacity, second_capacity, first_oldest, second_oldest, seeders, keys_until,
    width, _, generation_seconds = struct.unpack(HEADER, raw)
  if generation_seconds ~= generation_length(ttl) then return nil end
  local generation = math.floor(now / generation_seconds)
  local live_generations = math.ceil(ttl / generation_seconds)
  if (first_count > 0 and generation - first_oldest >= live_generations)
    or (second_count > 0 and generation - second_oldest >= live_generations) then return nil end
  if first_count + second_count > 0 and now >= keys_until + generation_seconds then return nil end
  return generation, keys_until, first_count, second_count, first_capacity, second_capacity, width, seeders
end

-- Whether an announce may take the common path: the peer is in the swarm (`peer_value`: its hash value), it
-- is neither stopping nor completing, no list is due, the keys are far from their TTL. Returns what not_due
-- does but `keys_until`.
local function fast_allowed(raw, peer_value, event, now, ttl)
  if not peer_value or event == EVENT_STOPPED or event == EVENT_COMPLETED then return nil end
  local generation, keys_until, first_count, second_count, first_capacity, second_capacity, width, seeders = not_due(raw, now, ttl)
  if not generation or keys_until < now + ttl then return nil end
  return generation, first_count, second_count, first_capacity, second_capacity, width, seeders
end

-- The common announce, in three commands with the caller's HMGET (WebSocket: four): a peer already in the
-- swarm, not stopping, not completing, not changing between seeder and leecher. `peer_value`: its hash value;
-- its list is `list_count` entries of `stride` bytes in `key`, with room for `capacity`. `route`: the
-- requester's (WebSocket), nil for HTTP/UDP. Returns the reply, or nil when the call needs the general path.
local function fast_announce(raw, peer_value, key, stride, list_count, capacity, generation, route, want, random, seeder)
  local position, flags = decode(peer_value)
  -- No peer is expired here (fast_allowed): another route's peer is live, so refused.
  if route and route_at(key, stride, position) ~= route then return { raw, '', WS_CONFLICT } end
  if flags % FLAG_COUNTED ~= seeder then return nil end
  redis.call('SETRANGE', key, capacity * stride + position, string.char(generation % 256))
  return { raw, sample(key, stride, list_count, position, want, random) }
end

-- The general path's reply: the header after the call, and the sample for the peer at position `self` (none
-- for a stop; live peers only while the list has a backlog of expired ones).
local function general_reply(swarm, list, self, event, backlog, want, random, now, ttl)
  local peers = ''
  if event ~= EVENT_STOPPED then
    if backlog then
      peers = sample_live(swarm, list, self, want)
    else
      peers = sample(list.key, list.stride, list.count, self, want, random)
    end
  end
  return { finish(swarm, now, ttl), peers }
end

-- HTTP/UDP announce. KEYS: peers hash, IPv4 string, IPv6 string, the slot's stats key. ARGV[1]: ANNOUNCE_ARGS
-- then the compact peer (6 or 18 bytes). Replies { header, sampled compact peers of the requester's family }.
redis.register_function('announce_$V', function(keys, args)
  local argument = args[1]
  local now, ttl, numwant, random, limit, event, seeder = struct.unpack(ANNOUNCE_ARGS, argument)
  local peer = string.sub(argument, ANNOUNCE_ARGS_SIZE + 1)
  local family = 1 -- the peer's list: 1 IPv4, 2 IPv6
  if #peer == 18 then family = 2 end
  local got = redis.call('HMGET', keys[1], HEADER_FIELD, peer)
  local raw, peer_value = got[1], got[2]
  local generation, first_count, second_count, first_capacity, second_capacity, _, seeders = fast_allowed(raw, peer_value, event, now, ttl)
  if generation then
    local reply
    if family == 1 then
      reply = fast_announce(raw, peer_value, keys[2], 6, first_count, first_capacity, generation, nil, numwant, random, seeder)
    else
      reply = fast_announce(raw, peer_value, keys[3], 18, second_count, second_capacity, generation, nil, numwant, random, seeder)
    end
    if reply then
      -- Events on (the stream is keys[5]): no count changed, they are the header's.
      if keys[5] then emit(keys[5], args, keys[1], args[3], seeders, first_count + second_count - seeders) end
      return reply
    end
  end
  local events = events_of(keys, args, 2, now)
  local swarm = load_swarm(keys, false, raw, now, ttl)
  if events then swarm.events = events end
  drop_abandoned(swarm, now)
  local list = swarm[family]
  local backlog = drop_expired(swarm, list, limit)
  drop_expired(swarm, swarm[3 - family], limit)
  if list.changed then peer_value = nil end
  local listed = list.count
  local self = update(swarm, list, peer, peer, event, seeder, peer_value)
  if events and (event ~= EVENT_STOPPED or list.count < listed) then emit_change(swarm) end
  return general_reply(swarm, list, self, event, backlog, numwant, random, now, ttl)
end)

-- WebSocket announce. KEYS: peers hash, entries string, the slot's stats key. ARGV[1]: ANNOUNCE_ARGS, peer_id
-- length (1 byte), peer_id, route. Replies { header (its `width` is the entry size), sampled entries }, or
-- { header, '', WS_CONFLICT } when another route holds the peer.
redis.register_function('announce_ws_$V', function(keys, args)
  local argument = args[1]
  local now, ttl, numwant, random, limit, event, seeder = struct.unpack(ANNOUNCE_ARGS, argument)
  local id_length = string.byte(argument, ANNOUNCE_ARGS_SIZE + 1)
  local peer_id = string.sub(argument, ANNOUNCE_ARGS_SIZE + 2, ANNOUNCE_ARGS_SIZE + 1 + id_length)
  local route = string.sub(argument, ANNOUNCE_ARGS_SIZE + 2 + id_length)
  local size = 2 + #peer_id + #route
  local got = redis.call('HMGET', keys[1], HEADER_FIELD, peer_id)
  local raw, peer_value = got[1], got[2]
  local generation, first_count, _, first_capacity, _, width, seeders = fast_allowed(raw, peer_value, event, now, ttl)
  if generation then
    local reply = fast_announce(raw, peer_value, keys[2], width, first_count, first_capacity, generation, route, numwant, random, seeder)
    if reply then
      -- Events on (the stream is keys[4]): no count changed, they are the header's.
      if keys[4] and not reply[3] then emit(keys[4], args, keys[1], args[3], seeders, first_count - seeders) end
      return reply
    end
  end
  local events = events_of(keys, args, 1, now)
  local swarm = load_swarm(keys, true, raw, now, ttl)
  if events then swarm.events = events end
  drop_abandoned(swarm, now)
  local list = swarm[1]
  local backlog = drop_expired(swarm, list, limit)
  if list.changed then peer_value = redis.call('HGET', swarm.hash, peer_id) end
  if peer_value then
    local position, flags = decode(peer_value)
    if route_at(list.key, list.stride, position) ~= route then
      -- Another route's peer: refused while it lives; expired (left behind by a backlog), nobody's.
      local at = list.capacity * list.stride + position
      local age = (swarm.generation - string.byte(redis.call('GETRANGE', list.key, at, at))) % 256
      if age < swarm.live_generations then return { finish(swarm, now, ttl), '', WS_CONFLICT } end
      if events then emit_expired(swarm, { peer_id }, { flags % FLAG_COUNTED }) end
      remove_peer(swarm, list, peer_id, position, flags)
      peer_value = false
    end
  end
  if event ~= EVENT_STOPPED and size > list.stride then
    rewrite(list, list.capacity, 8 * math.ceil(size / 8))
    swarm.width = list.stride
    swarm.dirty = true
  end
  local listed = list.count
  local self = update(swarm, list, peer_id, ws_entry(peer_id, route, list.stride), event, seeder, peer_value)
  if events and (event ~= EVENT_STOPPED or list.count < listed) then emit_change(swarm) end
  return general_reply(swarm, list, self, event, backlog, numwant, random, now, ttl)
end)

-- Bytes of a span of generation bytes read and written back per generation byte it refreshes, at most: a
-- redis.call costs ~10,000 instructions, copying a byte of a span through Lua a few.
local SPAN_PER_WRITE = 2048

-- Writes `byte` at positions `ps` of a list's generation bytes (at `base` in `key`): one SETRANGE a position,
-- or, for three or more that lie close enough together, one GETRANGE of the span they are in and one SETRANGE
-- of it changed.
local function write_generations(key, base, ps, byte)
  local n = #ps
  if n == 0 then return end
  table.sort(ps)
  local first, last = ps[1], ps[n]
  if n < 3 or last - first > n * SPAN_PER_WRITE then
    for i = 1, n do redis.call('SETRANGE', key, base + ps[i], byte) end
    return
  end
  local span = redis.call('GETRANGE', key, base + first, base + last)
  local parts, at = {}, 0 -- at: the bytes of the span already in parts
  for i = 1, n do
    local p = ps[i] - first
    if p >= at then
      parts[#parts + 1] = string.sub(span, at + 1, p)
      parts[#parts + 1] = byte
      at = p + 1
    end
  end
  parts[#parts + 1] = string.sub(span, at + 1)
  redis.call('SETRANGE', key, base + first, table.concat(parts))
end

-- The changes of HTTP/UDP peers whose announces a tracker answered from its announce cache (src/store/redis/
-- announce-cache.ts), applied together. A peer in the swarm with the same seeder bit and nothing else to apply
-- gets its generation byte, as the common path does; the others (a join, a peer that expired or was removed
-- meanwhile, a seeder change, a completion, a stop), and every peer when the swarm has something due, take the
-- general path: `completed` if it completed, then `stopped` if its last announce stopped, else an announce
-- without event. KEYS: as announce. ARGV[1]: REFRESH_ARGS, then per peer a tag byte (REFRESH_* bits) and its
-- compact address. Replies the swarm's header after the call.
redis.register_function('refresh_$V', function(keys, args)
  local argument = args[1]
  local now, ttl, limit = struct.unpack(REFRESH_ARGS, argument)
  local peers, tags, families = {}, {}, {}
  local at, n = REFRESH_ARGS_SIZE + 1, 0
  while at <= #argument do
    local tag = string.byte(argument, at)
    local family, length = 1, 6
    if tag % (2 * REFRESH_IPV6) >= REFRESH_IPV6 then family, length = 2, 18 end
    n = n + 1
    peers[n], tags[n], families[n] = string.sub(argument, at + 1, at + length), tag, family
    at = at + 1 + length
  end
  local got = redis.call('HMGET', keys[1], HEADER_FIELD, unpack(peers))
  local raw = got[1]
  local rest = {} -- the peers the general path takes
  local generation, keys_until, first_capacity, second_capacity, _
  if raw then generation, keys_until, _, _, first_capacity, second_capacity = not_due(raw, now, ttl) end
  if generation and keys_until >= now + ttl then
    local positions = { {}, {} } -- of the peers the common path takes, by list
    for j = 1, n do
      local value, done = got[j + 1], false
      -- Only a re-announce: no completion, no stop (their bits are above the seeder's and the family's).
      if value and tags[j] < REFRESH_COMPLETED then
        local position, flags = decode(value)
        if flags % FLAG_COUNTED == tags[j] % REFRESH_IPV6 then
          local list = positions[families[j]]
          list[#list + 1] = position
          done = true
        end
      end
      if not done then rest[#rest + 1] = j end
    end
    local byte = string.char(generation % 256)
    write_generations(keys[2], first_capacity * 6, positions[1], byte)
    write_generations(keys[3], second_capacity * 18, positions[2], byte)
    if #rest == 0 then return raw end
  else
    for j = 1, n do rest[j] = j end
  end
  local swarm = load_swarm(keys, false, raw, now, ttl)
  drop_abandoned(swarm, now)
  drop_expired(swarm, swarm[1], limit)
  drop_expired(swarm, swarm[2], limit)
  for _, j in ipairs(rest) do
    local list, peer, tag = swarm[families[j]], peers[j], tags[j]
    local seeder = tag % REFRESH_IPV6
    -- The value read above holds while no removal moved the list's entries (update only appends).
    local value = got[j + 1]
    if list.changed then value = nil end
    if tag % (2 * REFRESH_COMPLETED) >= REFRESH_COMPLETED then
      update(swarm, list, peer, peer, EVENT_COMPLETED, seeder, value)
      value = nil
    end
    if tag >= REFRESH_STOPPED then
      update(swarm, list, peer, peer, EVENT_STOPPED, seeder, value)
    elseif tag < REFRESH_COMPLETED then
      update(swarm, list, peer, peer, EVENT_NONE, seeder, value)
    end
  end
  return finish(swarm, now, ttl)
end)

-- The routes of the WebSocket entries at positions `ps` of a list (entries of `stride` bytes in `key`), in the
-- order of `ps`: one GETRANGE of the span they lie in when it is short enough, else one a position.
local function routes_at(key, stride, ps)
  local n = #ps
  local first, last = ps[1], ps[1]
  for i = 2, n do
    if ps[i] < first then first = ps[i] end
    if ps[i] > last then last = ps[i] end
  end
  local routes = {}
  if n < 2 or (last - first) * stride > n * SPAN_PER_WRITE then
    for i = 1, n do routes[i] = route_at(key, stride, ps[i]) end
    return routes
  end
  local span = redis.call('GETRANGE', key, first * stride, (last + 1) * stride - 1)
  for i = 1, n do
    local at = (ps[i] - first) * stride + 2 + string.byte(span, (ps[i] - first) * stride + 1)
    routes[i] = string.sub(span, at + 1, at + string.byte(span, at))
  end
  return routes
end

-- The changes of WebSocket peers whose announces a tracker answered from its announce cache (src/store/redis/
-- ws-announce-cache.ts), applied together. Only a peer that is in the swarm with the route given is refreshed:
-- with the same seeder bit and no completion it gets its generation byte, as the common path does; else (a
-- seeder change, a completion, or the swarm has something due) it takes the general path. One that is not
-- there (expired, removed) or that another route holds is left alone and reported: the tracker sends that
-- peer's next announce as a call. KEYS: as announce_ws. ARGV[1]: REFRESH_ARGS, then per peer a tag byte
-- (REFRESH_SEEDER, REFRESH_COMPLETED), peer_id length (1 byte), peer_id, route length (1 byte), route.
-- Replies { the swarm's header after the call ('' when there is none), the positions in ARGV[1] (from 1) of
-- the peers left alone }.
redis.register_function('refresh_ws_$V', function(keys, args)
  local argument = args[1]
  local now, ttl, limit = struct.unpack(REFRESH_ARGS, argument)
  local ids, routes, tags = {}, {}, {}
  local at, n = REFRESH_ARGS_SIZE + 1, 0
  while at <= #argument do
    local route_length_at = at + 2 + string.byte(argument, at + 1)
    local route_end = route_length_at + string.byte(argument, route_length_at)
    n = n + 1
    tags[n], ids[n], routes[n] = string.byte(argument, at), string.sub(argument, at + 2, route_length_at - 1), string.sub(argument, route_length_at + 1, route_end)
    at = route_end + 1
  end
  local got = redis.call('HMGET', keys[1], HEADER_FIELD, unpack(ids))
  local raw = got[1]
  local lost, rest = {}, {} -- rest: the peers the general path takes
  if not raw then
    for j = 1, n do lost[j] = j end
    return { '', lost }
  end
  local generation, keys_until, _, _, first_capacity, _, width = not_due(raw, now, ttl)
  if generation and keys_until >= now + ttl then
    local present, positions = {}, {}
    for j = 1, n do
      if got[j + 1] then
        present[#present + 1] = j
        positions[#positions + 1] = decode(got[j + 1])
      else
        lost[#lost + 1] = j
      end
    end
    local refreshed = {}
    if #present > 0 then
      local held = routes_at(keys[2], width, positions)
      for i, j in ipairs(present) do
        local _, flags = decode(got[j + 1])
        if held[i] ~= routes[j] then
          lost[#lost + 1] = j
        elseif tags[j] < REFRESH_COMPLETED and flags % FLAG_COUNTED == tags[j] % REFRESH_IPV6 then
          refreshed[#refreshed + 1] = positions[i]
        else
          rest[#rest + 1] = j
        end
      end
    end
    write_generations(keys[2], first_capacity * width, refreshed, string.char(generation % 256))
    if #rest == 0 then return { raw, lost } end
  else
    for j = 1, n do rest[j] = j end
  end
  local swarm = load_swarm(keys, true, raw, now, ttl)
  drop_abandoned(swarm, now)
  local list = swarm[1]
  drop_expired(swarm, list, limit)
  for _, j in ipairs(rest) do
    -- The value read above holds while no removal moved the list's entries (update only appends).
    local value = got[j + 1]
    if list.changed then value = redis.call('HGET', swarm.hash, ids[j]) end
    if value and route_at(list.key, list.stride, (decode(value))) == routes[j] then
      local event = EVENT_NONE
      if tags[j] % (2 * REFRESH_COMPLETED) >= REFRESH_COMPLETED then event = EVENT_COMPLETED end
      update(swarm, list, ids[j], nil, event, tags[j] % REFRESH_IPV6, value)
    else
      lost[#lost + 1] = j
    end
  end
  return { finish(swarm, now, ttl), lost }
end)

-- Scrape of one swarm, which also expires it (scrapes and the maintenance sweep). KEYS: as the announce of its
-- kind. ARGV[1]: SCRAPE_ARGS. Replies { header (empty: no such swarm), peers removed as expired }.
local function scrape(keys, args, ws)
  local now, limit, ttl = struct.unpack(SCRAPE_ARGS, args[1])
  -- Events on: the coordinator's sweep of a swarm whose keys are about to expire (see the events block).
  local sweep = args[4] == 'sweep'
  local raw = redis.call('HGET', keys[1], HEADER_FIELD)
  if not raw then
    if sweep then index_swarm(events_of(keys, args, ws and 1 or 2, now), nil) end
    return { '', 0 }
  end
  if not sweep and not_due(raw, now, ttl) then return { raw, 0 } end
  local swarm = load_swarm(keys, ws, raw, now, ttl)
  local events = events_of(keys, args, swarm.lists, now)
  if events then swarm.events = events end
  drop_abandoned(swarm, now)
  for i = 1, swarm.lists do drop_expired(swarm, swarm[i], limit) end
  -- A sweep keeps the keys of a swarm with live peers (and its place in the index); one without leaves it.
  if sweep and total(swarm) > 0 then return { finish(swarm, now, ttl), swarm.removed } end
  local header = finish(swarm, now, nil)
  if sweep then index_swarm(events, nil) end
  return { header, swarm.removed }
end

redis.register_function('scrape_$V', function(keys, args) return scrape(keys, args, false) end)
redis.register_function('scrape_ws_$V', function(keys, args) return scrape(keys, args, true) end)
