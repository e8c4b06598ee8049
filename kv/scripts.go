package kv

import "github.com/redis/go-redis/v9"

// Every script that writes a key updates the tenant's index in the same
// atomic step. KEYS[1] is always the index; the data keys follow, so every
// key a script touches is declared (and, hash-tagged alike, in one slot).
// Expiries are absolute times on Redis's clock (PXAT/PEXPIREAT), and the
// index score is that same time, so index and key agree to the millisecond.

const luaPrelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function touch_index(idx, at)
  local e = redis.call('PEXPIRETIME', idx)
  if e < at then redis.call('PEXPIREAT', idx, at) end
end
local function member(key, plen)
  return string.sub(key, plen + 1)
end
-- set_expiry gives key an expiry: ttl ms from now when ttl > 0, else keeps
-- its current one, or the default for a key that has none; then indexes it.
local function set_expiry(idx, key, plen, ttl, default)
  local now = now_ms()
  local at
  if ttl > 0 then
    at = now + ttl
    redis.call('PEXPIREAT', key, at)
  else
    at = redis.call('PEXPIRETIME', key)
    if at < 0 then
      at = now + default
      redis.call('PEXPIREAT', key, at)
    end
  end
  redis.call('ZADD', idx, at, member(key, plen))
  touch_index(idx, at)
end
`

// ARGV: plen, ttl_ms, values... (one per data key)
var scriptSet = redis.NewScript(luaPrelude + `
local plen = tonumber(ARGV[1])
local now = now_ms()
local at = now + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PXAT', at)
  redis.call('ZADD', KEYS[1], at, member(KEYS[i], plen))
end
touch_index(KEYS[1], at)
return #KEYS - 1
`)

// ARGV: plen
var scriptDel = redis.NewScript(luaPrelude + `
local plen = tonumber(ARGV[1])
local n = redis.call('DEL', unpack(KEYS, 2))
local m = {}
for i = 2, #KEYS do m[#m + 1] = member(KEYS[i], plen) end
redis.call('ZREM', KEYS[1], unpack(m))
return n
`)

// ARGV: plen, ttl_ms
var scriptExpire = redis.NewScript(luaPrelude + `
local plen = tonumber(ARGV[1])
local at = now_ms() + tonumber(ARGV[2])
local r = redis.call('PEXPIREAT', KEYS[2], at)
if r == 1 then
  redis.call('ZADD', KEYS[1], at, member(KEYS[2], plen))
  touch_index(KEYS[1], at)
else
  redis.call('ZREM', KEYS[1], member(KEYS[2], plen))
end
return r
`)

// ARGV: plen, amount, ttl_ms (0: keep), default_ms
var scriptIncr = redis.NewScript(luaPrelude + `
local v = redis.call('INCRBY', KEYS[2], ARGV[2])
set_expiry(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return v
`)

// ARGV: plen, ttl_ms (0: keep), default_ms, LPUSH|RPUSH, values...
var scriptPush = redis.NewScript(luaPrelude + `
local n = redis.call(ARGV[4], KEYS[2], unpack(ARGV, 5))
set_expiry(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return n
`)

// ARGV: plen, LPOP|RPOP
var scriptPop = redis.NewScript(luaPrelude + `
local v = redis.call(ARGV[2], KEYS[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], member(KEYS[2], tonumber(ARGV[1])))
end
return v
`)

// KEYS: the list. ARGV: start, stop, max.
var scriptRange = redis.NewScript(`
local n = redis.call('LLEN', KEYS[1])
local s, e, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if s < 0 then s = n + s end
if s < 0 then s = 0 end
if e < 0 then e = n + e end
if e >= n then e = n - 1 end
if e - s + 1 > max then e = s + max - 1 end
if s > e then return {} end
return redis.call('LRANGE', KEYS[1], s, e)
`)

// One page of a listing. ARGV: cursor, pattern, count, prune (1|0).
// Returns {next cursor, live members matching}.
var scriptKeysPage = redis.NewScript(luaPrelude + `
local now = now_ms()
if ARGV[4] == '1' then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now) end
local r = redis.call('ZSCAN', KEYS[1], ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = {}
local items = r[2]
for i = 1, #items, 2 do
  if tonumber(items[i + 1]) >= now then out[#out + 1] = items[i] end
end
return {r[1], out}
`)

// scriptUsagePage sums MEMORY USAGE (SAMPLES 0: exact) over one page of the
// tenant's index, so a tenant of up to a page of keys costs one round trip.
// On the first page it also prunes expired index entries and adds the
// index's own size. KEYS[1] is the index; the data keys are named from
// ARGV[1] (the tenant prefix) and share the index's hash tag, hence its slot.
// ARGV: prefix, offset, page size, first page ("1"/"0").
// Returns {keys that exist, bytes, index entries read}.
var scriptUsagePage = redis.NewScript(luaPrelude + `
local idx, prefix = KEYS[1], ARGV[1]
local off, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local count, bytes = 0, 0
if ARGV[4] == '1' then
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. now_ms())
  local m = redis.call('MEMORY', 'USAGE', idx, 'SAMPLES', '0')
  if m then bytes = bytes + m end
end
local members = redis.call('ZRANGE', idx, off, off + n - 1)
for _, k in ipairs(members) do
  local m = redis.call('MEMORY', 'USAGE', prefix .. k, 'SAMPLES', '0')
  if m then
    count = count + 1
    bytes = bytes + m
  end
end
return {count, bytes, #members}
`)
