local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = now
local pen = redis.call('PTTL', KEYS[1])
local cap = tonumber(ARGV[2])
if pen > cap then pen = cap end
if pen > 0 then at = now + pen * 1000 end
local n = #KEYS - 1
local tats = {}
for i = 1, n do
  local v = redis.pcall('GET', KEYS[i + 1])
  local tat = 0
  if type(v) == 'string' then tat = tonumber(v) or 0 end
  if tat ~= tat or tat < 0 or tat > now + 3600000000 then tat = 0 end
  tats[i] = tat
  local earliest = tat - tonumber(ARGV[2 * i + 2])
  if earliest > at then at = earliest end
end
local wait = math.floor(at - now)
if wait > tonumber(ARGV[1]) then return {0, wait} end
for i = 1, n do
  local tat = tats[i]
  if tat < at then tat = at end
  local new = tat + tonumber(ARGV[2 * i + 1])
  local ttl = math.ceil((new - now) / 1000) + 1
  redis.call('SET', KEYS[i + 1], string.format('%.0f', new), 'PX', ttl)
end
return {1, wait}
