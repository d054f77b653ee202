-- wrk script: HTTP announce load for a BitTorrent tracker (used by bench/http-load.ts).
--
--   wrk -t1 -c64 -d10s -s bench/http-announce.lua http://127.0.0.1:6969 -- \
--       hashes=/tmp/hashes.txt zipf=1 seed=1 numwant=50 close=0 check=1 pool=65536 \
--       events=none:85,started:8,completed:2,stopped:5
--
-- hashes=FILE  hex info hashes, one a line (what `bench/udp-load.ts --write-hashes` writes)
-- zipf=S       popularity exponent: the hash of rank r is picked with weight 1/r^S
-- close=1      send "Connection: close" (no keep-alive)
-- check=1      look at every reply body: counts bencoded failure replies and malformed ones
--              (costs the generator some CPU: wrk then hands headers and body to Lua)
-- pool=N       requests pre-built per thread in init() and then sent round-robin, so the
--              hot path is a table lookup; N = 65536 keeps the Zipf/event mix representative
-- events=SPEC  event weights, as bench/udp-load.ts --events takes them
--
-- Event mix (default): none 85%, started 8%, completed 2%, stopped 5%; left=0 (a seeder) for
-- completed and for 30% of the others except started. Peers come from a pool of 60000
-- (port and peer_id both derive from the pool index), like bench/udp-load.ts.
--
-- done() prints one line `LUA k=v ...` that bench/http-load.ts parses.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local pool = {}
local pool_size = 0
local next_req = 1
ok = 0
failures = 0
bad = 0
non200 = 0
first_failure = ""

local function parse_args(args)
  local o = { hashes = "", zipf = "1", seed = "1", numwant = "50", close = "0", check = "1", pool = "65536",
              events = "none:85,started:8,completed:2,stopped:5" }
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k == nil or o[k] == nil then error("http-announce.lua: unknown argument " .. a) end
    o[k] = v
  end
  if o.hashes == "" then error("http-announce.lua: hashes=FILE is required") end
  return o
end

local function load_hashes(path)
  local list = {}
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    local h = line:match("^%s*(%x+)%s*$")
    if h and #h == 40 then list[#list + 1] = h end
  end
  f:close()
  if #list == 0 then error("http-announce.lua: no info hashes in " .. path) end
  return list
end

-- events=SPEC as cumulative shares: { {share, name}, ... } (name "" for none).
local function event_cdf(spec)
  local list, total = {}, 0
  for part in spec:gmatch("[^,]+") do
    local name, weight = part:match("^%s*(%a+):([%d.]+)%s*$")
    if name == nil or (name ~= "none" and name ~= "started" and name ~= "completed" and name ~= "stopped") then
      error("http-announce.lua: bad events entry " .. part)
    end
    total = total + tonumber(weight)
    list[#list + 1] = { total, name == "none" and "" or name }
  end
  if total <= 0 then error("http-announce.lua: event weights sum to 0") end
  for _, e in ipairs(list) do e[1] = e[1] / total end
  return list
end

local function zipf_cdf(n, s)
  local cdf, sum = {}, 0
  for i = 1, n do
    sum = sum + 1 / (i ^ s)
    cdf[i] = sum
  end
  for i = 1, n do cdf[i] = cdf[i] / sum end
  return cdf
end

local function pick(cdf, n)
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function init(args)
  local o = parse_args(args)
  local id = thread_id or 1
  math.randomseed(tonumber(o.seed) * 1000 + id)
  local hex = load_hashes(o.hashes)
  local n = #hex
  local cdf = zipf_cdf(n, tonumber(o.zipf))
  local encoded = {}
  local headers = {}
  if o.close == "1" then headers["Connection"] = "close" end
  local numwant = tonumber(o.numwant)
  local events = event_cdf(o.events)
  pool_size = tonumber(o.pool)
  for i = 1, pool_size do
    local r = pick(cdf, n)
    local enc = encoded[r]
    if enc == nil then
      enc = hex[r]:gsub("(%x%x)", "%%%1") -- percent-encode every byte of the raw 20-byte hash
      encoded[r] = enc
    end
    local peer = math.random(0, 59999)
    local u = math.random()
    local event = events[#events][2]
    for _, e in ipairs(events) do
      if u < e[1] then event = e[2]; break end
    end
    local left
    if event == "completed" or (event ~= "started" and math.random() < 0.3) then left = 0 else left = math.random(1, 1000000000) end
    local path = "/announce?info_hash=" .. enc
      .. "&peer_id=-RB0001-" .. string.format("%012d", peer)
      .. "&port=" .. (1024 + peer)
      .. "&uploaded=" .. math.random(0, 1000000000)
      .. "&downloaded=" .. math.random(0, 1000000000)
      .. "&left=" .. left
      .. "&compact=1&numwant=" .. numwant
      .. "&key=" .. string.format("%08x", peer * 7919)
      .. (event ~= "" and ("&event=" .. event) or "")
    pool[i] = wrk.format("GET", path, headers)
  end
  next_req = math.random(1, pool_size)
  if o.check ~= "1" then response = nil end
end

function request()
  local r = pool[next_req]
  next_req = next_req + 1
  if next_req > pool_size then next_req = 1 end
  return r
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif body:sub(1, 1) ~= "d" then
    bad = bad + 1
  elseif body:find("failure reason", 1, true) then
    failures = failures + 1
    if first_failure == "" then first_failure = body:sub(1, 200) end
  elseif body:find("8:interval", 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local t_ok, t_fail, t_bad, t_non200, first = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    t_ok = t_ok + (t:get("ok") or 0)
    t_fail = t_fail + (t:get("failures") or 0)
    t_bad = t_bad + (t:get("bad") or 0)
    t_non200 = t_non200 + (t:get("non200") or 0)
    local f = t:get("first_failure") or ""
    if first == "" then first = f end
  end
  local e = summary.errors
  io.write(string.format(
    "LUA requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
    "ok=%d failures=%d bad=%d non200=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d first_failure=%s\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    t_ok, t_fail, t_bad, t_non200,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    (first:gsub("[%s%c]", "_"))))
end
